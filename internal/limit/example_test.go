package limit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agentgate/agentgate/internal/limit"
)

func ExampleLimiter() {
	ctx := context.Background()
	l, err := limit.NewLimiter(limit.NewMemory(nil), limit.Policy{
		Rate:        map[string]limit.Rule{limit.ScopePrincipal: {Rate: 2, Per: time.Minute}},
		Concurrency: map[string]int{limit.ScopeAgent: 10},
		DailyTokens: 50_000,
	}, nil)
	if err != nil {
		panic(err)
	}
	for range 3 {
		// Hold 4,000 tokens of alice's budget while the stream runs.
		adm, err := l.Admit(ctx, "demo", "alice", 4000)
		var r *limit.Refusal
		if errors.As(err, &r) {
			fmt.Printf("429 %s, Retry-After %v\n", r.Limit, r.RetryAfter.Round(time.Second))
			continue
		}
		if err != nil {
			panic(err) // the gateway fails open or closed here, by config
		}
		// ... stream, then settle with what the agent's usage metadata says.
		_ = adm.Settle(ctx, 1200)
		adm.Release()
		fmt.Println("streamed")
	}
	// Output:
	// streamed
	// streamed
	// 429 rate:principal, Retry-After 30s
}
