package auth

import (
	"context"
	"fmt"
	"time"
)

// Counters keeps counters that every gateway instance shares; a
// limit.Store is one. Spend adds n to key's counter and returns the total,
// and a new counter expires ttl after its first Spend.
type Counters interface {
	Spend(ctx context.Context, key string, n int64, ttl time.Duration) (int64, error)
}

// sharedFailures is the failureRecord of many instances, in Counters. Its
// window is fixed rather than sliding: a key's count starts with its first
// failure and expires a window later. The counters cannot say when that
// is, so a blocked attempt is told to wait the whole window, which is
// never too short.
type sharedFailures struct {
	counters Counters
	limit    int
	window   time.Duration
}

// failureCounter names key's counter among the store's others.
func failureCounter(key string) string { return "login-failures:" + key }

// begin implements failureRecord. Each key's count goes up first and
// comes back down if any key is then over the limit, so that of many
// concurrent attempts at most the limit's worth go on, on any instance.
func (s *sharedFailures) begin(ctx context.Context, _ time.Time, keys ...string) (time.Duration, int, error) {
	totals := make([]int64, 0, len(keys))
	for _, k := range keys {
		n, err := s.counters.Spend(ctx, failureCounter(k), 1, s.window)
		if err != nil {
			s.add(ctx, keys[:len(totals)], -1)
			return 0, 0, fmt.Errorf("%w: counting failed sign-ins: %w", ErrUnavailable, err)
		}
		totals = append(totals, n)
	}
	failed := int(totals[0] - 1)
	for _, n := range totals {
		if n > int64(s.limit) {
			s.add(ctx, keys, -1)
			return s.window, failed, nil
		}
	}
	return 0, failed, nil
}

// succeeded implements failureRecord.
func (s *sharedFailures) succeeded(ctx context.Context, _ time.Time, clear []string, keep []string) {
	for _, k := range clear {
		if n, err := s.counters.Spend(ctx, failureCounter(k), 0, s.window); err == nil && n > 0 {
			s.counters.Spend(ctx, failureCounter(k), -n, s.window)
		}
	}
	s.add(ctx, keep, -1)
}

// takeBack implements failureRecord.
func (s *sharedFailures) takeBack(ctx context.Context, _ time.Time, keys ...string) {
	s.add(ctx, keys, -1)
}

// add adds n to each key's count. It is only ever a refund, and one that
// fails leaves a failure counted that was not one: the user waits a little
// sooner, which is the safe side, so the error is dropped.
func (s *sharedFailures) add(ctx context.Context, keys []string, n int64) {
	for _, k := range keys {
		s.counters.Spend(ctx, failureCounter(k), n, s.window)
	}
}
