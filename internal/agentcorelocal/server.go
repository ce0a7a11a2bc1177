package agentcorelocal

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentgate/agentgate/internal/sigv4"
)

// Operation names, as the SDK and AWS's logs call them.
const (
	opInvoke = "InvokeAgentRuntime"
	opStop   = "StopRuntimeSession"
)

// Headers of the data plane (the HTTPHeader traits of the SDK's schemas).
const (
	sessionHeader   = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
	userHeader      = "X-Amzn-Bedrock-AgentCore-Runtime-User-Id"
	requestIDHeader = "X-Amzn-RequestId"
)

// maxPayloadBytes is AgentCore's limit on an invocation's payload: the
// developer guide's InvokeAgentRuntime "accepts your request payload as
// binary data up to 100 MB in size", and the quotas page's "Maximum payload
// size: 100 MB", not adjustable. Neither says whether a MB is 10^6 or 2^20
// bytes; the emulator takes the larger. A larger payload is a
// ValidationException, the restJson1 answer to a length constraint.
const maxPayloadBytes = 100 << 20

// Server is the emulator: an http.Handler for the AgentCore Runtime data
// plane. Create it with New; it is safe for concurrent use.
type Server struct {
	region     string
	verifier   *sigv4.Verifier
	runtimes   map[string]*runtime // by ARN
	client     *http.Client
	log        *slog.Logger
	now        func() time.Time // the clock for session expiry
	maxPayload int64
	sessions   *sessionStore
	throttle   *limiter // nil: any rate
	// pause waits out a fault's delays; tests wrap it to see a request
	// reach a delay.
	pause        func(ctx context.Context, d time.Duration) error
	onInvocation func(InvocationReport)
}

// runtime is a configured runtime. Its fault is the only part of it that
// changes while the Server serves.
type runtime struct {
	arn             string
	parsed          runtimeARN
	baseURL         string // the agent container's, without a trailing slash
	invocationsURL  string
	headerAllowlist []string
	warnedEnd       atomic.Bool // that its agent could not be told a session ended

	mu      sync.Mutex
	fault   Fault
	faulted int // invocations that took the fault since it was set
}

// exchange is what the request's log line, and an invocation's report,
// tell about one request; the handlers fill it in as they learn.
type exchange struct {
	requestID string
	start     time.Time
	op        string
	arn       string
	session   string
	status    int
	errorCode string // the error type answered, if any
	bytes     int64  // stream bytes copied to the caller
	events    int    // the agent's events relayed, when a fault counts them
	err       error  // why a stream broke, why the agent failed, or the fault
}

// ServeHTTP answers one data-plane request: route it, read and authenticate
// it, find its runtime, then run the operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{requestID: newUUID(), start: time.Now()}
	// Deferred, so that a stream aborted with a panic is told of too.
	defer s.finish(r, x)

	op, label, apiErr := route(r)
	x.op = op
	if apiErr != nil {
		s.writeError(w, x, apiErr)
		return
	}
	x.arn = label

	body, apiErr := s.readAuthenticated(r)
	if apiErr != nil {
		s.writeError(w, x, apiErr)
		return
	}
	rt := s.lookupRuntime(label, r.URL.Query().Get("accountId"))
	if rt == nil {
		s.writeError(w, x, resourceNotFound("No agent runtime found for ARN %s", label))
		return
	}
	x.arn = rt.arn

	switch op {
	case opInvoke:
		if s.throttle != nil && !s.throttle.allow(endpoint(rt, r), s.now()) {
			s.writeError(w, x, newAPIError(codeThrottling, throttleMessage))
			return
		}
		s.invoke(w, r, x, rt, body)
	case opStop:
		s.stop(w, r, x, rt)
	}
}

// endpoint names the runtime endpoint a request calls: its runtime and its
// qualifier, DEFAULT when it names none.
func endpoint(rt *runtime, r *http.Request) string {
	return rt.arn + "?qualifier=" + cmp.Or(r.URL.Query().Get("qualifier"), "DEFAULT")
}

