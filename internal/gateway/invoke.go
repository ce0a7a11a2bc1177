package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/sse"
	"github.com/agentgate/agentgate/internal/upstream"
)

type agentFrom int

const (
	defaultAgent agentFrom = iota
	namedAgent
)

// resolveAgent finds the request's agent by public name.
func (s *Server) resolveAgent(r *http.Request, from agentFrom) (string, upstream.Invoker, *apiError) {
	name := s.opts.DefaultAgent
	if from == namedAgent {
		name = r.PathValue("name")
	}
	inv, ok := s.opts.Agents[name]
	if !ok || !config.ValidAgentName(name) {
		return "", nil, &apiError{Status: http.StatusNotFound, Code: "agent_not_found", Message: "agent not found: " + safeName(name)}
	}
	info(r.Context()).agent = name
	return name, inv, nil
}

// handleInvoke relays one invocation: decode, resolve the agent and the
// session, invoke upstream, then stream.
func (s *Server) handleInvoke(from agentFrom) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, inv, aerr := s.resolveAgent(r, from)
		if aerr != nil {
			s.writeError(w, r, aerr)
			return
		}
		req, err := s.decodeInvocation(w, r)
		if err != nil {
			s.writeError(w, r, publicError(err, name))
			return
		}
		li := info(r.Context())
		li.format = string(req.format)
		p := principal(r.Context())
		if err := s.resolveSession(owner(p), req); err != nil {
			s.writeError(w, r, err)
			return
		}
		li.session = req.sessionID
		s.relay(w, r, name, inv, req, p.ID)
	})
}

// owner is what session ids are bound to: the principal and its method,
// so a JWT subject "alice" never owns the password user alice's sessions.
func owner(p auth.Principal) string { return p.Method + "\x00" + p.ID }

// resolveSession issues a session id or checks that the supplied one
// belongs to the caller. A foreign id is never forwarded.
func (s *Server) resolveSession(principal string, req *invocation) *apiError {
	if req.sessionID == "" {
		req.sessionID = s.opts.Sessions.New(principal)
		return nil
	}
	return s.checkSession(principal, req.sessionID)
}

func (s *Server) checkSession(principal, id string) *apiError {
	switch err := s.opts.Sessions.Check(principal, id); {
	case errors.Is(err, session.ErrForeign):
		return &apiError{Status: http.StatusForbidden, Code: "session_forbidden", Message: "runtimeSessionId: this session belongs to another user"}
	case err != nil:
		return badRequest("runtimeSessionId: not a session id this gateway issued; omit it to start a new session")
	}
	return nil
}

// handleStopSession ends the caller's own session upstream.
func (s *Server) handleStopSession(from agentFrom) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, inv, aerr := s.resolveAgent(r, from)
		if aerr != nil {
			s.writeError(w, r, aerr)
			return
		}
		id := r.PathValue("id")
		if aerr := s.checkSession(owner(principal(r.Context())), id); aerr != nil {
			s.writeError(w, r, aerr)
			return
		}
		info(r.Context()).session = id
		if err := inv.StopSession(r.Context(), id); err != nil {
			if upstream.KindOf(err) == upstream.KindNotFound {
				s.writeError(w, r, &apiError{Status: http.StatusNotFound, Code: "session_not_found", Message: "no running session with that id"})
				return
			}
			s.logUpstream(r.Context(), name, "stop session failed", err)
			s.writeError(w, r, publicError(err, name))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// relay invokes the agent and copies its stream to the client event by
// event, flushing after each one.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, name string, inv upstream.Invoker, req *invocation, principal string) {
	ctx := r.Context()
	ureq := upstream.Request{
		Payload:     req.payload,
		SessionID:   req.sessionID,
		TraceParent: r.Header.Get("Traceparent"),
		TraceState:  r.Header.Get("Tracestate"),
	}
	if s.opts.SendUserID {
		ureq.UserID = principal
	}
	resp, err := inv.Invoke(ctx, ureq)
	if err != nil {
		if ctx.Err() != nil {
			setOutcome(ctx, "client_gone")
			return
		}
		s.logUpstream(ctx, name, "invoke failed", err)
		s.writeError(w, r, publicError(err, name))
		return
	}
	defer resp.Body.Close()

	enc := format.New(req.format, w)
	h := w.Header()
	h.Set("Content-Type", enc.ContentType())
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no")
	h.Set(SessionHeader, req.sessionID)
	w.WriteHeader(http.StatusOK)
	flush := flusher(w)
	flush()

	outcome, err := s.copyStream(enc, resp.Body, flush)
	switch {
	case err == nil:
		setOutcome(ctx, outcome)
		if outcome == "completed" {
			_ = enc.Finish(req.sessionID)
		}
	case ctx.Err() != nil:
		setOutcome(ctx, "client_gone")
		return
	default:
		s.logUpstream(ctx, name, "stream failed", err)
		f := streamFailure(err)
		f.RequestID = requestID(ctx)
		setOutcome(ctx, f.Code)
		_ = enc.Fail(f)
	}
	flush()
}

// copyStream reads upstream SSE blocks and hands each to enc, flushing
// after every block. It returns the outcome of a stream that ended well,
// or the error that ended it.
func (s *Server) copyStream(enc format.Encoder, body io.Reader, flush func()) (string, error) {
	rd := sse.NewReader(body, s.opts.SSE)
	var events []event.Event
	for {
		blk, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return "completed", nil
		}
		if err != nil {
			return "", err
		}
		events = events[:0]
		if blk.HasData && !blk.Incomplete {
			events, _ = event.Decode(events, blk.Data)
		}
		// An agent's error report can carry upstream internals (ARNs, hosts):
		// it never passes through, not even in original mode; the stream
		// ends with agentgate's own terminal error instead.
		for _, e := range events {
			if e.Kind == event.KindError {
				return "", &agentError{msg: e.Text}
			}
		}
		if err := enc.Raw(blk.Raw); err != nil {
			return "", err
		}
		for _, e := range events {
			if err := enc.Event(e); err != nil {
				return "", err
			}
		}
		flush()
	}
}

// agentError is an error the agent reported in its own stream.
type agentError struct{ msg string }

func (e *agentError) Error() string { return "agent reported an error: " + e.msg }

// streamFailure words a failure after the stream started.
func streamFailure(err error) format.Failure {
	var ae *agentError
	switch {
	case errors.As(err, &ae):
		return format.Failure{Code: "agent_error", Message: "the agent reported an error while answering"}
	case errors.Is(err, sse.ErrLineTooLong), errors.Is(err, sse.ErrEventTooLarge):
		return format.Failure{Code: "upstream_event_too_large", Message: "the agent sent an event larger than the gateway accepts"}
	case errors.Is(err, context.DeadlineExceeded):
		return format.Failure{Code: "upstream_timeout", Message: "the agent did not answer in time"}
	}
	return format.Failure{Code: "upstream_stream_broken", Message: "the agent's stream ended unexpectedly"}
}

// flusher returns a function that flushes w if it can. Writers that cannot
// (Lambda's) send each Write as it comes.
func flusher(w http.ResponseWriter) func() {
	rc := http.NewResponseController(w)
	return func() { _ = rc.Flush() }
}

func (s *Server) logUpstream(ctx context.Context, agent, msg string, err error) {
	s.log.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("id", requestID(ctx)),
		slog.String("agent", agent),
		slog.String("kind", upstream.KindOf(err).String()),
		slog.String("error", err.Error()))
}

// safeName returns name for an error message when it is a valid public name.
func safeName(name string) string {
	if config.ValidAgentName(name) {
		return name
	}
	return "(invalid name)"
}
