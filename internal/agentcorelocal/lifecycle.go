package agentcorelocal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// agentCallTimeout bounds each of the emulator's own calls to an agent:
// a ping, or the end of a session.
const agentCallTimeout = 5 * time.Second

// Run ends runtime sessions on time until ctx ends: a session idle for the
// idle timeout, unless its agent answers its ping HealthyBusy, and a session
// at its maximum lifetime, even mid-stream. Ending a session cancels its
// streams and tells its agent to forget it (see endSession). Call Run once,
// beside serving; without it, sessions end only when stopped.
//
// AgentCore's guide on long-running agents says how the platform learns
// that an idle session is still at work: the agent's GET /ping answers
// {"status": "HealthyBusy"} ("processing background tasks"), and "a session
// returning HealthyBusy remains active past the idle timeout"; a
// time_of_last_update that moves also counts as activity. The platform
// polls; so does Run, each time a session has been idle for the timeout,
// with the session header set: AgentCore pings each session's own microVM,
// the emulator's one agent serves every session (internal/agent answers for
// the session named). An agent that reports time_of_last_update as the
// contract asks has its session end when AgentCore's would.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(s.sessions.checkEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.endDueSessions(ctx)
		}
	}
}

// endDueSessions ends the sessions whose time is up.
func (s *Server) endDueSessions(ctx context.Context) {
	ended, idle := s.sessions.due(s.now())
	for _, st := range ended {
		s.endSession(ctx, st, endMaxLifetime)
	}
	for _, st := range idle {
		if s.agentBusy(ctx, st) {
			continue
		}
		if s.sessions.endIdle(st, s.now()) {
			s.endSession(ctx, st, endIdle)
		}
	}
}

// pingAnswer is the service contract's answer to GET /ping.
type pingAnswer struct {
	Status           string `json:"status"`
	TimeOfLastUpdate int64  `json:"time_of_last_update"`
}

// agentBusy pings st's agent and reports whether it answered HealthyBusy;
// either that or a time_of_last_update after the session's last activity
// makes the session active again. An agent that does not answer, or
// answers anything else, is taken to be idle.
func (s *Server) agentBusy(ctx context.Context, st *sessionState) bool {
	rt := s.runtimes[st.key.arn]
	ctx, cancel := context.WithTimeout(ctx, agentCallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rt.baseURL+"/ping", nil)
	if err != nil {
		return false
	}
	req.Header.Set(sessionHeader, st.key.id)
	resp, err := s.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var ping pingAnswer
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&ping) != nil {
		return false
	}
	now := s.now()
	if ping.Status == "HealthyBusy" {
		s.sessions.touch(st, now)
		return true
	}
	if ping.TimeOfLastUpdate > 0 {
		if changed := time.Unix(ping.TimeOfLastUpdate, 0); changed.Before(now) {
			s.sessions.touch(st, changed)
		}
	}
	return false
}

// endSession does what the end of a session's microVM does in AgentCore:
// the session's streams break, and its agent forgets it. The emulator's
// stand-in for the second is the agent's local control call
//
//	POST {runtime URL}/local/sessions/{session id}/end
//
// which internal/agent serves (from loopback only). An agent without it
// keeps its memory of the session; that is logged, once per runtime, as a
// warning.
func (s *Server) endSession(ctx context.Context, st *sessionState, reason string) {
	s.sessions.cancelCalls(st)
	rt := s.runtimes[st.key.arn]
	err := s.tellAgentSessionEnded(ctx, rt, st.key.id)
	attrs := []slog.Attr{
		slog.String("arn", rt.arn),
		slog.String("session", st.key.id),
		slog.String("reason", reason),
		slog.Duration("lifetime", s.now().Sub(st.started)),
	}
	level := slog.LevelInfo
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
		if rt.warnedEnd.CompareAndSwap(false, true) {
			level = slog.LevelWarn
			attrs = append(attrs, slog.String("consequence", "the agent may still remember the session's conversation"))
		}
	}
	s.log.LogAttrs(ctx, level, "agentcore-local session ended", attrs...)
}

func (s *Server) tellAgentSessionEnded(ctx context.Context, rt *runtime, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), agentCallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rt.baseURL+"/local/sessions/"+url.PathEscape(id)+"/end", nil)
	if err != nil {
		return fmt.Errorf("end session at agent: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("end session at agent: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("end session at agent: %s", resp.Status)
	}
	return nil
}
