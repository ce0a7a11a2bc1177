package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/model"
	"github.com/agentgate/agentgate/internal/testenv"
	"go.uber.org/goleak"
)

// parkedModel emits one delta, then waits for its caller to go away: a
// stream that stays open mid-way for as long as a test needs.
type parkedModel struct {
	// cancelled hears when each call saw its context end.
	cancelled chan time.Time
}

const parkedDelta = "first words"

func (*parkedModel) Name() string { return "parked" }

func (p *parkedModel) Stream(ctx context.Context, _ model.Request, emit func(string) error) (model.Result, error) {
	if err := emit(parkedDelta); err != nil {
		return model.Result{}, err
	}
	<-ctx.Done()
	p.cancelled <- time.Now()
	return model.Result{}, ctx.Err()
}

// TestClientDisconnectCancelsTheUpstream closes a client's connection in
// the middle of a stream and measures, on the emulator's report of the
// call, how soon the upstream call ended: the gateway must cancel it at
// once, not let the agent talk into the void.
// TestClientDisconnectCancelsTheUpstream holds with durable turns off;
// durable ones outlive their clients (durable_e2e_test.go).
func TestClientDisconnectCancelsTheUpstream(t *testing.T) {
	const (
		runs     = 5
		maxDelay = 100 * time.Millisecond
	)
	pm := &parkedModel{cancelled: make(chan time.Time, 1)}
	reports := make(chan agentcorelocal.InvocationReport, 1)
	l := startWithConfig(t, notDurable(), LocalOptions{Provider: pm, OnInvocation: func(r agentcorelocal.InvocationReport) { reports <- r }})
	addr := strings.TrimPrefix(l.URL, "http://")

	for _, mode := range []string{"original", "transformed"} {
		t.Run(fmt.Sprintf("a client of the %s format that hangs up mid-stream ends the upstream call within %v", mode, maxDelay), func(t *testing.T) {
			var worstCall, worstModel time.Duration
			for i := range runs {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				body := `{"prompt":"hold on","response":"` + mode + `"}`
				if _, err := io.WriteString(conn, requestHead("POST", "/", len(body))+body); err != nil {
					t.Fatal(err)
				}
				readUntil(t, conn, parkedDelta)
				closed := time.Now()
				conn.Close()

				var r agentcorelocal.InvocationReport
				select {
				case r = <-reports:
				case <-time.After(5 * time.Second):
					t.Fatalf("run %d: the upstream call never ended", i+1)
				}
				if !errors.Is(r.Err, context.Canceled) || r.Status != http.StatusOK {
					t.Fatalf("run %d: the emulator reports status %d and error %v, want a started stream ended by context.Canceled", i+1, r.Status, r.Err)
				}
				var modelEnded time.Time
				select {
				case modelEnded = <-pm.cancelled:
				case <-time.After(5 * time.Second):
					t.Fatalf("run %d: the model was never cancelled", i+1)
				}
				call, mdl := r.Ended.Sub(closed), modelEnded.Sub(closed)
				t.Logf("run %d: the upstream call ended %v and the model saw the cancel %v after the client hung up", i+1, call, mdl)
				worstCall, worstModel = max(worstCall, call), max(worstModel, mdl)
			}
			t.Logf("worst of %d: upstream call ended after %v, model cancelled after %v", runs, worstCall, worstModel)
			if worstCall > maxDelay {
				t.Fatalf("the upstream call outlived its client by %v, want at most %v", worstCall, maxDelay)
			}
		})
	}
}

// readUntil reads conn until want has arrived, failing the test if it does
// not within a few seconds.
func readUntil(t *testing.T, conn net.Conn, want string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte(want)) {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("%q never came: %v; got %q", want, err, got)
		}
	}
}

// chattyModel streams n short deltas, one per millisecond, so that streams
// overlap and a hang-up can fall anywhere in them. It counts its calls
// under way.
type chattyModel struct {
	n      int
	pace   time.Duration // between deltas; a millisecond when zero
	active atomic.Int64
}

func (*chattyModel) Name() string { return "chatty" }

