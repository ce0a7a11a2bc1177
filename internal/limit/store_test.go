package limit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// harness is one Store under the conformance suite, with a way to let time
// pass on the clock it reads.
type harness struct {
	store Store
	// advance lets d pass: at once on Memory's clock, in real time for
	// Redis, whose scripts read the server's clock.
	advance func(d time.Duration)
	// exact says the clock moves only when told, so waits are exact.
	exact bool
	// slack is added to a wait to cover µs rounding and the time a call
	// takes on a real clock.
	slack time.Duration
}

// stores lists the Store implementations. Each one's setup runs once in
// its own subtest, so that a missing redis-server skips or fails the Redis
// half alone, and returns a maker of a fresh harness per test.
var stores = []struct {
	name  string
	setup func(t *testing.T) func(t *testing.T) harness
}{
	{"memory", func(*testing.T) func(t *testing.T) harness {
		return func(*testing.T) harness {
			clock := newClock()
			return harness{store: NewMemory(clock.Now), advance: clock.Advance, exact: true}
		}
	}},
	{"redis", func(t *testing.T) func(t *testing.T) harness {
		addr := redisServer(t)
		return func(t *testing.T) harness {
			// The test's name keeps each test's keys apart on the one
			// server.
			return harness{
				store:   redisStore(t, addr, t.Name()+":"),
				advance: time.Sleep,
				slack:   20 * time.Millisecond,
			}
		}
	}},
	{"dynamodb", func(t *testing.T) func(t *testing.T) harness {
		endpoint := dynalite(t)
		return func(t *testing.T) harness {
			// A table per test keeps each test's keys apart.
			c, _ := dynamoClient(t, endpoint)
			return harness{
				store:   NewDynamoDB(c, dynamoTable(t, c)),
				advance: time.Sleep,
				slack:   20 * time.Millisecond,
			}
		}
	}},
}

// Periods of the suite: short enough to wait for in real time, long enough
// that the few calls between two checks take a small part of them.
const (
	interval = 500 * time.Millisecond // of a rate of 2 per second
	lease    = 200 * time.Millisecond
	ttl      = 300 * time.Millisecond
	// longLease is for the tests of exact counts under load, where a
	// holder's renewal may queue behind many requests on a busy store: a
	// lease that ran out then would count as a holder lost, not one too
	// many.
	longLease = time.Minute
)

// TestStore is the conformance suite every Store passes.
func TestStore(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h harness)
	}{
		{"a burst passes at once and the next request waits one interval", testBurst},
		{"each key is limited apart", testKeysApart},
		{"invalid arguments are errors, not refusals", testInvalid},
		{"acquire refuses max+1 and recovers on release", testAcquire},
		{"release is idempotent", testReleaseTwice},
		{"a holder keeps its slot past the lease while its context lives", testLeaseRefreshed},
		{"a holder that ends without release loses its slot after the lease", testLeaseExpires},
		{"spend adds up and spent reads the total", testSpend},
		{"a counter expires ttl after its first spend", testSpendTTL},
		{"many goroutines get exactly the burst through", testAllowConcurrent},
		{"many goroutines get exactly max slots", testAcquireConcurrent},
		{"many goroutines never hold more than max slots at once", testAcquireChurn},
		{"concurrent spends add up exactly", testSpendConcurrent},
		{"fifty requests at once against a cap of ten admit exactly ten", testFiftyAgainstTen},
		{"a value put is taken once, and a put replaces it", testPutTake},
		{"a value expires ttl after its put", testValueTTL},
		{"of many goroutines taking one value, exactly one gets it", testTakeConcurrent},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			newHarness := s.setup(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, newHarness(t)) })
			}
		})
	}
}

func allow(t *testing.T, h harness, key string, rate int, per time.Duration, burst int) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := h.store.Allow(t.Context(), key, rate, per, burst)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return ok, retry
}

