package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/model"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// gatedModel emits its deltas one at a time, each only after the test
// sends on next, so a test can prove each event crossed the whole chain
// before the agent produced the following one.
type gatedModel struct {
	deltas []string
	next   chan struct{}

	mu   sync.Mutex
	reqs []model.Request
}

func (g *gatedModel) Name() string { return "gated" }

func (g *gatedModel) Stream(ctx context.Context, req model.Request, emit func(string) error) (model.Result, error) {
	g.mu.Lock()
	g.reqs = append(g.reqs, req)
	g.mu.Unlock()
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
	return model.Result{StopReason: "end_turn", Usage: model.Usage{InputTokens: 7, OutputTokens: len(g.deltas), TotalTokens: 7 + len(g.deltas)}}, nil
}

func (g *gatedModel) requests() []model.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]model.Request(nil), g.reqs...)
}

// tap records the bytes the agent server writes, response by response.
type tap struct {
	mu     sync.Mutex
	bodies []*bytes.Buffer
}

func (tp *tap) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := &bytes.Buffer{}
		tp.mu.Lock()
		tp.bodies = append(tp.bodies, buf)
		tp.mu.Unlock()
		next.ServeHTTP(&teeWriter{ResponseWriter: w, tp: tp, buf: buf}, r)
	})
}

func (tp *tap) last() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Clone(tp.bodies[len(tp.bodies)-1].Bytes())
}

type teeWriter struct {
	http.ResponseWriter
	tp  *tap
	buf *bytes.Buffer
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.tp.mu.Lock()
	t.buf.Write(p)
	t.tp.mu.Unlock()
	return t.ResponseWriter.Write(p)
}

func (t *teeWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// startLocal runs the whole chain on 127.0.0.1:0 for one test.
func startLocal(t *testing.T, opts LocalOptions) *Local {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts.Listen = "127.0.0.1:0"
	l, err := StartLocal(ctx, config.Default(), opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := l.Wait(); err != nil {
			t.Errorf("servers stopped with %v", err)
		}
	})
	return l
}

// stream reads a response body in the background so a test can wait,
// with a bound, for text to arrive.
type stream struct {
	t      *testing.T
	chunks chan []byte
	got    []byte
	done   bool
}