func (c *chattyModel) Stream(ctx context.Context, _ model.Request, emit func(string) error) (model.Result, error) {
	c.active.Add(1)
	defer c.active.Add(-1)
	tick := time.NewTicker(max(c.pace, time.Millisecond))
	defer tick.Stop()
	for i := range c.n {
		select {
		case <-ctx.Done():
			return model.Result{}, ctx.Err()
		case <-tick.C:
		}
		if err := emit(fmt.Sprintf("word-%02d ", i)); err != nil {
			return model.Result{}, err
		}
	}
	return model.Result{StopReason: "end_turn", Usage: model.Usage{InputTokens: 1, OutputTokens: c.n}}, nil
}

// busyAgent counts the agent's requests under way.
type busyAgent struct{ active atomic.Int64 }

func (b *busyAgent) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.active.Add(1)
		defer b.active.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// logLines records every server's log lines, with the attributes the
// tests read.
type logLines struct {
	mu    sync.Mutex
	lines []logLine
}

type logLine struct {
	server, msg, outcome string
	status               int64
}

func (ll *logLines) handler() slog.Handler { return logHandler{ll: ll} }

// count returns how many lines server logged with msg, and how many of
// them report a 5xx status.
func (ll *logLines) count(server, msg string) (n, fiveXX int, outcomes map[string]int) {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	outcomes = map[string]int{}
	for _, l := range ll.lines {
		if l.server == server && l.msg == msg {
			n++
			outcomes[l.outcome]++
			if l.status >= 500 {
				fiveXX++
			}
		}
	}
	return n, fiveXX, outcomes
}

type logHandler struct {
	ll     *logLines
	server string
}

func (h logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h logHandler) Handle(_ context.Context, r slog.Record) error {
	line := logLine{server: h.server, msg: r.Message}
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "status":
			line.status = a.Value.Int64()
		case "outcome":
			line.outcome = a.Value.String()
		}
		return true
	})
	h.ll.mu.Lock()
	h.ll.lines = append(h.ll.lines, line)
	h.ll.mu.Unlock()
	return nil
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	for _, a := range attrs {
		if a.Key == "server" {
			h.server = a.Value.String()
		}
	}
	return h
}

func (h logHandler) WithGroup(string) slog.Handler { return h }

// hangUp is where a client hangs up.
type hangUp struct {
	// at is in the request's head, in its body, right after the
	// request, after that many bytes of the answer, or after all of it.
	at    string
	bytes int
}

// randomHangUp picks where a client hangs up: mostly in the answer, where
// the stream is under way, sometimes before the request is even whole.
func randomHangUp(rng *rand.Rand, head, body, answer int) hangUp {
	switch p := rng.IntN(100); {
	case p < 10:
		return hangUp{at: "head", bytes: rng.IntN(head)}
	case p < 20:
		return hangUp{at: "body", bytes: rng.IntN(body)}
	case p < 30:
		return hangUp{at: "request"}
	case p < 90:
		// A fraction, so the draws replay even if the answer's length
		// (its latency figures) varies by a byte.
		return hangUp{at: "answer", bytes: 1 + int(rng.Float64()*float64(answer))}
	}
	return hangUp{at: "end"}
}