func acquire(t *testing.T, ctx context.Context, h harness, key string, max int) (func(), bool) {
	t.Helper()
	release, ok, err := h.store.Acquire(ctx, key, max, lease)
	if err != nil {
		t.Fatalf("Acquire(%q): %v", key, err)
	}
	if ok {
		t.Cleanup(release)
	} else if release != nil {
		t.Fatal("Acquire refused but returned a release")
	}
	return release, ok
}

func spend(t *testing.T, h harness, key string, n int64) int64 {
	t.Helper()
	total, err := h.store.Spend(t.Context(), key, n, ttl)
	if err != nil {
		t.Fatalf("Spend(%q, %d): %v", key, n, err)
	}
	return total
}

func put(t *testing.T, h harness, key, value string) {
	t.Helper()
	if err := h.store.Put(t.Context(), key, value, ttl); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func take(t *testing.T, h harness, key string) (string, bool) {
	t.Helper()
	v, found, err := h.store.Take(t.Context(), key)
	if err != nil {
		t.Fatalf("Take(%q): %v", key, err)
	}
	return v, found
}

func spent(t *testing.T, h harness, key string) int64 {
	t.Helper()
	n, err := h.store.Spent(t.Context(), key)
	if err != nil {
		t.Fatalf("Spent(%q): %v", key, err)
	}
	return n
}

func testBurst(t *testing.T, h harness) {
	for i := range 3 {
		if ok, _ := allow(t, h, "k", 2, time.Second, 3); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i+1)
		}
	}
	ok, retry := allow(t, h, "k", 2, time.Second, 3)
	if ok {
		t.Fatal("request 4 of a burst of 3 allowed")
	}
	if retry <= 0 || retry > interval || h.exact && retry != interval {
		t.Fatalf("retryAfter = %v, want %v", retry, interval)
	}
	// A refused request takes nothing: asking again changes no wait.
	for range 3 {
		if ok, again := allow(t, h, "k", 2, time.Second, 3); ok || again > retry {
			t.Fatalf("asking again: ok %v, retryAfter %v; want refused within %v", ok, again, retry)
		}
	}
	h.advance(retry + h.slack)
	if ok, _ := allow(t, h, "k", 2, time.Second, 3); !ok {
		t.Fatalf("refused %v after retryAfter", h.slack)
	}
	if ok, _ := allow(t, h, "k", 2, time.Second, 3); ok {
		t.Fatal("one interval let two requests through")
	}
}

func testKeysApart(t *testing.T, h harness) {
	if ok, _ := allow(t, h, "a", 1, time.Hour, 1); !ok {
		t.Fatal("first request on a refused")
	}
	if ok, _ := allow(t, h, "a", 1, time.Hour, 1); ok {
		t.Fatal("second request on a allowed")
	}
	if ok, _ := allow(t, h, "b", 1, time.Hour, 1); !ok {
		t.Fatal("b refused for a's requests")
	}
	// The same key names a slot pool and a counter apart from the limit.
	if _, ok := acquire(t, t.Context(), h, "a", 1); !ok {
		t.Fatal("slot on a refused")
	}
	if got := spend(t, h, "a", 1); got != 1 {
		t.Fatalf("Spend on a = %d, want 1", got)
	}
	put(t, h, "a", "x")
	if v, found := take(t, h, "a"); !found || v != "x" {
		t.Fatalf("Take on a = %q, %v; want x", v, found)
	}
}

