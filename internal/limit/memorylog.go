package limit

import (
	"context"
	"math"
	"time"
)

// DefaultMaxLogBytes is how many bytes of turn logs a Memory holds when
// MaxLogBytes is zero.
const DefaultMaxLogBytes = 64 << 20

// memLog is one turn's log in a Memory.
type memLog struct {
	turn, meta          string
	data                []byte
	ended, cut, stopped bool
	expires             time.Duration
	// wake, made by the first reader that waits, is closed when the log
	// changes, to wake the readers waiting for more.
	wake chan struct{}
}

func (l *memLog) changed() {
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
}

// waiter returns the channel a reader waits on for the next change.
func (l *memLog) waiter() chan struct{} {
	if l.wake == nil {
		l.wake = make(chan struct{})
	}
	return l.wake
}

var _ Logs = (*Memory)(nil)

// SetMaxLogBytes sets MaxLogBytes while the store is in use: a rebuilt
// gateway keeps its store and may change the cap.
func (m *Memory) SetMaxLogBytes(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.MaxLogBytes = n
}

// Open implements Logs.
func (m *Memory) Open(ctx context.Context, key, turn, meta string, ttl time.Duration) error {
	if err := checkLogWrite(turn, 0, ttl); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.tick()
	old, found := m.logs[key]
	if !found {
		if err := m.room(now); err != nil {
			return err
		}
	} else {
		m.logBytes -= int64(cap(old.data))
		old.changed()
	}
	m.logs[key] = &memLog{turn: turn, meta: meta}
	m.setExpiry(m.logs[key], now+ttl)
	return nil
}

// Append implements Logs. It fails with ErrFull when the store's logs
// would outgrow MaxLogBytes.
func (m *Memory) Append(ctx context.Context, key, turn string, at int64, data []byte, ttl time.Duration) error {
	if err := checkLogWrite(turn, at, ttl); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.tick()
	l, err := m.writable(key, turn, at, now)
	if err != nil {
		return err
	}
	if grow := len(l.data) + len(data) - cap(l.data); grow > 0 {
		limit := m.MaxLogBytes
		if limit <= 0 {
			limit = DefaultMaxLogBytes
		}
		// Grow as append would, doubling small logs and adding a quarter
		// to large ones, but count what is held.
		next := 2 * cap(l.data)
		if cap(l.data) >= 256<<10 {
			next = cap(l.data) + cap(l.data)/4
		}
		next = max(next, len(l.data)+len(data))
		if m.logBytes+int64(next-cap(l.data)) > limit {
			// A full store looks for expired logs only when one can
			// have expired: a turn against it then costs O(1), not a
			// scan of every log.
			if now >= m.logsExpire {
				m.sweepLogs(now)
			}
			next = len(l.data) + len(data) // no room to spare
			if m.logBytes+int64(next-cap(l.data)) > limit {
				return ErrFull
			}
		}
		grown := make([]byte, len(l.data), next)
		copy(grown, l.data)
		m.logBytes += int64(next - cap(l.data))
		l.data = grown
	}
	l.data = append(l.data, data...)
	m.setExpiry(l, now+ttl)
	l.changed()
	return nil
}

// End implements Logs.
func (m *Memory) End(ctx context.Context, key, turn string, size int64, cut bool, retain time.Duration) error {
	if err := checkLogWrite(turn, size, retain); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.tick()
	l, err := m.writable(key, turn, size, now)
	if err != nil {
		return err
	}
	l.ended, l.cut = true, cut
	m.setExpiry(l, now+retain)
	l.changed()
	return nil
}

// writable returns turn's log under key, open at size at. m.mu must be
// held.
func (m *Memory) writable(key, turn string, at int64, now time.Duration) (*memLog, error) {
	l := m.liveLog(key, now)
	switch {
	case l == nil || l.turn != turn:
		return nil, ErrLogGone
	case l.ended || int64(len(l.data)) != at:
		return nil, ErrLogPosition
	}
	return l, nil
}

// liveLog returns the log under key, dropping it if it expired. m.mu must
// be held.
func (m *Memory) liveLog(key string, now time.Duration) *memLog {
	l := m.logs[key]
	if l != nil && l.expires <= now {
		m.dropLog(key, l)
		return nil
	}
	return l
}

// sweepLogs drops every expired log, and notes when the first of the
// others expires. m.mu must be held.
func (m *Memory) sweepLogs(now time.Duration) {
	m.logsExpire = math.MaxInt64
	for k, l := range m.logs {
		if l.expires <= now {
			m.dropLog(k, l)
		} else {
			m.logsExpire = min(m.logsExpire, l.expires)
		}
	}
}

// setExpiry sets when l expires. m.mu must be held.
func (m *Memory) setExpiry(l *memLog, at time.Duration) {
	l.expires = at
	m.logsExpire = min(m.logsExpire, at)
}

func (m *Memory) dropLog(key string, l *memLog) {
	m.logBytes -= int64(cap(l.data))
	delete(m.logs, key)
	l.changed()
}

// Read implements Logs.
func (m *Memory) Read(ctx context.Context, key string, from int64, wait time.Duration) (LogRead, error) {
	if err := checkLogRead(from, wait); err != nil {
		return LogRead{}, err
	}
	var timeout <-chan time.Time
	for {
		if err := ctx.Err(); err != nil {
			return LogRead{}, err
		}
		m.mu.Lock()
		l := m.liveLog(key, m.tick())
		if l == nil {
			m.mu.Unlock()
			return LogRead{}, nil
		}
		size := int64(len(l.data))
		if from < size || l.ended || wait == 0 {
			r := LogRead{Found: true, Turn: l.turn, Meta: l.meta, Size: size, Ended: l.ended, Cut: l.cut}
			if from < size {
				r.Data = append([]byte(nil), l.data[from:min(size, from+MaxLogRead)]...)
			}
			m.mu.Unlock()
			return r, nil
		}
		wake := l.waiter()
		m.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-wake:
		case <-timeout:
			wait = 0 // one last look
		case <-ctx.Done():
			return LogRead{}, ctx.Err()
		}
	}
}

// Stop implements Logs.
func (m *Memory) Stop(ctx context.Context, key, turn string) error {
	return m.stopFlag(ctx, key, turn, true)
}

// Stopped implements Logs.
func (m *Memory) Stopped(ctx context.Context, key, turn string) (bool, error) {
	if err := m.stopFlag(ctx, key, turn, false); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.logs[key]
	return l != nil && l.stopped, nil
}

func (m *Memory) stopFlag(ctx context.Context, key, turn string, set bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.liveLog(key, m.tick())
	if l == nil || l.turn != turn {
		return ErrLogGone
	}
	if set && !l.stopped {
		l.stopped = true
		l.changed()
	}
	return nil
}
