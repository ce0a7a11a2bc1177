package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"crypto/rand"

	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/limit"
	"github.com/agentgate/agentgate/internal/sse"
)

// A durable turn (Options.Turns) outlives its client. Everything its
// answer writes, as the client receives it, goes to a turn log in the
// limits store as well; when the client goes away the turn runs on, up to
// DetachedTimeout, writing to the log alone. A client that comes back asks
// for the rest (resume.go) by the byte position it reached, on any
// instance that shares the store.
//
// The log holds the answer's body bytes exactly, heartbeats and the
// terminal write included, so positions are byte counts of the body. An
// event-stream answer also carries, in each block, an id naming the
// position past it (sse.IDWriter), which is what EventSource and the AI
// SDK send back as Last-Event-ID.
//
// Writes reach the store in batches: one per flush, the bursts in which
// the client receives the answer. A memory log is appended to at once; a
// shared one on a goroutine of its own while the stream goes on, so that a
// slow store never holds the answer back. That goroutine lives only while
// a batch is on its way, and ships what gathered meanwhile as the next.

// The causes that end a durable turn.
var (
	errDetachedTimeout = errors.New("gateway: no client came back within the detached timeout")
	errStopped         = errors.New("gateway: the turn was stopped")
)

// Defaults for durable turns.
const (
	DefaultDetachedTimeout = 5 * time.Minute
	DefaultTurnRetention   = 10 * time.Minute
	DefaultMaxTurnBytes    = 4 << 20
	// turnStoreTimeout bounds each store call a turn makes.
	turnStoreTimeout = 10 * time.Second
)

// turnKey names the log of a session's turns with one agent.
func turnKey(agent, sessionID string) string { return "turn:" + agent + ":" + sessionID }

// turnMeta is what a resume needs to answer as the turn did.
type turnMeta struct {
	Format      format.Name `json:"f"`
	ContentType string      `json:"ct"`
	Header      string      `json:"h,omitempty"` // an Announcer's header
	Value       string      `json:"v,omitempty"`
}

// metas holds each format's turnMeta, as JSON, once made.
var metas sync.Map // format.Name → string

// metaOf returns the turnMeta of an answer in format f, as JSON.
func metaOf(f format.Name) string {
	if m, ok := metas.Load(f); ok {
		return m.(string)
	}
	meta := turnMeta{Format: f, ContentType: format.ContentType(f)}
	meta.Header, meta.Value, _ = format.Announce(f)
	m, _ := json.Marshal(meta)
	metas.Store(f, string(m))
	return string(m)
}

// turn is one durable turn while it runs.
type turn struct {
	s      *Server
	key    string
	id     string
	cancel context.CancelCauseFunc
	log    *turnLog

	gone      atomic.Bool
	leaveOnce sync.Once
	mu        sync.Mutex
	ended     bool        // the stream is over: no timer starts
	timer     *time.Timer // the detached timeout, once the client left
	poll      *time.Timer // asks the store whether another instance stopped it
}

// startTurn opens a durable turn for req, or returns nil when turns are
// not durable. The log is opened at once for a memory store, and first
// thing on the shipping goroutine for a shared one, off the way of the
// first byte.
func (s *Server) startTurn(r *http.Request, agent string, req *invocation) *turn {
	if s.opts.Turns == nil {
		return nil
	}
	t := &turn{s: s, key: turnKey(agent, req.sessionID), id: rand.Text()[:20]}
	t.log = &turnLog{
		logs: s.opts.Turns, key: t.key, id: t.id, meta: metaOf(req.format),
		ttl:    max(s.opts.TurnRetention, s.opts.TotalTimeout),
		retain: s.opts.TurnRetention,
		max:    s.opts.MaxTurnBytes,
		local:  s.opts.TurnsLocal,
		log:    s.log, reqID: requestID(r.Context()),
		hurry: make(chan struct{}),
	}
	if !s.opts.TurnsLocal {
		t.log.every = s.opts.TurnBatch
	}
	t.log.cond.L = &t.log.mu
	t.log.open()
	return t
}

