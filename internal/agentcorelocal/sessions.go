package agentcorelocal

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
)

// AgentCore's session lifecycle defaults, from LifecycleConfiguration
// (CreateAgentRuntime; AgentCore developer guide, "Configure lifecycle
// settings"): idleRuntimeSessionTimeout "Default: 900 seconds (15
// minutes)" and maxLifetime "Default: 28800 seconds (8 hours)". For a
// microVM runtime each is 60 to 28800 seconds, and the idle timeout must
// not exceed the maximum lifetime. The emulator takes shorter values too,
// so that tests and rehearsals need not wait a minute.
const (
	DefaultIdleSessionTimeout = 900 * time.Second
	DefaultMaxSessionLifetime = 28800 * time.Second
)

// ErrSessionEnded is the cause with which an invocation is cancelled when
// its runtime session ends under it: stopped by StopRuntimeSession (which,
// the developer guide says, "stops any ongoing streaming responses") or at
// its maximum lifetime. An InvocationReport's Err wraps it.
var ErrSessionEnded = errors.New("agentcorelocal: runtime session ended")

// Why a session ended, as logged.
const (
	endStopped     = "stopped"
	endIdle        = "idleTimeout"
	endMaxLifetime = "maxLifetime"
)

// sessionStore holds the runtime sessions alive now, by runtime and id.
// A session starts with its first invocation and ends when stopped, when it
// has been idle for the idle timeout, or when it reaches its maximum
// lifetime; Server.Run finds the last two. Each ended session is taken out
// of the store exactly once, by whoever ends it, so its agent is told once.
type sessionStore struct {
	idle, maxLifetime time.Duration

	mu       sync.Mutex
	sessions map[sessionKey]*sessionState
}

type sessionKey struct{ arn, id string }

type sessionState struct {
	key     sessionKey
	started time.Time
	// lastActive is when the session last did something: an invocation
	// began or ended, or its agent answered a ping HealthyBusy or with a
	// newer time_of_last_update.
	lastActive time.Time
	// calls cancels the session's invocations now streaming; such a session
	// is not idle.
	calls map[*call]context.CancelCauseFunc
}

// call is one invocation of a session, for finish to find.
type call struct{}

func newSessionStore(idle, maxLifetime time.Duration) *sessionStore {
	return &sessionStore{idle: idle, maxLifetime: maxLifetime, sessions: map[sessionKey]*sessionState{}}
}

func (st *sessionState) pastLifetime(now time.Time, maxLifetime time.Duration) bool {
	return now.Sub(st.started) >= maxLifetime
}

func (st *sessionState) idleFor(now time.Time, idle time.Duration) bool {
	return len(st.calls) == 0 && now.Sub(st.lastActive) >= idle
}

// checkEvery is how often Run looks for sessions that have ended: a tenth
// of the shorter timeout, within 1 ms and 1 s, so that a session outlives
// its end by little. (AgentCore's own end "can last up to 15 seconds".)
func (s *sessionStore) checkEvery() time.Duration {
	return min(max(min(s.idle, s.maxLifetime)/10, time.Millisecond), time.Second)
}

// begin records an invocation starting in a session, starting the session
// if there is none, and returns the session and the call for finish.
// cancel ends the call if the session ends under it.
func (s *sessionStore) begin(arn, id string, now time.Time, cancel context.CancelCauseFunc) (*sessionState, *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sessionKey{arn, id}
	st := s.sessions[key]
	if st == nil {
		st = &sessionState{key: key, started: now, calls: map[*call]context.CancelCauseFunc{}}
		s.sessions[key] = st
	}
	c := &call{}
	st.calls[c] = cancel
	st.lastActive = now
	return st, c
}

// finish records an invocation of st ending.
func (s *sessionStore) finish(st *sessionState, c *call, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(st.calls, c)
	st.lastActive = now
}

// stop takes session id of runtime arn out of the store, if it holds it,
// and says why it ends: endStopped for a session still alive, or the
// timeout a session has passed that Run has yet to end, which was no
// longer alive to be stopped.
func (s *sessionStore) stop(arn, id string, now time.Time) (st *sessionState, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sessionKey{arn, id}
	st = s.sessions[key]
	if st == nil {
		return nil, ""
	}
	delete(s.sessions, key)
	switch {
	case st.pastLifetime(now, s.maxLifetime):
		return st, endMaxLifetime
	case st.idleFor(now, s.idle):
		return st, endIdle
	}
	return st, endStopped
}

// due takes out of the store the sessions past their maximum lifetime, and
// returns them with the sessions idle for the idle timeout, which stay
// until endIdle: their agents may yet say they are busy.
func (s *sessionStore) due(now time.Time) (ended, idle []*sessionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, st := range s.sessions {
		switch {
		case st.pastLifetime(now, s.maxLifetime):
			delete(s.sessions, key)
			ended = append(ended, st)
		case st.idleFor(now, s.idle):
			idle = append(idle, st)
		}
	}
	return ended, idle
}

// touch records that st was active at t, if that is later than it was.
func (s *sessionStore) touch(st *sessionState, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.After(st.lastActive) {
		st.lastActive = t
	}
}

// endIdle takes st out of the store if it is still there and still idle
// for the idle timeout, and reports whether it did.
func (s *sessionStore) endIdle(st *sessionState, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[st.key] != st || !st.idleFor(now, s.idle) {
		return false
	}
	delete(s.sessions, st.key)
	return true
}

// cancelCalls ends st's invocations now streaming.
func (s *sessionStore) cancelCalls(st *sessionState) {
	s.mu.Lock()
	cancels := slices.Collect(maps.Values(st.calls))
	s.mu.Unlock()
	for _, cancel := range cancels {
		cancel(ErrSessionEnded)
	}
}

// stop runs StopRuntimeSession. The body carries only the SDK's clientToken,
// which the emulator does not need. Stopping a session ends its streams and
// tells its agent to forget it before the answer goes out, so a caller
// that invokes the id again finds a new session, as after the end of
// AgentCore's microVM.
func (s *Server) stop(w http.ResponseWriter, r *http.Request, x *exchange, rt *runtime) {
	sessionID := r.Header.Get(sessionHeader)
	if sessionID == "" {
		s.writeError(w, x, validationError("1 validation error detected: Value at 'runtimeSessionId' failed to satisfy constraint: Member must not be null"))
		return
	}
	if apiErr := checkSessionID(sessionID); apiErr != nil {
		s.writeError(w, x, apiErr)
		return
	}
	x.session = sessionID
	st, reason := s.sessions.stop(rt.arn, sessionID, s.now())
	if st != nil {
		s.endSession(r.Context(), st, reason)
	}
	if reason != endStopped {
		s.writeError(w, x, resourceNotFound("Session %s not found for agent runtime %s", sessionID, rt.arn))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(sessionHeader, sessionID)
	h.Set(requestIDHeader, x.requestID)
	x.status = http.StatusOK
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("{}"))
}