// route finds the operation and the runtime label (the decoded ARN segment)
// of a request. The ARN travels URL-encoded in one path segment, so the path
// is split before it is decoded.
func route(r *http.Request) (op, label string, err *apiError) {
	parts := strings.Split(r.URL.EscapedPath(), "/")
	if len(parts) == 4 && parts[0] == "" && parts[1] == "runtimes" && parts[2] != "" {
		switch parts[3] {
		case "invocations":
			op = opInvoke
		case "stopruntimesession":
			op = opStop
		}
	}
	if op == "" {
		return "", "", newAPIError(codeUnknownOperation, "No operation matches %s %s", r.Method, r.URL.EscapedPath())
	}
	if r.Method != http.MethodPost {
		e := newAPIError(codeUnknownOperation, "%s takes POST, not %s", op, r.Method)
		e.status = http.StatusMethodNotAllowed
		return op, "", e
	}
	label, uerr := url.PathUnescape(parts[2])
	if uerr != nil {
		return op, "", resourceNotFound("No agent runtime found for ARN %s", parts[2])
	}
	return op, label, nil
}

// readAuthenticated reads the whole body, as SigV4 signs its hash, and
// verifies the request's signature; only then may a caller learn anything
// about the request, even that its payload is too large.
func (s *Server) readAuthenticated(r *http.Request) ([]byte, *apiError) {
	body, sum, n, err := readBody(r.Body, r.ContentLength, s.maxPayload)
	if err != nil {
		return nil, validationError("Could not read the request body: %v", err)
	}
	if apiErr := s.authenticate(r, sum, n); apiErr != nil {
		return nil, apiErr
	}
	if n > s.maxPayload {
		return nil, validationError("1 validation error detected: Value at 'payload' failed to satisfy constraint: Member must have length less than or equal to %d", s.maxPayload)
	}
	return body, nil
}

// readBody reads r to the end and returns what it read, its hex SHA-256 and
// its length. A body longer than limit is hashed to the end, so its
// signature can still be checked, but not kept.
func readBody(r io.Reader, declared, limit int64) (body []byte, sum string, n int64, err error) {
	h := sha256.New()
	var buf bytes.Buffer
	var keep io.Writer = &buf
	switch {
	case declared > limit:
		keep = io.Discard // known to be too large
	case declared > 0:
		buf.Grow(int(declared))
	}
	n, err = io.Copy(io.MultiWriter(keep, h), io.LimitReader(r, limit+1))
	if err == nil && n > limit {
		var rest int64
		rest, err = io.Copy(h, r)
		n += rest
	}
	if err != nil {
		return nil, "", n, err
	}
	if n > limit {
		return nil, hex.EncodeToString(h.Sum(nil)), n, nil
	}
	return buf.Bytes(), hex.EncodeToString(h.Sum(nil)), n, nil
}

// lookupRuntime finds the runtime a request names: by ARN, or by runtime id
// plus the accountId query parameter, as InvokeAgentRuntime also allows.
func (s *Server) lookupRuntime(label, accountID string) *runtime {
	if rt := s.runtimes[label]; rt != nil {
		return rt
	}
	if accountID == "" || strings.HasPrefix(label, "arn:") {
		return nil
	}
	for _, rt := range s.runtimes {
		if rt.parsed.id == label && rt.parsed.account == accountID {
			return rt
		}
	}
	return nil
}

func (s *Server) logExchange(r *http.Request, x *exchange) {
	attrs := []slog.Attr{
		slog.String("requestId", x.requestID),
		slog.String("method", r.Method),
		slog.String("op", x.op),
		slog.String("arn", x.arn),
		slog.String("session", x.session),
		slog.Int("status", x.status),
		slog.Int64("bytes", x.bytes),
		slog.Duration("duration", time.Since(x.start)),
	}
	if x.events > 0 {
		attrs = append(attrs, slog.Int("events", x.events))
	}
	if x.errorCode != "" {
		attrs = append(attrs, slog.String("errorType", x.errorCode))
	}
	if x.err != nil {
		attrs = append(attrs, slog.String("error", x.err.Error()))
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "agentcore-local request", attrs...)
}

// newUUID returns a random (version 4) UUID, the shape of AWS request ids
// and of the session ids the SDK generates.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
