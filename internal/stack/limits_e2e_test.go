package stack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/testenv"
)

// startRedis runs a real redis-server on a free loopback port for one test.
func startRedis(t *testing.T) string {
	t.Helper()
	testenv.External(t, "redis-server")
	bin, ok := testenv.LookPath("redis-server", "/usr/sbin", "/usr/local/bin")
	if !ok {
		testenv.Missing(t, "redis-server", "apt-get install -y redis-server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("redis-server did not start")
	return ""
}

func keyConfig(t *testing.T, names ...string) (config.Config, map[string]string) {
	t.Helper()
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	keys := map[string]string{}
	for _, n := range names {
		key, hash, err := auth.GenerateAPIKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[n] = key
		cfg.Auth.APIKeys = append(cfg.Auth.APIKeys, config.APIKey{Name: n, Hash: hash})
	}
	return cfg, keys
}

func TestRateLimitRefusesRequestNPlusOneAndRecovers(t *testing.T) {
	cfg, keys := keyConfig(t, "alice", "bob")
	cfg.Limits.Rate.Principal = config.Rate{Requests: 2, Per: 600 * time.Millisecond, Burst: 2}
	l := startWithConfig(t, cfg, LocalOptions{})
	body := `{"prompt":"hi","response":"transformed"}`
	for i := range 2 {
		if resp, b := do(t, "POST", l.URL+"/", body, "X-Api-Key", keys["alice"]); resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d %s", i+1, resp.StatusCode, b)
		}
	}
	resp, b := do(t, "POST", l.URL+"/", body, "X-Api-Key", keys["alice"])
	if resp.StatusCode != 429 || errorCode(t, b) != "rate_limited" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("request 3: status %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if resp, b := do(t, "POST", l.URL+"/", body, "X-Api-Key", keys["bob"]); resp.StatusCode != 200 {
		t.Fatalf("another principal was limited too: %d %s", resp.StatusCode, b)
	}
	time.Sleep(350 * time.Millisecond) // one emission interval (300ms) and a margin: the point of the test
	if resp, b := do(t, "POST", l.URL+"/", body, "X-Api-Key", keys["alice"]); resp.StatusCode != 200 {
		t.Fatalf("after the interval: status %d %s", resp.StatusCode, b)
	}
}

func TestConcurrencyCapRefusesTheNextStream(t *testing.T) {
	gm := &gatedModel{deltas: []string{"a"}, next: make(chan struct{})}
	cfg := config.Default()
	cfg.Auth.None = true
	cfg.Limits.Concurrency.Principal = 1
	l := startWithConfig(t, cfg, LocalOptions{Provider: gm})
	first := post(t, l.URL+"/", `{"prompt":"hi","response":"transformed"}`)
	if first.StatusCode != 200 {
		t.Fatalf("first: %d", first.StatusCode)
	}
	resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi"}`)
	if resp.StatusCode != 429 || errorCode(t, b) != "too_many_streams" {
		t.Fatalf("second while the first streams: %d %s", resp.StatusCode, b)
	}
	gm.next <- struct{}{}
	newStream(t, first.Body).rest()
	go func() { gm.next <- struct{}{} }()
	if resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi","response":"transformed"}`); resp.StatusCode != 200 {
		t.Fatalf("after the first ended: %d %s", resp.StatusCode, b)
	}
}

