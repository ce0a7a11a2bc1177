package connlimit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve accepts on l until it is closed, holding every connection open
// until the test ends, and reports how many it accepted.
func serve(t *testing.T, opts Options) (addr string, l *Listener, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l = New(ln, opts)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		// Refusals finish on goroutines of their own, within their linger.
		time.Sleep(2 * refusalLinger)
	})
	return ln.Addr().String(), l, func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
}

// refused reports whether a connection to addr gets the 503 refusal.
func refused(t *testing.T, addr string) bool {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false // held open by the server: admitted
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Request-Id") == "" || !resp.Close {
		t.Fatalf("refusal: %d %v", resp.StatusCode, resp.Header)
	}
	return true
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPerAddressCap(t *testing.T) {
	var mu sync.Mutex
	var caps []string
	addr, l, accepted := serve(t, Options{Max: 100, PerIP: 2, OnRefuse: func(_ netip.Addr, cap string) {
		mu.Lock()
		caps = append(caps, cap)
		mu.Unlock()
	}})
	for range 2 {
		if refused(t, addr) {
			t.Fatal("a connection within the cap was refused")
		}
	}
	waitFor(t, "two connections", func() bool { return accepted() == 2 })
	if !refused(t, addr) {
		t.Fatal("a third connection from one address was admitted")
	}
	if l.Open() != 2 {
		t.Fatalf("%d open, want 2", l.Open())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(caps) != 1 || caps[0] != "per_ip" {
		t.Fatalf("refusals reported %q, want [per_ip]", caps)
	}
}

func TestExemptPeersCountOnlyInTotal(t *testing.T) {
	addr, _, accepted := serve(t, Options{Max: 3, PerIP: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	for range 3 {
		if refused(t, addr) {
			t.Fatal("an exempt peer was refused within the total")
		}
	}
	waitFor(t, "three connections", func() bool { return accepted() == 3 })
	if !refused(t, addr) {
		t.Fatal("a connection past the total was admitted")
	}
}

func TestClosingFreesTheSlot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, Options{Max: 1})
	defer l.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if l.Open() != 1 {
		t.Fatalf("%d open, want 1", l.Open())
	}
	c.Close()
	c.Close() // a second close must not free a second slot
	if l.Open() != 0 {
		t.Fatalf("%d open after close, want 0", l.Open())
	}
}
