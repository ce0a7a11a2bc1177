package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agentgate/agentgate/internal/model"
	"github.com/agentgate/agentgate/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait in these tests: long enough for a loaded 2-core
// CI machine, short enough that a hang fails instead of timing out the run.
const wait = 5 * time.Second

// fakeClock moves only when told.
type fakeClock = testenv.Clock

func newClock() *fakeClock { return testenv.NewClockAt(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)) }

// script is one call of a scripted provider.
type script struct {
	deltas  []string
	result  model.Result
	err     error
	latency time.Duration // the clock moves this much during the call
}

// scripted plays its scripts in order, repeating the last, and records the
// requests it gets.
type scripted struct {
	clock *fakeClock

	mu       sync.Mutex
	scripts  []script
	requests []model.Request
}

func (p *scripted) Name() string { return "scripted" }

func (p *scripted) Stream(ctx context.Context, req model.Request, emit func(string) error) (model.Result, error) {
	p.mu.Lock()
	sc := p.scripts[min(len(p.requests), len(p.scripts)-1)]
	p.requests = append(p.requests, req)
	p.mu.Unlock()
	for _, d := range sc.deltas {
		if err := emit(d); err != nil {
			return model.Result{}, err
		}
	}
	if p.clock != nil {
		p.clock.Advance(sc.latency)
	}
	return sc.result, sc.err
}

func (p *scripted) calls() []model.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]model.Request(nil), p.requests...)
}

// echo replies "re: <prompt>" and records the requests it gets.
type echo struct {
	mu       sync.Mutex
	requests []model.Request
}

func (p *echo) Name() string { return "echo" }

func (p *echo) Stream(ctx context.Context, req model.Request, emit func(string) error) (model.Result, error) {
	p.mu.Lock()
	p.requests = append(p.requests, req)
	p.mu.Unlock()
	if err := emit("re: "); err != nil {
		return model.Result{}, err
	}
	if err := emit(req.Messages[len(req.Messages)-1].Text); err != nil {
		return model.Result{}, err
	}
	return model.Result{StopReason: "end_turn"}, nil
}

func (p *echo) last(t *testing.T) model.Request {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.requests) == 0 {
		t.Fatal("provider was never called")
	}
	return p.requests[len(p.requests)-1]
}

// gated emits its deltas one at a time, each only after the test sends on
// gate, so a test controls exactly when the model "produces" text. It
// reports on ended why its call ended (nil: it finished).
type gated struct {
	deltas  []string
	gate    chan struct{}
	started chan struct{}
	ended   chan error
	// halted ends every call, for a test that failed before opening them.
	halted   chan struct{}
	haltOnce sync.Once
}

func (p *gated) halt() { p.haltOnce.Do(func() { close(p.halted) }) }

func newGated(deltas ...string) *gated {
	return &gated{
		deltas:  deltas,
		gate:    make(chan struct{}),
		started: make(chan struct{}, 16),
		ended:   make(chan error, 16),
		halted:  make(chan struct{}),
	}
}

func (p *gated) Name() string { return "gated" }

func (p *gated) Stream(ctx context.Context, req model.Request, emit func(string) error) (model.Result, error) {
	p.started <- struct{}{}
	for _, d := range p.deltas {
		select {
		case <-p.gate:
		case <-ctx.Done():
			p.ended <- ctx.Err()
			return model.Result{}, ctx.Err()
		case <-p.halted:
			return model.Result{}, errors.New("gated: halted")
		}
		if err := emit(d); err != nil {
			p.ended <- err
			return model.Result{}, err
		}
	}
	p.ended <- nil
	return model.Result{StopReason: "end_turn"}, nil
}

// open lets the provider emit its next delta.
func (p *gated) open(t *testing.T) {
	t.Helper()
	select {
	case p.gate <- struct{}{}:
	case <-time.After(wait):
		t.Fatal("provider did not ask for its next delta")
	}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("no %s within %v", what, wait)
		panic("unreachable")
	}
}

// eventually polls cond until it holds, failing after wait. It waits for
// state the test cannot observe otherwise, never for time to pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		time.Sleep(time.Millisecond)
	}
}

// syncBuffer is a log sink the server writes and the test reads at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(b.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// fixture is an agent Server behind a real HTTP server on 127.0.0.1.
type fixture struct {
	agent *Server
	srv   *httptest.Server
	logs  *syncBuffer
}

func serve(t *testing.T, cfg Config) *fixture {
	t.Helper()
	logs := &syncBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	// Close waits for every handler; so that a failed test cannot hang
	// there, these run first and end whatever still streams.
	t.Cleanup(srv.CloseClientConnections)
	if g, ok := cfg.Provider.(*gated); ok {
		t.Cleanup(g.halt)
	}
	// A server that never starts its stream must fail the test, not hang it.
	srv.Client().Transport.(*http.Transport).ResponseHeaderTimeout = wait
	return &fixture{agent: a, srv: srv, logs: logs}
}

func promptBody(prompt string) string {
	b, _ := json.Marshal(map[string]string{"prompt": prompt})
	return string(b)
}

// post sends POST /invocations and returns the response, its body unread.
func (f *fixture) post(t *testing.T, ctx context.Context, session, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/invocations", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if session != "" {
		req.Header.Set(SessionHeader, session)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST /invocations: %v", err)
	}
	return resp
}

type response struct {
	resp *http.Response
	err  error
}

// postAsync sends POST /invocations from a goroutine of its own, for a call
// whose response headers wait on another call.
func (f *fixture) postAsync(ctx context.Context, session, body string) <-chan response {
	ch := make(chan response, 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/invocations", strings.NewReader(body))
	if err != nil {
		ch <- response{err: err}
		return ch
	}
	req.Header.Set(SessionHeader, session)
	go func() {
		resp, err := f.srv.Client().Do(req)
		ch <- response{resp, err}
	}()
	return ch
}

// invoke sends POST /invocations and reads the whole response.
func (f *fixture) invoke(t *testing.T, session, body string) (*http.Response, string) {
	t.Helper()
	resp := f.post(t, t.Context(), session, body)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

// events reads body's SSE events, each whole ("data: ...\n\n"), as they
// arrive. The channel closes at the end of the stream.
func events(t *testing.T, body io.ReadCloser) <-chan string {
	ch := make(chan string)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		br := bufio.NewReader(body)
		var ev strings.Builder
		for {
			line, err := br.ReadString('\n')
			ev.WriteString(line)
			if err != nil {
				return
			}
			if line == "\n" {
				select {
				case ch <- ev.String():
				case <-stop:
					return
				}
				ev.Reset()
			}
		}
	}()
	// Registered after the server's Close, so it runs first: closing the
	// body is what cancels a handler still streaming.
	t.Cleanup(func() {
		close(stop)
		body.Close()
		<-done
	})
	return ch
}

func next(t *testing.T, evs <-chan string) string {
	t.Helper()
	select {
	case ev, ok := <-evs:
		if !ok {
			t.Fatal("stream ended early")
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("no event within %v", wait)
		return ""
	}
}

func end(t *testing.T, evs <-chan string) {
	t.Helper()
	select {
	case ev, ok := <-evs:
		if ok {
			t.Fatalf("stream went on with %q", ev)
		}
	case <-time.After(wait):
		t.Fatalf("stream did not end within %v", wait)
	}
}