func newStream(t *testing.T, body io.Reader) *stream {
	s := &stream{t: t, chunks: make(chan []byte, 64)}
	go func() {
		defer close(s.chunks)
		for {
			buf := make([]byte, 4096)
			n, err := body.Read(buf)
			if n > 0 {
				s.chunks <- buf[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// waitFor reads until the body holds want after offset from, failing the
// test if it does not arrive within a few seconds.
func (s *stream) waitFor(want string, from int) int {
	s.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		if i := bytes.Index(s.got[from:], []byte(want)); i >= 0 {
			return from + i + len(want)
		}
		if s.done {
			s.t.Fatalf("stream ended without %q; got %q", want, s.got)
		}
		select {
		case c, ok := <-s.chunks:
			if !ok {
				s.done = true
				continue
			}
			s.got = append(s.got, c...)
		case <-timeout:
			s.t.Fatalf("%q did not reach the client in time (the chain buffers?); got so far %q", want, s.got)
		}
	}
}

func (s *stream) rest() []byte {
	for c := range s.chunks {
		s.got = append(s.got, c...)
	}
	s.done = true
	return s.got
}

func post(t *testing.T, url, body string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestRelayStreamsEventByEvent(t *testing.T) {
	for _, mode := range []string{"original", "transformed"} {
		t.Run(mode+" mode delivers each event before the agent emits the next", func(t *testing.T) {
			gm := &gatedModel{deltas: []string{"Hello", ", ", "world", "!"}, next: make(chan struct{})}
			tp := &tap{}
			l := startLocal(t, LocalOptions{Provider: gm, WrapAgent: tp.wrap})

			resp := post(t, l.URL+"/", `{"prompt":"hi","response":"`+mode+`"}`)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			sid := resp.Header.Get("X-Agentgate-Session-Id")
			if len(sid) < 33 {
				t.Fatalf("session header %q is not a runtime session id", sid)
			}
			s := newStream(t, resp.Body)
			at := 0
			if mode == "original" {
				at = s.waitFor(`"messageStart"`, at)
			}
			for _, d := range gm.deltas {
				gm.next <- struct{}{}
				at = s.waitFor(d, at)
			}
			body := s.rest()
			assertNoLeak(t, l, resp, body)
			switch mode {
			case "original":
				if agent := tp.last(); !bytes.Equal(withoutIDs(body), agent) {
					t.Fatalf("original mode adds more than id lines to the agent's stream\nagent:  %q\nclient: %q", agent, body)
				}
			case "transformed":
				got := regexp.MustCompile(`"latencyMs":\d+`).ReplaceAll(body, []byte(`"latencyMs":0`))
				got = bytes.ReplaceAll(got, []byte(sid), []byte("SESSION-ID"))
				golden(t, "transformed.golden", got)
			}
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s\ngot:  %q\nwant: %q", path, got, want)
	}
}

func TestSessionContinuesAcrossCalls(t *testing.T) {
	gm := &gatedModel{deltas: []string{"first answer"}, next: make(chan struct{}, 10)}
	l := startLocal(t, LocalOptions{Provider: gm})
	gm.next <- struct{}{}
	gm.next <- struct{}{}

	first := post(t, l.URL+"/", `{"prompt":"my name is Ada","response":"transformed"}`)
	body, _ := io.ReadAll(first.Body)
	sid := first.Header.Get("X-Agentgate-Session-Id")
	lastLine := body[bytes.LastIndexByte(body, '\n')+1:]
	var tail struct {
		RuntimeSessionID string `json:"runtimeSessionId"`
	}
	if err := json.Unmarshal(lastLine, &tail); err != nil || tail.RuntimeSessionID != sid {
		t.Fatalf("last line %q does not carry the session id %q from the header", lastLine, sid)
	}

	second := post(t, l.URL+"/", `{"prompt":"what is my name?","response":"transformed","runtimeSessionId":"`+sid+`"}`)
	if _, err := io.ReadAll(second.Body); err != nil {
		t.Fatal(err)
	}
	if got := second.Header.Get("X-Agentgate-Session-Id"); got != sid {
		t.Fatalf("second call answered session %q, want %q", got, sid)
	}
	reqs := gm.requests()
	if len(reqs) != 2 {
		t.Fatalf("the model saw %d calls, want 2", len(reqs))
	}
	want := []model.Message{{Role: model.RoleUser, Text: "my name is Ada"}, {Role: model.RoleAssistant, Text: "first answer"}, {Role: model.RoleUser, Text: "what is my name?"}}
	if got := reqs[1].Messages; !equalMessages(got, want) {
		t.Fatalf("the second call saw %+v, want the first turn too: %+v", got, want)
	}
}

func equalMessages(a, b []model.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBuiltinModelRemembersTheConversation(t *testing.T) {
	l := startLocal(t, LocalOptions{})
	first := post(t, l.URL+"/", `{"prompt":"my name is Ada","response":"transformed"}`)
	a, _ := io.ReadAll(first.Body)
	sid := first.Header.Get("X-Agentgate-Session-Id")
	second := post(t, l.URL+"/", `{"prompt":"and who am I?","response":"transformed","runtimeSessionId":"`+sid+`"}`)
	b, _ := io.ReadAll(second.Body)
	if !bytes.Contains(b, []byte("my name is Ada")) {
		t.Fatalf("the second answer does not recall the first prompt:\nfirst:  %s\nsecond: %s", a, b)
	}
	fresh := post(t, l.URL+"/", `{"prompt":"and who am I?","response":"transformed"}`)
	c, _ := io.ReadAll(fresh.Body)
	if bytes.Contains(c, []byte("my name is Ada")) {
		t.Fatalf("a new session recalls another session's prompt: %s", c)
	}
}

// gatewayIDs matches the id lines the gateway adds to each block of an
// event stream, a durable turn's positions.
var gatewayIDs = regexp.MustCompile(`(?m)^id: \d+\n`)

// withoutIDs returns an event stream without the gateway's id lines.
func withoutIDs(b []byte) []byte { return gatewayIDs.ReplaceAll(b, nil) }

// notDurable returns the default configuration with durable turns off.
func notDurable() config.Config {
	cfg := config.Default()
	off := false
	cfg.Stream.Durable = &off
	return cfg
}
