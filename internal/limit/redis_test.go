package limit

import (
	"bytes"
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
