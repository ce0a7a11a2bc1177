package auth

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestFailures(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	window := 10 * time.Minute
	ctx := context.Background()

	t.Run("attempts count before they end, so concurrent ones cannot slip in", func(t *testing.T) {
		f := newFailures(3, window, 100)
		for i := range 3 {
			if wait, _, _ := f.begin(ctx, t0, "user:alice"); wait != 0 {
				t.Fatalf("attempt %d was made to wait %v", i+1, wait)
			}
		}
		if wait, _, _ := f.begin(ctx, t0, "user:alice"); wait != window {
			t.Errorf("the fourth attempt under way waits %v, want %v", wait, window)
		}
	})

	t.Run("a success takes back its own count only", func(t *testing.T) {
		f := newFailures(3, window, 100)
		f.begin(ctx, t0, "user:bob", "ip:192.0.2.1")
		f.begin(ctx, t0.Add(time.Second), "user:alice", "ip:192.0.2.1")
		f.succeeded(ctx, t0.Add(time.Second), []string{"user:alice"}, []string{"ip:192.0.2.1"})
		f.begin(ctx, t0.Add(2*time.Second), "user:carol", "ip:192.0.2.1")
		f.begin(ctx, t0.Add(3*time.Second), "user:dave", "ip:192.0.2.1")
		if wait, _, _ := f.begin(ctx, t0.Add(4*time.Second), "ip:192.0.2.1"); wait != window-4*time.Second {
			t.Errorf("wait = %v, want %v: three failures remain", wait, window-4*time.Second)
		}
	})

	t.Run("an attempt learns how often its first key failed before it", func(t *testing.T) {
		f := newFailures(3, window, 100)
		// The fourth is refused, and learns it too.
		for i, want := range []int{0, 1, 2, 3} {
			if _, failed, _ := f.begin(ctx, t0, "ip:192.0.2.1", fmt.Sprintf("user:u%d", i)); failed != want {
				t.Errorf("attempt %d: failed = %d, want %d", i+1, failed, want)
			}
		}
		f.begin(ctx, t0, "user:u9", "ip:192.0.2.2")
		if _, failed, _ := f.begin(ctx, t0, "user:u9", "ip:192.0.2.3"); failed != 1 {
			t.Errorf("failed = %d, want the first key's count, 1", failed)
		}
	})

	t.Run("the longest wait over the keys wins", func(t *testing.T) {
		f := newFailures(1, window, 100)
		f.begin(ctx, t0, "ip:192.0.2.1")
		f.begin(ctx, t0.Add(time.Minute), "user:alice")
		if wait, _, _ := f.begin(ctx, t0.Add(2*time.Minute), "user:alice", "ip:192.0.2.1"); wait != window-time.Minute {
			t.Errorf("wait = %v, want %v", wait, window-time.Minute)
		}
	})

	t.Run("memory stays bounded under a flood of names", func(t *testing.T) {
		f := newFailures(5, window, 50)
		for i := range 1000 {
			f.begin(ctx, t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("user:u%d", i))
		}
		if n := f.len(); n > 50 {
			t.Errorf("tracks %d keys, want at most 50", n)
		}
	})

	t.Run("when full, the key that failed least recently is forgotten", func(t *testing.T) {
		f := newFailures(1, window, 3)
		f.begin(ctx, t0, "user:a")
		f.begin(ctx, t0.Add(time.Second), "user:b")
		f.begin(ctx, t0.Add(2*time.Second), "user:c")
		f.begin(ctx, t0.Add(3*time.Second), "user:d") // evicts a
		if wait, _, _ := f.begin(ctx, t0.Add(4*time.Second), "user:a"); wait != 0 {
			t.Errorf("the oldest key is still blocked for %v", wait)
		}
		if wait, _, _ := f.begin(ctx, t0.Add(5*time.Second), "user:c"); wait == 0 {
			t.Errorf("a recent key was forgotten")
		}
	})

	t.Run("keys whose failures left the window make room first", func(t *testing.T) {
		f := newFailures(1, window, 2)
		f.begin(ctx, t0, "user:old")
		f.begin(ctx, t0.Add(window), "user:recent")
		f.begin(ctx, t0.Add(window+time.Second), "user:new") // old has expired
		if f.len() != 2 {
			t.Fatalf("tracks %d keys, want 2", f.len())
		}
		if wait, _, _ := f.begin(ctx, t0.Add(window+2*time.Second), "user:recent"); wait == 0 {
			t.Errorf("the recent key was evicted instead of the expired one")
		}
	})
}
