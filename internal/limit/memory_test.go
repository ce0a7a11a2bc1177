package limit

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryBound(t *testing.T) {
	ctx := t.Context()
	clock := newClock()
	m := NewMemory(clock.Now)
	m.MaxKeys = 3

	if ok, _, err := m.Allow(ctx, "rate", 1, time.Second, 1); !ok || err != nil {
		t.Fatalf("Allow = %v, %v", ok, err)
	}
	if _, ok, err := m.Acquire(ctx, "slots", 1, time.Minute); !ok || err != nil {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	if _, err := m.Spend(ctx, "count", 1, time.Hour); err != nil {
		t.Fatalf("Spend: %v", err)
	}

	t.Run("a full store refuses a new key with ErrFull", func(t *testing.T) {
		if _, _, err := m.Allow(ctx, "new", 1, time.Second, 1); !errors.Is(err, ErrFull) {
			t.Fatalf("Allow on a new key = %v, want ErrFull", err)
		}
		if _, err := m.Spend(ctx, "new", 1, time.Hour); !errors.Is(err, ErrFull) {
			t.Fatalf("Spend on a new key = %v, want ErrFull", err)
		}
		if err := m.Put(ctx, "new", "v", time.Hour); !errors.Is(err, ErrFull) {
			t.Fatalf("Put on a new key = %v, want ErrFull", err)
		}
	})
	t.Run("a full store still serves the keys it holds", func(t *testing.T) {
		if total, err := m.Spend(ctx, "count", 1, time.Hour); total != 2 || err != nil {
			t.Fatalf("Spend = %d, %v; want 2", total, err)
		}
	})
	t.Run("a full store makes room by dropping what expired", func(t *testing.T) {
		clock.Advance(time.Second) // the rate limit's bucket is full again
		if ok, _, err := m.Allow(ctx, "new", 1, time.Second, 1); !ok || err != nil {
			t.Fatalf("Allow on a new key = %v, %v; want room made", ok, err)
		}
	})
}

func TestMemorySweep(t *testing.T) {
	ctx := t.Context()
	clock := newClock()
	m := NewMemory(clock.Now)
	for i := range 100 {
		k := strconv.Itoa(i)
		if _, _, err := m.Allow(ctx, k, 1, time.Second, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Spend(ctx, k, 1, time.Second); err != nil {
			t.Fatal(err)
		}
		release, _, err := m.Acquire(ctx, k, 1, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	orphan, cancel := context.WithCancel(ctx)
	if _, _, err := m.Acquire(orphan, "orphan", 1, time.Second); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, _, err := m.Acquire(ctx, "held", 1, time.Second); err != nil {
		t.Fatal(err)
	}

	clock.Advance(sweepEvery)
	if _, err := m.Spent(ctx, "any"); err != nil { // any call sweeps once due
		t.Fatal(err)
	}
	// The orphan's slot was seen ended by this sweep and lasts one lease
	// more; the held one stays as long as its holder.
	if got := m.len(); got != 2 {
		t.Fatalf("%d keys after a sweep, want 2 (the held slot and the orphan's last lease)", got)
	}
	clock.Advance(sweepEvery)
	if _, err := m.Spent(ctx, "any"); err != nil {
		t.Fatal(err)
	}
	if got := m.len(); got != 1 {
		t.Fatalf("%d keys after the orphan's lease, want 1", got)
	}
}

func TestMemoryCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	m := NewMemory(nil)
	if _, _, err := m.Allow(ctx, "k", 1, time.Second, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Allow = %v, want context.Canceled", err)
	}
	if _, _, err := m.Acquire(ctx, "k", 1, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire = %v, want context.Canceled", err)
	}
	if _, err := m.Spend(ctx, "k", 1, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Spend = %v, want context.Canceled", err)
	}
	if _, err := m.Spent(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Spent = %v, want context.Canceled", err)
	}
}

func BenchmarkMemoryAllow(b *testing.B) {
	ctx := context.Background()
	b.Run("one key", func(b *testing.B) {
		m := NewMemory(nil)
		for b.Loop() {
			_, _, _ = m.Allow(ctx, "principal:alice", 1_000_000, time.Second, 1_000_000)
		}
	})
	b.Run("parallel, 1000 keys", func(b *testing.B) {
		m := NewMemory(nil)
		keys := make([]string, 1000)
		for i := range keys {
			keys[i] = "principal:" + strconv.Itoa(i)
		}
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1))
			for pb.Next() {
				_, _, _ = m.Allow(ctx, keys[i%len(keys)], 1_000_000, time.Second, 1_000_000)
				i++
			}
		})
	})
}

// BenchmarkMemoryTurnWhenFull measures a turn's log (open, 13 appends of
// an event, end) in a store whose MaxLogBytes the retained logs of 5,000
// earlier turns already fill: the turn is refused, and must not pay a
// scan of every log for it.
func BenchmarkMemoryTurnWhenFull(b *testing.B) {
	ctx := context.Background()
	const ttl = 10 * time.Minute
	m := NewMemory(nil)
	m.MaxLogBytes = 4 << 20
	turn := func(key string, size int) {
		_ = m.Open(ctx, key, "t", "{}", ttl)
		at := int64(0)
		for range 13 {
			if m.Append(ctx, key, "t", at, make([]byte, size), ttl) != nil {
				return
			}
			at += int64(size)
		}
		_ = m.End(ctx, key, "t", at, false, ttl)
	}
	for i := range 5000 {
		turn("turn:"+strconv.Itoa(i), 80)
	}
	turn("big", 1<<20)
	i := 0
	for b.Loop() {
		i++
		turn("turn:new"+strconv.Itoa(i), 80)
	}
}
