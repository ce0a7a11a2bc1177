package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/limit/limittest"
	"github.com/agentgate/agentgate/internal/model"
	"github.com/agentgate/agentgate/internal/stack"
)

// gatedModel emits its deltas one at a time, each only after the test
// sends on next, so a test can prove each event crossed the whole chain
// before the agent produced the following one.
type gatedModel struct {
	deltas []string
	next   chan struct{}
	// ended hears how each call ended.
	ended chan error
}

func newGatedModel(buffered int, deltas ...string) *gatedModel {
	return &gatedModel{deltas: deltas, next: make(chan struct{}, buffered), ended: make(chan error, 100)}
}

func (g *gatedModel) Name() string { return "gated" }

func (g *gatedModel) Stream(ctx context.Context, _ model.Request, emit func(string) error) (res model.Result, err error) {
	defer func() {
		select {
		case g.ended <- err:
		default:
		}
	}()
	for _, d := range g.deltas {
		select {
		case <-g.next:
		case <-ctx.Done():
			return model.Result{}, ctx.Err()
		}
		if err := emit(d); err != nil {
			return model.Result{}, err
		}
	}
	return model.Result{StopReason: "end_turn", Usage: model.Usage{InputTokens: 3, OutputTokens: len(g.deltas), TotalTokens: 3 + len(g.deltas)}}, nil
}

// release lets n more deltas out.
func (g *gatedModel) release(n int) {
	for range n {
		g.next <- struct{}{}
	}
}

// startLambda runs the local agent and AgentCore emulator, and a gateway
// built from their configuration served by Server to a Runtime API stub.
func startLambda(t *testing.T, opts stack.LocalOptions) (*runtimeAPI, *stack.Local) {
	api, l, _ := startLambdaStoppable(t, opts)
	return api, l
}

// startLambdaStoppable is startLambda that also returns the stop signal:
// what SIGTERM is to the bootstrap process.
func startLambdaStoppable(t *testing.T, opts stack.LocalOptions) (*runtimeAPI, *stack.Local, context.CancelFunc) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	return startLambdaObserved(t, opts, log, stack.Telemetry{})
}

// startLambdaObserved is startLambdaStoppable with the gateway's log and
// telemetry given.
func startLambdaObserved(t *testing.T, opts stack.LocalOptions, log *slog.Logger, tel stack.Telemetry) (*runtimeAPI, *stack.Local, context.CancelFunc) {
	t.Helper()
	return startLambdaInstances(t, opts, log, tel, 1, nil)
}