func testInvalid(t *testing.T, h harness) {
	ctx := t.Context()
	calls := map[string]func() error{
		"zero rate":      func() error { _, _, err := h.store.Allow(ctx, "k", 0, time.Second, 1); return err },
		"zero per":       func() error { _, _, err := h.store.Allow(ctx, "k", 1, 0, 1); return err },
		"zero burst":     func() error { _, _, err := h.store.Allow(ctx, "k", 1, time.Second, 0); return err },
		"zero max":       func() error { _, _, err := h.store.Acquire(ctx, "k", 0, time.Second); return err },
		"zero lease":     func() error { _, _, err := h.store.Acquire(ctx, "k", 1, 0); return err },
		"zero ttl":       func() error { _, err := h.store.Spend(ctx, "k", 1, 0); return err },
		"zero value ttl": func() error { return h.store.Put(ctx, "k", "v", 0) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func testAcquire(t *testing.T, h harness) {
	first, _ := acquire(t, t.Context(), h, "k", 2)
	if _, ok := acquire(t, t.Context(), h, "k", 2); !ok {
		t.Fatal("second of 2 slots refused")
	}
	if _, ok := acquire(t, t.Context(), h, "k", 2); ok {
		t.Fatal("third of 2 slots taken")
	}
	first()
	if _, ok := acquire(t, t.Context(), h, "k", 2); !ok {
		t.Fatal("slot refused after a release")
	}
}

func testReleaseTwice(t *testing.T, h harness) {
	a, _ := acquire(t, t.Context(), h, "k", 2)
	acquire(t, t.Context(), h, "k", 2)
	a()
	a() // must not free the other holder's slot
	if _, ok := acquire(t, t.Context(), h, "k", 2); !ok {
		t.Fatal("released slot not free")
	}
	if _, ok := acquire(t, t.Context(), h, "k", 2); ok {
		t.Fatal("a second release freed another holder's slot")
	}
}

func testLeaseRefreshed(t *testing.T, h harness) {
	release, ok := acquire(t, t.Context(), h, "k", 1)
	if !ok {
		t.Fatal("slot refused")
	}
	h.advance(3 * lease)
	if _, ok := acquire(t, t.Context(), h, "k", 1); ok {
		t.Fatal("a live holder lost its slot when its first lease ran out")
	}
	release()
	if _, ok := acquire(t, t.Context(), h, "k", 1); !ok {
		t.Fatal("slot refused after release")
	}
}

func testLeaseExpires(t *testing.T, h harness) {
	ctx, crash := context.WithCancel(t.Context())
	if _, ok := acquire(t, ctx, h, "k", 1); !ok {
		t.Fatal("slot refused")
	}
	crash() // the holder is gone and will never release
	if _, ok := acquire(t, t.Context(), h, "k", 1); ok {
		t.Fatal("slot free before its lease ran out")
	}
	h.advance(lease + h.slack)
	if _, ok := acquire(t, t.Context(), h, "k", 1); !ok {
		t.Fatal("a crashed holder's slot still taken after its lease")
	}
}

func testSpend(t *testing.T, h harness) {
	if got := spent(t, h, "k"); got != 0 {
		t.Fatalf("Spent of a new counter = %d, want 0", got)
	}
	for _, step := range []struct{ n, want int64 }{{5, 5}, {7, 12}, {-2, 10}} {
		if got := spend(t, h, "k", step.n); got != step.want {
			t.Fatalf("Spend(%d) = %d, want %d", step.n, got, step.want)
		}
	}
	if got := spent(t, h, "k"); got != 10 {
		t.Fatalf("Spent = %d, want 10", got)
	}
	if got := spent(t, h, "other"); got != 0 {
		t.Fatalf("Spent of another key = %d, want 0", got)
	}
}

func testSpendTTL(t *testing.T, h harness) {
	spend(t, h, "k", 1)
	h.advance(ttl / 3)
	if got := spend(t, h, "k", 1); got != 2 {
		t.Fatalf("Spend within ttl = %d, want 2", got)
	}
	// The second Spend did not extend the first one's ttl.
	h.advance(ttl - ttl/3 + h.slack)
	if got := spent(t, h, "k"); got != 0 {
		t.Fatalf("Spent after ttl = %d, want 0", got)
	}
	if got := spend(t, h, "k", 3); got != 3 {
		t.Fatalf("Spend after ttl = %d, want a new count of 3", got)
	}
}

func testPutTake(t *testing.T, h harness) {
	if v, found := take(t, h, "k"); found {
		t.Fatalf("Take of a new key = %q, want none", v)
	}
	put(t, h, "k", "first")
	put(t, h, "k", "second")
	put(t, h, "other", "")
	if v, found := take(t, h, "k"); !found || v != "second" {
		t.Fatalf("Take = %q, %v; want the second value", v, found)
	}
	if v, found := take(t, h, "k"); found {
		t.Fatalf("a second Take = %q, want none", v)
	}
	if v, found := take(t, h, "other"); !found || v != "" {
		t.Fatalf("Take of an empty value = %q, %v; want it found", v, found)
	}
}

func testValueTTL(t *testing.T, h harness) {
	put(t, h, "k", "v")
	h.advance(ttl / 2)
	put(t, h, "k", "again") // restarts the ttl
	h.advance(ttl / 2)
	if v, found := take(t, h, "k"); !found || v != "again" {
		t.Fatalf("Take within the second put's ttl = %q, %v; want again", v, found)
	}
	put(t, h, "k", "v")
	h.advance(ttl + h.slack)
	if v, found := take(t, h, "k"); found {
		t.Fatalf("Take after ttl = %q, want none", v)
	}
}

func testTakeConcurrent(t *testing.T, h harness) {
	for round := range 5 {
		put(t, h, "k", "v")
		var got, failed atomic.Int64
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				<-start
				_, found, err := h.store.Take(t.Context(), "k")
				switch {
				case err != nil:
					failed.Add(1)
				case found:
					got.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if got.Load() != 1 || failed.Load() > 0 {
			t.Fatalf("round %d: 8 takers of one value: %d got it, %d failed; want 1, 0", round+1, got.Load(), failed.Load())
		}
	}
}

// hammer runs fn from 8 goroutines, n times each.
func hammer(n int, fn func()) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range n {
				fn()
			}
		})
	}
	wg.Wait()
}

