package chatcli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/chatcli"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/stack"
	"github.com/agentgate/agentgate/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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

func waitFor(t *testing.T, out *syncBuffer, re string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for len(regexp.MustCompile(re).FindAllStringIndex(out.String(), -1)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %d× %q in the output:\n%s", n, re, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startStack(t *testing.T, cfg config.Config, opts stack.LocalOptions) *stack.Local {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts.Listen = "127.0.0.1:0"
	l, err := stack.StartLocal(ctx, cfg, opts)
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

// chat runs the client with a typed stdin until the test ends.
type chat struct {
	typing         *io.PipeWriter
	stdout, stderr *syncBuffer
	interrupt      chan struct{}
	done           chan error
}

func startChat(t *testing.T, o chatcli.Options) *chat {
	in, typing := io.Pipe()
	c := &chat{typing: typing, stdout: &syncBuffer{}, stderr: &syncBuffer{}, interrupt: make(chan struct{}), done: make(chan error, 1)}
	o.Stdin, o.Stdout, o.Stderr = in, c.stdout, c.stderr
	o.Interrupts = func() <-chan struct{} { return c.interrupt }
	go func() { c.done <- chatcli.Run(context.Background(), o) }()
	t.Cleanup(func() { typing.Close() })
	return c
}

// write types s, failing the test if the chat ended instead of reading it.
func (c *chat) write(t *testing.T, s string) {
	t.Helper()
	wrote := make(chan struct{})
	go func() { io.WriteString(c.typing, s); close(wrote) }()
	select {
	case <-wrote:
	case err := <-c.done:
		c.done <- err
		t.Fatalf("the chat ended with %v before reading %q; stdout:\n%s\nstderr:\n%s", err, s, c.stdout.String(), c.stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("the chat did not read %q", s)
	}
}

func (c *chat) end(t *testing.T) error {
	t.Helper()
	c.typing.Close()
	select {
	case err := <-c.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the chat did not end when its input did")
		return nil
	}
}

const answered = `\[(\d+ in / \d+ out tokens|no usage reported) · first text [^]]+ total\]`

func TestInterruptStopsTheAnswerNotTheChat(t *testing.T) {
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 150 * time.Millisecond // about 2 s per answer
	reports := make(chan agentcorelocal.InvocationReport, 4)
	l := startStack(t, cfg, stack.LocalOptions{OnInvocation: func(r agentcorelocal.InvocationReport) { reports <- r }})
	c := startChat(t, chatcli.Options{URL: l.URL})

	waitFor(t, c.stdout, `(?m)^> $`, 1)
	c.write(t, "Tell me a long story\n")
	waitFor(t, c.stdout, `This is agentgate's`, 1)
	c.interrupt <- struct{}{}
	waitFor(t, c.stdout, `\[stopped after [^]]+\]\n> `, 1)
	if strings.Contains(c.stdout.String(), "This is turn 1") {
		t.Fatalf("the whole answer was printed before the interrupt took effect:\n%s", c.stdout.String())
	}
	select {
	case r := <-reports:
		if !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("the emulator reports %v, want the upstream call cancelled", r.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the emulator reported no end of the stopped invocation")
	}

	t.Run("an interrupt at the prompt does not end the chat", func(t *testing.T) {
		c.interrupt <- struct{}{}
		waitFor(t, c.stdout, `\(Ctrl-D or /quit leaves\)`, 1)
	})
	t.Run("the next prompt is answered in full", func(t *testing.T) {
		c.write(t, "Short one\n")
		waitFor(t, c.stdout, answered, 1)
	})
	if err := c.end(t); err != nil {
		t.Fatalf("chat ended with %v", err)
	}
}

func TestPasswordSignInAtThePrompt(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.txt")
	hash, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, []byte("ada:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = time.Millisecond
	cfg.Auth.Passwords.UsersFile = users
	cfg.Auth.Passwords.TokenKey = strings.Repeat("t", 32)
	var mu sync.Mutex
	var userIDs []string
	l := startStack(t, cfg, stack.LocalOptions{OnInvocation: func(r agentcorelocal.InvocationReport) {
		mu.Lock()
		userIDs = append(userIDs, r.UserID)
		mu.Unlock()
	}})

	t.Run("user and password typed at the prompts", func(t *testing.T) {
		var secretPrompts []string
		c := startChat(t, chatcli.Options{URL: l.URL, ReadSecret: func(prompt string) (string, error) {
			secretPrompts = append(secretPrompts, prompt)
			return "correct horse battery", nil
		}})
		c.write(t, "ada\n")
		waitFor(t, c.stdout, `(?m)^> $`, 1)
		c.write(t, "hi\n/new\nhi again\n")
		waitFor(t, c.stdout, answered, 2)
		if err := c.end(t); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(c.stderr.String(), "User: ") || len(secretPrompts) != 1 || secretPrompts[0] != "Password: " {
			t.Fatalf("prompts: stderr %q, secret prompts %q; want User: then a hidden Password:", c.stderr.String(), secretPrompts)
		}
		// /new started over: the second prompt is turn 1 of a new session.
		if n := strings.Count(c.stdout.String(), "This is turn 1 of our conversation"); n != 2 {
			t.Fatalf("%d first turns, want 2 after /new:\n%s", n, c.stdout.String())
		}
	})
	t.Run("user and password from the options", func(t *testing.T) {
		c := startChat(t, chatcli.Options{URL: l.URL, User: "ada", Password: "correct horse battery"})
		c.write(t, "hello\n")
		waitFor(t, c.stdout, answered, 1)
		if err := c.end(t); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a wrong password is refused and named", func(t *testing.T) {
		var out syncBuffer
		err := chatcli.Run(context.Background(), chatcli.Options{URL: l.URL, User: "ada", Password: "wrong", Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out})
		if err == nil || !strings.Contains(err.Error(), "sign-in failed") || !strings.Contains(err.Error(), "invalid_credentials") {
			t.Fatalf("err = %v, want a sign-in failure naming invalid_credentials", err)
		}
	})
	t.Run("an agent the caller may not use is refused with the list", func(t *testing.T) {
		var out syncBuffer
		err := chatcli.Run(context.Background(), chatcli.Options{URL: l.URL, Agent: "other", User: "ada", Password: "correct horse battery", Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out})
		if err == nil || !strings.Contains(err.Error(), `--agent "other" is not available; the agents you may use: demo`) {
			t.Fatalf("err = %v", err)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	for _, id := range userIDs {
		if id != "user:ada" {
			t.Fatalf("the emulator saw runtime user ids %q, want only user:ada", userIDs)
		}
	}
}

func TestErrorsArePrintedAndTheChatGoesOn(t *testing.T) {
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = time.Millisecond
	// Two answers, then one an hour.
	cfg.Limits.Rate.Principal = config.Rate{Requests: 1, Per: time.Hour, Burst: 2}
	l := startStack(t, cfg, stack.LocalOptions{})
	c := startChat(t, chatcli.Options{URL: l.URL})

	if err := l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{DropAfter: 3, Times: 1}); err != nil {
		t.Fatal(err)
	}
	c.write(t, "This one breaks\n")
	waitFor(t, c.stdout, `This is agentgate's .*\n\[error: the agent's stream ended unexpectedly \(upstream_stream_broken, request [0-9a-f]+\)\]\n> `, 1)

	c.write(t, "This one works\n")
	waitFor(t, c.stdout, answered, 1)

	c.write(t, "This one is refused\n")
	waitFor(t, c.stderr, `error: too many requests; retry later; retry in \S+ \(rate_limited, request [0-9a-f]+\)\n`, 1)
	waitFor(t, c.stdout, `> `, 4) // the prompt is back
	if err := c.end(t); err != nil {
		t.Fatalf("chat ended with %v, want it to go on after errors", err)
	}
	t.Logf("stderr: %s", c.stderr.String())
	if out := c.stdout.String() + c.stderr.String(); strings.Contains(out, l.AccountID) {
		t.Fatalf("the output names the account id:\n%s", out)
	}
}

// fakeGateway answers GET /agents with one agent, and each invocation
// with answer's lines, in one write, then holds the stream open until the
// client goes (or the test ends). It counts the invocations.
type fakeGateway struct {
	url         string
	answer      []string
	invocations atomic.Int32
}

func startFakeGateway(t *testing.T, answer ...string) *fakeGateway {
	g := &fakeGateway{answer: answer}
	ended := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agents", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"agents":[{"name":"demo","default":true}]}`)
	})
	mux.HandleFunc("POST /agents/demo/invocations", func(w http.ResponseWriter, r *http.Request) {
		g.invocations.Add(1)
		w.Header().Set("Content-Type", "application/x-ndjson")
		var b strings.Builder
		for _, text := range g.answer {
			line, _ := json.Marshal(map[string]string{"type": "text", "text": text})
			b.Write(append(line, '\n'))
		}
		io.WriteString(w, b.String())
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-ended:
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(ended) })
	g.url = srv.URL
	return g
}

// heldWriter passes writes through to out, but for the first that holds
// hold: that one waits, once it has been written, until release closes.
type heldWriter struct {
	out      *syncBuffer
	hold     string
	held     chan struct{} // closed once the write is held
	release  chan struct{}
	holdOnce sync.Once
}

func (h *heldWriter) Write(p []byte) (int, error) {
	n, err := h.out.Write(p)
	if strings.Contains(string(p), h.hold) {
		h.holdOnce.Do(func() {
			close(h.held)
			<-h.release
		})
	}
	return n, err
}

// TestNoWordFollowsAnInterrupt: text already received when the user
// presses Ctrl-C is not printed after it. The terminal is slow to take the
// first word; meanwhile the rest of the answer has arrived.
func TestNoWordFollowsAnInterrupt(t *testing.T) {
	g := startFakeGateway(t, "first ", "second ", "third ")
	out := &syncBuffer{}
	hw := &heldWriter{out: out, hold: "first", held: make(chan struct{}), release: make(chan struct{})}
	in, typing := io.Pipe()
	t.Cleanup(func() { typing.Close() })
	interrupt := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- chatcli.Run(context.Background(), chatcli.Options{URL: g.url, Stdin: in, Stdout: hw, Stderr: out,
			Interrupts: func() <-chan struct{} { return interrupt }})
	}()
	waitFor(t, out, `(?m)^> $`, 1)
	go io.WriteString(typing, "Tell me three words\n")
	select {
	case <-hw.held:
	case <-time.After(10 * time.Second):
		t.Fatalf("the answer's first word was not written:\n%s", out)
	}
	interrupt <- struct{}{}
	// The interrupt is taken; give it a moment to act before the terminal
	// takes the first word and the rest of the answer could follow.
	time.Sleep(100 * time.Millisecond)
	close(hw.release)
	waitFor(t, out, `\[stopped after [^]]+\]\n> `, 1)
	typing.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := out.String(); strings.Contains(got, "second") || strings.Contains(got, "third") {
		t.Fatalf("words were printed after the interrupt:\n%s", got)
	}
}

// TestHelpListsTheCommands: /help is the client's, not a prompt.
func TestHelpListsTheCommands(t *testing.T) {
	g := startFakeGateway(t, "hi")
	c := startChat(t, chatcli.Options{URL: g.url})
	waitFor(t, c.stdout, `/help lists the commands`, 1)
	c.write(t, "/help\n")
	waitFor(t, c.stdout, `(?s)Commands:\n  /new .*\n  /quit .*\n  /help .*\n> `, 1)
	if err := c.end(t); err != nil {
		t.Fatal(err)
	}
	if n := g.invocations.Load(); n != 0 {
		t.Fatalf("/help was sent to the agent (%d invocations)", n)
	}
}

// TestAnswersAreWrappedAtTheTerminalsWidth: words cut across deltas are
// never cut across lines, and no line is wider than the terminal.
func TestAnswersAreWrappedAtTheTerminalsWidth(t *testing.T) {
	const text = "Streaming answers arrive in deltas that cut words anywhere, and the terminal would break them wherever its right edge falls."
	var deltas []string
	for s := text; s != ""; {
		n := min(7, len(s))
		deltas, s = append(deltas, s[:n]), s[n:]
	}
	g := startFakeGateway(t, deltas...)
	c := startChat(t, chatcli.Options{URL: g.url, Width: func() int { return 30 }})
	waitFor(t, c.stdout, `(?m)^> $`, 1)
	c.write(t, "Say something long\n")
	waitFor(t, c.stdout, `edge`, 1)
	c.interrupt <- struct{}{}
	waitFor(t, c.stdout, `\[stopped after`, 1)
	if err := c.end(t); err != nil {
		t.Fatal(err)
	}
	got := c.stdout.String()
	_, got, _ = strings.Cut(got, "> ")
	got, _, _ = strings.Cut(got, "\n[stopped")
	for _, line := range strings.Split(got, "\n") {
		if len(line) > 30 {
			t.Errorf("the line %q is wider than the terminal's 30 columns", line)
		}
	}
	if joined := strings.Join(strings.Fields(got), " "); joined != text {
		t.Fatalf("the wrapped answer reads\n%s\nwant the words of\n%s", got, text)
	}
}

// TestADroppedAnswerResumes cuts the connection in the middle of an
// answer: the chat says it is reconnecting, asks for the rest and prints
// the whole answer, each word once.
func TestADroppedAnswerResumes(t *testing.T) {
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 10 * time.Millisecond
	l := startStack(t, cfg, stack.LocalOptions{})
	proxy := testenv.StartCuttingProxy(t, strings.TrimPrefix(l.URL, "http://"), "POST /agents/", 700)
	c := startChat(t, chatcli.Options{URL: proxy.URL(), Width: func() int { return 1000 }})
	waitFor(t, c.stdout, `(?m)^> $`, 1)
	proxy.Armed.Store(true)
	c.write(t, "Tell me a story\n")
	waitFor(t, c.stdout, answered, 1)
	if proxy.Cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d answers, want 1", proxy.Cuts.Load())
	}
	out := c.stdout.String()
	if !strings.Contains(out, "[reconnecting…]") {
		t.Fatalf("the chat did not say it was reconnecting:\n%s", out)
	}
	answer := strings.ReplaceAll(out[strings.Index(out, "This is agentgate's"):strings.LastIndex(out, "\n[")], "\n[reconnecting…]\n", "")
	for _, want := range []string{"This is agentgate's offline demo model", "how it began."} {
		if strings.Count(answer, want) != 1 {
			t.Fatalf("the answer holds %q %d times, want once:\n%s", want, strings.Count(answer, want), out)
		}
	}
	if strings.Contains(c.stderr.String(), "error") {
		t.Fatalf("the chat reported an error: %s", c.stderr.String())
	}
	if err := c.end(t); err != nil {
		t.Fatalf("chat ended with %v", err)
	}
}
