package limit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func newLimiter(t *testing.T, p Policy) (*Limiter, *fakeClock) {
	t.Helper()
	clock := newClock()
	l, err := NewLimiter(NewMemory(clock.Now), p, clock.Now)
	if err != nil {
		t.Fatalf("NewLimiter: %v", err)
	}
	return l, clock
}

// admitFn admits a stream with no budget estimate of its own and returns
// its release, the shape most tests want.
func admitFn(l *Limiter, ctx context.Context, agent, principal string) (func(), error) {
	a, err := l.Admit(ctx, agent, principal, 0)
	if err != nil {
		return nil, err
	}
	return a.Release, nil
}

func admit(t *testing.T, l *Limiter, agent, principal string) func() {
	t.Helper()
	release, err := admitFn(l, t.Context(), agent, principal)
	if err != nil {
		t.Fatalf("Admit(%s, %s): %v", agent, principal, err)
	}
	t.Cleanup(release)
	return release
}

func refused(t *testing.T, l *Limiter, agent, principal string) *Refusal {
	t.Helper()
	release, err := admitFn(l, t.Context(), agent, principal)
	var r *Refusal
	if !errors.As(err, &r) {
		if release != nil {
			release()
		}
		t.Fatalf("Admit(%s, %s) = %v, want a *Refusal", agent, principal, err)
	}
	if release != nil {
		t.Fatal("a refusal came with a release")
	}
	return r
}

// scopeCases says, per scope, who else shares alice's limit on demo.
var scopeCases = []struct {
	scope          string
	other          [2]string // agent, principal
	otherRefused   bool
	unrelated      [2]string
	unrelatedAdmit bool
}{
	{ScopePrincipal, [2]string{"other", "alice"}, true, [2]string{"demo", "bob"}, true},
	{ScopeAgent, [2]string{"demo", "bob"}, true, [2]string{"other", "alice"}, true},
	{ScopeGlobal, [2]string{"other", "bob"}, true, [2]string{"other", "bob"}, false},
}

func TestLimiterRate(t *testing.T) {
	for _, tc := range scopeCases {
		t.Run("the "+tc.scope+" limit refuses request 3 of 2 a minute and recovers", func(t *testing.T) {
			l, clock := newLimiter(t, Policy{Rate: map[string]Rule{tc.scope: {Rate: 2, Per: time.Minute}}})
			admit(t, l, "demo", "alice")
			admit(t, l, "demo", "alice")
			want := Refusal{Limit: "rate:" + tc.scope, RetryAfter: 30 * time.Second}
			if r := refused(t, l, "demo", "alice"); *r != want {
				t.Fatalf("refusal = %+v, want %+v", *r, want)
			}
			if _, err := admitFn(l, t.Context(), tc.other[0], tc.other[1]); isRefusal(err, want.Limit) != tc.otherRefused {
				t.Fatalf("%v sharing the limit: %v", tc.other, err)
			}
			release, err := admitFn(l, t.Context(), tc.unrelated[0], tc.unrelated[1])
			if (err == nil) != tc.unrelatedAdmit {
				t.Fatalf("%v under another %s limit: %v", tc.unrelated, tc.scope, err)
			}
			if release != nil {
				release()
			}
			clock.Advance(want.RetryAfter)
			admit(t, l, "demo", "alice")
		})
	}
}

func TestLimiterConcurrency(t *testing.T) {
	for _, tc := range scopeCases {
		t.Run("the "+tc.scope+" cap refuses stream 3 of 2 and recovers on release", func(t *testing.T) {
			l, _ := newLimiter(t, Policy{Concurrency: map[string]int{tc.scope: 2}})
			first := admit(t, l, "demo", "alice")
			admit(t, l, "demo", "alice")
			want := Refusal{Limit: "concurrency:" + tc.scope, RetryAfter: time.Second}
			if r := refused(t, l, "demo", "alice"); *r != want {
				t.Fatalf("refusal = %+v, want %+v", *r, want)
			}
			if _, err := admitFn(l, t.Context(), tc.other[0], tc.other[1]); isRefusal(err, want.Limit) != tc.otherRefused {
				t.Fatalf("%v sharing the cap: %v", tc.other, err)
			}
			release, err := admitFn(l, t.Context(), tc.unrelated[0], tc.unrelated[1])
			if (err == nil) != tc.unrelatedAdmit {
				t.Fatalf("%v under another %s cap: %v", tc.unrelated, tc.scope, err)
			}
			if release != nil {
				release()
			}
			first()
			first() // idempotent: must not free the second stream's slot
			admit(t, l, "demo", "alice")
			refused(t, l, "demo", "alice")
		})
	}
}

