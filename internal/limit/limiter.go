package limit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Scopes a rate limit or a concurrency cap applies to.
const (
	ScopeGlobal    = "global"    // all requests together
	ScopeAgent     = "agent"     // each agent's requests, by public name
	ScopePrincipal = "principal" // each principal's requests
)

// scopes lists the scopes narrowest first, the order in which Admit
// reports refusals.
var scopes = []string{ScopePrincipal, ScopeAgent, ScopeGlobal}

// rounds are the scopes Admit checks together, each round one round trip to
// the store: first the principal's own limits, so that a principal its own
// limits refuse touches nothing it shares with others (a flood from one
// caller never reaches the shared items, which all callers contend for);
// then the limits it shares.
var rounds = [][]string{{ScopePrincipal}, {ScopeAgent, ScopeGlobal}}

const (
	// slotLease is how long a crashed instance's streams keep counting
	// against concurrency caps.
	slotLease = 2 * time.Minute
	// concurrencyRetry is the hint a concurrency refusal gives: a slot
	// comes back whenever another stream ends, which no one can predict.
	concurrencyRetry = time.Second
	// budgetTTL keeps a day's token count past the end of its day however
	// early in it the first charge came.
	budgetTTL = 48 * time.Hour
)

// Rule is a rate limit: Rate requests per Per, of which up to Burst may come
// at once. A zero Rate means no limit; a zero Burst means Rate, the whole
// period's allowance at once.
type Rule struct {
	Rate  int
	Per   time.Duration
	Burst int
}

// Policy is what a Limiter enforces.
type Policy struct {
	// Rate maps a scope (ScopeGlobal, ScopeAgent, ScopePrincipal) to its
	// rate limit. An agent's or principal's limit applies to each one apart.
	Rate map[string]Rule
	// Concurrency maps a scope to the most streams it may have open at
	// once; zero means no cap.
	Concurrency map[string]int
	// DailyTokens is each principal's budget of tokens per UTC day, as the
	// agents' usage metadata counts them; zero means no budget.
	DailyTokens int64
	// BudgetReservation is the tokens a stream holds of its principal's
	// budget from its admission until it settles, when the stream brings
	// no estimate of its own. Zero reserves nothing: the budget is then
	// only checked at admission, and concurrent streams may each overshoot
	// it by their whole use.
	BudgetReservation int64
}

// Limiter applies a Policy to each stream, keeping its state in a Store. A
// Limiter is safe for concurrent use.
type Limiter struct {
	store  Store
	policy Policy
	now    func() time.Time
	// serial makes each round's calls one after another: the memory
	// store answers in-process, faster than goroutines start.
	serial bool
}

// Refusal is the error Admit returns when a limit refuses a stream.
type Refusal struct {
	// Limit names the limit that refused: "rate:<scope>",
	// "concurrency:<scope>" or "budget:principal".
	Limit string
	// RetryAfter is how long until the stream could be admitted: exact for
	// a rate limit, the time to the next UTC midnight for a budget, and a
	// one-second hint for concurrency, whose slots come back whenever
	// another stream ends.
	RetryAfter time.Duration
}

// Error says which limit refused and when to retry.
func (r *Refusal) Error() string {
	return fmt.Sprintf("limit: %s exceeded, retry after %v", r.Limit, r.RetryAfter)
}