// startLambdaInstances runs n instances of the function, each a gateway
// built from the local stack's configuration as edit changes it, taking
// invocations from one Runtime API stub: an invocation goes to whichever
// instance is free.
func startLambdaInstances(t *testing.T, opts stack.LocalOptions, log *slog.Logger, tel stack.Telemetry, n int, edit func(*config.Config)) (*runtimeAPI, *stack.Local, context.CancelFunc) {
	t.Helper()
	api := newRuntimeAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	opts.Listen = "127.0.0.1:0"
	cfg := config.Default()
	cfg.Retry.MaxAttempts = 1
	l, err := stack.StartLocal(ctx, cfg, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	lcfg := l.Config
	if edit != nil {
		edit(&lcfg)
	}
	Configure(&lcfg)
	served := make(chan error, n)
	for range n {
		gw, err := stack.NewGateway(ctx, lcfg, log, tel)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		srv := &Server{API: api.addr, Handler: gw, Abort: gw.Abort, Logger: log}
		go func() { served <- srv.Serve(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for range n {
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
		if err := l.Wait(); err != nil {
			t.Errorf("local servers: %v", err)
		}
	})
	return api, l, cancel
}

func invokeBody(mode string) string { return `{"prompt":"hi","response":"` + mode + `"}` }

func TestEachEventReachesTheRuntimeAPIAsProduced(t *testing.T) {
	for _, tt := range []struct {
		mode, contentType, first string
	}{
		{"original", "text/event-stream; charset=utf-8", `"messageStart"`},
		{"transformed", "text/plain; charset=utf-8", ""},
	} {
		t.Run(tt.mode+" mode: each event reaches the Runtime API before the agent produces the next", func(t *testing.T) {
			gm := newGatedModel(0, "Hello", ", ", "world", "!")
			api, _ := startLambda(t, stack.LocalOptions{Provider: gm})
			resp := api.invoke(functionURLEvent("POST", "/", invokeBody(tt.mode)), "")

			// The prelude goes out as soon as the agent answers, before any
			// delta: status and headers are in it.
			p, at := resp.prelude(t)
			if p.StatusCode != http.StatusOK || p.Headers["Content-Type"] != tt.contentType {
				t.Fatalf("prelude %+v, want 200 and Content-Type %q", p, tt.contentType)
			}
			if len(p.Headers["X-Agentgate-Session-Id"]) < 33 || p.Headers["Cache-Control"] != "no-store" || p.Headers["X-Request-Id"] == "" {
				t.Fatalf("the prelude lacks the gateway's headers: %v", p.Headers)
			}
			if tt.first != "" {
				at, _ = resp.waitFor(t, tt.first, at)
			}
			var lat []time.Duration
			for _, d := range gm.deltas {
				released := time.Now()
				gm.release(1)
				var arrived time.Time
				at, arrived = resp.waitFor(t, d, at)
				lat = append(lat, arrived.Sub(released))
			}
			body, trailer := resp.wait(t)
			t.Logf("release → Runtime API, per event: %v", lat)

			resp.mu.Lock()
			h, chunked := resp.header, resp.chunked
			resp.mu.Unlock()
			if h.Get("Lambda-Runtime-Function-Response-Mode") != "streaming" || h.Get("Content-Type") != contentType || !chunked {
				t.Fatalf("the response POST is not a chunked %s stream: chunked %v, headers %v", contentType, chunked, h)
			}
			if len(trailer.Get(trailerErrorType)) > 0 {
				t.Fatalf("a complete answer carries the error trailer %q", trailer.Get(trailerErrorType))
			}
			switch tt.mode {
			case "original":
				if !strings.HasPrefix(string(body), `data: {"event":{"messageStart"`) || !strings.Contains(string(body), `"metadata"`) {
					t.Fatalf("original body %q", body)
				}
			case "transformed":
				if !strings.HasPrefix(string(body), "Hello, world!\n----------\n") || !strings.Contains(string(body), `{"runtimeSessionId":"`+p.Headers["X-Agentgate-Session-Id"]+`"}`) {
					t.Fatalf("transformed body %q", body)
				}
			}
		})
	}
}

func TestAMidStreamFailureEndsWithTheErrorTrailers(t *testing.T) {
	gm := newGatedModel(100, "one ", "two ", "three ", "four ")
	api, l := startLambda(t, stack.LocalOptions{Provider: gm})
	for _, tt := range []struct{ mode, terminal string }{
		{"original", `"code":"upstream_stream_broken"`},
		{"transformed", "(upstream_stream_broken, request id "},
	} {
		t.Run("a stream cut after two events ends "+tt.mode+" with the terminal error and the trailers", func(t *testing.T) {
			if err := l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{DropAfter: 2}); err != nil {
				t.Fatal(err)
			}
			gm.release(len(gm.deltas))
			resp := api.invoke(functionURLEvent("POST", "/", invokeBody(tt.mode)), "")
			p, _ := resp.prelude(t)
			body, trailer := resp.wait(t)
			if p.StatusCode != http.StatusOK {
				t.Fatalf("prelude status %d", p.StatusCode)
			}
			if n := strings.Count(string(body), tt.terminal); n != 1 {
				t.Fatalf("%d terminal errors in %q, want one", n, body)
			}
			if got := trailer.Get(trailerErrorType); got != "upstream_stream_broken" {
				t.Fatalf("%s trailer %q, want upstream_stream_broken (trailers %v)", trailerErrorType, got, trailer)
			}
			raw, err := base64.StdEncoding.DecodeString(trailer.Get(trailerErrorBody))
			var e struct{ ErrorMessage, ErrorType string }
			if err != nil || json.Unmarshal(raw, &e) != nil || e.ErrorType != "upstream_stream_broken" || e.ErrorMessage == "" {
				t.Fatalf("%s %q is not base64 of the error's JSON", trailerErrorBody, trailer.Get(trailerErrorBody))
			}
			if strings.Contains(string(raw), l.AccountID) {
				t.Fatalf("the error trailer leaks the account id: %s", raw)
			}
		})
	}
	// Drain what the dropped streams did not take.
	for len(gm.next) > 0 {
		<-gm.next
	}
}

func TestABrokenResponseStreamCancelsTheUpstream(t *testing.T) {
	reports := make(chan agentcorelocal.InvocationReport, 8)
	gm := newGatedModel(10, "first ", "second")
	api, _ := startLambda(t, stack.LocalOptions{Provider: gm, OnInvocation: func(r agentcorelocal.InvocationReport) { reports <- r }})

	t.Run("the Runtime API closing the stream mid-answer cancels the AgentCore call at once", func(t *testing.T) {
		gm.release(1) // "second" stays held: the agent is thinking
		resp := api.invoke(functionURLEvent("POST", "/", invokeBody("transformed")), "first ")
		resp.wait(t)
		resp.mu.Lock()
		hungUp := resp.hungUp
		resp.mu.Unlock()
		if hungUp.IsZero() {
			t.Fatal("the stub did not hang up")
		}
		select {
		case r := <-reports:
			if !errors.Is(r.Err, context.Canceled) {
				t.Fatalf("the emulator reports Err %v, want context.Canceled", r.Err)
			}
			t.Logf("hang-up → upstream cancelled: %v", time.Since(hungUp))
		case <-time.After(3 * time.Second):
			t.Fatal("the upstream call was not cancelled within 3s of the hang-up")
		}
		select {
		case err := <-gm.ended:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("the agent's model call ended with %v, want context.Canceled", err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the agent's model call went on after the hang-up")
		}
	})

	t.Run("the function goes on serving the next invocation", func(t *testing.T) {
		gm.release(2)
		resp := api.invoke(functionURLEvent("POST", "/", invokeBody("transformed")), "")
		body, trailer := resp.wait(t)
		if !strings.HasPrefix(string(body), "first second\n----------\n") || trailer.Get(trailerErrorType) != "" {
			t.Fatalf("body %q, trailers %v", body, trailer)
		}
		if r := <-reports; r.Err != nil || r.Status != http.StatusOK {
			t.Fatalf("the emulator reports %+v", r)
		}
	})
}

func TestAStopSignalMidStreamEndsItWithATerminalError(t *testing.T) {
	gm := newGatedModel(10, "first ", "second")
	api, _, stop := startLambdaStoppable(t, stack.LocalOptions{Provider: gm})
	gm.release(1)
	resp := api.invoke(functionURLEvent("POST", "/", invokeBody("transformed")), "")
	resp.waitFor(t, "first ", 0)
	stop()
	body, trailer := resp.wait(t)
	if !strings.Contains(string(body), "(shutting_down, request id ") || trailer.Get(trailerErrorType) != "shutting_down" {
		t.Fatalf("body %q, trailers %v; want the shutting_down terminal error and trailer", body, trailer)
	}
}

// TestResponses checks the http-integration-response the adapter writes
// for handlers that do what the gateway never does in the stream tests.
func TestResponses(t *testing.T) {
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		wantStatus  int
		wantBody    string
		wantCookies []string
		wantTrailer string
	}{
		{"a handler that writes nothing still sends one body byte", func(w http.ResponseWriter, r *http.Request) {}, 200, "\n", nil, ""},
		{"a 204 sends no body", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, 204, "", nil, ""},
		{"cookies go in the prelude's cookies, not its headers", func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
			http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, "made")
		}, 201, "made", []string{"a=1", "b=2"}, ""},
		{"a panic ends the stream with the error trailers", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "partial")
			panic(http.ErrAbortHandler)
		}, 200, "partial", nil, "internal_error"},
		{"the request reads as net/http's server would give it", func(w http.ResponseWriter, r *http.Request) {
			c, _ := r.Cookie("agentgate_session")
			b, _ := io.ReadAll(r.Body)
			_, _ = io.WriteString(w, strings.Join([]string{r.Method, r.Host, r.RequestURI, r.RemoteAddr, r.Header.Get("Accept-Encoding"), c.Value, string(b)}, "|"))
		}, 200, "POST|abcdefghijklmnop.lambda-url.us-east-1.on.aws|/agents/x?a=1|203.0.113.7:0||tok|{}", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newRuntimeAPI(t)
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- (&Server{API: api.addr, Handler: tt.handler}).Serve(ctx) }()
			defer func() { cancel(); <-served }()

			var ev map[string]any
			_ = json.Unmarshal(functionURLEvent("POST", "/agents/x", "{}"), &ev)
			ev["rawQueryString"] = "a=1"
			ev["cookies"] = []string{"agentgate_session=tok", "other=1"}
			b, _ := json.Marshal(ev)
			resp := api.invoke(b, "")
			p, _ := resp.prelude(t)
			body, trailer := resp.wait(t)
			if p.StatusCode != tt.wantStatus || string(body) != tt.wantBody || !slices.Equal(p.Cookies, tt.wantCookies) {
				t.Fatalf("got %d %q cookies %q, want %d %q cookies %q", p.StatusCode, body, p.Cookies, tt.wantStatus, tt.wantBody, tt.wantCookies)
			}
			if _, ok := p.Headers["Set-Cookie"]; ok {
				t.Fatalf("Set-Cookie in the prelude's headers: %v", p.Headers)
			}
			if got := trailer.Get(trailerErrorType); got != tt.wantTrailer {
				t.Fatalf("error trailer %q, want %q", got, tt.wantTrailer)
			}
		})
	}
}

