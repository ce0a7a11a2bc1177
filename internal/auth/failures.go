package auth

import (
	"container/list"
	"context"
	"slices"
	"sync"
	"time"
)

// failureRecord counts failed sign-ins per key ("user:alice",
// "ip:192.0.2.1"): in this instance's memory (failures), or in counters
// every instance shares (sharedFailures).
type failureRecord interface {
	// begin starts an attempt for keys at now. If any key has already
	// failed the limit within the window it returns how long to wait.
	// Otherwise it counts the attempt as a failure in advance, so that
	// concurrent attempts cannot all slip in before the first one fails,
	// and returns 0; a successful attempt takes its count back with
	// succeeded. Either way it also returns how many failures keys[0] had
	// within the window before this attempt. An error means the record
	// could not be consulted, and the attempt must not go on.
	begin(ctx context.Context, now time.Time, keys ...string) (wait time.Duration, failed int, err error)
	// succeeded takes back the failure begin counted at now for each of
	// keep's keys, and forgets every failure of each of clear's keys: a
	// user who signs in starts afresh, while the address they came from
	// keeps the failures it collected for other users.
	succeeded(ctx context.Context, now time.Time, clear []string, keep []string)
	// takeBack takes back the failure begin counted at now for each of
	// keys, for an attempt that ended without its password being checked.
	takeBack(ctx context.Context, now time.Time, keys ...string)
}

// failures is the failureRecord of one instance: it counts failed sign-ins
// per key over a sliding window. Memory is bounded: it tracks at most maxKeys keys,
// each with at most limit timestamps, and when full it forgets the key that
// failed least recently. Forgetting can only let an attacker in sooner, and
// getting a key forgotten takes maxKeys other keys' worth of failures, each
// paid for with a password hash.
type failures struct {
	limit   int
	window  time.Duration
	maxKeys int

	mu    sync.Mutex
	byKey map[string]*list.Element // of *failureEntry
	lru   *list.List               // front: most recently failed
}

type failureEntry struct {
	key   string
	times []time.Time // oldest first, all within the window
}

func newFailures(limit int, window time.Duration, maxKeys int) *failures {
	return &failures{limit: limit, window: window, maxKeys: maxKeys, byKey: make(map[string]*list.Element), lru: list.New()}
}

// begin implements failureRecord. The wait is until the oldest of the
// failures that block leaves the window, the longest such wait over keys.
func (f *failures) begin(_ context.Context, now time.Time, keys ...string) (wait time.Duration, failed int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, k := range keys {
		e := f.entry(k, now, false)
		if e != nil && i == 0 {
			failed = len(e.times)
		}
		if e == nil || len(e.times) < f.limit {
			continue
		}
		wait = max(wait, e.times[0].Add(f.window).Sub(now))
	}
	if wait > 0 {
		return wait, failed, nil
	}
	for _, k := range keys {
		e := f.entry(k, now, true)
		e.times = append(e.times, now)
		f.lru.MoveToFront(f.byKey[k])
	}
	return 0, failed, nil
}

// succeeded implements failureRecord.
func (f *failures) succeeded(_ context.Context, now time.Time, clear []string, keep []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range clear {
		if el, ok := f.byKey[k]; ok {
			f.lru.Remove(el)
			delete(f.byKey, k)
		}
	}
	f.takeBackLocked(now, keep)
}

// takeBack implements failureRecord.
func (f *failures) takeBack(_ context.Context, now time.Time, keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.takeBackLocked(now, keys)
}

func (f *failures) takeBackLocked(now time.Time, keys []string) {
	for _, k := range keys {
		el, ok := f.byKey[k]
		if !ok {
			continue
		}
		e := el.Value.(*failureEntry)
		if i := slices.IndexFunc(e.times, now.Equal); i >= 0 {
			e.times = slices.Delete(e.times, i, i+1)
		}
		if len(e.times) == 0 {
			f.lru.Remove(el)
			delete(f.byKey, k)
		}
	}
}

// entry returns key's entry with the failures that left the window
// dropped, creating it if create is set. Called with f.mu held.
func (f *failures) entry(key string, now time.Time, create bool) *failureEntry {
	cutoff := now.Add(-f.window)
	if el, ok := f.byKey[key]; ok {
		e := el.Value.(*failureEntry)
		i := 0
		for i < len(e.times) && !e.times[i].After(cutoff) {
			i++
		}
		e.times = e.times[i:]
		return e
	}
	if !create {
		return nil
	}
	f.evict(cutoff)
	e := &failureEntry{key: key, times: make([]time.Time, 0, f.limit)}
	f.byKey[key] = f.lru.PushFront(e)
	return e
}

// evict makes room for one more key: it drops keys whose failures have all
// left the window, oldest first, and then, if still full, the key that
// failed least recently. Called with f.mu held.
func (f *failures) evict(cutoff time.Time) {
	for el := f.lru.Back(); el != nil; el = f.lru.Back() {
		e := el.Value.(*failureEntry)
		expired := len(e.times) == 0 || !e.times[len(e.times)-1].After(cutoff)
		if !expired && len(f.byKey) < f.maxKeys {
			return
		}
		f.lru.Remove(el)
		delete(f.byKey, e.key)
	}
}

// len returns the number of keys tracked, for tests.
func (f *failures) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.byKey)
}
