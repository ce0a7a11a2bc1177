package auth

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// Revocations records login tokens that were revoked before they expire,
// on logout, so that every gateway instance sharing the record refuses
// them. Tokens are named by their id: 22 base64url characters of a random
// 128-bit value, unique per token, never the token itself.
type Revocations interface {
	// Revoke records id as revoked until until. By then the token has
	// expired, and the record may be dropped.
	Revoke(ctx context.Context, id string, until time.Time) error
	// Revoked reports whether id is recorded as revoked.
	Revoked(ctx context.Context, id string) (bool, error)
}

// maxMemoryRevocations bounds the in-memory record: about 100 bytes each.
const maxMemoryRevocations = 100_000

var errRevocationsFull = errors.New("too many login tokens revoked at once")

// memoryRevocations is the Revocations of a single instance. Records go as
// their tokens expire. When it holds max unexpired records it refuses new
// ones rather than forget one early, which would bring a revoked token
// back to life: that logout fails (ErrUnavailable) and says so.
type memoryRevocations struct {
	now func() time.Time
	max int

	mu      sync.Mutex
	until   map[string]time.Time
	expires expiryHeap // every record in until, soonest first
}

func newMemoryRevocations(now func() time.Time, max int) *memoryRevocations {
	return &memoryRevocations{now: now, max: max, until: make(map[string]time.Time)}
}

func (m *memoryRevocations) Revoke(_ context.Context, id string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drop(m.now())
	old, known := m.until[id]
	switch {
	case known && !until.After(old):
		return nil
	case !known && len(m.until) >= m.max:
		return errRevocationsFull
	}
	m.until[id] = until
	heap.Push(&m.expires, revocation{id: id, until: until})
	return nil
}

func (m *memoryRevocations) Revoked(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drop(m.now())
	_, ok := m.until[id]
	return ok, nil
}

// drop forgets the records that have expired by now. Called with m.mu held.
func (m *memoryRevocations) drop(now time.Time) {
	for len(m.expires) > 0 && !now.Before(m.expires[0].until) {
		r := heap.Pop(&m.expires).(revocation)
		if m.until[r.id].Equal(r.until) {
			delete(m.until, r.id)
		}
	}
}

// len returns the number of records, for tests.
func (m *memoryRevocations) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.until)
}

type revocation struct {
	id    string
	until time.Time
}

// expiryHeap is a min-heap of revocations by until (container/heap).
type expiryHeap []revocation

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(revocation)) }
func (h *expiryHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}
