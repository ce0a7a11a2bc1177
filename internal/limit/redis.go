package limit

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Redis is a Store shared by every gateway instance that uses the same Redis
// (or Valkey, ElastiCache; a cluster too, since each operation touches a
// single key, or the two keys of one turn log, which share a hash tag). It
// keeps turn logs (Logs) beside the limits. Every read-modify-write is one
// Lua script, so it is atomic; scripts run by EVALSHA and are sent whole
// with EVAL only when the server lacks them (after a restart, a failover or
// SCRIPT FLUSH). Scripts read the time from the server (TIME), so the
// clocks of the gateway instances do not matter.
//
// Keys, each under RedisConfig.Prefix and each with an expiry, so that
// nothing a crashed instance wrote stays forever:
//
//	gcra:<key>   string: GCRA theoretical arrival time, µs since the epoch;
//	             expires when the bucket is full again.
//	slots:<key>  sorted set: a random token per held slot, scored by the end
//	             of its lease in µs; expires with the longest lease.
//	count:<key>  string: the counter; expires ttl after its first Spend.
//	val:<key>    string: a value; expires ttl after its Put.
//	{log:<key>}:head
//	             hash: a turn log's turn, meta, size, and its flags (ended,
//	             cut, stopped).
//	{log:<key>}  stream: the turn log's bytes, an entry per piece, whose id
//	             is the position past its last byte (see redislog.go). Both
//	             keys of a log expire ttl after its last write, and its
//	             retention after End.
//
// A slot's holder runs one goroutine that refreshes its lease every third of
// the lease while its context lives. Acquire drops expired members before it
// counts, which is how a crashed instance's slots come back.
//
// A Redis is safe for concurrent use. The zero Redis has no server: every
// call fails.
type Redis struct {
	pool    *redis.Pool
	prefix  string
	timeout time.Duration
}

var _ Store = (*Redis)(nil)

// RedisConfig says how a Redis store reaches its server.
type RedisConfig struct {
	// Addr is the server's host:port.
	Addr string
	// Username and Password authenticate each connection (AUTH, sent when
	// Password is set; Username names an ACL user). DB selects a database.
	Username, Password string
	DB                 int
	// TLS, when not nil, dials with TLS under this configuration, whose
	// ServerName defaults to Addr's host.
	TLS *tls.Config
	// Prefix starts every key (e.g. "agentgate:"), so that one Redis may
	// serve several deployments.
	Prefix string
	// DialTimeout bounds connecting: TCP, the TLS handshake, AUTH and
	// SELECT. Default 2s.
	DialTimeout time.Duration
	// Timeout bounds each call, from writing its command to reading its
	// reply; a reader blocked at a log's end waits its block (at most
	// redisLogBlock) longer. Default 1s.
	Timeout time.Duration
}

// The defaults of RedisConfig's timeouts.
const (
	defaultRedisDialTimeout = 2 * time.Second
	defaultRedisTimeout     = time.Second
)

// releaseTimeout bounds the call that returns a slot. Release runs after the
// stream's context has ended, so it cannot use that context's deadline; and
// if it fails, the lease returns the slot anyway.
const releaseTimeout = 5 * time.Second

var errNoServer = errors.New("limit: redis store has no server")

// NewRedis returns a Redis store on the server c locates. It connects on
// first use, and keeps idle connections for the next calls (see
// newRedisPool).
func NewRedis(c RedisConfig) *Redis {
	if c.DialTimeout <= 0 {
		c.DialTimeout = defaultRedisDialTimeout
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultRedisTimeout
	}
	return &Redis{pool: newRedisPool(c), prefix: c.Prefix, timeout: c.Timeout}
}

// Close closes the store's idle connections, and the others as their calls
// end. A gateway rebuilt with other Redis settings closes the store it
// replaced once no request uses it.
func (r *Redis) Close() error {
	if r.pool == nil {
		return nil
	}
	return r.pool.Close()
}

// Scripts may call TIME before writing only under effects replication, the
// default since Redis 5; older servers need to be asked for it.
const replicate = `if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
`

// gcraScript takes one request. KEYS[1]: the arrival time; ARGV: emission
// interval and tolerance in µs. Returns {1, 0} or {0, µs to wait}. Times
// stay whole µs below 2^53, so Lua's doubles hold them exactly; '%.0f'
// writes them out whole (tostring would round them to 14 digits).
var gcraScript = redis.NewScript(1, replicate+`
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next = tat + interval
local wait = next - tolerance - now
if wait > 0 then return {0, wait} end
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000))
return {1, 0}
`)

