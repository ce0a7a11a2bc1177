package limit

import (
	"context"
	"time"

	"github.com/gomodule/redigo/redis"
)

// The pool of a Redis store's connections.
const (
	// redisMaxIdle bounds the connections kept open between calls. The
	// pool opens as many as there are calls at once: each reader waiting
	// at a log's end holds one, and a bound would make the limit checks
	// wait behind them.
	redisMaxIdle = 64
	// redisIdleTimeout closes a connection idle this long.
	redisIdleTimeout = 4 * time.Minute
	// redisPingIdle is how long a connection may be idle before it is
	// PINGed on its next use: a server that went away without closing it
	// (a failover, a network that dropped it) is found there, within the
	// call timeout, rather than by the call itself.
	redisPingIdle = time.Minute
	// redisKeepAlive is the TCP keep-alive period of each connection.
	redisKeepAlive = 5 * time.Minute
)

// newRedisPool returns the pool of connections to the server c locates.
// Its connections have no read timeout of their own: each call sets its
// deadline (do, eval), since a blocking read waits longer than the others.
// A connection idle more than redisPingIdle answers a PING before it is
// used again.
func newRedisPool(c RedisConfig) *redis.Pool {
	opts := []redis.DialOption{
		redis.DialConnectTimeout(c.DialTimeout),
		redis.DialKeepAlive(redisKeepAlive),
		redis.DialUsername(c.Username),
		redis.DialPassword(c.Password),
		redis.DialDatabase(c.DB),
		redis.DialTLSHandshakeTimeout(c.DialTimeout),
	}
	if c.TLS != nil {
		opts = append(opts, redis.DialUseTLS(true), redis.DialTLSConfig(c.TLS))
	}
	return &redis.Pool{
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
			defer cancel()
			return redis.DialContext(ctx, "tcp", c.Addr, opts...)
		},
		TestOnBorrowContext: func(ctx context.Context, conn redis.Conn, idle time.Time) error {
			if time.Since(idle) < redisPingIdle {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, c.Timeout)
			defer cancel()
			_, err := redis.DoContext(conn, ctx, "PING")
			return err
		},
		MaxIdle:     redisMaxIdle,
		IdleTimeout: redisIdleTimeout,
	}
}

// do sends one command on a pooled connection and waits for its reply at
// most wait, and no longer than ctx lives. A call that ends without its
// reply closes its connection.
func (r *Redis) do(ctx context.Context, wait time.Duration, cmd string, args ...any) (any, error) {
	conn, err := r.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return redis.DoContext(conn, ctx, cmd, args...)
}

// eval runs a script on a pooled connection within the store's timeout:
// EVALSHA, then EVAL when the server lacks the script.
func (r *Redis) eval(ctx context.Context, s *redis.Script, keysAndArgs ...any) (any, error) {
	conn, err := r.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return s.DoContext(ctx, conn, keysAndArgs...)
}

// conn takes a connection from the pool, or dials one.
func (r *Redis) conn(ctx context.Context) (redis.Conn, error) {
	if r.pool == nil {
		return nil, errNoServer
	}
	return r.pool.GetContext(ctx)
}
