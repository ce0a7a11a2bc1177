package limit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBudgetReservations: concurrent streams near the end of a budget.
// At 580 of 600 tokens, with each stream reserving 100, fifty streams that
// start at once admit exactly one, so the budget is overshot by at most
// that one stream's use; settling replaces the reservation with the use,
// and a refused stream leaves the count as it found it. Run against every
// store.
func TestBudgetReservations(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			newHarness := st.setup(t)
			day := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
			newLimiter := func(t *testing.T, p Policy) (*Limiter, Store) {
				h := newHarness(t)
				l, err := NewLimiter(h.store, p, func() time.Time { return day })
				if err != nil {
					t.Fatal(err)
				}
				return l, h.store
			}
			spent := func(t *testing.T, s Store) int64 {
				n, err := s.Spent(t.Context(), budgetKey(day, "alice"))
				if err != nil {
					t.Fatal(err)
				}
				return n
			}

			t.Run("fifty streams at 580 of 600 admit one", func(t *testing.T) {
				l, s := newLimiter(t, Policy{DailyTokens: 600, BudgetReservation: 100})
				if err := l.Charge(t.Context(), "alice", 580); err != nil {
					t.Fatal(err)
				}
				var admitted atomic.Int32
				var mu sync.Mutex
				var held []*Admission
				var wg sync.WaitGroup
				for range 50 {
					wg.Go(func() {
						a, err := l.Admit(t.Context(), "demo", "alice", 0)
						if err == nil {
							admitted.Add(1)
							mu.Lock()
							held = append(held, a)
							mu.Unlock()
						} else if !isRefusal(err, "budget:principal") {
							t.Errorf("Admit: %v", err)
						}
					})
				}
				wg.Wait()
				if n := admitted.Load(); n != 1 {
					t.Fatalf("%d streams admitted at 580 of 600, want 1", n)
				}
				if got := spent(t, s); got != 680 {
					t.Fatalf("%d tokens counted with one reservation of 100, want 680: refusals must give theirs back", got)
				}
				if err := held[0].Settle(t.Context(), 150); err != nil {
					t.Fatal(err)
				}
				held[0].Release()
				if got := spent(t, s); got != 730 {
					t.Fatalf("%d tokens counted after settling 150, want 730", got)
				}
				if err := held[0].Settle(t.Context(), 999); err != nil || spent(t, s) != 730 {
					t.Fatalf("a second Settle counted: err %v, spent %d", err, spent(t, s))
				}
			})
			t.Run("a stream's own estimate is reserved and refunded when it uses less", func(t *testing.T) {
				l, s := newLimiter(t, Policy{DailyTokens: 10_000, BudgetReservation: 100})
				a, err := l.Admit(t.Context(), "demo", "alice", 2_000)
				if err != nil {
					t.Fatal(err)
				}
				if got := spent(t, s); got != 2_000 {
					t.Fatalf("%d tokens held, want the estimate 2000", got)
				}
				if err := a.Settle(t.Context(), 300); err != nil {
					t.Fatal(err)
				}
				a.Release()
				if got := spent(t, s); got != 300 {
					t.Fatalf("%d tokens counted after settling 300, want 300", got)
				}
			})
			t.Run("a stream refused by a rate limit gives its reservation back", func(t *testing.T) {
				l, s := newLimiter(t, Policy{DailyTokens: 10_000, BudgetReservation: 100,
					Rate: map[string]Rule{ScopePrincipal: {Rate: 1, Per: time.Hour}}})
				a, err := l.Admit(t.Context(), "demo", "alice", 0)
				if err != nil {
					t.Fatal(err)
				}
				defer a.Release()
				if _, err := l.Admit(t.Context(), "demo", "alice", 0); !isRefusal(err, "rate:principal") {
					t.Fatalf("second Admit: %v, want a rate refusal", err)
				}
				if got := spent(t, s); got != 100 {
					t.Fatalf("%d tokens held, want only the admitted stream's 100", got)
				}
			})
		})
	}
}