// writer returns what the encoder writes to: the client and the log, with
// ids in each block of an event stream.
func (t *turn) writer(w io.Writer, eventStream bool) io.Writer {
	var out io.Writer = &turnWriter{w: w, t: t}
	if eventStream {
		out = sse.NewIDWriter(out, 0)
	}
	return out
}

// run ties the turn to its stream: the client's leaving (clientCtx ending)
// starts the detached timeout, a stop cancels the stream, and the turn is
// registered for stops on this instance. The returned func ends it all and
// the log, complete or cut.
func (t *turn) run(clientCtx context.Context, cancel context.CancelCauseFunc) func() {
	t.cancel = cancel
	t.s.turns.Store(t.key, t)
	stopAfter := context.AfterFunc(clientCtx, t.leave)
	if every := t.s.opts.StopPoll; every > 0 {
		t.mu.Lock()
		t.poll = time.AfterFunc(every, t.checkStopped)
		t.mu.Unlock()
	}
	return func() {
		stopAfter()
		t.mu.Lock()
		t.ended = true
		if t.timer != nil {
			t.timer.Stop()
		}
		if t.poll != nil {
			t.poll.Stop()
			t.poll = nil
		}
		t.mu.Unlock()
		t.s.turns.CompareAndDelete(t.key, t)
		t.log.end()
	}
}

// leave marks the client gone: nothing more is written to it, and the turn
// has DetachedTimeout left.
func (t *turn) leave() {
	t.leaveOnce.Do(func() {
		t.gone.Store(true)
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.ended {
			return
		}
		t.timer = time.AfterFunc(t.s.opts.DetachedTimeout, func() { t.cancel(errDetachedTimeout) })
	})
}

// stop ends the turn at once, from this instance.
func (t *turn) stop() { t.cancel(errStopped) }

// checkStopped asks the store whether a stop for this turn reached
// another instance, and stops it if so; else it asks again later.
func (t *turn) checkStopped() {
	ctx, cancel := context.WithTimeout(context.Background(), turnStoreTimeout)
	stopped, err := t.s.opts.Turns.Stopped(ctx, t.key, t.id)
	cancel()
	if stopped || errors.Is(err, limit.ErrLogGone) {
		if stopped {
			t.stop()
		}
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.poll != nil {
		t.poll.Reset(t.s.opts.StopPoll)
	}
}

// turnWriter writes to the client while it is there, and always to the
// turn's log. A client write that fails means the client left; the turn
// goes on.
type turnWriter struct {
	w io.Writer
	t *turn
}

func (tw *turnWriter) Write(p []byte) (int, error) {
	tw.t.log.write(p)
	if !tw.t.gone.Load() {
		if _, err := tw.w.Write(p); err != nil {
			tw.t.leave()
		}
	}
	return len(p), nil
}

// turnLog writes one turn's answer to its log, batch by batch.
type turnLog struct {
	logs        limit.Logs
	key, id     string
	meta        string
	ttl, retain time.Duration
	max         int64
	local       bool // append on the caller's goroutine
	// every spaces a shared store's appends, so that a fast stream's
	// events go in batches of that much time, not one write each.
	every time.Duration
	log   *slog.Logger
	reqID string

	mu       sync.Mutex
	cond     sync.Cond // signals the end of shipping
	pending  []byte    // written, not yet shipped
	spare    []byte    // the buffer of the batch last shipped, for reuse
	taken    int64     // bytes written within the cap
	shipped  int64     // bytes in the store
	opened   bool      // Open has succeeded
	cut      bool      // the log stops short of the answer
	broken   bool      // a store call failed: nothing more is shipped
	shipping bool
	last     time.Time     // when the last append began
	hurry    chan struct{} // closed at the end: ship the rest at once
}

// open opens the log: now for a local store, else as the first thing the
// shipping goroutine does.
func (l *turnLog) open() {
	l.mu.Lock()
	l.shipping = true
	l.mu.Unlock()
	l.shipOn()
}

// waitOpen waits until the log's opening is settled, opened or failed
// (bounded by the store's timeout), so that a client never holds a byte
// of an answer whose log a resume on another instance could not yet
// find. The opening started with the turn, beside the upstream call, so
// it is mostly settled by the first byte.
func (l *turnLog) waitOpen() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for !l.opened && !l.broken {
		l.cond.Wait()
	}
}