func TestAnEventThatIsNotAFunctionURLRequestIsAnInvocationError(t *testing.T) {
	api := newRuntimeAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- (&Server{API: api.addr, Handler: http.NotFoundHandler()}).Serve(ctx)
	}()
	defer func() { cancel(); <-served }()
	resp := api.invoke([]byte(`{"key1":"value1"}`), "")
	resp.wait(t)
	resp.mu.Lock()
	defer resp.mu.Unlock()
	if !strings.HasSuffix(resp.path, "/error") || resp.header.Get(trailerErrorType) != "Runtime.InvalidEvent" || !strings.Contains(string(resp.errBody), "not a function URL request") {
		t.Fatalf("POST %s %v %s", resp.path, resp.header, resp.errBody)
	}
}

// chattyModel emits n numbered words as fast as the agent takes them, or
// pace apart, so the stream is in full flow when the viewer leaves.
type chattyModel struct {
	n    int
	pace time.Duration
}

func (chattyModel) Name() string { return "chatty" }

func (c chattyModel) Stream(ctx context.Context, _ model.Request, emit func(string) error) (model.Result, error) {
	for i := range c.n {
		if err := ctx.Err(); err != nil {
			return model.Result{}, err
		}
		time.Sleep(c.pace)
		if err := emit(fmt.Sprintf("word-%04d ", i)); err != nil {
			return model.Result{}, err
		}
	}
	return model.Result{StopReason: "end_turn", Usage: model.Usage{InputTokens: 1, OutputTokens: c.n, TotalTokens: 1 + c.n}}, nil
}

