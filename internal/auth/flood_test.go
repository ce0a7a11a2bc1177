package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLoginUnderFlood measures how long a user's sign-in takes while
// wrong passwords for made-up users flood the gateway from many addresses,
// each kept under the failure limit so that no failure count stops the
// flood. It reports the user's latency (p50-ms, p99-ms; ns/op is the mean)
// and the share of her sign-ins turned away busy (busy/op). The hashes have
// HashPassword's real cost and the default hashing slots and queue wait:
// what a flood costs is what is measured. Run it on its own, with a fixed
// count:
//
//	go test -run '^$' -bench LoginUnderFlood -benchtime 30x ./internal/auth/
func BenchmarkLoginUnderFlood(b *testing.B) {
	hash, err := HashPassword(alicePassword)
	if err != nil {
		b.Fatal(err)
	}
	newPasswords := func(b *testing.B) *Passwords {
		p, err := NewPasswords(PasswordConfig{Users: map[string]string{"alice": hash}, TokenKey: testTokenKey})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	var addresses atomic.Int64
	newAddress := func() string {
		n := addresses.Add(1)
		return fmt.Sprintf("10.%d.%d.%d", n>>16&0xff, n>>8&0xff, n&0xff)
	}
	guess := func(p *Passwords, ip string) {
		_, _, _ = p.Login(fmt.Sprintf("guess-%d", addresses.Add(1)), "wrong", ip)
	}

	// As issue 15 found it: 200 sign-ins at once from 40 addresses, 5 each,
	// with the user signing in while they wait.
	b.Run("burst=200x40", func(b *testing.B) {
		p := newPasswords(b)
		var l latencies
		for b.Loop() {
			b.StopTimer()
			var wg sync.WaitGroup
			for range 40 {
				ip := newAddress()
				for range defaultMaxFail {
					wg.Go(func() { guess(p, ip) })
				}
			}
			for p.slots.queued() < 150 {
				time.Sleep(time.Millisecond)
			}
			b.StartTimer()
			l.signIn(b, p)
			b.StopTimer()
			wg.Wait()
			b.StartTimer()
		}
		l.report(b)
	})

	// Harsher: 64 callers keep it up, each moving to a new address once
	// its address has failed MaxFailures times.
	b.Run("sustained=64", func(b *testing.B) {
		p := newPasswords(b)
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for ctx.Err() == nil {
					ip := newAddress()
					for range defaultMaxFail {
						guess(p, ip)
					}
				}
			})
		}
		defer func() { stop(); wg.Wait() }()
		for p.slots.queued() < 32 {
			time.Sleep(time.Millisecond)
		}
		var l latencies
		for b.Loop() {
			l.signIn(b, p)
		}
		l.report(b)
	})
}

// latencies collects a user's sign-ins for BenchmarkLoginUnderFlood.
type latencies struct {
	took []time.Duration
	busy int
}

func (l *latencies) signIn(b *testing.B, p *Passwords) {
	start := time.Now()
	_, _, err := p.Login("alice", alicePassword, "198.51.100.1")
	l.took = append(l.took, time.Since(start))
	var retry *RetryError
	switch {
	case errors.As(err, &retry) && retry.Busy:
		l.busy++
	case err != nil:
		b.Fatalf("sign-in %d: %v", len(l.took), err)
	}
}

func (l *latencies) report(b *testing.B) {
	slices.Sort(l.took)
	ms := func(q float64) float64 {
		i := min(len(l.took)-1, int(q*float64(len(l.took))))
		return float64(l.took[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(float64(l.busy)/float64(len(l.took)), "busy/op")
}