// TestRandomDisconnectsLeaveNothingBehind runs 50 concurrent clients in
// each format, each hanging up at a random point (seeded, so a failure
// replays), and then requires the whole stack to settle: every request the
// gateway read has ended, no model call or agent request is left running,
// no hang-up is taken for a server failure, and stopping the stack leaves
// no goroutine behind.
func TestRandomDisconnectsLeaveNothingBehind(t *testing.T) {
	testenv.Slow(t)
	const (
		clients = 50
		seed    = 20260611
	)
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	chatty := &chattyModel{n: 40}
	agent := &busyAgent{}
	logs := &logLines{}
	reports := &reportLog{}
	cfg := config.Default()
	cfg.Timeouts.ShutdownGrace = 5 * time.Second
	l, err := StartLocal(ctx, cfg, LocalOptions{
		Listen: "127.0.0.1:0", Provider: chatty, WrapAgent: agent.wrap,
		OnInvocation: reports.add, Logger: slog.New(logs.handler()),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	stop := sync.OnceFunc(func() {
		cancel()
		go func() { stopped <- l.Wait() }()
	})
	t.Cleanup(func() {
		stop()
		select {
		case <-stopped:
		case <-time.After(cfg.Timeouts.ShutdownGrace + 10*time.Second):
			t.Error("the stack did not stop")
		}
	})
	addr := strings.TrimPrefix(l.URL, "http://")
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d", seed)

	requests := 0 // that the gateway reads whole enough to serve
	for _, mode := range []string{"original", "transformed"} {
		t.Run(fmt.Sprintf("%d %s clients hanging up at random points all get through", clients, mode), func(t *testing.T) {
			body := `{"prompt":"talk to me","response":"` + mode + `"}`
			head := requestHead("POST", "/", len(body), "Connection: close")
			full := fullAnswer(t, addr, head+body)
			requests++

			var wg sync.WaitGroup
			for range clients {
				h := randomHangUp(rng, len(head), len(body), full)
				if h.at != "head" {
					requests++
				}
				wg.Go(func() {
					if err := client(addr, head, body, h); err != nil {
						t.Errorf("a client hanging up at %+v: %v", h, err)
					}
				})
			}
			wg.Wait()
		})
	}

	t.Run("the stack settles: every request ends, upstream and down", func(t *testing.T) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, _, _ := logs.count("gateway", "request")
			if n == requests && chatty.active.Load() == 0 && agent.active.Load() == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 5 s the gateway has finished %d of %d requests; %d model calls and %d agent requests still run",
					n, requests, chatty.active.Load(), agent.active.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
		n, fiveXX, outcomes := logs.count("gateway", "request")
		t.Logf("gateway outcomes of %d requests: %v", n, outcomes)
		if fiveXX > 0 {
			t.Errorf("the gateway logged %d hang-ups as 5xx", fiveXX)
		}
		for _, r := range reports.all() {
			if r.Err != nil && !errors.Is(r.Err, context.Canceled) {
				t.Errorf("the emulator reports a call that failed with %v, not one its caller ended", r.Err)
			}
		}
	})

	t.Run("stopping the stack leaves no goroutine behind", func(t *testing.T) {
		began := time.Now()
		stop()
		select {
		case err := <-stopped:
			stopped <- err
			if err != nil {
				t.Fatalf("servers stopped with %v", err)
			}
		case <-time.After(config.Default().Timeouts.ShutdownGrace + 5*time.Second):
			t.Fatal("the stack did not stop")
		}
		// net/http's Shutdown gives a connection that never carried a
		// request 5 s before it counts as idle, and the upstream
		// transports leave such connections behind for the requests they
		// dialed for and that were cancelled: stopping takes that long.
		t.Logf("the stack stopped in %v", time.Since(began).Round(time.Millisecond))
		if err := goleak.Find(before); err != nil {
			t.Fatal(err)
		}
	})
}

// fullAnswer makes the request on a fresh connection and returns the
// length of the whole answer, head included.
func fullAnswer(t *testing.T, addr, request string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(conn)
	if err != nil || !bytes.HasPrefix(b, []byte("HTTP/1.1 200 ")) {
		t.Fatalf("answer %q, %v", b, err)
	}
	return len(b)
}

// client sends the request and hangs up where h says. Every wait is
// bounded: a client that cannot hang up where it wants to has found a
// server that stopped answering.
func client(addr, head, body string, h hangUp) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	request := head + body
	switch h.at {
	case "head":
		request = head[:h.bytes]
	case "body":
		request = head + body[:h.bytes]
	}
	if _, err := io.WriteString(conn, request); err != nil {
		return err
	}
	switch h.at {
	case "answer":
		_, err = io.CopyN(io.Discard, conn, int64(h.bytes))
	case "end":
		_, err = io.Copy(io.Discard, conn)
	}
	if isTimeout(err) {
		return err
	}
	return nil
}