func TestDailyTokenBudgetStopsAPrincipal(t *testing.T) {
	cfg, keys := keyConfig(t, "alice", "bob")
	cfg.Limits.DailyTokens = 100
	l := startWithConfig(t, cfg, LocalOptions{})
	body := `{"prompt":"hi","response":"transformed"}`
	spent := 0
	for spent < 100 {
		resp, b := do(t, "POST", l.URL+"/", body, "X-Api-Key", keys["alice"])
		if resp.StatusCode != 200 {
			t.Fatalf("refused after %d tokens, under the budget: %d %s", spent, resp.StatusCode, b)
		}
		var total int
		if _, err := fmt.Sscanf(string(b[strings.Index(string(b), `"totalTokens":`)+len(`"totalTokens":`):]), "%d", &total); err != nil || total == 0 {
			t.Fatalf("no usage in %q", b)
		}
		spent += total
	}
	resp, b := do(t, "POST", l.URL+"/", body, "X-Api-Key", keys["alice"])
	if resp.StatusCode != 429 || errorCode(t, b) != "budget_exhausted" {
		t.Fatalf("after %d tokens: %d %s", spent, resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", l.URL+"/", body, "X-Api-Key", keys["bob"]); resp.StatusCode != 200 {
		t.Fatalf("bob was stopped by alice's budget: %d %s", resp.StatusCode, b)
	}
}

func TestRedisStoreHoldsOneLimitAcrossTwoGateways(t *testing.T) {
	addr := startRedis(t)
	cfg, keys := keyConfig(t, "alice")
	l := startWithConfig(t, cfg, LocalOptions{})
	shared := func(c *config.Config) {
		c.Limits.Store = "redis"
		c.Limits.Redis.Addr = addr
		c.Limits.Rate.Principal = config.Rate{Requests: 3, Per: time.Hour, Burst: 3}
	}
	gateways := []string{gatewayWith(t, l, shared), gatewayWith(t, l, shared)}
	ok := 0
	for i := range 8 {
		resp, _ := do(t, "POST", gateways[i%2]+"/", `{"prompt":"hi","response":"transformed"}`, "X-Api-Key", keys["alice"])
		switch resp.StatusCode {
		case 200:
			ok++
		case 429:
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if ok != 3 {
		t.Fatalf("%d requests passed through two gateways sharing a limit of 3", ok)
	}
}

func TestTimeoutsEndTheStreamAndCancelUpstream(t *testing.T) {
	testenv.Slow(t)
	reports := make(chan agentcorelocal.InvocationReport, 16)
	cfg := config.Default()
	cfg.Auth.None = true
	cfg.Agent.Builtin.Delay = 0
	cfg.Retry.MaxAttempts = 1
	cfg.Timeouts.FirstByte = time.Second
	cfg.Timeouts.Idle = 300 * time.Millisecond
	cfg.Timeouts.Total = 1500 * time.Millisecond
	l := startWithConfig(t, cfg, LocalOptions{OnInvocation: func(r agentcorelocal.InvocationReport) { reports <- r }})

	t.Run("no answer before the first-byte timeout is 504", func(t *testing.T) {
		l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{DelayFirst: 5 * time.Second})
		defer l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{})
		resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi"}`)
		if resp.StatusCode != 504 || errorCode(t, b) != "upstream_timeout" {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
		if r := <-reports; r.Err == nil {
			t.Fatalf("the emulator's call ended without an error: %+v", r)
		}
	})
	for _, mode := range []string{"original", "transformed"} {
		t.Run("an agent silent past the idle timeout ends a "+mode+" stream with one terminal error", func(t *testing.T) {
			l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{DelayEach: 600 * time.Millisecond})
			resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi","response":"`+mode+`"}`)
			if resp.StatusCode != 200 || strings.Count(string(b), "upstream_timeout") != 1 {
				t.Fatalf("status %d body %q", resp.StatusCode, b)
			}
			if r := <-reports; r.Err == nil {
				t.Fatalf("the upstream call was not cancelled: %+v", r)
			}
		})
	}
	t.Run("a stream past the total timeout ends with stream_too_long", func(t *testing.T) {
		l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{DelayEach: 100 * time.Millisecond})
		resp, b := do(t, "POST", l.URL+"/", `{"prompt":"tell me a long story please","response":"transformed"}`)
		if resp.StatusCode != 200 || strings.Count(string(b), "stream_too_long") != 1 {
			t.Fatalf("status %d body %q", resp.StatusCode, b)
		}
		<-reports
	})
}

