package limit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"
)

// Scopes a rate limit or a concurrency cap applies to.
const (
	ScopeGlobal    = "global"    // all requests together
	ScopeAgent     = "agent"     // each agent's requests, by public name
	ScopePrincipal = "principal" // each principal's requests
)

// scopes lists the scopes in the order Admit checks them: narrowest first,
// so that a principal refused by its own limit spends nothing of the limits
// it shares with others.
var scopes = []string{ScopePrincipal, ScopeAgent, ScopeGlobal}

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
	return &Limiter{store: store, policy: p, now: now}, nil
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
	release   func()
	settled   atomic.Bool
}

// Release returns the stream's concurrency slots. A nil Admission (no
// limiter) holds none.
func (a *Admission) Release() {
	if a != nil {
		a.release()
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
// limits, then takes the concurrency slots for one stream of principal to
// agent. The reservation is one atomic addition that admits the stream
// only if the budget was not yet spent before it: however many streams
// start at once, at most one of them crosses the budget, so the budget is
// exceeded by at most one stream's use beyond its reservation.
//
// On success the stream holds its slots until Release (or, should the
// instance never call it, until one lease after ctx ends: pass the
// stream's context) and its reservation until Settle. When a limit
// refuses, the error is a *Refusal and nothing stays taken (the narrower
// rate limits that passed do count the attempt); any other error is the
// Store's, wrapped.
func (l *Limiter) Admit(ctx context.Context, agent, principal string, estimate int64) (*Admission, error) {
	a := &Admission{l: l, release: func() {}}
	if err := l.reserve(ctx, a, principal, estimate); err != nil {
		return nil, err
	}
	refund := func() {
		// The caller's context may be what failed; the refund must not
		// fail with it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		_ = a.Settle(rctx, 0)
	}
	for _, scope := range scopes {
		r := l.rule(scope, agent, principal)
		if r.Rate == 0 {
			continue
		}
		ok, wait, err := l.store.Allow(ctx, key(scope, agent, principal), r.Rate, r.Per, r.Burst)
		if err != nil {
			refund()
			return nil, err
		}
		if !ok {
			refund()
			return nil, &Refusal{Limit: "rate:" + scope, RetryAfter: wait}
		}
	}
	release, err := l.acquire(ctx, agent, principal)
	if err != nil {
		refund()
		return nil, err
	}
	a.release = release
	return a, nil
}

// acquire takes a slot in every scope with a cap, or none.
func (l *Limiter) acquire(ctx context.Context, agent, principal string) (func(), error) {
	var held []func()
	releaseAll := func() {
		for _, release := range slices.Backward(held) {
			release()
		}
	}
	for _, scope := range scopes {
		n := l.slots(scope, agent, principal)
		if n == 0 {
			continue
		}
		release, ok, err := l.store.Acquire(ctx, key(scope, agent, principal), n, slotLease)
		if err != nil || !ok {
			releaseAll()
		}
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &Refusal{Limit: "concurrency:" + scope, RetryAfter: concurrencyRetry}
		}
		held = append(held, release)
	}
	return releaseAll, nil
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
	if a.reserved > 0 {
		_, _ = l.store.Spend(context.WithoutCancel(ctx), a.budgetKey, -a.reserved, budgetTTL)
	}
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