func TestLimiterRefusalTakesNothing(t *testing.T) {
	t.Run("a cap that refuses returns the slots taken before it", func(t *testing.T) {
		l, _ := newLimiter(t, Policy{Concurrency: map[string]int{ScopePrincipal: 1, ScopeGlobal: 1}})
		alice := admit(t, l, "demo", "alice")
		if r := refused(t, l, "demo", "bob"); r.Limit != "concurrency:global" {
			t.Fatalf("bob refused by %s, want concurrency:global", r.Limit)
		}
		alice()
		// Had bob's principal slot stayed taken, his own cap would refuse.
		admit(t, l, "demo", "bob")
	})
	t.Run("a rate limit that refuses takes no slot", func(t *testing.T) {
		l, _ := newLimiter(t, Policy{
			Rate:        map[string]Rule{ScopePrincipal: {Rate: 1, Per: time.Hour}},
			Concurrency: map[string]int{ScopeGlobal: 1},
		})
		admit(t, l, "demo", "alice")()
		if r := refused(t, l, "demo", "alice"); r.Limit != "rate:principal" {
			t.Fatalf("alice refused by %s, want rate:principal", r.Limit)
		}
		admit(t, l, "demo", "bob")
	})
	t.Run("the narrowest limit refuses first and spends no shared allowance", func(t *testing.T) {
		l, _ := newLimiter(t, Policy{Rate: map[string]Rule{
			ScopePrincipal: {Rate: 1, Per: time.Hour},
			ScopeGlobal:    {Rate: 2, Per: time.Hour},
		}})
		admit(t, l, "demo", "alice")
		for range 5 {
			if r := refused(t, l, "demo", "alice"); r.Limit != "rate:principal" {
				t.Fatalf("alice refused by %s, want rate:principal", r.Limit)
			}
		}
		admit(t, l, "demo", "bob")
	})
}

func TestLimiterBudget(t *testing.T) {
	l, clock := newLimiter(t, Policy{DailyTokens: 100})
	// 07:00 in Tokyo is 22:00 UTC the day before: the budget's day is UTC.
	clock.Set(time.Date(2026, 11, 26, 7, 0, 0, 0, time.FixedZone("JST", 9*3600)))
	ctx := t.Context()

	admit(t, l, "demo", "alice")
	if err := l.Charge(ctx, "alice", 60); err != nil {
		t.Fatal(err)
	}
	admit(t, l, "demo", "alice") // 60 of 100: a stream may still start
	if err := l.Charge(ctx, "alice", 50); err != nil {
		t.Fatal(err)
	}
	want := Refusal{Limit: "budget:principal", RetryAfter: 2 * time.Hour}
	if r := refused(t, l, "demo", "alice"); *r != want {
		t.Fatalf("refusal = %+v, want %+v", *r, want)
	}
	admit(t, l, "other", "bob")
	if err := l.Charge(ctx, "bob", 99); err != nil {
		t.Fatal(err)
	}
	admit(t, l, "other", "bob")

	clock.Advance(want.RetryAfter)
	admit(t, l, "demo", "alice")
	if err := l.Charge(ctx, "alice", -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Charge of -1 = %v, want ErrInvalid", err)
	}
}

// counting counts the calls that reach a Store.
type counting struct {
	Store
	calls int
}

func (c *counting) Allow(ctx context.Context, key string, rate int, per time.Duration, burst int) (bool, time.Duration, error) {
	c.calls++
	return c.Store.Allow(ctx, key, rate, per, burst)
}

func (c *counting) Acquire(ctx context.Context, key string, max int, lease time.Duration) (func(), bool, error) {
	c.calls++
	return c.Store.Acquire(ctx, key, max, lease)
}

func (c *counting) Spend(ctx context.Context, key string, n int64, ttl time.Duration) (int64, error) {
	c.calls++
	return c.Store.Spend(ctx, key, n, ttl)
}

func (c *counting) Spent(ctx context.Context, key string) (int64, error) {
	c.calls++
	return c.Store.Spent(ctx, key)
}