// TestAViewerWhoLeftIsReportedAsClientGone cuts response streams after
// about 300 bytes, as the Runtime API does when the viewer goes away, and
// reads the access lines and the EMF lines: each must say client_gone, as
// server mode does; never completed, and never an upstream error, which
// would also be counted as one.
func TestAViewerWhoLeftIsReportedAsClientGone(t *testing.T) {
	var logs, emf syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	tel, err := stack.NewTelemetry(context.Background(), config.Default(), stack.TelemetryOptions{EMF: &emf})
	if err != nil {
		t.Fatal(err)
	}
	api, _, _ := startLambdaObserved(t, stack.LocalOptions{Provider: chattyModel{n: 5000}}, log, tel)

	// The break races the gateway's writes: several streams per format
	// give each way it can fall a chance.
	const each = 5
	modes := []string{"original", "transformed", "ndjson"}
	for _, mode := range modes {
		for range each {
			resp := api.invoke(functionURLEvent("POST", "/", invokeBody(mode)), "word-0030 ")
			body, _ := resp.wait(t)
			resp.mu.Lock()
			hungUp := resp.hungUp
			resp.mu.Unlock()
			if hungUp.IsZero() || len(body) < 300 {
				t.Fatalf("%s: the stub did not hang up mid-answer (%d bytes)", mode, len(body))
			}
		}
	}

	n := each * len(modes)
	for _, tt := range []struct{ name, want string }{
		{"access", `"msg":"request"`},
		{"EMF", `"Requests"`},
	} {
		out := &logs
		if tt.name == "EMF" {
			out = &emf
		}
		lines := waitForLines(t, out, tt.want, n)
		outcomes := map[string]int{}
		for _, line := range lines {
			var got struct {
				Outcome string `json:"outcome"`
			}
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatalf("a %s line is not JSON: %v\n%s", tt.name, err, line)
			}
			outcomes[got.Outcome]++
		}
		if outcomes["client_gone"] != n {
			t.Errorf("the %s lines say outcomes %v, want client_gone for all %d", tt.name, outcomes, n)
		}
	}
	if strings.Contains(emf.String(), "UpstreamErrors") {
		t.Errorf("a viewer leaving was counted as an upstream error:\n%s", emf.String())
	}
}

