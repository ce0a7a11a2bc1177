package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/limit"
	"github.com/agentgate/agentgate/internal/session"
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
	inv, ok := s.agentFor(name, principal(r.Context()))
	if !ok {
		return "", nil, &apiError{Status: http.StatusNotFound, Code: "agent_not_found", Message: "agent not found: " + safeName(name)}
	}
	state(r.Context()).agent = name
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
		if r.Method == http.MethodGet && r.Header.Get("Last-Event-ID") != "" {
			s.reconnect(w, r, name)
			return
		}
		req, err := s.decodeInvocation(w, r)
		if err != nil {
			s.fail(w, r, nil, name, err)
			return
		}
		s.serveInvocation(w, r, name, inv, req)
	})
}

// serveInvocation is the tail every invocation route shares, once its request is
// decoded: resolve the session, admit the stream, relay it, then settle
// its token budget.
func (s *Server) serveInvocation(w http.ResponseWriter, r *http.Request, name string, inv upstream.Invoker, req *invocation) {
	li := state(r.Context())
	li.format = string(req.format)
	p := principal(r.Context())
	if err := s.resolveSession(owner(p), req); err != nil {
		s.fail(w, r, nil, name, err)
		return
	}
	li.session = req.sessionID
	adm, err := s.admit(r, name, p, req.maxTokens)
	if err != nil {
		s.fail(w, r, nil, name, err)
		return
	}
	defer adm.Release()
	res := s.relay(w, r, name, inv, req, p)
	s.settle(r.Context(), adm, res.tokens)
}

// owner is what session ids are bound to: the principal's id, which names
// its authenticator too (key:, user:, jwt:), so a JWT subject "alice"
// never owns the password user alice's sessions.
func owner(p auth.Principal) string { return p.ID }

// resolveSession issues a session id or checks that the supplied one
// belongs to the caller. A foreign id is never forwarded.
func (s *Server) resolveSession(principal string, req *invocation) error {
	if req.sessionID == "" {
		req.sessionID = s.opts.Sessions.New(principal)
		return nil
	}
	return s.checkSession(principal, req.sessionID)
}

func (s *Server) checkSession(principal, id string) error {
	if err := s.opts.Sessions.Check(principal, id); err != nil {
		if !errors.Is(err, session.ErrForeign) {
			err = session.ErrMalformed
		}
		return err
	}
	return nil
}

// limitKey names a principal in limit state: its id, unique across
// authenticators.
func limitKey(p auth.Principal) string { return p.ID }

// admit applies the limiter before any upstream cost: the daily token
// budget, of which the stream reserves estimate tokens (the limiter's
// default when 0), rate limits, and stream slots. A nil Admission, from a
// gateway without limits or one that fails open, holds nothing.
func (s *Server) admit(r *http.Request, agent string, p auth.Principal, estimate int64) (*limit.Admission, error) {
	if s.opts.Limiter == nil {
		return nil, nil
	}
	adm, err := s.opts.Limiter.Admit(r.Context(), agent, limitKey(p), estimate)
	if err == nil {
		return adm, nil
	}
	var refusal *limit.Refusal
	if errors.As(err, &refusal) {
		s.opts.Metrics.LimitRefused(refusal.Limit)
		return nil, err
	}
	s.log.Error("limit store failed", "id", requestID(r.Context()), "error", err.Error(), "failOpen", s.opts.LimitFailOpen)
	if s.opts.LimitFailOpen {
		return nil, nil
	}
	return nil, errLimitsUnavailable
}

// settle replaces the stream's budget reservation with the tokens it used.
// It runs after the stream, so it must not depend on the request context.
func (s *Server) settle(ctx context.Context, adm *limit.Admission, tokens int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := adm.Settle(ctx, tokens); err != nil {
		s.log.Error("settling the token budget failed", "id", requestID(ctx), "tokens", tokens, "error", err.Error())
	}
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
		if err := s.checkSession(owner(principal(r.Context())), id); err != nil {
			s.fail(w, r, nil, name, err)
			return
		}
		state(r.Context()).session = id
		// The turn running here ends as stopped at once, rather than as
		// broken when the session's end cuts its stream.
		if t, ok := s.turns.Load(turnKey(name, id)); ok {
			t.(*turn).stop()
		}
		if err := inv.StopSession(r.Context(), id); err != nil {
			if upstream.KindOf(err) == upstream.KindNotFound {
				err = errSessionNotFound
			}
			s.fail(w, r, nil, name, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// upstreamFailed logs a failed upstream call or stream in full and, unless
// the gateway itself ended it (a shutdown, its total timeout, an answer
// too large to buffer), counts it: by the upstream's error kind, or by the
// public code when the upstream gave none (a timeout, a broken stream).
func (s *Server) upstreamFailed(ctx context.Context, agent, msg, code string, err error) {
	s.logUpstream(ctx, agent, msg, err)
	if errors.Is(err, errShuttingDown) || errors.Is(err, errTotalTimeout) || errors.Is(err, format.ErrResponseTooLarge) ||
		errors.Is(err, errStopped) || errors.Is(err, errDetachedTimeout) {
		return
	}
	kind := upstream.KindOf(err)
	if kind != upstream.KindUnknown {
		code = kind.String()
	}
	s.opts.Metrics.UpstreamError(agent, code)
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
