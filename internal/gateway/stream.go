package gateway

import (
	"net/http"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
)

// stream is the client's side of one relayed answer, and everything that
// goes out on it: the headers, the flush policy, heartbeats while the agent
// is silent, the write deadline that lets go of a client that stopped
// reading, and the terminal write. The relay only says what to write.
//
// The flush policy: the header goes out with the first burst of upstream
// blocks, in the same write, or alone after headerHold if the agent is
// silent that long, so the client knows the stream has started; then one
// flush per burst (a lone event leaves at once, a burst read in one go
// leaves in one write), one per heartbeat, and one after the terminal
// write. A buffered encoder (a
// non-streamed chat completion) is never flushed: a flush would send the
// 200 and its headers, after which a failure could only be an error body
// under a success status.
type stream struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	enc      format.Encoder
	buffered bool
	// writeBy is how long the client may take to take each burst: a
	// client that stops reading must not pin the stream, its goroutine
	// and its concurrency slot. 0 is no bound.
	writeBy time.Duration
	// batch, when set, runs at every flush: a durable turn ships what the
	// client just received to its log.
	batch func()

	mu     sync.Mutex // serialises the relay's writes and the heartbeats'
	every  time.Duration
	timer  *time.Timer
	beats  int
	closed bool
	// hold sends the header alone if nothing was flushed headerHold after
	// it was written; opened says a flush sent it.
	hold   *time.Timer
	opened bool
}

// headerHold is how long the header waits for the agent's first block, to
// leave with it in one write. An agent streaming at once (its first event
// follows its own header) is met in well under it; a silent one leaves the
// client knowing its stream started, as good as at once.
const headerHold = 5 * time.Millisecond

// streamOptions shape a stream: hold, how long its header waits for the
// first burst; heartbeat, the silence after which a heartbeat goes out
// (0: none); writeBy, the client's time to take each burst (0: no bound);
// batch, what runs at every flush.
type streamOptions struct {
	hold, heartbeat, writeBy time.Duration
	batch                    func()
}

// startStream writes the response's headers (and, unless enc buffers, its
// status, which goes out with the first burst or after o.hold) and starts
// heartbeats after every silence of o.heartbeat.
func startStream(w http.ResponseWriter, enc format.Encoder, sessionID string, o streamOptions) *stream {
	st := &stream{w: w, rc: http.NewResponseController(w), enc: enc, buffered: enc.Buffered(), writeBy: o.writeBy, batch: o.batch}
	h := w.Header()
	h.Set("Content-Type", enc.ContentType())
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no")
	h.Set(SessionHeader, sessionID)
	if a, ok := enc.(format.Announcer); ok {
		h.Set(a.Announce())
	}
	if st.buffered {
		return st
	}
	w.WriteHeader(http.StatusOK)
	// Under the lock: the timers may fire before AfterFunc returns, and
	// they read what they are assigned to.
	st.mu.Lock()
	defer st.mu.Unlock()
	st.hold = time.AfterFunc(o.hold, st.open)
	if o.heartbeat > 0 {
		st.every = o.heartbeat
		st.timer = time.AfterFunc(o.heartbeat, st.beat)
	}
	return st
}

// open sends the header if nothing has yet, while the stream is open.
func (st *stream) open() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.closed && !st.opened {
		st.flush()
	}
}

// flush sends what is written so far, unless the answer is buffered.
func (st *stream) flush() {
	if !st.buffered {
		_ = st.rc.Flush()
		if !st.opened && st.hold != nil {
			st.opened = true
			st.hold.Stop()
		}
	}
	if st.batch != nil {
		st.batch()
	}
}

// extend gives the client writeBy from now to take what comes next.
func (st *stream) extend() {
	if st.writeBy > 0 {
		_ = st.rc.SetWriteDeadline(time.Now().Add(st.writeBy))
	}
}

// block writes one upstream block, as its bytes or its events as the
// encoder reads them; last says no further block is buffered upstream, so
// the burst is over and goes out.
func (st *stream) block(raw []byte, events []event.Event, last bool) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.enc.Input() == format.Bytes {
		if err := st.enc.Raw(raw); err != nil {
			return err
		}
	} else {
		for _, e := range events {
			if err := st.enc.Event(e); err != nil {
				return err
			}
		}
	}
	if !last {
		return nil
	}
	st.extend()
	st.flush()
	if st.timer != nil {
		st.timer.Reset(st.every)
	}
	return nil
}

func (st *stream) beat() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return
	}
	if st.enc.Heartbeat() == nil {
		st.flush()
		st.beats++
	}
	st.timer.Reset(st.every)
}

// close stops the heartbeats for good, so that nothing but the terminal
// write follows, and gives the client writeBy for that. It reports how
// many heartbeats were sent.
func (st *stream) close() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closed = true
	if st.timer != nil {
		st.timer.Stop()
	}
	if st.hold != nil {
		st.hold.Stop()
	}
	st.extend()
	return st.beats
}

// finish ends a completed answer. A buffered encoder may refuse an answer
// too large to hold; nothing has been sent then.
func (st *stream) finish(sessionID string) error {
	if err := st.enc.Finish(sessionID); err != nil {
		return err
	}
	st.flush()
	return nil
}

// fail ends a started answer with its format's terminal error, and tells
// a writer that can carry it beside the body (Lambda's error trailers).
func (st *stream) fail(f format.Failure) {
	_ = st.enc.Fail(f)
	reportFailure(st.w, f)
	st.flush()
}

// release clears the write deadline, for the connection's next request.
func (st *stream) release() { _ = st.rc.SetWriteDeadline(time.Time{}) }