// extend makes the pool's key outlive the lease just granted, never
// shortening it for a longer lease held by someone else.
const extend = `
local ms = math.ceil(lease / 1000)
if redis.call('PTTL', KEYS[1]) < ms then redis.call('PEXPIRE', KEYS[1], ms) end
`

// acquireScript takes a slot. KEYS[1]: the pool; ARGV: max, lease µs,
// token. Returns 1 when taken.
var acquireScript = redis.NewScript(1, replicate+`
local max = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= max then return 0 end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + lease), ARGV[3])
`+extend+`
return 1
`)

// refreshScript renews a held slot's lease. KEYS[1]: the pool; ARGV: lease
// µs, token. Returns 0 when the slot is gone: released, or expired while its
// holder could not reach Redis, in which case another may hold it by now and
// reviving it could exceed max.
var refreshScript = redis.NewScript(1, replicate+`
local lease = tonumber(ARGV[1])
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not score or tonumber(score) <= now then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', string.format('%.0f', now + lease), ARGV[2])
`+extend+`
return 1
`)

// spendScript adds to a counter. KEYS[1]: the counter; ARGV: n, ttl ms.
var spendScript = redis.NewScript(1, `
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
`)

// takeScript removes a value and returns it, as GETDEL does from Redis 6.2
// on. KEYS[1]: the value. Returns the value, or nil.
var takeScript = redis.NewScript(1, `
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v
`)

// Allow implements Store.
func (r *Redis) Allow(ctx context.Context, key string, rate int, per time.Duration, burst int) (bool, time.Duration, error) {
	g, err := newGCRA(rate, per, burst)
	if err != nil {
		return false, 0, err
	}
	interval := micros(g.interval)
	res, err := redis.Int64s(r.eval(ctx, gcraScript, r.prefix+"gcra:"+key, interval, interval*int64(burst)))
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err != nil {
		return false, 0, fmt.Errorf("limit: redis allow %q: %w", key, err)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}

// Acquire implements Store.
func (r *Redis) Acquire(ctx context.Context, key string, max int, lease time.Duration) (func(), bool, error) {
	if err := checkAcquire(max, lease); err != nil {
		return nil, false, err
	}
	k, token := r.prefix+"slots:"+key, rand.Text()
	ok, err := redis.Bool(r.eval(ctx, acquireScript, k, max, micros(lease), token))
	if err != nil {
		return nil, false, fmt.Errorf("limit: redis acquire %q: %w", key, err)
	}
	if !ok {
		return nil, false, nil
	}
	return r.hold(ctx, k, token, lease), true, nil
}

// hold keeps a slot's lease alive while ctx lives and returns its release.
func (r *Redis) hold(ctx context.Context, k, token string, lease time.Duration) func() {
	return holdLease(ctx, lease, func(ctx context.Context) (bool, error) {
		return redis.Bool(r.eval(ctx, refreshScript, k, micros(lease), token))
	}, func(ctx context.Context) {
		_, _ = r.do(ctx, r.timeout, "ZREM", k, token)
	})
}

// Spend implements Store.
func (r *Redis) Spend(ctx context.Context, key string, n int64, ttl time.Duration) (int64, error) {
	if err := checkTTL(ttl); err != nil {
		return 0, err
	}
	total, err := redis.Int64(r.eval(ctx, spendScript, r.prefix+"count:"+key, n, millis(ttl)))
	if err != nil {
		return 0, fmt.Errorf("limit: redis spend %q: %w", key, err)
	}
	return total, nil
}

// Spent implements Store.
func (r *Redis) Spent(ctx context.Context, key string) (int64, error) {
	n, err := redis.Int64(r.do(ctx, r.timeout, "GET", r.prefix+"count:"+key))
	if errors.Is(err, redis.ErrNil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("limit: redis spent %q: %w", key, err)
	}
	return n, nil
}

// Put implements Store.
func (r *Redis) Put(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if _, err := r.do(ctx, r.timeout, "SET", r.prefix+"val:"+key, value, "PX", millis(ttl)); err != nil {
		return fmt.Errorf("limit: redis put %q: %w", key, err)
	}
	return nil
}

// Take implements Store.
func (r *Redis) Take(ctx context.Context, key string) (string, bool, error) {
	v, err := redis.String(r.eval(ctx, takeScript, r.prefix+"val:"+key))
	if errors.Is(err, redis.ErrNil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("limit: redis take %q: %w", key, err)
	}
	return v, true, nil
}

// micros rounds d up to whole microseconds, the unit of every time the
// scripts keep.
func micros(d time.Duration) int64 {
	return int64((d + time.Microsecond - 1) / time.Microsecond)
}
