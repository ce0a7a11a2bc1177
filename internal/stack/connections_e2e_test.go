package stack

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/testenv"
)

// openFDs counts the process's open file descriptors; -1 where /proc is
// not there.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// dialFrom connects to addr from the loopback address src, so that one
// test can be many clients: every 127.0.0.0/8 address is loopback.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// stalledRequest is a request whose head declares a 100-byte body, of
// which it sends 4 bytes and then nothing.
func stalledRequest(method, path string) string {
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: agentgate.test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"pr", method, path)
}

// heldAnswer reads the one answer on conn and reports its status, 0 when
// the server closed without one, and whether the server then closed.
func heldAnswer(conn net.Conn, within time.Duration) (status int, closed bool, err error) {
	_ = conn.SetReadDeadline(time.Now().Add(within))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		if isTimeout(err) {
			return 0, false, err
		}
		return 0, true, nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := br.ReadByte(); isTimeout(err) {
		return resp.StatusCode, false, nil
	}
	return resp.StatusCode, true, nil
}

// probeHealth times GET /healthz over fresh connections from 127.0.0.1.
func probeHealth(t *testing.T, url string, n int) []time.Duration {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var took []time.Duration
	for range n {
		start := time.Now()
		resp, err := client.Get(url + "/healthz")
		if err != nil {
			t.Fatalf("/healthz under the flood: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/healthz under the flood: status %d", resp.StatusCode)
		}
		took = append(took, time.Since(start))
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(took)
	return took
}

// waitForBaseline waits, within a bound, until goroutines and descriptors
// are back to what they were before a flood.
func waitForBaseline(t *testing.T, goroutines, fds int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		g, f := runtime.NumGoroutine(), openFDs()
		if g <= goroutines+5 && (fds < 0 || f <= fds+5) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the flood: %d goroutines (baseline %d), %d descriptors (baseline %d)", g, goroutines, f, fds)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStalledBodiesAreBounded is the hostile probe's connection flood:
// 2,000 connections each declare a 100-byte body, send 4 bytes and stop.
// Health checks keep answering while they are held, every one of them
// gets an answer when server.readTimeout runs out, and goroutines and file
// descriptors return to their baseline.
func TestStalledBodiesAreBounded(t *testing.T) {
	testenv.Slow(t)
	const (
		clients = 40
		perIP   = 50
	)
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Server.ReadHeaderTimeout = 2 * time.Second
	cfg.Server.ReadTimeout = 3 * time.Second
	cfg.Server.MaxConnectionsPerIP = 64
	cfg.Server.MaxConnections = 4096
	l := startWithConfig(t, cfg, LocalOptions{})
	addr := strings.TrimPrefix(l.URL, "http://")
	if c, err := dialFrom("127.0.0.2", addr); err != nil {
		t.Skipf("cannot connect from a second loopback address: %v", err)
	} else {
		c.Close()
	}
	probeHealth(t, l.URL, 1)
	baseG, baseFDs := runtime.NumGoroutine(), openFDs()

	conns := make([]net.Conn, 0, clients*perIP)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for i := range clients * perIP {
		src := fmt.Sprintf("127.0.0.%d", 2+i/perIP)
		c, err := dialFrom(src, addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, stalledRequest("POST", "/")); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	opened := time.Since(start)
	t.Logf("%d connections held, opened in %v", len(conns), opened.Round(time.Millisecond))

	took := probeHealth(t, l.URL, 20)
	t.Logf("/healthz under the flood: median %v, slowest %v", took[len(took)/2].Round(time.Microsecond), took[len(took)-1].Round(time.Microsecond))
	if took[len(took)/2] > 50*time.Millisecond {
		t.Fatalf("/healthz took a median %v under the flood, want within 50ms", took[len(took)/2])
	}

	// Every held connection gets its 408 once the body's time is up, and
	// is closed.
	var wg sync.WaitGroup
	statuses := make([]int, len(conns))
	errs := make([]error, len(conns))
	for i, c := range conns {
		wg.Go(func() {
			status, closed, err := heldAnswer(c, cfg.Server.ReadTimeout+5*time.Second+opened)
			if err == nil && !closed {
				err = fmt.Errorf("status %d and the connection left open", status)
			}
			statuses[i], errs[i] = status, err
		})
	}
	wg.Wait()
	for i := range conns {
		if errs[i] != nil {
			t.Fatalf("connection %d: %v", i, errs[i])
		}
		if statuses[i] != http.StatusRequestTimeout {
			t.Fatalf("connection %d: status %d, want 408", i, statuses[i])
		}
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	waitForBaseline(t, baseG, baseFDs, 10*time.Second)
}

// TestAnswersDoNotWaitForAnUnreadBody checks the routes that answer without
// reading the body (a refused credential, a health check) and the sign-in
// route: none waits for a declared body that never comes. Those that do not
// read it answer at once and close the connection.
func TestAnswersDoNotWaitForAnUnreadBody(t *testing.T) {
	testenv.Slow(t)
	_, hash, _ := auth.GenerateAPIKey()
	users := usersFile(t)
	cfg := config.Default()
	cfg.Server.ReadTimeout = 2 * time.Second
	cfg.Server.ReadHeaderTimeout = time.Second
	cfg.Auth.APIKeys = []config.APIKey{{Name: "ci", Hash: hash}}
	cfg.Auth.Passwords.UsersFile = users
	cfg.Auth.Passwords.TokenKey = strings.Repeat("k", 32)
	l := startWithConfig(t, cfg, LocalOptions{})
	addr := strings.TrimPrefix(l.URL, "http://")

	tests := []struct {
		name, method, path string
		status             int
		within             time.Duration
	}{
		{"an invocation without credentials is 401 at once", "POST", "/", 401, time.Second},
		{"a health check with a body is 200 at once", "GET", "/healthz", 200, time.Second},
		{"a sign-in whose body never comes is 408 when server.readTimeout runs out", "POST", "/auth/login", 408, cfg.Server.ReadTimeout + 2*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			if _, err := io.WriteString(c, stalledRequest(tt.method, tt.path)); err != nil {
				t.Fatal(err)
			}
			status, closed, err := heldAnswer(c, tt.within)
			if err != nil {
				t.Fatalf("no answer within %v: %v", tt.within, err)
			}
			if status != tt.status || !closed {
				t.Fatalf("status %d, closed %v after %v; want %d and a closed connection", status, closed, time.Since(start), tt.status)
			}
		})
	}
}

// TestConnectionCaps checks server.maxConnectionsPerIP: one address past
// its cap is refused at once with a JSON 503, and other clients, health
// checks among them, are served meanwhile.
func TestConnectionCaps(t *testing.T) {
	cfg := config.Default()
	cfg.Server.MaxConnectionsPerIP = 10
	l := startWithConfig(t, cfg, LocalOptions{})
	addr := strings.TrimPrefix(l.URL, "http://")
	if c, err := dialFrom("127.0.0.2", addr); err != nil {
		t.Skipf("cannot connect from a second loopback address: %v", err)
	} else {
		c.Close()
	}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 10 {
		c, err := dialFrom("127.0.0.2", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if _, err := io.WriteString(c, stalledRequest("POST", "/")); err != nil {
			t.Fatal(err)
		}
	}
	// The server counts a connection when it accepts it: give it the
	// moment to accept the ten before the eleventh comes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := dialFrom("127.0.0.2", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: agentgate.test\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			t.Fatalf("the connection past the cap got no answer: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if errorCode(t, body) != "too_many_connections" || resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("refusal %q with headers %v", body, resp.Header)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an eleventh connection from one address got %d, want 503", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	probeHealth(t, l.URL, 3)
}