func TestShutdownEndsRunningStreamsWithATerminalError(t *testing.T) {
	gm := &gatedModel{deltas: []string{"first", "never"}, next: make(chan struct{}, 1)}
	cfg := config.Default()
	cfg.Auth.None = true
	cfg.Timeouts.ShutdownGrace = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := StartLocal(ctx, cfg, LocalOptions{Listen: "127.0.0.1:0", Provider: gm})
	if err != nil {
		t.Fatal(err)
	}
	resp := post(t, l.URL+"/", `{"prompt":"hi","response":"transformed"}`)
	s := newStream(t, resp.Body)
	gm.next <- struct{}{}
	s.waitFor("first", 0)
	cancel()
	body := string(s.rest())
	if !strings.HasSuffix(body, "\n") || strings.Count(body, "shutting_down") != 1 {
		t.Fatalf("a stream running at shutdown got %q, want one shutting_down terminal error", body)
	}
	if err := l.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestNetworkRulesAndCORS(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.None = true
	cfg.Agent.Builtin.Delay = 0
	cfg.Network = config.Network{
		TrustedProxies: []string{"127.0.0.1"},
		Allow:          []string{"203.0.113.0/24"},
		Deny:           []string{"203.0.113.66"},
		CORSOrigins:    []string{"https://app.example.com"},
	}
	l := startWithConfig(t, cfg, LocalOptions{})
	prompt := `{"prompt":"hi","response":"transformed"}`
	tests := []struct {
		name   string
		header []string
		status int
	}{
		{"a client in the allow list behind a trusted proxy passes", []string{"X-Forwarded-For", "203.0.113.7"}, 200},
		{"a client outside the allow list is refused", []string{"X-Forwarded-For", "198.51.100.1"}, 403},
		{"a denied client is refused though inside the allow list", []string{"X-Forwarded-For", "203.0.113.66"}, 403},
		{"the right-most untrusted hop counts, not what the client wrote", []string{"X-Forwarded-For", "203.0.113.7, 198.51.100.1"}, 403},
		{"CloudFront-Viewer-Address from a trusted proxy that is not CloudFront is not believed", []string{"CloudFront-Viewer-Address", "203.0.113.9:51234"}, 403},
		{"a client behind a trusted proxy cannot step around a deny list with CloudFront-Viewer-Address", []string{"X-Forwarded-For", "203.0.113.66", "CloudFront-Viewer-Address", "203.0.113.9:51234"}, 403},
		{"an unparseable right-most hop is an unknown client, not the proxy", []string{"X-Forwarded-For", "203.0.113.7, unknown"}, 403},
		{"a right-most hop with a port is read as its address", []string{"X-Forwarded-For", "203.0.113.66:5555"}, 403},
		{"a right-most hop with a port inside the allow list passes", []string{"X-Forwarded-For", "203.0.113.7:5555"}, 200},
		{"without forwarding headers the loopback peer is outside the allow list", nil, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := do(t, "POST", l.URL+"/", prompt, tt.header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status == 403 && errorCode(t, b) != "ip_forbidden" {
				t.Fatalf("body %s", b)
			}
		})
	}
	cf := cfg
	cf.Network.TrustedProxies = nil
	cf.Network.CloudFrontProxies = []string{"127.0.0.1"}
	lcf := startWithConfig(t, cf, LocalOptions{})
	for _, tt := range []struct {
		name   string
		header []string
		status int
	}{
		{"behind CloudFront, CloudFront-Viewer-Address names the client", []string{"CloudFront-Viewer-Address", "203.0.113.9:51234"}, 200},
		{"behind CloudFront, a denied viewer is refused", []string{"CloudFront-Viewer-Address", "203.0.113.66:443"}, 403},
		{"behind CloudFront, X-Forwarded-For is not believed", []string{"X-Forwarded-For", "203.0.113.7"}, 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := do(t, "POST", lcf.URL+"/", prompt, tt.header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
		})
	}
	t.Run("a preflight from a configured origin is answered", func(t *testing.T) {
		resp, _ := do(t, "OPTIONS", l.URL+"/", "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST", "X-Forwarded-For", "203.0.113.7")
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-Api-Key") {
			t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("a preflight from another origin is refused", func(t *testing.T) {
		resp, _ := do(t, "OPTIONS", l.URL+"/", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
		if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("a configured origin's request exposes the session header", func(t *testing.T) {
		resp, _ := do(t, "POST", l.URL+"/", prompt, "Origin", "https://app.example.com", "X-Forwarded-For", "203.0.113.7")
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Agentgate-Session-Id") {
			t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
		}
	})
}
