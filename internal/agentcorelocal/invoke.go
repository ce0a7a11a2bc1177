package agentcorelocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// forwardedRequestHeaders reach the agent as the caller sent them: the
// AgentCore service contract's user id, trace context and MCP headers.
var forwardedRequestHeaders = []string{
	userHeader, "Accept", "X-Amzn-Trace-Id", "traceparent", "tracestate", "baggage",
	"Mcp-Session-Id", "Mcp-Protocol-Version", "Mcp-Method", "Mcp-Name",
}

// returnedResponseHeaders reach the caller as the agent sent them: the
// headers the SDK's InvokeAgentRuntimeOutput reads besides the session id.
var returnedResponseHeaders = []string{
	"Mcp-Session-Id", "Mcp-Protocol-Version", "X-Amzn-Trace-Id", "traceparent", "tracestate", "baggage",
}

// streamBufferSize bounds one read from the agent; a read returns what has
// arrived, so it does not delay events.
const streamBufferSize = 32 << 10

// invoke runs InvokeAgentRuntime: validate, forward the payload to the agent,
// stream its reply back.
func (s *Server) invoke(w http.ResponseWriter, r *http.Request, x *exchange, rt *runtime, payload []byte) {
	sessionID := r.Header.Get(sessionHeader)
	if sessionID == "" {
		sessionID = newUUID()
	} else if apiErr := checkSessionID(sessionID); apiErr != nil {
		s.writeError(w, x, apiErr)
		return
	}
	x.session = sessionID
	if len(payload) == 0 {
		s.writeError(w, x, validationError("1 validation error detected: Value at 'payload' failed to satisfy constraint: Member must have length greater than or equal to 1"))
		return
	}

	fault, apiErr := s.faultFor(r, rt)
	if apiErr != nil {
		s.writeError(w, x, apiErr)
		return
	}
	if s.faultBeforeAgent(w, r, x, rt, fault) {
		return
	}

	// The call to the agent lives as long as the caller's request and the
	// session: a caller that goes away, or the session's end, cancels it.
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	st, c := s.sessions.begin(rt.arn, sessionID, s.now(), cancel)
	defer func() { s.sessions.finish(st, c, s.now()) }()

	resp, err := s.callAgent(ctx, r, rt, sessionID, payload)
	if err != nil {
		x.err = sessionEnded(ctx, err)
		if r.Context().Err() != nil {
			return // the caller went away, which cancelled the call: no one is left to answer
		}
		s.writeError(w, x, runtimeClientError("The runtime %s did not answer the invocation. Please check your CloudWatch logs for more information.", rt.arn))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		x.err = fmt.Errorf("agent answered %s", resp.Status)
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		s.writeError(w, x, runtimeClientError("Received error (%d) from runtime %s. Please check your CloudWatch logs for more information.", resp.StatusCode, rt.arn))
		return
	}

	// Per-event faults change the body, and so its length.
	perEvent := fault.perEvent()
	s.writeStreamHeader(w, x, resp, sessionID, !perEvent)
	if perEvent {
		err = s.relayEvents(ctx, w, resp.Body, x, rt, fault)
	} else {
		x.bytes, err = copyStream(w, resp.Body)
	}
	if err != nil {
		x.err = sessionEnded(ctx, err)
		// The status line is out: the only way left to tell the caller the
		// stream broke is to break it, so it sees an error, not a clean EOF.
		panic(http.ErrAbortHandler)
	}
}

// checkSessionID enforces AgentCore's bounds on a runtime session id: the
// API reference's runtimeSessionId "Length Constraints: Minimum length of
// 33. Maximum length of 256." A session id out of bounds is a
// ValidationException.
func checkSessionID(id string) *apiError {
	const field = "1 validation error detected: Value at 'runtimeSessionId' failed to satisfy constraint: Member must have length "
	switch n := len([]rune(id)); {
	case n < 33:
		return validationError(field + "greater than or equal to 33")
	case n > 256:
		return validationError(field + "less than or equal to 256")
	}
	return nil
}

// sessionEnded returns err, or, when ctx was cancelled because the session
// ended, an error that says so and wraps ErrSessionEnded.
func sessionEnded(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrSessionEnded) {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}

// callAgent sends the payload, unchanged, to the agent's /invocations as the
// AgentCore service contract has it, for as long as ctx lasts.
func (s *Server) callAgent(ctx context.Context, r *http.Request, rt *runtime, sessionID string, payload []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rt.invocationsURL, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("build agent request: %w", err)
	}
	contentType := r.Header.Get("Content-Type")
	if contentType == "" {
		contentType = "application/json"
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(sessionHeader, sessionID)
	for _, name := range forwardedRequestHeaders {
		if values := r.Header.Values(name); len(values) > 0 {
			req.Header[http.CanonicalHeaderKey(name)] = values
		}
	}
	copyAllowlisted(req.Header, r.Header, rt.headerAllowlist)
	// Left alone, Go's transport would ask for gzip and decompress; the
	// caller is to get the agent's bytes as they were written.
	req.Header.Set("Accept-Encoding", "identity")

	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("call agent: %w", err)
	}
	return resp, nil
}

// writeStreamHeader sends the response header at once, before any of the
// body: the SDK's InvokeAgentRuntime returns as soon as it has it. The
// agent's Content-Length is passed on only when keepLength is set.
func (s *Server) writeStreamHeader(w http.ResponseWriter, x *exchange, resp *http.Response, sessionID string, keepLength bool) {
	h := w.Header()
	contentType := resp.Header.Get("Content-Type")
	if contentType == "" {
		contentType = "application/json" // the contract's non-streaming type; never let net/http sniff
	}
	h.Set("Content-Type", contentType)
	h.Set(sessionHeader, sessionID)
	h.Set(requestIDHeader, x.requestID)
	for _, name := range returnedResponseHeaders {
		if values := resp.Header.Values(name); len(values) > 0 {
			h[http.CanonicalHeaderKey(name)] = values
		}
	}
	if keepLength && resp.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	x.status = resp.StatusCode
	w.WriteHeader(resp.StatusCode)
	// A failed flush means the caller left; copyStream will find out.
	_ = http.NewResponseController(w).Flush()
}

// copyStream is how a stream flows from the agent to the caller when no
// per-event fault is set (relayEvents is the other way). Every read is
// written and flushed at once, so each event reaches the caller as the
// agent writes it; nothing is held back.
func copyStream(w http.ResponseWriter, src io.Reader) (int64, error) {
	var written int64
	out := newStreamWriter(w, &written)
	buf := make([]byte, streamBufferSize)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if err := out.write(buf[:n]); err != nil {
				return written, err
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, fmt.Errorf("read from agent: %w", rerr)
		}
	}
}

// streamWriter writes a stream's body to the caller, counting its bytes,
// and flushes after every write: the flush policy of every stream.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	written *int64
}

func newStreamWriter(w http.ResponseWriter, written *int64) streamWriter {
	return streamWriter{w: w, rc: http.NewResponseController(w), written: written}
}

func (s streamWriter) write(p []byte) error {
	n, err := s.w.Write(p)
	*s.written += int64(n)
	if err != nil {
		return fmt.Errorf("write to caller: %w", err)
	}
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("flush to caller: %w", err)
	}
	return nil
}