// syncBuffer is a log destination a test reads while the gateway writes.
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

// waitForLines waits a few seconds at most for n lines of b holding
// want, and returns them.
func waitForLines(t *testing.T, b *syncBuffer, want string, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var lines []string
		for line := range strings.Lines(b.String()) {
			if strings.Contains(line, want) {
				lines = append(lines, line)
			}
		}
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines with %s, want %d:\n%s", len(lines), want, n, b.String())
		}
	}
}

// TestAViewerWhoLeftResumesOnAnotherInstance runs two instances of the
// function with turn logs in DynamoDB (dynalite): the Runtime API cuts the
// first answer at about 300 bytes, as when the viewer goes away; that
// instance keeps the turn running, writing its log, while the resume, a
// second invocation, lands on the other instance, which reads the log
// from DynamoDB and streams the rest as it is written.
func TestAViewerWhoLeftResumesOnAnotherInstance(t *testing.T) {
	endpoint, table := limittest.Table(t)
	const words = 150
	api, _, _ := startLambdaInstances(t, stack.LocalOptions{Provider: chattyModel{n: words, pace: 3 * time.Millisecond}},
		slog.New(slog.DiscardHandler), stack.Telemetry{}, 2, func(c *config.Config) {
			c.Limits.Store, c.Limits.DynamoDB.Table, c.Limits.DynamoDB.Endpoint = "dynamodb", table, endpoint
			c.Sessions.Key = strings.Repeat("k", 32)
		})

	first := api.invoke(functionURLEvent("POST", "/", invokeBody("transformed")), "word-0029 ")
	p, _ := first.prelude(t)
	part, _ := first.wait(t)
	first.mu.Lock()
	hungUp := first.hungUp
	first.mu.Unlock()
	if hungUp.IsZero() || len(part) < 300 || len(part) > 400 {
		t.Fatalf("the stub did not hang up at about 300 bytes: %d bytes", len(part))
	}
	sid := p.Headers["X-Agentgate-Session-Id"]
	second := api.invoke(functionURLEvent("GET", "/sessions/"+sid+"/stream?after="+strconv.Itoa(len(part)), ""), "")
	sp, _ := second.prelude(t)
	rest, _ := second.wait(t)
	if sp.StatusCode != http.StatusOK || sp.Headers["X-Agentgate-Resume-From"] != strconv.Itoa(len(part)) {
		t.Fatalf("the resume answered %d %v: %q", sp.StatusCode, sp.Headers, rest)
	}
	whole := string(part) + string(rest)
	for i := range words {
		if w := fmt.Sprintf("word-%04d ", i); strings.Count(whole, w) != 1 {
			t.Fatalf("%q appears %d times in the answer pieced together from %d + %d bytes:\n%s", w, strings.Count(whole, w), len(part), len(rest), whole)
		}
	}
	if !strings.HasSuffix(whole, `{"runtimeSessionId":"`+sid+`"}`) {
		t.Fatalf("the resumed answer does not end whole: %q", rest)
	}
	t.Logf("cut at %d bytes; the other instance resumed with the remaining %d", len(part), len(rest))
}