// NewLimiter returns a Limiter that enforces p with the state in store and
// reads the time (for the budget's day) from now, time.Now when nil. It
// refuses an invalid policy with an error naming each bad field.
func NewLimiter(store Store, p Policy, now func() time.Time) (*Limiter, error) {
	var errs []error
	if store == nil {
		errs = append(errs, errors.New("limit: store is nil"))
	}
	rates := make(map[string]Rule, len(p.Rate))
	for _, scope := range slices.Sorted(maps.Keys(p.Rate)) {
		r, err := checkRule(scope, p.Rate[scope])
		if err != nil {
			errs = append(errs, err)
		}
		rates[scope] = r
	}
	for _, scope := range slices.Sorted(maps.Keys(p.Concurrency)) {
		field := fmt.Sprintf("Policy.Concurrency[%q]", scope)
		if err := checkScope(field, scope); err != nil {
			errs = append(errs, err)
		} else if n := p.Concurrency[scope]; n < 0 {
			errs = append(errs, fmt.Errorf("limit: %s is %d, want zero (no cap) or more", field, n))
		}
	}
	if p.DailyTokens < 0 {
		errs = append(errs, fmt.Errorf("limit: Policy.DailyTokens is %d, want zero (no budget) or more", p.DailyTokens))
	}
	if p.BudgetReservation < 0 {
		errs = append(errs, fmt.Errorf("limit: Policy.BudgetReservation is %d, want zero (none) or more", p.BudgetReservation))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if now == nil {
		now = time.Now
	}
	// Copies, so that the caller changing its maps later cannot race Admit.
	p.Rate, p.Concurrency = rates, maps.Clone(p.Concurrency)
	_, serial := store.(*Memory)
	return &Limiter{store: store, policy: p, now: now, serial: serial}, nil
}

// checkRule validates one rate rule and fills in its default burst.
func checkRule(scope string, r Rule) (Rule, error) {
	field := fmt.Sprintf("Policy.Rate[%q]", scope)
	if err := checkScope(field, scope); err != nil {
		return r, err
	}
	switch {
	case r.Rate < 0:
		return r, fmt.Errorf("limit: %s.Rate is %d, want zero (no limit) or more", field, r.Rate)
	case r.Rate == 0:
		return r, nil
	case r.Per <= 0:
		return r, fmt.Errorf("limit: %s.Per is %v, want a positive period", field, r.Per)
	case r.Burst < 0:
		return r, fmt.Errorf("limit: %s.Burst is %d, want zero (Rate) or more", field, r.Burst)
	}
	if r.Burst == 0 {
		r.Burst = r.Rate
	}
	if _, err := newGCRA(r.Rate, r.Per, r.Burst); err != nil {
		return r, fmt.Errorf("limit: %s: %w", field, err)
	}
	return r, nil
}

func checkScope(field, scope string) error {
	if !slices.Contains(scopes, scope) {
		return fmt.Errorf("limit: %s: unknown scope %q, want %q, %q or %q", field, scope, ScopeGlobal, ScopeAgent, ScopePrincipal)
	}
	return nil
}

// Admission is an admitted stream's hold on the limits: its concurrency
// slots and its reservation of the principal's token budget. End it with
// Settle once the stream's usage is known, and Release when the stream
// ends; both may be called more than once and in either order.
type Admission struct {
	l         *Limiter
	budgetKey string // the day's budget counter the reservation is in
	reserved  int64
	releases  []func() // the slots', narrowest first
	settled   atomic.Bool
}

// Release returns the stream's concurrency slots, widest first. A nil
// Admission (no limiter) holds none.
func (a *Admission) Release() {
	if a != nil {
		for _, release := range slices.Backward(a.releases) {
			release()
		}
	}
}

// Settle charges the principal's budget what the stream used, in place of
// what it reserved: the difference, on the day of its admission. Only the
// first call counts, and a nil Admission has nothing to settle.
func (a *Admission) Settle(ctx context.Context, used int64) error {
	if used < 0 {
		return fmt.Errorf("%w: settling %d tokens", ErrInvalid, used)
	}
	if a == nil || a.budgetKey == "" || !a.settled.CompareAndSwap(false, true) {
		return nil
	}
	if d := used - a.reserved; d != 0 {
		if _, err := a.l.store.Spend(ctx, a.budgetKey, d, budgetTTL); err != nil {
			return err
		}
	}
	return nil
}

// Admit reserves tokens of the principal's budget (estimate, or
// Policy.BudgetReservation when estimate is not positive), checks the rate
// limits and takes the concurrency slots for one stream of principal to
// agent. The reservation is one atomic addition that admits the stream
// only if the budget was not yet spent before it: however many streams
// start at once, at most one of them crosses the budget, so the budget is
// exceeded by at most one stream's use beyond its reservation.
//
// It takes two round trips to the store at most, one per round: first the
// principal's budget, rate limit and stream cap at once, then the agent's
// and the global ones at once.
//
// On success the stream holds its slots until Release (or, should the
// instance never call it, until one lease after ctx ends: pass the
// stream's context) and its reservation until Settle. When a limit
// refuses, the error is a *Refusal (the narrowest scope's, when several
// refuse) and nothing stays taken, but the rate limits of the refusing
// round that passed do count the attempt; any other error is the Store's,
// wrapped.
func (l *Limiter) Admit(ctx context.Context, agent, principal string, estimate int64) (*Admission, error) {
	a := &Admission{l: l}
	for _, round := range rounds {
		if err := l.admitRound(ctx, a, round, agent, principal, estimate); err != nil {
			a.Release()
			// The caller's context may be what failed; the refund must
			// not fail with it.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			_ = a.Settle(rctx, 0)
			cancel()
			return nil, err
		}
	}
	return a, nil
}

// admitRound checks the limits of scopes all at once and adds the slots it
// takes to a's. It returns the narrowest refusal, else the first error.
func (l *Limiter) admitRound(ctx context.Context, a *Admission, scopes []string, agent, principal string, estimate int64) error {
	var checks []func() (release func(), err error)
	for _, scope := range scopes {
		if scope == ScopePrincipal && l.policy.DailyTokens > 0 {
			checks = append(checks, func() (func(), error) { return nil, l.reserve(ctx, a, principal, estimate) })
		}
		k := key(scope, agent, principal)
		if r := l.rule(scope, agent, principal); r.Rate > 0 {
			checks = append(checks, func() (func(), error) {
				ok, wait, err := l.store.Allow(ctx, k, r.Rate, r.Per, r.Burst)
				if err == nil && !ok {
					err = &Refusal{Limit: "rate:" + scope, RetryAfter: wait}
				}
				return nil, err
			})
		}
		if n := l.slots(scope, agent, principal); n > 0 {
			checks = append(checks, func() (func(), error) {
				release, ok, err := l.store.Acquire(ctx, k, n, slotLease)
				if err == nil && !ok {
					err = &Refusal{Limit: "concurrency:" + scope, RetryAfter: concurrencyRetry}
				}
				return release, err
			})
		}
	}
	releases, errs := inParallel(checks, l.serial)
	for _, release := range releases {
		if release != nil {
			a.releases = append(a.releases, release)
		}
	}
	for _, err := range errs {
		if _, refused := err.(*Refusal); refused {
			return err
		}
	}
	return errors.Join(errs...)
}

// inParallel runs each of checks at once, the first on this goroutine, or
// one after another when serial is set, and returns their results in order.
func inParallel(checks []func() (func(), error), serial bool) ([]func(), []error) {
	releases, errs := make([]func(), len(checks)), make([]error, len(checks))
	var wg sync.WaitGroup
	for i := 1; i < len(checks); i++ {
		if serial {
			releases[i], errs[i] = checks[i]()
			continue
		}
		wg.Go(func() { releases[i], errs[i] = checks[i]() })
	}
	if len(checks) > 0 {
		releases[0], errs[0] = checks[0]()
	}
	wg.Wait()
	return releases, errs
}

// reserve takes a's reservation of principal's budget for today (UTC), or
// refuses when the budget is spent. With nothing to reserve it only checks.
func (l *Limiter) reserve(ctx context.Context, a *Admission, principal string, estimate int64) error {
	if l.policy.DailyTokens == 0 {
		return nil
	}
	now := l.now().UTC()
	a.budgetKey = budgetKey(now, principal)
	n := estimate
	if n <= 0 {
		n = l.policy.BudgetReservation
	}
	var before int64
	if n == 0 {
		spent, err := l.store.Spent(ctx, a.budgetKey)
		if err != nil {
			return err
		}
		before = spent
	} else {
		total, err := l.store.Spend(ctx, a.budgetKey, n, budgetTTL)
		if err != nil {
			return err
		}
		before, a.reserved = total-n, n
	}
	if before < l.policy.DailyTokens {
		return nil
	}
	// Admit takes the reservation back, as it does when another limit
	// refuses.
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	return &Refusal{Limit: "budget:principal", RetryAfter: midnight.Sub(now)}
}

// Charge records tokens used by principal against today's (UTC) budget,
// outside any admission. The budget is checked only by the next Admit: a
// stream is never cut short.
func (l *Limiter) Charge(ctx context.Context, principal string, tokens int64) error {
	if tokens < 0 {
		return fmt.Errorf("%w: charge of %d tokens", ErrInvalid, tokens)
	}
	if l.policy.DailyTokens == 0 || tokens == 0 {
		return nil
	}
	_, err := l.store.Spend(ctx, budgetKey(l.now().UTC(), principal), tokens, budgetTTL)
	return err
}

// rule returns the rate rule of scope for this agent and principal; with
// slots, it is where per-agent and per-principal overrides will plug in.
func (l *Limiter) rule(scope, agent, principal string) Rule {
	return l.policy.Rate[scope]
}

// slots returns the concurrency cap of scope for this agent and principal.
func (l *Limiter) slots(scope, agent, principal string) int {
	return l.policy.Concurrency[scope]
}

// key names the state of scope for this agent and principal. The scope
// prefix keeps an agent and a principal of the same name apart.
func key(scope, agent, principal string) string {
	switch scope {
	case ScopeAgent:
		return "agent:" + agent
	case ScopePrincipal:
		return "principal:" + principal
	}
	return ScopeGlobal
}

// budgetKey names principal's token count on day; the date first, being of
// fixed length, keeps any principal name from reaching into another's key.
func budgetKey(day time.Time, principal string) string {
	return "tokens:" + day.Format(time.DateOnly) + ":" + principal
}
