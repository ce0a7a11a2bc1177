package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/limit"
)

// resumeWait is how long one read of a turn log waits for more before the
// resume asks again; a turn that runs on without writing keeps its
// resumer waiting as long as it keeps its log.
const resumeWait = 15 * time.Second

// errTurnsUnavailable means the store of turn logs cannot be reached.
var errTurnsUnavailable = &apiError{Status: http.StatusServiceUnavailable, Code: "turns_unavailable",
	Message: "the gateway cannot read kept answers right now; retry later", RetryAfter: 5 * time.Second}

// sessionOf finds the runtime session a resume or stop route names.
type sessionOf func(r *http.Request) (string, *apiError)

// pathSession is the session id in the path, which must be the caller's.
func (s *Server) pathSession(r *http.Request) (string, *apiError) {
	id := r.PathValue("id")
	if err := s.checkSession(owner(principal(r.Context())), id); err != nil {
		return "", callerError(err)
	}
	return id, nil
}

// derivedSession is the session a chat id (useChat) or thread id (AG-UI)
// maps to for the caller, in scope.
func (s *Server) derivedSession(scope string) sessionOf {
	return func(r *http.Request) (string, *apiError) {
		id := r.PathValue("id")
		if err := checkChatID(id); err != nil {
			return "", err
		}
		return s.opts.Sessions.Derive(owner(principal(r.Context())), scope, id), nil
	}
}

// handleResume serves GET …/stream: the rest of the current or last turn
// of a session, in the format the turn was asked in, from the position the
// client reached (?after=N, or Last-Event-ID; else the whole answer). 204
// when no turn is running or kept.
//
// With running, a request that names no position gets a running turn
// only: useChat asks on every page load whether a stream is active, and
// takes what it gets as more of the chat's last message, which the page
// already holds whole when the turn ended.
func (s *Server) handleResume(from agentFrom, of sessionOf, running bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agent, _, aerr := s.resolveAgent(r, from)
		if aerr == nil {
			var id string
			if id, aerr = of(r); aerr == nil {
				state(r.Context()).session = id
				s.resume(w, r, agent, id, running)
				return
			}
		}
		s.writeError(w, r, aerr)
	})
}

// resumePosition reads where the client wants the answer from.
// It reports whether the request named one.
func resumePosition(r *http.Request) (int64, bool, *apiError) {
	v, field := r.URL.Query().Get("after"), "after"
	if v == "" {
		v, field = r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	}
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, badRequest(field + ": must be a byte position, a whole number of 0 or more")
	}
	return n, true, nil
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request, agent, sessionID string, running bool) {
	pos, named, aerr := resumePosition(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	if s.opts.Turns == nil {
		noTurn(w, r)
		return
	}
	key := turnKey(agent, sessionID)
	rd, err := s.opts.Turns.Read(r.Context(), key, pos, 0)
	switch {
	case err != nil && r.Context().Err() == nil:
		s.log.Error("reading a turn log failed", "id", requestID(r.Context()), "error", err.Error())
		s.writeError(w, r, errTurnsUnavailable)
		return
	case err != nil:
		setOutcome(r.Context(), "client_gone")
		return
	case !rd.Found, rd.Ended && rd.Size == 0, rd.Ended && pos == rd.Size && !rd.Cut, rd.Ended && running && !named:
		noTurn(w, r)
		return
	case rd.Ended && pos > rd.Size:
		s.writeError(w, r, &apiError{Status: http.StatusRequestedRangeNotSatisfiable, Code: "position_past_end",
			Message: "the answer is " + strconv.FormatInt(rd.Size, 10) + " bytes long; resume from a position within it"})
		return
	}
	var meta turnMeta
	if json.Unmarshal([]byte(rd.Meta), &meta) != nil {
		s.writeError(w, r, &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "the kept answer cannot be read"})
		return
	}
	state(r.Context()).format = string(meta.Format)
	s.replay(w, r, key, pos, meta, rd)
}

// noTurn answers a resume with nothing to resume.
func noTurn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	setOutcome(r.Context(), "no_turn")
}

