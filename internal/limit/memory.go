package limit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// DefaultMaxKeys is how many keys a Memory holds when MaxKeys is zero. A
// key costs its length plus about 60 bytes for a rate limit, 80 for a
// counter, 80 plus its own length for a value and 300 for a slot pool with one
// slot, so at most about 30 MB.
const DefaultMaxKeys = 100_000

// ErrFull means a Memory already holds MaxKeys live keys and cannot take a
// new one. The gateway treats it like any other store error.
var ErrFull = errors.New("limit: memory store is full")

const (
	// sweepEvery bounds how long expired entries no one asks about linger.
	sweepEvery = time.Minute
	// fullSweepEvery bounds how often a full store rescans itself, so that
	// a stream of new keys against a full store costs O(1) each, not O(n).
	fullSweepEvery = time.Second
)

// Memory is a Store for a single gateway instance. One mutex guards it all:
// every operation is a map lookup and a few additions (see
// BenchmarkMemoryAllow).
//
// Its memory is bounded: it holds at most MaxKeys live keys across rate
// limits, slot pools, counters and values, and refuses a new key with ErrFull beyond
// that; the slots in a pool are bounded by its max and are streams open
// right now (or ended less than a lease ago). An entry lives only while it carries state: a rate limit until its
// bucket is full again (at most burst × per/rate after the last request), a
// slot pool while it has slots, a counter and a value until their ttl. Expired entries are
// dropped when their key is next used, by a sweep of the whole store at most
// once a minute, and by a sweep when the store is full (at most once a
// second). A sweep holds the lock for a scan of every key, a few
// milliseconds at DefaultMaxKeys.
//
// A Memory is safe for concurrent use.
type Memory struct {
	// MaxKeys caps the live keys the store holds; zero means
	// DefaultMaxKeys. Set it before first use.
	MaxKeys int
	// MaxLogBytes caps the bytes its turn logs hold together; zero means
	// DefaultMaxLogBytes. Set it before first use.
	MaxLogBytes int64

	now   func() time.Time
	epoch time.Time // times below are offsets from it, compact and monotonic

	mu       sync.Mutex
	tats     map[string]time.Duration // GCRA theoretical arrival times
	pools    map[string]pool
	counters map[string]counter
	values   map[string]value
	logs     map[string]*memLog
	logBytes int64 // the capacity of every log's buffer
	// logsExpire is when the first log may expire: no log expires
	// before it, so a full store sweeps its logs only once one can have.
	logsExpire time.Duration
	swept      time.Duration // when the last sweep ran
	nextSlot   uint64
}

type pool map[uint64]*slot

type slot struct {
	ctx   context.Context
	lease time.Duration
	// orphaned says ctx was found ended without a release; the slot then
	// lasts one more lease, until expires.
	orphaned bool
	expires  time.Duration
}

type counter struct {
	n       int64
	expires time.Duration
}

type value struct {
	s       string
	expires time.Duration
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory that reads the time from now (time.Now
// when nil).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{
		now:      now,
		epoch:    now(),
		tats:     make(map[string]time.Duration),
		pools:    make(map[string]pool),
		counters: make(map[string]counter),
		values:   make(map[string]value),
		logs:     make(map[string]*memLog),
		// A full store may sweep at once, however young.
		swept: -fullSweepEvery,
	}
}

// Allow implements Store.
func (m *Memory) Allow(ctx context.Context, key string, rate int, per time.Duration, burst int) (bool, time.Duration, error) {
	g, err := newGCRA(rate, per, burst)
	if err != nil {
		return false, 0, err
	}
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.tick()
	tat, found := m.tats[key]
	tat = max(tat, now)
	next := tat + g.interval
	if wait := next - g.tolerance - now; wait > 0 {
		return false, wait, nil
	}
	if !found {
		if err := m.room(now); err != nil {
			return false, 0, err
		}
	}
	m.tats[key] = next
	return true, 0, nil
}

