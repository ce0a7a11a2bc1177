package limit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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

// Admit checks the principal's budget and the rate limits, then takes the
// concurrency slots for one stream of principal to agent. On success the
// stream holds its slots until release is called (idempotent; call it when
// the stream ends) or, should the instance never call it, until one lease
// after ctx ends: pass the stream's context. When a limit refuses, the error
// is a *Refusal and no slot stays taken (the narrower rate limits that passed
// do count the attempt); any other error is the Store's, wrapped.
func (l *Limiter) Admit(ctx context.Context, agent, principal string) (release func(), err error) {
	if err := l.checkBudget(ctx, principal); err != nil {
		return nil, err
	}
	for _, scope := range scopes {
		r := l.rule(scope, agent, principal)
		if r.Rate == 0 {
			continue
		}
		ok, wait, err := l.store.Allow(ctx, key(scope, agent, principal), r.Rate, r.Per, r.Burst)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &Refusal{Limit: "rate:" + scope, RetryAfter: wait}
		}
	}
	return l.acquire(ctx, agent, principal)
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

func (l *Limiter) checkBudget(ctx context.Context, principal string) error {
	if l.policy.DailyTokens == 0 {
		return nil
	}
	now := l.now().UTC()
	spent, err := l.store.Spent(ctx, budgetKey(now, principal))
	if err != nil {
		return err
	}
	if spent < l.policy.DailyTokens {
		return nil
	}
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	return &Refusal{Limit: "budget:principal", RetryAfter: midnight.Sub(now)}
}

// Charge records tokens used by principal against today's (UTC) budget. The
// budget is checked only by the next Admit: a stream is never cut short, so
// a principal may overshoot by what its open streams use.
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
