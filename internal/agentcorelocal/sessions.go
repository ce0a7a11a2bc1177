package agentcorelocal

import (
	"net/http"
	"sync"
	"time"
)

// AgentCore ends a session after this long without an invocation, and after
// sessionMaxLifetime in any case.
const (
	sessionIdleTimeout = 15 * time.Minute
	sessionMaxLifetime = 8 * time.Hour
)

// sessionStore remembers the runtime sessions each runtime has seen, so that
// StopRuntimeSession can tell known sessions from unknown ones.
type sessionStore struct {
	mu        sync.Mutex
	byRuntime map[string]map[string]*sessionState // runtime ARN → session id → state
	swept     time.Time                           // when ended sessions were last forgotten
}

// sweepEvery spaces the sweeps: each visits every session, and a load test
// that starts a session per request would otherwise pay for all of them on
// every call.
const sweepEvery = time.Second

type sessionState struct {
	started    time.Time
	lastActive time.Time
	inFlight   int // invocations streaming now; such a session is not idle
}

func newSessionStore() *sessionStore {
	return &sessionStore{byRuntime: map[string]map[string]*sessionState{}}
}

func (st *sessionState) expired(now time.Time) bool {
	return now.Sub(st.started) >= sessionMaxLifetime ||
		(st.inFlight == 0 && now.Sub(st.lastActive) >= sessionIdleTimeout)
}

// begin records an invocation starting in a session, starting the session
// if it is new or had ended.
func (s *sessionStore) begin(arn, id string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	sessions := s.byRuntime[arn]
	if sessions == nil {
		sessions = map[string]*sessionState{}
		s.byRuntime[arn] = sessions
	}
	st := sessions[id]
	if st == nil || st.expired(now) {
		st = &sessionState{started: now}
		sessions[id] = st
	}
	st.lastActive = now
	st.inFlight++
}

// end records an invocation of a session ending.
func (s *sessionStore) end(arn, id string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.byRuntime[arn][id]; st != nil && st.inFlight > 0 {
		st.inFlight--
		st.lastActive = now
	}
}

// stop ends a session and reports whether it was known and still alive.
func (s *sessionStore) stop(arn, id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	st := s.byRuntime[arn][id]
	if st == nil {
		return false
	}
	delete(s.byRuntime[arn], id)
	return !st.expired(now)
}

// sweep forgets ended sessions, at most once per sweepEvery; in between,
// an ended session still held is told apart by expired.
func (s *sessionStore) sweep(now time.Time) {
	if now.Sub(s.swept) < sweepEvery && !now.Before(s.swept) {
		return
	}
	s.swept = now
	for arn, sessions := range s.byRuntime {
		for id, st := range sessions {
			if st.expired(now) {
				delete(sessions, id)
			}
		}
		if len(sessions) == 0 {
			delete(s.byRuntime, arn)
		}
	}
}

// stop runs StopRuntimeSession. The body carries only the SDK's clientToken,
// which the emulator does not need.
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
	if !s.sessions.stop(rt.arn, sessionID, s.now()) {
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