// write takes p into the next batch, unless the log is over its cap.
func (l *turnLog) write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return
	}
	if l.max > 0 && l.taken+int64(len(p)) > l.max {
		l.cut = true
		return
	}
	l.taken += int64(len(p))
	l.pending = append(l.pending, p...)
}

// batch ships what was written since the last batch.
func (l *turnLog) batch() {
	l.mu.Lock()
	if len(l.pending) == 0 || l.shipping || l.broken {
		l.mu.Unlock()
		return
	}
	l.shipping = true
	l.mu.Unlock()
	l.shipOn()
}

// shipOn ships, once the caller has set l.shipping: on the caller's
// goroutine for a local store, else on one of its own.
func (l *turnLog) shipOn() {
	if l.local {
		l.ship()
		return
	}
	go l.ship()
}

// ship opens the log if it is not yet open, then appends the pending
// bytes, batch after batch, until none are left. l.shipping is set by the
// caller and cleared here.
func (l *turnLog) ship() {
	// A memory store answers at once: its calls need no bound, nor the
	// timer one costs at every flush.
	ctx := context.Background()
	if !l.local {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, turnStoreTimeout)
		defer cancel()
	}
	l.mu.Lock()
	defer func() {
		l.shipping = false
		l.cond.Broadcast()
		l.mu.Unlock()
	}()
	if !l.opened && !l.broken {
		l.mu.Unlock()
		err := l.logs.Open(ctx, l.key, l.id, l.meta, l.ttl)
		l.mu.Lock()
		l.opened = err == nil
		l.failed(err, "opening")
	}
	for len(l.pending) > 0 && !l.broken {
		if wait := l.every - time.Since(l.last); wait > 0 {
			l.mu.Unlock()
			select {
			case <-time.After(wait):
			case <-l.hurry:
			}
			l.mu.Lock()
			continue
		}
		l.last = time.Now()
		data, at := l.pending, l.shipped
		l.pending = l.spare[:0]
		l.mu.Unlock()
		err := l.append(ctx, at, data)
		l.mu.Lock()
		l.spare = data[:0]
		if !l.failed(err, "appending to") {
			l.shipped += int64(len(data))
		}
	}
}

// append appends data at at. A store call that failed may have landed
// all the same, its answer lost on the way back, or not at all (a timeout
// on a busy store): the log's size says which, and a batch that did not
// land is sent once more.
func (l *turnLog) append(ctx context.Context, at int64, data []byte) error {
	err := l.logs.Append(ctx, l.key, l.id, at, data, l.ttl)
	if err == nil || errors.Is(err, limit.ErrLogGone) || errors.Is(err, limit.ErrLogPosition) {
		return err
	}
	r, rerr := l.logs.Read(ctx, l.key, math.MaxInt64, 0)
	switch {
	case rerr != nil || !r.Found || r.Turn != l.id:
		return err
	case r.Size == at+int64(len(data)):
		return nil
	case r.Size == at:
		return l.logs.Append(ctx, l.key, l.id, at, data, l.ttl)
	}
	return err
}

// failed records a failed store call: the log is cut where it stands and
// takes nothing more. It reports whether err is one. l.mu must be held.
func (l *turnLog) failed(err error, doing string) bool {
	if err == nil {
		return false
	}
	if !l.broken {
		l.log.Warn(doing+" a turn log failed; the rest of the answer cannot be resumed", "id", l.reqID, "error", err.Error())
	}
	l.broken, l.cut, l.pending = true, true, nil
	return true
}

// end ships what is left and closes the log for its retention: complete,
// or cut where it stops.
func (l *turnLog) end() {
	close(l.hurry)
	l.mu.Lock()
	l.every = 0
	for l.shipping {
		l.cond.Wait()
	}
	l.shipping = true
	l.mu.Unlock()
	l.ship()
	l.mu.Lock()
	size, cut, ok := l.shipped, l.cut, l.opened && !l.broken
	l.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), turnStoreTimeout)
	defer cancel()
	if err := l.logs.End(ctx, l.key, l.id, size, cut, l.retain); err != nil && !errors.Is(err, limit.ErrLogGone) {
		l.log.Warn("ending a turn log failed", "id", l.reqID, "error", err.Error())
	}
}