func testAllowConcurrent(t *testing.T, h harness) {
	var allowed, failed atomic.Int64
	hammer(25, func() {
		ok, _, err := h.store.Allow(t.Context(), "k", 50, time.Hour, 50)
		switch {
		case err != nil:
			failed.Add(1)
		case ok:
			allowed.Add(1)
		}
	})
	if failed.Load() > 0 || allowed.Load() != 50 {
		t.Fatalf("200 requests at a burst of 50: %d allowed, %d failed; want 50, 0", allowed.Load(), failed.Load())
	}
}

func testAcquireConcurrent(t *testing.T, h harness) {
	var (
		mu       sync.Mutex
		releases []func()
		failed   atomic.Int64
	)
	hammer(5, func() {
		release, ok, err := h.store.Acquire(t.Context(), "k", 5, longLease)
		if err != nil {
			failed.Add(1)
		}
		if ok {
			mu.Lock()
			releases = append(releases, release)
			mu.Unlock()
		}
	})
	for _, release := range releases {
		release()
	}
	if failed.Load() > 0 || len(releases) != 5 {
		t.Fatalf("40 tries at 5 slots: %d taken, %d failed; want 5, 0", len(releases), failed.Load())
	}
}

func testAcquireChurn(t *testing.T, h harness) {
	const max = 3
	var inUse, peak, taken, failed atomic.Int64
	hammer(20, func() {
		release, ok, err := h.store.Acquire(t.Context(), "k", max, lease)
		if err != nil {
			failed.Add(1)
		}
		if !ok {
			return
		}
		taken.Add(1)
		n := inUse.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		inUse.Add(-1)
		release()
	})
	if failed.Load() > 0 || peak.Load() > max || taken.Load() == 0 {
		t.Fatalf("%d failed, peak %d holders of %d slots, %d taken", failed.Load(), peak.Load(), max, taken.Load())
	}
}

// testFiftyAgainstTen sends fifty requests at once, each from a goroutine of
// its own, at a burst of ten and at ten slots.
func testFiftyAgainstTen(t *testing.T, h harness) {
	var allowed, taken, failed atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			<-start
			ok, _, err := h.store.Allow(t.Context(), "rate", 10, time.Hour, 10)
			if err != nil {
				failed.Add(1)
			} else if ok {
				allowed.Add(1)
			}
			release, ok, err := h.store.Acquire(t.Context(), "slots", 10, longLease)
			if err != nil {
				failed.Add(1)
			} else if ok {
				taken.Add(1)
				t.Cleanup(release)
			}
		})
	}
	close(start)
	wg.Wait()
	if failed.Load() > 0 || allowed.Load() != 10 || taken.Load() != 10 {
		t.Fatalf("50 at once: %d allowed at a burst of 10, %d slots taken of 10, %d failed; want 10, 10, 0",
			allowed.Load(), taken.Load(), failed.Load())
	}
}

