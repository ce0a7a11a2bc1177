package limit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Store is where limit state lives: in memory for one instance (Memory), in
// Redis or DynamoDB for many (Redis, DynamoDB), so that limits hold across
// gateway instances. It also keeps small values with an expiry for the
// gateway's other shared state (Put, Take). Keys are chosen by the caller;
// each kind of state has its own key space, so the same key may name a rate
// limit, a slot pool, a counter and a value at once.
type Store interface {
	// Allow takes one request from a GCRA rate limit of rate requests per
	// per, of which up to burst may come at once. When it refuses,
	// retryAfter says when the next request would be allowed; a refused
	// request takes nothing.
	Allow(ctx context.Context, key string, rate int, per time.Duration, burst int) (ok bool, retryAfter time.Duration, err error)
	// Acquire takes one of max concurrent slots for as long as ctx lives,
	// leased for lease at a time; release returns it and may be called any
	// number of times. A holder whose ctx ends without release loses the
	// slot within lease, which is what frees the slots of a crashed holder.
	Acquire(ctx context.Context, key string, max int, lease time.Duration) (release func(), ok bool, err error)
	// Spend adds n to a counter and reports the total after adding; a
	// negative n takes back what an earlier Spend added. A new counter
	// expires ttl after its first Spend; later ones do not extend it.
	Spend(ctx context.Context, key string, n int64, ttl time.Duration) (total int64, err error)
	// Spent reads the counter: 0 when it is absent or expired.
	Spent(ctx context.Context, key string) (int64, error)
	// Put keeps value under key for ttl, replacing any value there.
	Put(ctx context.Context, key, value string, ttl time.Duration) error
	// Take removes the value under key and returns it; found is false when
	// there is none or it expired. Of any number of callers taking one
	// value at once, exactly one gets it.
	Take(ctx context.Context, key string) (value string, found bool, err error)
}

// ErrInvalid means a Store method got an argument it cannot honour (a
// non-positive rate, period, burst, max, lease or ttl). It is a bug in the
// caller, never a refusal.
var ErrInvalid = errors.New("limit: invalid argument")

// gcra is a rate limit in the terms GCRA works in: the emission interval
// between two requests at the sustained rate, and the tolerance, how far
// ahead of now the theoretical arrival time may run (burst intervals).
type gcra struct {
	interval  time.Duration
	tolerance time.Duration
}

func newGCRA(rate int, per time.Duration, burst int) (gcra, error) {
	switch {
	case rate < 1:
		return gcra{}, fmt.Errorf("%w: rate %d, want at least 1", ErrInvalid, rate)
	case per <= 0:
		return gcra{}, fmt.Errorf("%w: period %v, want positive", ErrInvalid, per)
	case burst < 1:
		return gcra{}, fmt.Errorf("%w: burst %d, want at least 1", ErrInvalid, burst)
	}
	// Rounding up keeps the sustained rate at or under the one asked for.
	interval := (per + time.Duration(rate) - 1) / time.Duration(rate)
	if int64(burst) > math.MaxInt64/int64(interval) {
		return gcra{}, fmt.Errorf("%w: burst %d of %v overflows", ErrInvalid, burst, interval)
	}
	return gcra{interval: interval, tolerance: interval * time.Duration(burst)}, nil
}

func checkAcquire(max int, lease time.Duration) error {
	if max < 1 {
		return fmt.Errorf("%w: max %d, want at least 1", ErrInvalid, max)
	}
	if lease <= 0 {
		return fmt.Errorf("%w: lease %v, want positive", ErrInvalid, lease)
	}
	return nil
}

func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: ttl %v, want positive", ErrInvalid, ttl)
	}
	return nil
}

// holdLease keeps a slot's lease alive while ctx lives, by calling renew
// every third of the lease, and returns the slot's release, which stops
// the renewals and then calls drop once. renew reports false when the
// lease is gone (it ended while its holder could not reach the store, and
// another may hold the slot by now): renewals stop and it is not revived.
// On a renew error the next tick tries again, while two thirds of the lease
// are still left. drop runs on a context of its own, as the stream's has
// ended by then; if it fails, the slot comes back when its lease ends.
func holdLease(ctx context.Context, lease time.Duration, renew func(context.Context) (bool, error), drop func(context.Context)) func() {
	hctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(max(lease/3, time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-tick.C:
			}
			if held, err := renew(hctx); err == nil && !held {
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			stop()
			<-done
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			defer cancel()
			drop(rctx)
		})
	}
}
