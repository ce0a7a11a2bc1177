package limit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
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

var errRedisClosed = errors.New("redis closed the connection")

// newRedisPool returns the pool of connections to the server c locates.
// Its connections have no read timeout of their own: each call sets its
// deadline (do, eval), since a blocking read waits longer than the others.
// A connection taken from the pool is checked first: one the server
// closed while it was idle (a restart) is dropped without a round trip
// (peerClosed), and one idle more than redisPingIdle answers a PING.
func newRedisPool(c RedisConfig) *redis.Pool {
	dialer := &net.Dialer{Timeout: c.DialTimeout, KeepAlive: redisKeepAlive}
	opts := []redis.DialOption{
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
			var raw syscall.RawConn
			tcp := redis.DialContextFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
				nc, err := dialer.DialContext(ctx, network, addr)
				if sc, ok := nc.(syscall.Conn); ok {
					raw, _ = sc.SyscallConn()
				}
				return nc, err
			})
			conn, err := redis.DialContext(ctx, "tcp", c.Addr, append(opts[:len(opts):len(opts)], tcp)...)
			if err != nil {
				return nil, err
			}
			rc, ok := conn.(redisConn)
			if !ok {
				conn.Close()
				return nil, fmt.Errorf("redis connection %T takes no context", conn)
			}
			return &pooledConn{redisConn: rc, raw: raw}, nil
		},
		TestOnBorrowContext: func(ctx context.Context, conn redis.Conn, idle time.Time) error {
			if pc, ok := conn.(*pooledConn); ok && pc.raw != nil && peerClosed(pc.raw) {
				return errRedisClosed
			}
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

// redisConn is what a connection of redigo's own offers: the calls that
// take a context, which the store makes, and those that take a timeout.
type redisConn interface {
	redis.ConnWithContext
	redis.ConnWithTimeout
}

// pooledConn is a connection and the socket under it, which
// TestOnBorrowContext looks at.
type pooledConn struct {
	redisConn
	raw syscall.RawConn
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
