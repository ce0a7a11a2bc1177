package auth

import (
	"context"
	"testing"
	"time"
)

func TestHashSlots(t *testing.T) {
	ctx := context.Background()
	// queue starts a waiter for a slot and returns once it is in the queue;
	// its outcome arrives on served.
	queue := func(t *testing.T, s *hashSlots, name string, suspect bool, served chan<- string) {
		t.Helper()
		n := s.queued()
		go func() {
			if got, _ := s.acquire(ctx, time.Minute, suspect); got {
				served <- name
			} else {
				served <- name + " timed out"
			}
		}()
		for deadline := time.Now().Add(5 * time.Second); s.queued() == n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not join the queue within 5s", name)
			}
		}
	}

	t.Run("the newest waiter is served first", func(t *testing.T) {
		s := newHashSlots(1)
		if got, err := s.acquire(ctx, 0, false); !got || err != nil {
			t.Fatalf("a free slot: %v, %v", got, err)
		}
		served := make(chan string, 2)
		queue(t, s, "older", false, served)
		queue(t, s, "newer", false, served)
		s.release()
		if got := recv(t, served, "a waiter served"); got != "newer" {
			t.Errorf("first served %q, want the newer waiter", got)
		}
		s.release()
		if got := recv(t, served, "a waiter served"); got != "older" {
			t.Errorf("then served %q, want the older waiter", got)
		}
		s.release()
	})

	t.Run("suspects are served only when no one else waits", func(t *testing.T) {
		s := newHashSlots(1)
		s.acquire(ctx, 0, false)
		served := make(chan string, 3)
		queue(t, s, "older", false, served)
		queue(t, s, "suspect", true, served)
		queue(t, s, "newer suspect", true, served)
		for _, want := range []string{"older", "newer suspect", "suspect"} {
			s.release()
			if got := recv(t, served, "a waiter served"); got != want {
				t.Errorf("served %q, want %q", got, want)
			}
		}
		s.release()
	})

	t.Run("a waiter that times out leaves the queue and takes no slot", func(t *testing.T) {
		s := newHashSlots(1)
		s.acquire(ctx, 0, false)
		if got, err := s.acquire(ctx, time.Millisecond, false); got || err != nil {
			t.Fatalf("with the only slot taken: %v, %v; want a timeout", got, err)
		}
		if n := s.queued(); n != 0 {
			t.Errorf("%d left in the queue", n)
		}
		s.release()
		if got, _ := s.acquire(ctx, 0, false); !got {
			t.Error("the slot given back is not free")
		}
	})

	t.Run("a waiter whose context ends leaves with its error", func(t *testing.T) {
		s := newHashSlots(1)
		s.acquire(ctx, 0, false)
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if got, err := s.acquire(canceled, time.Minute, false); got || err != context.Canceled {
			t.Errorf("acquire = %v, %v; want false, context.Canceled", got, err)
		}
		if n := s.queued(); n != 0 {
			t.Errorf("%d left in the queue", n)
		}
	})
}