// replay writes the log from pos on, as it grows, until its end. A log
// that ends cut, expires or gives way to the next turn before its end ends
// the answer with the format's terminal error.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, key string, pos int64, meta turnMeta, rd limit.LogRead) {
	ctx := r.Context()
	h := w.Header()
	h.Set("Content-Type", meta.ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no")
	h.Set(SessionHeader, state(ctx).session)
	h.Set(ResumeFromHeader, strconv.FormatInt(pos, 10))
	if meta.Header != "" {
		h.Set(meta.Header, meta.Value)
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	turnID := rd.Turn
	for {
		if len(rd.Data) > 0 {
			if s.opts.IdleTimeout > 0 {
				_ = rc.SetWriteDeadline(time.Now().Add(s.opts.IdleTimeout))
			}
			if _, err := w.Write(rd.Data); err != nil {
				setOutcome(ctx, "client_gone")
				return
			}
			_ = rc.Flush()
			pos += int64(len(rd.Data))
		}
		if rd.Ended && pos >= rd.Size {
			if rd.Cut {
				s.endReplay(w, r, meta, "the rest of this answer was not kept; ask again")
				return
			}
			setOutcome(ctx, "completed")
			return
		}
		var err error
		rd, err = s.opts.Turns.Read(ctx, key, pos, resumeWait)
		switch {
		case ctx.Err() != nil:
			setOutcome(ctx, "client_gone")
			return
		case err != nil:
			s.log.Error("reading a turn log failed", "id", requestID(ctx), "error", err.Error())
			s.endReplay(w, r, meta, "the rest of this answer cannot be read right now; ask again")
			return
		case !rd.Found || rd.Turn != turnID:
			s.endReplay(w, r, meta, "the rest of this answer is no longer kept; ask again")
			return
		}
	}
}

// endReplay ends a replay short of the answer's end with the format's
// terminal error.
func (s *Server) endReplay(w http.ResponseWriter, r *http.Request, meta turnMeta, msg string) {
	f := format.Failure{Code: "resume_incomplete", Message: msg, RequestID: requestID(r.Context())}
	_ = format.New(meta.Format, w, format.Options{}).Fail(f)
	_ = http.NewResponseController(w).Flush()
	setOutcome(r.Context(), f.Code)
}

// ResumeFromHeader says, on a resumed answer, the byte position of the
// whole answer at which its body starts.
const ResumeFromHeader = "X-Agentgate-Resume-From"

// handleStopTurn serves POST …/stop: it ends the session's running turn,
// on whichever instance runs it, and keeps the session. 204 whether or
// not a turn was running.
func (s *Server) handleStopTurn(from agentFrom) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agent, _, aerr := s.resolveAgent(r, from)
		var id string
		if aerr == nil {
			id, aerr = s.pathSession(r)
		}
		if aerr != nil {
			s.writeError(w, r, aerr)
			return
		}
		state(r.Context()).session = id
		if err := s.stopTurn(r.Context(), turnKey(agent, id)); err != nil {
			s.log.Error("stopping a turn failed", "id", requestID(r.Context()), "error", err.Error())
			s.writeError(w, r, errTurnsUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		setOutcome(r.Context(), "stopped")
	})
}

// stopTurn stops the turn running under key: at once when it runs here,
// else through its log, which the instance running it polls.
func (s *Server) stopTurn(ctx context.Context, key string) error {
	if t, ok := s.turns.Load(key); ok {
		t.(*turn).stop()
		return nil
	}
	if s.opts.Turns == nil || s.opts.TurnsLocal {
		return nil
	}
	rd, err := s.opts.Turns.Read(ctx, key, math.MaxInt64, 0)
	if err != nil || !rd.Found || rd.Ended {
		return err
	}
	if err := s.opts.Turns.Stop(ctx, key, rd.Turn); err != nil && !errors.Is(err, limit.ErrLogGone) {
		return err
	}
	return nil
}

// reconnect serves an EventSource that reconnects to a GET invocation
// (it sends Last-Event-ID and repeats the URL): the rest of the turn of
// the session the URL names, rather than a new turn with the same prompt.
// Without a session in the URL there is no turn to find: 204, which tells
// an EventSource to stop reconnecting.
func (s *Server) reconnect(w http.ResponseWriter, r *http.Request, agent string) {
	id := r.URL.Query().Get("runtimeSessionId")
	if id == "" {
		id = r.Header.Get(SessionHeader)
	}
	if id == "" {
		noTurn(w, r)
		return
	}
	if err := s.checkSession(owner(principal(r.Context())), id); err != nil {
		s.writeError(w, r, callerError(err))
		return
	}
	state(r.Context()).session = id
	s.resume(w, r, agent, id, false)
}