func testSpendConcurrent(t *testing.T, h harness) {
	var (
		mu     sync.Mutex
		totals = map[int64]bool{}
		failed atomic.Int64
	)
	hammer(25, func() {
		total, err := h.store.Spend(t.Context(), "k", 1, time.Hour)
		if err != nil {
			failed.Add(1)
			return
		}
		mu.Lock()
		totals[total] = true
		mu.Unlock()
	})
	// Each Spend saw a total of its own: no two read the same count.
	if failed.Load() > 0 || len(totals) != 200 || !totals[200] {
		t.Fatalf("200 spends of 1: %d distinct totals, %d failed", len(totals), failed.Load())
	}
	if got := spent(t, h, "k"); got != 200 {
		t.Fatalf("Spent = %d, want 200", got)
	}
}

// testSharedAcrossInstances runs two Limiters on the two stores pair
// returns, clients of their own of one shared state, as two gateway
// instances would have.
func testSharedAcrossInstances(t *testing.T, pair func(t *testing.T) [2]Store) {
	instances := func(t *testing.T, p Policy) [2]*Limiter {
		var ls [2]*Limiter
		for i, s := range pair(t) {
			l, err := NewLimiter(s, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			ls[i] = l
		}
		return ls
	}

	t.Run("together they get exactly the burst through", func(t *testing.T) {
		ls := instances(t, Policy{Rate: map[string]Rule{ScopePrincipal: {Rate: 5, Per: time.Hour}}})
		var admitted, refused, failed atomic.Int64
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for range 5 {
					release, err := admitFn(ls[g%2], t.Context(), "demo", "alice")
					var r *Refusal
					switch {
					case err == nil:
						admitted.Add(1)
						release()
					case errors.As(err, &r) && r.Limit == "rate:principal":
						refused.Add(1)
					default:
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if admitted.Load() != 5 || refused.Load() != 35 || failed.Load() != 0 {
			t.Fatalf("40 requests at 5 an hour: %d admitted, %d refused, %d failed; want 5, 35, 0",
				admitted.Load(), refused.Load(), failed.Load())
		}
	})

	t.Run("they share the concurrency cap", func(t *testing.T) {
		ls := instances(t, Policy{Concurrency: map[string]int{ScopeAgent: 2}})
		a, err := admitFn(ls[0], t.Context(), "demo", "alice")
		if err != nil {
			t.Fatal(err)
		}
		defer a()
		b, err := admitFn(ls[1], t.Context(), "demo", "bob")
		if err != nil {
			t.Fatal(err)
		}
		defer b()
		for i, l := range ls {
			if _, err := admitFn(l, t.Context(), "demo", "carol"); !isRefusal(err, "concurrency:agent") {
				t.Fatalf("instance %d admitted a third stream at a cap of 2: %v", i, err)
			}
		}
		a()
		c, err := admitFn(ls[1], t.Context(), "demo", "carol")
		if err != nil {
			t.Fatalf("instance 1 after instance 0 released: %v", err)
		}
		c()
	})

	t.Run("one writes a turn log and the other tails it", func(t *testing.T) {
		s := pair(t)
		writer, ok := s[0].(Logs)
		reader, ok2 := s[1].(Logs)
		if !ok || !ok2 {
			t.Fatalf("%T keeps no turn logs", s[0])
		}
		testLogShared(t, writer, reader)
	})

	t.Run("they share the budget", func(t *testing.T) {
		ls := instances(t, Policy{DailyTokens: 100})
		if err := ls[0].Charge(t.Context(), "alice", 100); err != nil {
			t.Fatal(err)
		}
		if _, err := admitFn(ls[1], t.Context(), "demo", "alice"); !isRefusal(err, "budget:principal") {
			t.Fatalf("instance 1 admitted alice after she spent her budget on instance 0: %v", err)
		}
	})
}
