package limit

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisSharedAcrossInstances runs two Limiters, each with a Redis client
// of its own as two gateway instances would have, on one Redis.
func TestRedisSharedAcrossInstances(t *testing.T) {
	addr := redisServer(t)
	instances := func(t *testing.T, p Policy) [2]*Limiter {
		var ls [2]*Limiter
		for i := range ls {
			l, err := NewLimiter(NewRedis(redisClient(t, addr), t.Name()+":"), p, nil)
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

func isRefusal(err error, limit string) bool {
	var r *Refusal
	return errors.As(err, &r) && r.Limit == limit
}

// TestRedisKeys checks the data design: where each kind of state lives, and
// that every key expires, so nothing a crashed instance wrote stays forever.
func TestRedisKeys(t *testing.T) {
	ctx := t.Context()
	c := redisClient(t, redisServer(t))
	s := NewRedis(c, "ag:")
	if _, _, err := s.Allow(ctx, "k", 1, time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	release, _, err := s.Acquire(ctx, "k", 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Spend(ctx, "k", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]time.Duration{
		"ag:gcra:k":  time.Minute,
		"ag:slots:k": time.Minute,
		"ag:count:k": time.Hour,
	} {
		got, err := c.PTTL(ctx, key).Result()
		if err != nil || got <= 0 || got > want {
			t.Errorf("PTTL %s = %v, %v; want in (0, %v]", key, got, err, want)
		}
	}
	release()
	if n, err := c.Exists(ctx, "ag:slots:k").Result(); n != 0 || err != nil {
		t.Errorf("the pool's key outlived its last slot: EXISTS = %d, %v", n, err)
	}
}

// TestRedisScriptFlush checks the EVAL fallback: scripts run again after the
// server forgot them (a restart, a failover, SCRIPT FLUSH).
func TestRedisScriptFlush(t *testing.T) {
	ctx := t.Context()
	c := redisClient(t, redisServer(t))
	s := NewRedis(c, "")
	if _, _, err := s.Allow(ctx, "k", 1, time.Minute, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := s.Allow(ctx, "k", 1, time.Minute, 2); !ok || err != nil {
		t.Fatalf("Allow after SCRIPT FLUSH = %v, %v", ok, err)
	}
	release, ok, err := s.Acquire(ctx, "k", 1, time.Minute)
	if !ok || err != nil {
		t.Fatalf("Acquire after SCRIPT FLUSH = %v, %v", ok, err)
	}
	release()
	if n, err := s.Spend(ctx, "k", 3, time.Minute); n != 3 || err != nil {
		t.Fatalf("Spend after SCRIPT FLUSH = %d, %v", n, err)
	}
}

// TestRedisDown checks that a Redis the gateway cannot reach gives errors
// the gateway can fail open or closed on, never a refusal or a panic.
func TestRedisDown(t *testing.T) {
	ctx := t.Context()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })

	for name, s := range map[string]*Redis{"unreachable": NewRedis(c, ""), "nil client": NewRedis(nil, "")} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := s.Allow(ctx, "k", 1, time.Second, 1); err == nil {
				t.Error("Allow: no error")
			}
			if _, _, err := s.Acquire(ctx, "k", 1, time.Second); err == nil {
				t.Error("Acquire: no error")
			}
			if _, err := s.Spend(ctx, "k", 1, time.Second); err == nil {
				t.Error("Spend: no error")
			}
			if _, err := s.Spent(ctx, "k"); err == nil {
				t.Error("Spent: no error")
			}
			lim, err := NewLimiter(s, Policy{Rate: map[string]Rule{ScopeGlobal: {Rate: 1, Per: time.Second}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var r *Refusal
			if _, err := admitFn(lim, ctx, "demo", "alice"); err == nil || errors.As(err, &r) {
				t.Errorf("Admit = %v, want a store error", err)
			}
		})
	}
}
