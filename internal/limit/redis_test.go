package limit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// TestRedisSharedAcrossInstances runs two Limiters, each with a Redis client
// of its own as two gateway instances would have, on one Redis.
func TestRedisSharedAcrossInstances(t *testing.T) {
	addr := redisServer(t)
	testSharedAcrossInstances(t, func(t *testing.T) [2]Store {
		return [2]Store{redisStore(t, addr, t.Name()+":"), redisStore(t, addr, t.Name()+":")}
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
	addr := redisServer(t)
	s, c := redisStore(t, addr, "ag:"), dialRedis(t, addr)
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
		got, err := pttl(c, key)
		if err != nil || got <= 0 || got > want {
			t.Errorf("PTTL %s = %v, %v; want in (0, %v]", key, got, err, want)
		}
	}
	release()
	if n, err := redis.Int(c.Do("EXISTS", "ag:slots:k")); n != 0 || err != nil {
		t.Errorf("the pool's key outlived its last slot: EXISTS = %d, %v", n, err)
	}
}

// TestRedisScriptFlush checks the EVAL fallback: scripts run again after the
// server forgot them (a restart, a failover, SCRIPT FLUSH).
func TestRedisScriptFlush(t *testing.T) {
	ctx := t.Context()
	addr := redisServer(t)
	s, c := redisStore(t, addr, ""), dialRedis(t, addr)
	if _, _, err := s.Allow(ctx, "k", 1, time.Minute, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do("SCRIPT", "FLUSH"); err != nil {
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
	unreachable := NewRedis(RedisConfig{Addr: addr, DialTimeout: time.Second})
	t.Cleanup(func() { unreachable.Close() })

	for name, s := range map[string]*Redis{"unreachable": unreachable, "zero value": {}} {
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

// TestRedisLogKeys checks the data design of a turn log: a head and a
// stream in one hash slot, an entry per piece of at most redisLogEntry
// bytes whose id is the position past it, an entry for the end, and both
// keys expiring.
func TestRedisLogKeys(t *testing.T) {
	ctx := t.Context()
	addr := redisServer(t)
	s, c := redisStore(t, addr, "ag:"), dialRedis(t, addr)
	if err := s.Open(ctx, "k", "t1", "m", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, "k", "t1", 0, make([]byte, 600<<10), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.End(ctx, "k", "t1", 600<<10, true, time.Hour); err != nil {
		t.Fatal(err)
	}
	head, err := redis.StringMap(c.Do("HGETALL", "ag:{log:k}:head"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"turn": "t1", "meta": "m", "size": "614400", "ended": "1", "cut": "1"}; !reflect.DeepEqual(head, want) {
		t.Errorf("the head = %v, want %v", head, want)
	}
	entries, err := redis.Values(c.Do("XRANGE", "ag:{log:k}", "-", "+"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		idAndFields, err := redis.Values(e, nil)
		if err != nil || len(idAndFields) != 2 {
			t.Fatalf("an entry %v: %v", e, err)
		}
		id, err := redis.String(idAndFields[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if want := []string{"262144-0", "524288-0", "614400-0", "614400-1"}; !slices.Equal(ids, want) {
		t.Errorf("the stream's ids = %v, want %v", ids, want)
	}
	for _, key := range []string{"ag:{log:k}:head", "ag:{log:k}"} {
		got, err := pttl(c, key)
		if err != nil || got <= time.Minute || got > time.Hour {
			t.Errorf("PTTL %s = %v, %v; want the retention, an hour", key, got, err)
		}
	}
}

// TestRedisLogSmallAppends: a log of many small appends reads back whole,
// redisLogReadEntries appends' bytes per Read.
func TestRedisLogSmallAppends(t *testing.T) {
	ctx := t.Context()
	s := redisStore(t, redisServer(t), "")
	if err := s.Open(ctx, "k", "t1", "", time.Minute); err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := range 3000 {
		e := fmt.Appendf(nil, "event %04d;", i)
		if err := s.Append(ctx, "k", "t1", int64(len(want)), e, time.Minute); err != nil {
			t.Fatal(err)
		}
		want = append(want, e...)
	}
	var got []byte
	for reads := 1; ; reads++ {
		r, err := s.Read(ctx, "k", int64(len(got)), 0)
		if err != nil {
			t.Fatal(err)
		}
		if reads == 1 && len(r.Data) != redisLogReadEntries*len("event 0000;") {
			t.Errorf("the first Read returned %d bytes, want %d entries' worth", len(r.Data), redisLogReadEntries)
		}
		got = append(got, r.Data...)
		if len(r.Data) == 0 || reads > 3 {
			break
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes that differ from the %d appended", len(got), len(want))
	}
}

// pttl reads a key's time to live (PTTL); not positive when the key has
// none or is gone.
func pttl(c redis.Conn, key string) (time.Duration, error) {
	ms, err := redis.Int64(c.Do("PTTL", key))
	return time.Duration(ms) * time.Millisecond, err
}

// TestRedisConnections checks how the store uses its connections: it
// survives the server closing them, a reader blocks on a log longer than
// the call timeout, and a reader whose context ends stops waiting at once.
func TestRedisConnections(t *testing.T) {
	addr := redisServer(t)
	admin := dialRedis(t, addr)

	t.Run("connections the server closed while idle are replaced, not failed", func(t *testing.T) {
		ctx := t.Context()
		s := redisStore(t, addr, t.Name()+":")
		if _, err := s.Spend(ctx, "k", 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		// As a restart or a failover would: every connection but admin's.
		if _, err := admin.Do("CLIENT", "KILL", "TYPE", "normal"); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if n, err := s.Spend(ctx, "k", 1, time.Minute); err != nil || n != int64(i+2) {
				t.Fatalf("Spend after CLIENT KILL = %d, %v; want %d", n, err, i+2)
			}
		}
	})

	t.Run("a reader at the end waits past the call timeout", func(t *testing.T) {
		ctx := t.Context()
		s := NewRedis(RedisConfig{Addr: addr, Prefix: t.Name() + ":", Timeout: 100 * time.Millisecond})
		t.Cleanup(func() { s.Close() })
		if err := s.Open(ctx, "k", "t1", "", time.Minute); err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(300 * time.Millisecond)
			_ = s.Append(context.WithoutCancel(ctx), "k", "t1", 0, []byte("ab"), time.Minute)
		}()
		r, err := s.Read(ctx, "k", 0, wait)
		if err != nil || string(r.Data) != "ab" {
			t.Fatalf("Read = %+v, %v; want ab", r, err)
		}
	})

	t.Run("a reader whose context ends stops waiting", func(t *testing.T) {
		s := redisStore(t, addr, t.Name()+":")
		if err := s.Open(t.Context(), "k", "t1", "", time.Minute); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		began := time.Now()
		_, err := s.Read(ctx, "k", 0, wait)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Read = %v, want context.Canceled", err)
		}
		if took := time.Since(began); took > redisLogBlock/2 {
			t.Errorf("Read took %v after its context ended", took)
		}
		if _, err := s.Stopped(t.Context(), "k", "t1"); err != nil {
			t.Errorf("the store after a cancelled Read: %v", err)
		}
	})
}

// TestRedisErrorReplies: an error the server answers (here a key of the
// wrong type) is an error, never a missing key.
func TestRedisErrorReplies(t *testing.T) {
	ctx := t.Context()
	addr := redisServer(t)
	s, c := redisStore(t, addr, ""), dialRedis(t, addr)
	for _, key := range []string{"count:k", "val:k", "{log:k}:head"} {
		if _, err := c.Do("SADD", key, "x"); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Spent(ctx, "k"); err == nil {
		t.Errorf("Spent = %d, nil; want WRONGTYPE", n)
	}
	if v, ok, err := s.Take(ctx, "k"); err == nil {
		t.Errorf("Take = %q, %v, nil; want WRONGTYPE", v, ok)
	}
	if r, err := s.Read(ctx, "k", 0, 0); err == nil {
		t.Errorf("Read = %+v, nil; want WRONGTYPE", r)
	}
	if ok, err := s.Stopped(ctx, "k", "t1"); err == nil {
		t.Errorf("Stopped = %v, nil; want WRONGTYPE", ok)
	}
}
