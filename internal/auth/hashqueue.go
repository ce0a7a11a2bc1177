package auth

import (
	"context"
	"slices"
	"sync"
	"time"
)

// hashSlots bounds how many password hashes are computed at once, so that a
// burst of sign-ins costs a bounded amount of memory and CPU, and makes the
// rest wait in a queue for a bounded time.
//
// The queue is last in, first out. Under a flood the queue holds more
// sign-ins than can be served before their deadlines; served oldest first,
// every newcomer would wait behind the whole queue and most would time out
// after waiting in vain. Served newest first, a sign-in that arrives during
// a burst waits for about one hash, and the sign-ins that time out are the
// ones that have waited longest, whose callers are the likeliest to have
// given up.
//
// Sign-ins from an address that has failed recently are suspect, and are
// served only when no other sign-in waits. Guessing passwords makes an
// address suspect after its first wrong guess, so a flood from many
// addresses, each kept under the failure limit, competes with other callers
// with one sign-in per address only.
type hashSlots struct {
	mu      sync.Mutex
	free    int
	waiting [2][]chan struct{} // others, then suspects; newest last. A slot is handed over by a send.
}

func newHashSlots(n int) *hashSlots {
	return &hashSlots{free: n}
}

// acquire takes a slot, waiting at most wait for one. It reports false if
// none came free in time; it returns ctx's error if ctx ended first.
func (s *hashSlots) acquire(ctx context.Context, wait time.Duration, suspect bool) (bool, error) {
	class := 0
	if suspect {
		class = 1
	}
	s.mu.Lock()
	if s.free > 0 {
		s.free--
		s.mu.Unlock()
		return true, nil
	}
	ready := make(chan struct{}, 1)
	s.waiting[class] = append(s.waiting[class], ready)
	s.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	var err error
	select {
	case <-ready:
		return true, nil
	case <-timer.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.mu.Lock()
	if i := slices.Index(s.waiting[class], ready); i >= 0 {
		s.waiting[class] = slices.Delete(s.waiting[class], i, i+1)
		s.mu.Unlock()
		return false, err
	}
	s.mu.Unlock()
	// A slot was handed over as the wait ended; it is ours to give back.
	<-ready
	s.release()
	return false, err
}

// release gives a slot back, to the newest waiter of the first class that
// has one.
func (s *hashSlots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for class, queue := range s.waiting {
		if n := len(queue); n > 0 {
			s.waiting[class] = queue[:n-1]
			queue[n-1] <- struct{}{}
			return
		}
	}
	s.free++
}

// queued returns how many are waiting, for tests.
func (s *hashSlots) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting[0]) + len(s.waiting[1])
}
