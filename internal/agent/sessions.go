package agent

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/model"
)

// sessions keeps each runtime session's conversation in memory, bounded in
// count (least recently used first out), in length and in idle time. Expiry
// is lazy: a session is checked when it is next used, and the idle ones are
// swept when a new one is inserted, so no goroutine has to outlive a Server.
//
// A session that a request holds or waits for is never evicted or expired:
// dropping it would lose the reply being streamed and let a second request
// on the same id run beside the first. So when every session is in use the
// map may pass maxSessions by the number of requests in flight.
type sessions struct {
	maxSessions int
	maxMessages int
	idle        time.Duration
	now         func() time.Time

	mu   sync.Mutex
	byID map[string]*list.Element // values are *session
	lru  *list.List               // front: most recently used
}

type session struct {
	id string
	// lock serialises the session's requests. It is a one-slot channel, not
	// a sync.Mutex, so that a waiting request can give up when its client
	// goes away.
	lock chan struct{}
	// history is guarded by lock.
	history []model.Message

	// refs counts the requests holding or waiting for lock, and lastUsed
	// is when one last took or gave it back; both guarded by sessions.mu.
	refs     int
	lastUsed time.Time
}

func newSessions(maxSessions, maxMessages int, idle time.Duration, now func() time.Time) *sessions {
	return &sessions{
		maxSessions: maxSessions,
		maxMessages: maxMessages,
		idle:        idle,
		now:         now,
		byID:        make(map[string]*list.Element),
		lru:         list.New(),
	}
}

// acquire returns the session id, created if need be, once the caller holds
// its lock; the caller must release it. It fails only when ctx ends first.
func (st *sessions) acquire(ctx context.Context, id string) (*session, error) {
	s := st.ref(id)
	select {
	case s.lock <- struct{}{}:
		return s, nil
	case <-ctx.Done():
		st.unref(s)
		return nil, ctx.Err()
	}
}

// messages returns a copy of the session's history; the caller holds its
// lock. The copy keeps a provider that retains its Request from seeing later
// turns.
func (s *session) messages() []model.Message {
	return append([]model.Message(nil), s.history...)
}

// release appends turn (nil for a reply that failed) to the session's
// history and gives up its lock.
func (st *sessions) release(s *session, turn ...model.Message) {
	if len(turn) > 0 {
		s.history = append(s.history, turn...)
		s.trim(st.maxMessages)
	}
	<-s.lock
	st.unref(s)
}

// trim drops the oldest messages in pairs, so the history still starts with
// a user turn and alternates as model.Request requires.
func (s *session) trim(maxMessages int) {
	excess := len(s.history) - maxMessages
	if excess <= 0 {
		return
	}
	excess += excess % 2
	n := copy(s.history, s.history[excess:])
	// Clear the tail so the dropped texts can be collected.
	clear(s.history[n:])
	s.history = s.history[:n]
}

func (st *sessions) ref(id string) *session {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.now()
	if e, ok := st.byID[id]; ok {
		s := e.Value.(*session)
		// refs == 0 means nobody holds the lock, so history is ours to clear.
		if s.refs == 0 && st.expired(s, now) {
			s.history = nil
		}
		s.refs++
		s.lastUsed = now
		st.lru.MoveToFront(e)
		return s
	}
	st.makeRoom(now)
	s := &session{id: id, lock: make(chan struct{}, 1), refs: 1, lastUsed: now}
	st.byID[id] = st.lru.PushFront(s)
	return s
}

func (st *sessions) unref(s *session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.refs--
	s.lastUsed = st.now()
	if e, ok := st.byID[s.id]; ok && e.Value == s {
		st.lru.MoveToFront(e)
	}
}

func (st *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastUsed) >= st.idle
}

// makeRoom sweeps expired sessions, then evicts the least recently used idle
// ones until a new session fits. Every use moves a session to the front, so
// from the back the first unexpired idle session ends the sweep.
func (st *sessions) makeRoom(now time.Time) {
	for e := st.lru.Back(); e != nil; {
		s := e.Value.(*session)
		prev := e.Prev()
		if s.refs == 0 {
			if !st.expired(s, now) {
				break
			}
			st.remove(e)
		}
		e = prev
	}
	for e := st.lru.Back(); e != nil && st.lru.Len() >= st.maxSessions; {
		prev := e.Prev()
		if e.Value.(*session).refs == 0 {
			st.remove(e)
		}
		e = prev
	}
}

func (st *sessions) remove(e *list.Element) {
	delete(st.byID, e.Value.(*session).id)
	st.lru.Remove(e)
}

// len reports how many sessions are kept.
func (st *sessions) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.lru.Len()
}

// drop forgets session id, as the end of its microVM would, and reports
// whether it was held. A request still holding the session keeps its copy
// to the end, but the copy is no longer the session's: the next request
// with the id starts a new conversation.
func (st *sessions) drop(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.byID[id]
	if ok {
		st.remove(e)
	}
	return ok
}

// status reports whether session id has requests holding or waiting for
// it, since when it has been in that state (its last use: the start or end
// of a request), and whether it is held at all.
func (st *sessions) status(id string) (busy bool, since time.Time, known bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.byID[id]
	if !ok {
		return false, time.Time{}, false
	}
	s := e.Value.(*session)
	return s.refs > 0, s.lastUsed, true
}
