package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/upstream"
)

// newServerWith serves a gateway with opts over the test defaults.
func newServerWith(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	issuer, err := session.NewIssuer(session.RandomKey())
	if err != nil {
		t.Fatal(err)
	}
	opts.Sessions, opts.Auth = issuer, auth.None{}
	if opts.DefaultAgent == "" {
		opts.DefaultAgent = "demo"
	}
	gw, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRequestIDFromATrustedProxyIsKept(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	tests := []struct {
		name    string
		trusted []netip.Prefix
		sent    string
		kept    bool
	}{
		{"a trusted proxy's id is kept", []netip.Prefix{loopback}, "edge-4f1c.2b:7=", true},
		{"an untrusted caller's id is replaced", nil, "edge-4f1c", false},
		{"a trusted proxy's id with unsafe characters is replaced", []netip.Prefix{loopback}, `id"<script>`, false},
		{"a trusted proxy's overlong id is replaced", []netip.Prefix{loopback}, strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServerWith(t, Options{Agents: map[string]upstream.Invoker{"demo": &pipeInvoker{}},
				Network: Network{TrustedProxies: tt.trusted}})
			resp, body := get(t, srv.URL+"/nowhere", "X-Request-Id", tt.sent)
			got := resp.Header.Get(RequestIDHeader)
			if (got == tt.sent) != tt.kept || got == "" {
				t.Fatalf("X-Request-Id %q for %q sent, want kept: %v", got, tt.sent, tt.kept)
			}
			if !strings.Contains(body, `"requestId":"`+got+`"`) {
				t.Fatalf("the error body does not carry the request id %q: %s", got, body)
			}
		})
	}
}

func TestCallersTraceContextTravelsUpstreamWithTracingOff(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name, sent, want string
	}{
		{"a valid traceparent passes unchanged", parent, parent},
		{"a malformed traceparent is not forwarded", "00-zz-00f067aa0ba902b7-01", ""},
		{"no traceparent sends none", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &pipeInvoker{calls: make(chan call, 1)}
			srv := newServerWith(t, Options{Agents: map[string]upstream.Invoker{"demo": inv}})
			done := make(chan struct{})
			go func() {
				defer close(done)
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{"prompt":"hi"}`))
				if tt.sent != "" {
					req.Header.Set("Traceparent", tt.sent)
				}
				if resp, err := http.DefaultClient.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
			c := <-inv.calls
			c.w.Close()
			<-done
			if c.req.TraceParent != tt.want {
				t.Fatalf("traceparent upstream %q, want %q", c.req.TraceParent, tt.want)
			}
		})
	}
}

// checker is an Invoker whose upstream check fails when err is set.
type checker struct {
	pipeInvoker
	err    atomic.Pointer[error]
	checks atomic.Int32
}

func (c *checker) Check(context.Context) error {
	c.checks.Add(1)
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

func TestReadyzChecksEveryUpstreamAndCachesTheVerdict(t *testing.T) {
	t.Run("ready when every upstream answers", func(t *testing.T) {
		a, b := &checker{}, &checker{}
		srv := newServerWith(t, Options{Agents: map[string]upstream.Invoker{"demo": a, "other": b}})
		for range 3 {
			if resp, body := get(t, srv.URL+"/readyz"); resp.StatusCode != 200 || body != "{\"status\":\"ready\"}\n" {
				t.Fatalf("readyz %d %s, want 200 ready", resp.StatusCode, body)
			}
		}
		if a.checks.Load() != 1 || b.checks.Load() != 1 {
			t.Fatalf("checks %d and %d for three probes, want 1 each (the verdict is cached)", a.checks.Load(), b.checks.Load())
		}
	})
	t.Run("not ready when one upstream fails, without saying which or why", func(t *testing.T) {
		a, b := &checker{}, &checker{}
		err := error(&upstream.Error{Kind: upstream.KindConnection, Err: errors.New("dial tcp bedrock-agentcore.us-east-1.amazonaws.com: refused")})
		b.err.Store(&err)
		srv := newServerWith(t, Options{Agents: map[string]upstream.Invoker{"demo": a, "other": b}})
		resp, body := get(t, srv.URL+"/readyz")
		if resp.StatusCode != 503 || !strings.Contains(body, `"code":"not_ready"`) || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("readyz %d %s, want 503 not_ready with Retry-After", resp.StatusCode, body)
		}
		if strings.Contains(body, "amazonaws") || strings.Contains(body, "other") {
			t.Fatalf("readyz names the upstream: %s", body)
		}
	})
	t.Run("probes pass the origin lock and address rules; liveness needs no upstream", func(t *testing.T) {
		srv := newServerWith(t, Options{Agents: map[string]upstream.Invoker{"demo": &checker{}},
			OriginHeader: "X-Origin-Secret", OriginSecret: "0123456789abcdef",
			Network: Network{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
		for _, p := range []string{"/readyz", "/healthz"} {
			if resp, body := get(t, srv.URL+p); resp.StatusCode != 200 {
				t.Errorf("%s %d %s, want 200", p, resp.StatusCode, body)
			}
		}
		if resp, _ := get(t, srv.URL+"/agents"); resp.StatusCode != 403 {
			t.Errorf("GET /agents without the origin secret: %d, want 403", resp.StatusCode)
		}
	})
}

func TestMetricsRouteOnlyWhenConfigured(t *testing.T) {
	srv := newServerWith(t, Options{Agents: map[string]upstream.Invoker{"demo": &pipeInvoker{}}})
	if resp, _ := get(t, srv.URL+"/metrics"); resp.StatusCode != 404 {
		t.Fatalf("GET /metrics without a handler: %d, want 404", resp.StatusCode)
	}
	srv = newServerWith(t, Options{Agents: map[string]upstream.Invoker{"demo": &pipeInvoker{}},
		MetricsHandler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "agentgate_up 1\n") })})
	if resp, body := get(t, srv.URL+"/metrics"); resp.StatusCode != 200 || body != "agentgate_up 1\n" {
		t.Fatalf("GET /metrics: %d %q", resp.StatusCode, body)
	}
	resp, err := http.Post(srv.URL+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
		t.Fatalf("POST /metrics: %d Allow %q, want 405 GET", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// flushCounter is a ResponseWriter that counts its flushes and notes how
// many body bytes each one sent.
type flushCounter struct {
	*httptest.ResponseRecorder
	flushed []int
}

func (f *flushCounter) Flush() {
	f.flushed = append(f.flushed, f.Body.Len())
	f.ResponseRecorder.Flush()
}

func TestABurstOfEventsLeavesInOneFlushAndALoneEventAtOnce(t *testing.T) {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	issuer, _ := session.NewIssuer(session.RandomKey())
	gw, err := New(Options{Agents: map[string]upstream.Invoker{"demo": inv}, DefaultAgent: "demo", Sessions: issuer, Auth: auth.None{}})
	if err != nil {
		t.Fatal(err)
	}
	gw.headerHold = time.Hour // however slow the machine, the header waits for the burst
	w := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		gw.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"prompt":"hi","response":"original"}`)))
	}()
	c := <-inv.calls
	c.w.Write([]byte(strings.Repeat(textEvent, 3))) // one read brings three events
	c.w.Write([]byte(textEvent))                    // then one alone
	c.w.Close()
	<-done
	burst, lone := 3*len(textEvent), 4*len(textEvent)
	// The header goes with the burst, in one flush; then one for the lone
	// event.
	if len(w.flushed) < 2 || w.flushed[0] != burst || w.flushed[1] != lone {
		t.Fatalf("flushes after %v body bytes, want after %d (the header and the burst at once) and %d (the lone event)", w.flushed, burst, lone)
	}
}

