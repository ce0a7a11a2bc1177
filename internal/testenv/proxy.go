package testenv

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// CuttingProxy relays TCP connections on loopback to a server and, once
// armed, cuts the connection that next carries a request containing Match
// after After bytes of the response: a network drop in the middle of an
// answer, as a phone changing networks sees it.
type CuttingProxy struct {
	// Match is what the request to cut contains, such as "POST /agents/".
	Match []byte
	// After is how many bytes of the response, headers included, pass
	// before the cut.
	After int
	// Armed cuts the next matching request; it disarms itself.
	Armed atomic.Bool
	// Cuts counts the connections cut.
	Cuts atomic.Int64

	ln     net.Listener
	target string
	wg     sync.WaitGroup
}

// StartCuttingProxy relays to target (host:port) until the test ends.
func StartCuttingProxy(t testing.TB, target, match string, after int) *CuttingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &CuttingProxy{Match: []byte(match), After: after, ln: ln, target: target}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.relay(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// URL is the proxy's base URL.
func (p *CuttingProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *CuttingProxy) relay(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	var cut atomic.Bool // this connection carries the request to cut
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if bytes.Contains(buf[:n], p.Match) && p.Armed.CompareAndSwap(true, false) {
					cut.Store(true)
				}
				if _, werr := server.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				server.Close()
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	sent := 0 // of the response to cut
	for {
		n, err := server.Read(buf)
		if n > 0 {
			if cut.Load() {
				if sent+n >= p.After {
					client.Write(buf[:p.After-sent])
					p.Cuts.Add(1)
					return // closes both sides mid-answer
				}
				sent += n
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
