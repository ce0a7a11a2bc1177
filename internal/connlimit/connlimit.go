// Package connlimit caps the connections a listener hands to an HTTP
// server: in total, and per peer address. A connection past a cap is
// answered with a fixed 503 and closed at once, before the server spends a
// goroutine, a buffer or a header read on it, so that a flood of idle or
// trickling connections cannot exhaust the process's file descriptors and
// take health checks down with it.
package connlimit

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Options are a Listener's caps.
type Options struct {
	// Max caps open connections in total. It must be positive.
	Max int
	// PerIP caps open connections from one peer address; 0 is no cap.
	PerIP int
	// Exempt peers (trusted proxies, which carry many clients on their
	// connections) count against Max only.
	Exempt []netip.Prefix
	// OnRefuse, when set, is told of each refused connection and which cap
	// refused it ("total" or "per_ip").
	OnRefuse func(peer netip.Addr, cap string)
}

// Listener wraps a net.Listener with the caps of Options.
type Listener struct {
	net.Listener
	opts Options

	mu    sync.Mutex
	open  int
	perIP map[netip.Addr]int

	// refusing bounds the refusals in progress; past it a connection is
	// closed without an answer.
	refusing chan struct{}
}

// New returns ln with the caps of opts.
func New(ln net.Listener, opts Options) *Listener {
	if opts.Max < 1 {
		opts.Max = 1
	}
	return &Listener{Listener: ln, opts: opts, perIP: map[netip.Addr]int{}, refusing: make(chan struct{}, maxRefusing)}
}

// Open reports how many connections are open.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Accept returns the next connection within the caps. Connections past a
// cap are refused here and never returned.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer := peerAddr(c.RemoteAddr())
		if refused := l.take(peer); refused != "" {
			l.refuse(c)
			if l.opts.OnRefuse != nil {
				l.opts.OnRefuse(peer, refused)
			}
			continue
		}
		return &conn{Conn: c, l: l, peer: peer}, nil
	}
}

// take counts a new connection from peer, or names the cap it would break.
func (l *Listener) take(peer netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.opts.Max {
		return "total"
	}
	capped := l.opts.PerIP > 0 && !slices.ContainsFunc(l.opts.Exempt, func(p netip.Prefix) bool { return p.Contains(peer) })
	if capped && l.perIP[peer] >= l.opts.PerIP {
		return "per_ip"
	}
	l.open++
	l.perIP[peer]++
	return ""
}

func (l *Listener) release(peer netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if n := l.perIP[peer] - 1; n > 0 {
		l.perIP[peer] = n
	} else {
		delete(l.perIP, peer)
	}
}

type conn struct {
	net.Conn
	l    *Listener
	peer netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.peer) })
	return err
}

func peerAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

const refusalBody = `{"error":{"code":"too_many_connections","message":"the gateway has too many open connections; retry later","requestId":"`

// maxRefusing bounds the refusals in flight, and refusalLinger how long
// each waits for the client's request before it closes.
const (
	maxRefusing    = 64
	refusalLinger  = 50 * time.Millisecond
	refusalReadCap = 16 << 10
)

// refuse answers c with a 503 in the gateway's error shape and closes it,
// on a goroutine of its own so that Accept goes on at once. It reads what
// the client has sent by then (a kernel resets a connection closed with
// unread input, and the reset can overtake the answer), but never more than
// refusalReadCap bytes or for longer than refusalLinger. When too many
// refusals are in flight, c is closed without a word.
func (l *Listener) refuse(c net.Conn) {
	select {
	case l.refusing <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		body := refusalBody + id + "\"}}\n"
		msg := "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n" +
			"Retry-After: 1\r\nX-Request-Id: " + id + "\r\nConnection: close\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body
		deadline := time.Now().Add(refusalLinger)
		_ = c.SetDeadline(deadline)
		_, _ = c.Write([]byte(msg))
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_, _ = io.CopyN(io.Discard, c, refusalReadCap)
		_ = c.Close()
	}()
}