func TestLimiterWithoutLimits(t *testing.T) {
	store := &counting{Store: NewMemory(nil)}
	l, err := NewLimiter(store, Policy{Rate: map[string]Rule{ScopeGlobal: {}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		release, err := admitFn(l, t.Context(), "demo", "alice")
		if err != nil || release == nil {
			t.Fatalf("Admit = %v (release nil: %v); want a release", err, release == nil)
		}
		release()
	}
	if err := l.Charge(t.Context(), "alice", 1000); err != nil {
		t.Fatal(err)
	}
	if store.calls != 0 {
		t.Fatalf("a policy without limits made %d store calls", store.calls)
	}
}

var errBroken = errors.New("broken")

// broken fails the calls on one key of one Store method.
type broken struct {
	Store
	method, key string
}

func (b *broken) Allow(ctx context.Context, key string, rate int, per time.Duration, burst int) (bool, time.Duration, error) {
	if b.method == "Allow" && b.key == key {
		return false, 0, errBroken
	}
	return b.Store.Allow(ctx, key, rate, per, burst)
}

func (b *broken) Acquire(ctx context.Context, key string, max int, lease time.Duration) (func(), bool, error) {
	if b.method == "Acquire" && b.key == key {
		return nil, false, errBroken
	}
	return b.Store.Acquire(ctx, key, max, lease)
}

func (b *broken) Spent(ctx context.Context, key string) (int64, error) {
	if b.method == "Spent" {
		return 0, errBroken
	}
	return b.Store.Spent(ctx, key)
}

func (b *broken) Spend(ctx context.Context, key string, n int64, ttl time.Duration) (int64, error) {
	if b.method == "Spend" {
		return 0, errBroken
	}
	return b.Store.Spend(ctx, key, n, ttl)
}

func TestLimiterStoreErrors(t *testing.T) {
	p := Policy{
		Rate:        map[string]Rule{ScopeAgent: {Rate: 10, Per: time.Second}},
		Concurrency: map[string]int{ScopePrincipal: 1, ScopeGlobal: 5},
		DailyTokens: 100,
	}
	for _, tc := range []struct{ method, key string }{
		{"Spent", ""},
		{"Allow", "agent:demo"},
		{"Acquire", "principal:alice"},
		{"Acquire", "global"},
	} {
		t.Run("a failing "+tc.method+" "+tc.key+" is an error, not a refusal, and takes nothing", func(t *testing.T) {
			mem := NewMemory(nil)
			l, err := NewLimiter(&broken{Store: mem, method: tc.method, key: tc.key}, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			release, err := admitFn(l, t.Context(), "demo", "alice")
			var r *Refusal
			if !errors.Is(err, errBroken) || errors.As(err, &r) || release != nil {
				t.Fatalf("Admit = %v, want errBroken and no release", err)
			}
			// alice's one principal slot must still be free.
			healthy, err := NewLimiter(mem, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			admit(t, healthy, "demo", "alice")
		})
	}
	t.Run("a failing Spend is Charge's error", func(t *testing.T) {
		l, err := NewLimiter(&broken{Store: NewMemory(nil), method: "Spend"}, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Charge(t.Context(), "alice", 1); !errors.Is(err, errBroken) {
			t.Fatalf("Charge = %v, want errBroken", err)
		}
	})
}

func TestNewLimiter(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		want   string // in the error; empty: valid
	}{
		{"an empty policy is valid", Policy{}, ""},
		{"a full policy is valid", Policy{
			Rate:        map[string]Rule{ScopeGlobal: {Rate: 100, Per: time.Second, Burst: 200}, ScopeAgent: {}, ScopePrincipal: {Rate: 1, Per: time.Minute}},
			Concurrency: map[string]int{ScopeGlobal: 100, ScopeAgent: 0, ScopePrincipal: 2},
			DailyTokens: 1_000_000,
		}, ""},
		{"an unknown rate scope is named", Policy{Rate: map[string]Rule{"ip": {Rate: 1, Per: time.Second}}}, `Policy.Rate["ip"]: unknown scope`},
		{"a negative rate is named", Policy{Rate: map[string]Rule{ScopeAgent: {Rate: -1, Per: time.Second}}}, `Policy.Rate["agent"].Rate is -1`},
		{"a rate without a period is named", Policy{Rate: map[string]Rule{ScopeAgent: {Rate: 1}}}, `Policy.Rate["agent"].Per is 0s`},
		{"a negative burst is named", Policy{Rate: map[string]Rule{ScopeAgent: {Rate: 1, Per: time.Second, Burst: -1}}}, `Policy.Rate["agent"].Burst is -1`},
		{"an overflowing burst is named", Policy{Rate: map[string]Rule{ScopeAgent: {Rate: 1, Per: 1 << 40, Burst: 1 << 30}}}, `Policy.Rate["agent"]: limit: invalid argument`},
		{"an unknown concurrency scope is named", Policy{Concurrency: map[string]int{"ip": 1}}, `Policy.Concurrency["ip"]: unknown scope`},
		{"a negative cap is named", Policy{Concurrency: map[string]int{ScopeGlobal: -1}}, `Policy.Concurrency["global"] is -1`},
		{"a negative budget is named", Policy{DailyTokens: -1}, `Policy.DailyTokens is -1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLimiter(NewMemory(nil), tt.policy, nil)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("NewLimiter = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("a nil store is named", func(t *testing.T) {
		if _, err := NewLimiter(nil, Policy{}, nil); err == nil || !strings.Contains(err.Error(), "store is nil") {
			t.Fatalf("NewLimiter = %v", err)
		}
	})
	t.Run("every bad field is named at once", func(t *testing.T) {
		_, err := NewLimiter(nil, Policy{Concurrency: map[string]int{ScopeGlobal: -1}, DailyTokens: -1}, nil)
		if err == nil || strings.Count(err.Error(), "\n") != 2 {
			t.Fatalf("NewLimiter = %v, want three problems", err)
		}
	})
	t.Run("the limiter keeps its own copy of the policy", func(t *testing.T) {
		p := Policy{Rate: map[string]Rule{ScopeGlobal: {Rate: 1, Per: time.Hour}}}
		l, _ := newLimiter(t, p)
		p.Rate[ScopeGlobal] = Rule{}
		admit(t, l, "demo", "alice")
		refused(t, l, "demo", "alice")
	})
}

// gated holds a Store's calls in rounds: the calls of round i wait until
// sizes[i] of them have arrived, and then go on together; calls past the
// last round go straight through. A call that waits a whole second for its
// round to fill goes on alone, and the round is recorded as short: calls
// that should have come at once came one after another.
type gated struct {
	Store
	sizes []int

	mu      sync.Mutex
	arrived int
	open    chan struct{}
	keys    [][]string // the keys each round's calls touched
	short   []int      // rounds that never filled
}

func (g *gated) wait(key string) {
	g.mu.Lock()
	round := len(g.keys) - 1
	if g.open == nil || g.arrived == g.sizes[round] {
		if round+1 == len(g.sizes) {
			g.mu.Unlock()
			return
		}
		g.keys, g.arrived, g.open = append(g.keys, nil), 0, make(chan struct{})
		round++
	}
	g.keys[round] = append(g.keys[round], key)
	g.arrived++
	open := g.open
	if g.arrived == g.sizes[round] {
		close(open)
	}
	g.mu.Unlock()
	select {
	case <-open:
	case <-time.After(time.Second):
		g.mu.Lock()
		g.short = append(g.short, round)
		g.arrived = g.sizes[round] // the next call starts the next round
		g.mu.Unlock()
	}
}

func (g *gated) Allow(ctx context.Context, key string, rate int, per time.Duration, burst int) (bool, time.Duration, error) {
	g.wait("rate " + key)
	return g.Store.Allow(ctx, key, rate, per, burst)
}

func (g *gated) Acquire(ctx context.Context, key string, max int, lease time.Duration) (func(), bool, error) {
	g.wait("slots " + key)
	return g.Store.Acquire(ctx, key, max, lease)
}

func (g *gated) Spend(ctx context.Context, key string, n int64, ttl time.Duration) (int64, error) {
	g.wait("spend " + key)
	return g.Store.Spend(ctx, key, n, ttl)
}

func (g *gated) Spent(ctx context.Context, key string) (int64, error) {
	g.wait("spent " + key)
	return g.Store.Spent(ctx, key)
}

// TestLimiterAdmitsInTwoRounds: an admission under every limit there is
// takes two round trips to the store, each making its calls at once: the
// principal's budget, rate limit and stream cap, then the agent's and the
// global rate limits and caps. A principal its own limits refuse touches
// none of the shared items.
func TestLimiterAdmitsInTwoRounds(t *testing.T) {
	all := Policy{
		Rate:        map[string]Rule{ScopePrincipal: {Rate: 1, Per: time.Hour}, ScopeAgent: {Rate: 10, Per: time.Hour}, ScopeGlobal: {Rate: 10, Per: time.Hour}},
		Concurrency: map[string]int{ScopePrincipal: 1, ScopeAgent: 10, ScopeGlobal: 10},
		DailyTokens: 1000, BudgetReservation: 10,
	}
	store := NewMemory(nil)
	g := &gated{Store: store, sizes: []int{3, 4}}
	l, err := NewLimiter(g, all, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.Admit(t.Context(), "demo", "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	a.Release()
	if len(g.short) > 0 || len(g.keys) != 2 {
		t.Fatalf("rounds %q, of which %v came one call at a time; want 2 rounds of 3 and 4 calls at once", g.keys, g.short)
	}
	for _, k := range g.keys[0] {
		if !strings.Contains(k, "alice") {
			t.Errorf("the first round touched %q, which is not alice's own", k)
		}
	}

	// Alice's own rate limit now refuses: one round, then the refund of
	// her reservation, and nothing shared is touched.
	g2 := &gated{Store: store, sizes: []int{3, 1}}
	l.store = g2
	_, err = l.Admit(t.Context(), "demo", "alice", 0)
	var r *Refusal
	if !errors.As(err, &r) || r.Limit != "rate:principal" {
		t.Fatalf("err = %v, want a refusal by rate:principal", err)
	}
	if len(g2.short) > 0 {
		t.Errorf("rounds %q, of which %v came one call at a time", g2.keys, g2.short)
	}
	for _, round := range g2.keys {
		for _, k := range round {
			if !strings.Contains(k, "alice") {
				t.Errorf("the refused admission touched %q, which is not alice's own", k)
			}
		}
	}
}
