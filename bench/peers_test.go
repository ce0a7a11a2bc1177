package main

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// TestPeersRelayEachEventAsItComes checks the peers' configuration: a
// relay that buffered would make the peer table compare the gateway with
// something that is not a streaming proxy.
func TestPeersRelayEachEventAsItComes(t *testing.T) {
	clk := clock{base: time.Now()}
	agent := httptest.NewServer(&agent{clock: clk})
	t.Cleanup(agent.Close)
	client := newGatewayClient(4)
	t.Cleanup(client.CloseIdleConnections)
	dir := t.TempDir()
	_ = os.Chmod(dir, 0o755)

	start := map[string]func(t *testing.T) (*relay, error){
		relayHTTPUtil: func(*testing.T) (*relay, error) {
			root, err := moduleRoot()
			if err != nil {
				return nil, err
			}
			bin, err := buildRevProxy(context.Background(), root, dir)
			if err != nil {
				return nil, err
			}
			return startRevProxy(bin, agent.URL, client)
		},
		relayNginx: func(t *testing.T) (*relay, error) {
			bin := findNginx()
			if bin == "" {
				if os.Getenv("AGENTGATE_REQUIRE_ALL") == "1" {
					t.Fatal("nginx is not installed")
				}
				t.Skip("nginx is not installed")
			}
			return startNginx(bin, dir, agent.URL, client)
		},
	}
	for _, name := range []string{relayHTTPUtil, relayNginx} {
		t.Run(name+" passes the first event on before the agent sends the next", func(t *testing.T) {
			r, err := start[name](t)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(r.stop)
			const pace = 300 * time.Millisecond
			var session string
			body, err := r.path.open(context.Background(), streamSpec{Events: 2, Size: 64, Pace: pace}, &session)
			if err != nil {
				t.Fatal(err)
			}
			defer body.Close()
			buf := make([]byte, 4096)
			var sc scanner
			var stamps []int64
			for len(stamps) == 0 {
				n, err := body.Read(buf)
				sc.scan(buf[:n], func(ts int64) { stamps = append(stamps, ts) })
				if err != nil {
					t.Fatalf("read: %v", err)
				}
			}
			got := clk.now()
			rest, err := io.ReadAll(body)
			sc.scan(rest, func(ts int64) { stamps = append(stamps, ts) })
			if err != nil || len(stamps) != 2 {
				t.Fatalf("the stream carried %d events (%v), want 2", len(stamps), err)
			}
			// Causal, not timed: the client held the first event before the
			// agent stamped the second, however loaded the machine.
			if got >= stamps[1] {
				t.Fatalf("the first event came %s after the agent sent it, after the second was sent: the relay held it",
					time.Duration(got-stamps[0]))
			}
			if cpu, err := r.cpu(); err != nil || cpu < 0 {
				t.Errorf("the relay's CPU time reads %v, %v", cpu, err)
			}
			if r.peakRSS() <= 0 {
				t.Error("the relay's peak RSS reads 0")
			}
		})
	}
}