// syncFlushes is a ResponseWriter whose flushes (from any goroutine) are
// counted with the body bytes each sent.
type syncFlushes struct {
	*httptest.ResponseRecorder
	mu      sync.Mutex
	flushed []int
}

func (f *syncFlushes) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushed = append(f.flushed, f.Body.Len())
	f.ResponseRecorder.Flush()
}

func (f *syncFlushes) seen() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.flushed)
}

// TestASilentAgentsStreamStillStartsAtOnce: while the agent says nothing,
// the header leaves alone after the hold, so the client knows its stream
// started; the first event then follows in a flush of its own.
func TestASilentAgentsStreamStillStartsAtOnce(t *testing.T) {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	issuer, _ := session.NewIssuer(session.RandomKey())
	gw, err := New(Options{Agents: map[string]upstream.Invoker{"demo": inv}, DefaultAgent: "demo", Sessions: issuer, Auth: auth.None{}})
	if err != nil {
		t.Fatal(err)
	}
	gw.headerHold = time.Millisecond
	w := &syncFlushes{ResponseRecorder: httptest.NewRecorder()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		gw.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"prompt":"hi","response":"original"}`)))
	}()
	c := <-inv.calls
	deadline := time.Now().Add(5 * time.Second)
	for len(w.seen()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := w.seen(); len(got) != 1 || got[0] != 0 {
		t.Fatalf("while the agent is silent: flushes after %v body bytes, want one after 0 (the header)", got)
	}
	c.w.Write([]byte(textEvent))
	c.w.Close()
	<-done
	if got := w.seen(); len(got) < 2 || got[1] != len(textEvent) {
		t.Fatalf("flushes after %v body bytes, want the header's, then the event's after %d", got, len(textEvent))
	}
}
