package limit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
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
// Keys, each under the prefix given to NewRedis, and each with an expiry, so
// that nothing a crashed instance wrote stays forever:
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
// A Redis is safe for concurrent use.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

var _ Store = (*Redis)(nil)

// releaseTimeout bounds the call that returns a slot. Release runs after the
// stream's context has ended, so it cannot use that context's deadline; and
// if it fails, the lease returns the slot anyway.
const releaseTimeout = 5 * time.Second

var errNoClient = errors.New("limit: redis client is nil")

// NewRedis returns a Redis store on client whose keys all start with prefix
// (e.g. "agentgate:"), so that one Redis may serve several deployments.
// Bound each call's latency with the client's own timeouts.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Close closes the store's client. A gateway rebuilt with other Redis
// settings closes the store it replaced once no request uses it.
func (r *Redis) Close() error {
	if r.client == nil {
		return nil
	}
	return r.client.Close()
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
var gcraScript = redis.NewScript(replicate + `
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
var acquireScript = redis.NewScript(replicate + `
local max = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= max then return 0 end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + lease), ARGV[3])
` + extend + `
return 1
`)

// refreshScript renews a held slot's lease. KEYS[1]: the pool; ARGV: lease
// µs, token. Returns 0 when the slot is gone: released, or expired while its
// holder could not reach Redis, in which case another may hold it by now and
// reviving it could exceed max.
var refreshScript = redis.NewScript(replicate + `
local lease = tonumber(ARGV[1])
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not score or tonumber(score) <= now then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', string.format('%.0f', now + lease), ARGV[2])
` + extend + `
return 1
`)

// spendScript adds to a counter. KEYS[1]: the counter; ARGV: n, ttl ms.
var spendScript = redis.NewScript(`
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
`)

// takeScript removes a value and returns it, as GETDEL does from Redis 6.2
// on. KEYS[1]: the value. Returns the value, or nil.
var takeScript = redis.NewScript(`
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
	if r.client == nil {
		return false, 0, errNoClient
	}
	interval := micros(g.interval)
	res, err := gcraScript.Run(ctx, r.client, []string{r.prefix + "gcra:" + key}, interval, interval*int64(burst)).Int64Slice()
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
	if r.client == nil {
		return nil, false, errNoClient
	}
	k, token := r.prefix+"slots:"+key, rand.Text()
	ok, err := acquireScript.Run(ctx, r.client, []string{k}, max, micros(lease), token).Bool()
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
		return refreshScript.Run(ctx, r.client, []string{k}, micros(lease), token).Bool()
	}, func(ctx context.Context) {
		_ = r.client.ZRem(ctx, k, token).Err()
	})
}

// Spend implements Store.
func (r *Redis) Spend(ctx context.Context, key string, n int64, ttl time.Duration) (int64, error) {
	if err := checkTTL(ttl); err != nil {
		return 0, err
	}
	if r.client == nil {
		return 0, errNoClient
	}
	ms := (ttl + time.Millisecond - 1) / time.Millisecond
	total, err := spendScript.Run(ctx, r.client, []string{r.prefix + "count:" + key}, n, int64(ms)).Int64()
	if err != nil {
		return 0, fmt.Errorf("limit: redis spend %q: %w", key, err)
	}
	return total, nil
}

// Spent implements Store.
func (r *Redis) Spent(ctx context.Context, key string) (int64, error) {
	if r.client == nil {
		return 0, errNoClient
	}
	n, err := r.client.Get(ctx, r.prefix+"count:"+key).Int64()
	if errors.Is(err, redis.Nil) {
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
	if r.client == nil {
		return errNoClient
	}
	if err := r.client.Set(ctx, r.prefix+"val:"+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("limit: redis put %q: %w", key, err)
	}
	return nil
}

// Take implements Store.
func (r *Redis) Take(ctx context.Context, key string) (string, bool, error) {
	if r.client == nil {
		return "", false, errNoClient
	}
	v, err := takeScript.Run(ctx, r.client, []string{r.prefix + "val:" + key}).Text()
	if errors.Is(err, redis.Nil) {
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