// Acquire implements Store. A slot needs no refreshing here: it keeps ctx
// and checks it when the pool is next used, at a cost of one check per slot
// held on the key, so no goroutine watches it.
func (m *Memory) Acquire(ctx context.Context, key string, max int, lease time.Duration) (func(), bool, error) {
	if err := checkAcquire(max, lease); err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.tick()
	p := m.pools[key]
	if p == nil {
		if err := m.room(now); err != nil {
			return nil, false, err
		}
		p = make(pool)
		m.pools[key] = p
	}
	p.expire(now)
	if len(p) >= max {
		return nil, false, nil
	}
	m.nextSlot++
	id := m.nextSlot
	p[id] = &slot{ctx: ctx, lease: lease}
	var once sync.Once
	return func() { once.Do(func() { m.release(key, id) }) }, true, nil
}

func (m *Memory) release(key string, id uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Slot ids are never reused, so a pool dropped and made anew since
	// cannot lose someone else's slot here.
	if p := m.pools[key]; p != nil {
		delete(p, id)
		if len(p) == 0 {
			delete(m.pools, key)
		}
	}
}

// Spend implements Store.
func (m *Memory) Spend(ctx context.Context, key string, n int64, ttl time.Duration) (int64, error) {
	if err := checkTTL(ttl); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.tick()
	c, found := m.counters[key]
	if !found {
		if err := m.room(now); err != nil {
			return 0, err
		}
	}
	if !found || c.expires <= now {
		c = counter{expires: now + ttl}
	}
	c.n += n
	m.counters[key] = c
	return c.n, nil
}

// Spent implements Store.
func (m *Memory) Spent(ctx context.Context, key string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.tick()
	c, found := m.counters[key]
	if !found || c.expires <= now {
		return 0, nil
	}
	return c.n, nil
}

// Put implements Store.
func (m *Memory) Put(ctx context.Context, key, v string, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.tick()
	if _, found := m.values[key]; !found {
		if err := m.room(now); err != nil {
			return err
		}
	}
	m.values[key] = value{s: v, expires: now + ttl}
	return nil
}

// Take implements Store.
func (m *Memory) Take(ctx context.Context, key string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.tick()
	v, found := m.values[key]
	if !found {
		return "", false, nil
	}
	delete(m.values, key)
	if v.expires <= now {
		return "", false, nil
	}
	return v.s, true, nil
}

// tick returns the store's time, sweeping first when a sweep is due.
// m.mu must be held.
func (m *Memory) tick() time.Duration {
	now := m.now().Sub(m.epoch)
	if now-m.swept >= sweepEvery {
		m.sweep(now)
	}
	return now
}

// room makes sure one more key fits. m.mu must be held.
func (m *Memory) room(now time.Duration) error {
	limit := m.MaxKeys
	if limit <= 0 {
		limit = DefaultMaxKeys
	}
	if m.len() < limit {
		return nil
	}
	if now-m.swept >= fullSweepEvery {
		m.sweep(now)
	}
	if m.len() < limit {
		return nil
	}
	return ErrFull
}

func (m *Memory) len() int {
	return len(m.tats) + len(m.pools) + len(m.counters) + len(m.values) + len(m.logs)
}

// sweep drops every expired entry. m.mu must be held.
func (m *Memory) sweep(now time.Duration) {
	m.swept = now
	for k, tat := range m.tats {
		if tat <= now {
			delete(m.tats, k)
		}
	}
	for k, p := range m.pools {
		if p.expire(now); len(p) == 0 {
			delete(m.pools, k)
		}
	}
	for k, c := range m.counters {
		if c.expires <= now {
			delete(m.counters, k)
		}
	}
	for k, v := range m.values {
		if v.expires <= now {
			delete(m.values, k)
		}
	}
	m.sweepLogs(now)
}

// expire drops the slots whose holders ended without release more than a
// lease ago.
func (p pool) expire(now time.Duration) {
	for id, s := range p {
		if !s.orphaned {
			if s.ctx.Err() == nil {
				continue
			}
			s.orphaned, s.expires = true, now+s.lease
		}
		if s.expires <= now {
			delete(p, id)
		}
	}
}
