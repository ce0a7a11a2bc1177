package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/stack"
	"github.com/agentgate/agentgate/internal/testenv"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the README's screenshot, docs/chat.png")

// findChromium returns the browser to drive, or skips the test (fails it
// under AGENTGATE_REQUIRE_ALL=1, as in CI). -short skips it.
func findChromium(t *testing.T) string {
	t.Helper()
	testenv.External(t, "Chromium")
	for _, name := range []string{os.Getenv("AGENTGATE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "Chromium", "apt-get install -y chromium, or set AGENTGATE_CHROMIUM")
	return ""
}

// artifacts is where screenshots go: AGENTGATE_ARTIFACTS, else a new
// temporary directory that outlives the test, so its files can be looked at.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("AGENTGATE_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "agentgate-chat-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots go to %s", dir)
	return dir
}

// startStack runs the whole local chain (gateway, emulator, agent) with
// cfg on a free loopback port until the test ends.
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

// invocations records the emulator's reports, in order.
type invocations struct {
	mu      sync.Mutex
	reports []agentcorelocal.InvocationReport
}

func (i *invocations) add(r agentcorelocal.InvocationReport) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.reports = append(i.reports, r)
}

// wait returns the n-th report (from 1), waiting for it a bounded time.
func (i *invocations) wait(t *testing.T, n int) agentcorelocal.InvocationReport {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		i.mu.Lock()
		if len(i.reports) >= n {
			r := i.reports[n-1]
			i.mu.Unlock()
			return r
		}
		i.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("the emulator reported %d invocations, want %d", len(i.reports), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// answer is what the page shows of its latest answer.
type answer struct {
	Count int    `json:"count"` // answers on the page
	State string `json:"state"` // streaming, done, stopped, error
	Text  string `json:"text"`
	Meta  string `json:"meta"`
}

const latestAnswer = `(() => {
  const all = document.querySelectorAll("#log .msg.assistant");
  const m = all[all.length - 1];
  if (!m) return {count: 0, state: "", text: "", meta: ""};
  const meta = m.querySelector(".meta");
  return {count: all.length, state: m.dataset.state || "", text: m.querySelector(".body").textContent, meta: meta ? meta.textContent : ""};
})()`

// layout is where the page's parts are and what they show.
type layout struct {
	EmptyVisible       bool    `json:"emptyVisible"`       // the empty state, saying what to do
	EmptyText          string  `json:"emptyText"`          // its text
	AgentSelectVisible bool    `json:"agentSelectVisible"` // the agent picker
	AgentName          string  `json:"agentName"`          // the agent's name as a label, when shown
	DisabledControls   int     `json:"disabledControls"`   // greyed-out controls in the bar
	LoginVisible       bool    `json:"loginVisible"`
	LoginCenter        float64 `json:"loginCenter"` // the sign-in card's vertical centre
	Viewport           float64 `json:"viewport"`    // the viewport's height
}

const pageLayout = `(() => {
  const shown = (e) => !!e && e.offsetParent !== null;
  const login = document.getElementById("login"), box = login.getBoundingClientRect();
  const name = document.getElementById("agent-name");
  return {
    emptyVisible: shown(document.getElementById("empty")),
    emptyText: document.getElementById("empty").innerText,
    agentSelectVisible: shown(document.getElementById("agent")),
    agentName: shown(name) ? name.textContent : "",
    disabledControls: [...document.querySelectorAll(".bar select, .bar button")].filter(e => shown(e) && e.disabled).length,
    loginVisible: shown(login),
    loginCenter: (box.top + box.bottom) / 2,
    viewport: window.innerHeight,
  };
})()`

// checkOneAgentAndEmptyState checks what the page shows before the first
// message, signed in to one agent: the agent's name as a plain label (a
// select with one option would look disabled), and what to do.
func checkOneAgentAndEmptyState(t *testing.T, l layout) {
	t.Helper()
	if l.AgentSelectVisible || l.AgentName != stack.DemoAgent || l.DisabledControls != 0 {
		t.Errorf("with one agent, the bar shows a picker %v, the name %q and %d disabled controls; want the name %q as a label and nothing greyed out",
			l.AgentSelectVisible, l.AgentName, l.DisabledControls, stack.DemoAgent)
	}
	if !l.EmptyVisible || !strings.Contains(l.EmptyText, "Chat with "+stack.DemoAgent) || !strings.Contains(l.EmptyText, "press Enter") {
		t.Errorf("before the first message the page shows (visible %v) %q; want it to say what to do", l.EmptyVisible, l.EmptyText)
	}
}

// TestChatPageInChromium drives the page in headless Chromium against the
// whole local stack with ID/password sign-in: it signs in, watches an
// answer grow, continues the conversation, stops an answer and checks the
// agent's call was cancelled, shows hostile model output as text, fits a
// phone, follows the colour scheme, signs out and in again, and says when
// to retry after a 429.
func TestChatPageInChromium(t *testing.T) {
	chromium := findChromium(t)
	dir := artifacts(t)

	users := filepath.Join(t.TempDir(), "users.txt")
	hash, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, []byte("ada:"+hash+"\nbob:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	// About 14 deltas 80 ms apart, over a second: the answer visibly
	// grows, and Stop has time to act mid-answer.
	cfg.Agent.Builtin.Delay = 80 * time.Millisecond
	cfg.Auth.Passwords.UsersFile = users
	cfg.Auth.Passwords.TokenKey = strings.Repeat("k", 32)
	// Six answers per caller, then one an hour: ada's steps need five;
	// the last step spends bob's.
	cfg.Limits.Rate.Principal = config.Rate{Requests: 1, Per: time.Hour, Burst: 6}
	calls := &invocations{}
	l := startStack(t, cfg, stack.LocalOptions{OnInvocation: calls.add})
	if l.ChatURL == "" {
		t.Fatal("the local stack did not turn the chat page on")
	}

	ctx := startBrowser(t, chromium)
	var mu sync.Mutex
	var dialogs, exceptions []string
	go func() {
		for ev, err := range chromedp.Events(ctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			mu.Lock()
			dialogs = append(dialogs, ev.Message)
			mu.Unlock()
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	go func() {
		for ev, err := range chromedp.Events(ctx, runtime.ExceptionThrown) {
			if err != nil {
				return
			}
			mu.Lock()
			exceptions = append(exceptions, (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if len(dialogs) > 0 || len(exceptions) > 0 {
			t.Errorf("the page opened dialogs %q and threw %q", dialogs, exceptions)
		}
	})

	do := func(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("%v; the page reads:\n%s\n(exceptions: %q)", err, page, exceptions)
		}
	}
	eval := func(t *testing.T, js string) answer {
		t.Helper()
		a, err := chromedp.Run(ctx, chromedp.Evaluate[answer](js))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	shot := func(t *testing.T, name string) []byte {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		return png
	}
	// send types a prompt, sends it and waits for its answer to appear.
	send := func(t *testing.T, prompt string) {
		t.Helper()
		before := eval(t, latestAnswer).Count
		do(t, chromedp.SendKeys(chromedp.ID("prompt"), prompt), chromedp.Click(chromedp.ID("send")))
		deadline := time.Now().Add(10 * time.Second)
		for eval(t, latestAnswer).Count != before+1 {
			if time.Now().After(deadline) {
				t.Fatal("no answer appeared after sending")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// watch polls the latest answer until it leaves the streaming state,
	// and returns it with the distinct lengths it was seen at meanwhile.
	// onGrow runs at each new length.
	watch := func(t *testing.T, onGrow func(a answer)) (answer, []int) {
		t.Helper()
		var lengths []int
		deadline := time.Now().Add(20 * time.Second)
		for {
			a := eval(t, latestAnswer)
			if a.State != "streaming" {
				return a, lengths
			}
			if n := len(a.Text); n > 0 && (len(lengths) == 0 || n != lengths[len(lengths)-1]) {
				if len(lengths) > 0 && n < lengths[len(lengths)-1] {
					t.Fatalf("the answer shrank from %d to %d characters", lengths[len(lengths)-1], n)
				}
				lengths = append(lengths, n)
				if onGrow != nil {
					onGrow(a)
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the answer is still streaming after 20 s: %+v", a)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// Each step needs the ones before it: stop at the first that fails.
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("the page asks to sign in, then offers the agents", func(t *testing.T) {
		do(t, chromedp.Navigate(l.ChatURL), chromedp.WaitVisible(chromedp.ID("login-user")))
		shot(t, "1-sign-in.png")
		at, err := chromedp.Run(ctx, chromedp.Evaluate[layout](pageLayout))
		if err != nil {
			t.Fatal(err)
		}
		if off := at.LoginCenter - at.Viewport/2; !at.LoginVisible || off > at.Viewport/10 || off < -at.Viewport/10 {
			t.Errorf("the sign-in card's centre is %.0f px from the middle of a %.0f px viewport; want it in the middle", off, at.Viewport)
		}
		do(t,
			chromedp.SendKeys(chromedp.ID("login-user"), "ada"),
			chromedp.SendKeys(chromedp.ID("login-pass"), "correct horse battery"),
			chromedp.Click(chromedp.ID("login-submit")),
			chromedp.WaitVisible(chromedp.ID("prompt")),
			chromedp.WaitEnabled(chromedp.ID("send")),
		)
		agent, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("agent")))
		if err != nil || agent != stack.DemoAgent {
			t.Fatalf("the agent picker holds %q (%v), want %q", agent, err, stack.DemoAgent)
		}
		at, err = chromedp.Run(ctx, chromedp.Evaluate[layout](pageLayout))
		if err != nil {
			t.Fatal(err)
		}
		checkOneAgentAndEmptyState(t, at)
		shot(t, "1-signed-in.png")
		cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{l.URL}})
		if err == nil {
			t.Logf("cookies Chromium kept for %s after sign-in: %d (the page sends the token as a bearer either way)", l.URL, len(cookies.Cookies))
		}
	})

	var sessionID string
	step("an answer grows in visible steps, then shows usage and latency", func(t *testing.T) {
		send(t, "Hello from the browser")
		a, lengths := watch(t, nil)
		if a.State != "done" || len(lengths) < 3 {
			t.Fatalf("the answer ended %q after %d visible lengths %v, want done after at least 3", a.State, len(lengths), lengths)
		}
		if !strings.Contains(a.Text, "You wrote “Hello from the browser”") || !strings.Contains(a.Text, "This is turn 1 of our conversation") {
			t.Fatalf("the answer reads %q", a.Text)
		}
		if !strings.Contains(a.Meta, " in / ") || !strings.Contains(a.Meta, "first text") || !strings.Contains(a.Meta, "total") {
			t.Fatalf("the answer's footer reads %q, want usage and latency", a.Meta)
		}
		t.Logf("the answer grew through %d visible lengths: %v; footer %q", len(lengths), lengths, a.Meta)
		sessionID = calls.wait(t, 1).SessionID
	})

	step("a follow-up continues the same session", func(t *testing.T) {
		send(t, "And a follow-up")
		var mid []byte
		a, _ := watch(t, func(a answer) {
			if mid == nil && len(a.Text) > 60 {
				mid = shot(t, "2-mid-answer.png")
			}
		})
		if a.State != "done" || !strings.Contains(a.Text, "This is turn 2 of our conversation, which you opened with “Hello from the browser”.") {
			t.Fatalf("the follow-up ended %q reading %q", a.State, a.Text)
		}
		if r := calls.wait(t, 2); r.SessionID != sessionID || r.UserID != "user:ada" {
			t.Fatalf("the follow-up ran in session %q as %q, want %q as user:ada", r.SessionID, r.UserID, sessionID)
		}
		if mid == nil {
			t.Fatal("no mid-answer screenshot was taken")
		}
		if *updateScreenshot {
			if err := os.WriteFile("../../docs/chat.png", mid, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Log("wrote docs/chat.png")
		}
	})

	step("Stop ends the answer mid-way and the agent's call is cancelled", func(t *testing.T) {
		send(t, "Please write a long answer")
		deadline := time.Now().Add(10 * time.Second)
		for a := eval(t, latestAnswer); len(a.Text) == 0; a = eval(t, latestAnswer) {
			if a.State != "streaming" || time.Now().After(deadline) {
				t.Fatalf("no text arrived before the answer ended: %+v", a)
			}
			time.Sleep(5 * time.Millisecond)
		}
		do(t, chromedp.Click(chromedp.ID("stop")))
		a, _ := watch(t, nil)
		shot(t, "3-stopped.png")
		if a.State != "stopped" || strings.Contains(a.Text, "This is turn 3") || !strings.HasPrefix(a.Meta, "Stopped") {
			t.Fatalf("after Stop the answer is %q, reads %q, footer %q; want stopped before its end", a.State, a.Text, a.Meta)
		}
		r := calls.wait(t, 3)
		if !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("the emulator reports the stopped invocation ended with %v (status %d), want context.Canceled", r.Err, r.Status)
		}
		if took := r.Ended.Sub(r.Started); took > 2*time.Second {
			t.Fatalf("the stopped invocation ran %s, longer than the whole answer would", took)
		}
	})

	step("model output with markup shows as text", func(t *testing.T) {
		do(t, chromedp.Click(chromedp.ID("new")))
		if at, err := chromedp.Run(ctx, chromedp.Evaluate[layout](pageLayout)); err != nil || !at.EmptyVisible {
			t.Fatalf("after New chat the page does not say what to do (%v): %+v", err, at)
		}
		hostile := `<img src=x onerror=alert(1)> **bold** [x](javascript:alert(1))`
		send(t, hostile)
		a, _ := watch(t, nil)
		shot(t, "4-markup-as-text.png")
		if a.State != "done" || !strings.Contains(a.Text, "<img src=x onerror=alert(1)>") {
			t.Fatalf("the answer is %q reading %q, want the markup shown as text", a.State, a.Text)
		}
		if !strings.Contains(a.Text, "This is turn 1 of our conversation") {
			t.Fatalf("New chat did not start a new session: %q", a.Text)
		}
		counts, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]int](`({
			img: document.querySelectorAll("#log img").length,
			links: document.querySelectorAll("#log a").length,
			strong: [...document.querySelectorAll("#log .msg.assistant strong")].filter(e => e.textContent === "bold").length,
		})`))
		if err != nil {
			t.Fatal(err)
		}
		if counts["img"] != 0 || counts["links"] != 0 || counts["strong"] != 1 {
			t.Fatalf("the page holds %d images and %d links and %d bold runs, want none, none and one", counts["img"], counts["links"], counts["strong"])
		}
	})

	step("http links work, and the page fits a phone's width and follows the colour scheme", func(t *testing.T) {
		send(t, "read [the docs](https://example.com/docs) and `go test`")
		if a, _ := watch(t, nil); a.State != "done" {
			t.Fatalf("the answer ended %q", a.State)
		}
		do(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`({
			href: (document.querySelector("#log .msg.assistant a") || {}).href || "",
			rel: (document.querySelector("#log .msg.assistant a") || {}).rel || "",
			code: [...document.querySelectorAll("#log .msg.assistant code")].map(e => e.textContent).join("|"),
			overflow: String(document.documentElement.scrollWidth > window.innerWidth),
		})`))
		if err != nil {
			t.Fatal(err)
		}
		shot(t, "5-phone.png")
		background := func(scheme string) string {
			if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			}); err != nil {
				t.Fatal(err)
			}
			bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
			if err != nil {
				t.Fatal(err)
			}
			return bg
		}
		light, dark := background("light"), background("dark")
		shot(t, "5-phone-dark.png")
		if light == dark {
			t.Fatalf("the background is %s in both colour schemes", light)
		}
		background("light")
		do(t, chromedp.EmulateReset())
		if got["href"] != "https://example.com/docs" || !strings.Contains(got["rel"], "noopener") || !strings.Contains(got["code"], "go test") {
			t.Fatalf("link and code: %v", got)
		}
		if got["overflow"] != "false" {
			t.Fatal("the page is wider than a 390 px phone screen")
		}
	})

	step("signing out asks to sign in again, and a refusal over the rate limit says when to retry", func(t *testing.T) {
		do(t, chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-user")))
		// The form keeps the last user name.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("login-user").value = ""`)); err != nil {
			t.Fatal(err)
		}
		do(t,
			chromedp.SendKeys(chromedp.ID("login-user"), "bob"),
			chromedp.SendKeys(chromedp.ID("login-pass"), "correct horse battery"),
			chromedp.Click(chromedp.ID("login-submit")),
			chromedp.WaitVisible(chromedp.ID("prompt")),
			chromedp.WaitEnabled(chromedp.ID("send")),
		)
		// Spend bob's burst elsewhere.
		for i := range 6 {
			req, _ := http.NewRequest("POST", l.URL+"/", strings.NewReader(`{"prompt":"hi","response":"transformed"}`))
			req.SetBasicAuth("bob", "correct horse battery")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("bob's call %d: status %d", i+1, resp.StatusCode)
			}
		}
		http.DefaultClient.CloseIdleConnections()
		send(t, "One more, please")
		a, _ := watch(t, nil)
		shot(t, "6-rate-limited.png")
		if a.State != "error" || !regexp.MustCompile(`retry in \d+ (s|min|h) \(rate_limited, request [0-9a-f]+\)`).MatchString(a.Meta) {
			t.Fatalf("the refused answer is %q with %q, want an error that says when to retry", a.State, a.Meta)
		}
		if r := calls.wait(t, 11); r.UserID != "user:bob" {
			t.Fatalf("the last invocation ran as %q", r.UserID)
		}
	})
}

// startBrowser starts headless Chromium with a fresh profile for the test.
func startBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "agentgate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(960, 720),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// The first Run starts the browser; it must not carry a timeout.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`1`)); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		// Chromium's helpers may write to the profile a moment after the
		// browser stops: retry, a bounded number of times.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return ctx
}

// TestChatPageOnAnOpenGateway is `agentgate up` as it starts with no auth
// configured: the page goes straight to the chat, with no sign-in. Then a
// stream breaks mid-answer, and the page's Markdown renderer is fed
// hostile and ordinary input.
func TestChatPageOnAnOpenGateway(t *testing.T) {
	chromium := findChromium(t)
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = time.Millisecond
	l := startStack(t, cfg, stack.LocalOptions{})
	ctx := startBrowser(t, chromium)
	shots := artifacts(t)
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx,
		chromedp.Navigate(l.ChatURL),
		chromedp.WaitEnabled(chromedp.ID("send")),
		chromedp.WaitVisible(chromedp.ID("empty")),
	); err != nil {
		t.Fatal(err)
	}
	t.Run("the page says what to do and shows its one agent as a label", func(t *testing.T) {
		at, err := chromedp.Run(ctx, chromedp.Evaluate[layout](pageLayout))
		if err != nil {
			t.Fatal(err)
		}
		checkOneAgentAndEmptyState(t, at)
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, "0-start.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		if *updateScreenshot {
			if err := os.WriteFile("../../docs/chat-start.png", png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Log("wrote docs/chat-start.png")
		}
	})
	t.Run("the site has an icon", func(t *testing.T) {
		icon, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(async () => {
			const resp = await fetch("/favicon.ico");
			const img = new Image();
			img.src = document.querySelector("link[rel=icon]").href;
			await img.decode();
			return {status: resp.status, type: resp.headers.get("Content-Type"), href: img.src, width: img.naturalWidth};
		})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if icon["status"] != 200.0 || icon["type"] != "image/x-icon" || icon["href"] != l.URL+"/favicon.ico" || icon["width"].(float64) < 16 {
			t.Fatalf("the icon: %v; want /favicon.ico, an image the browser decodes", icon)
		}
	})
	if err := chromedp.Do(sctx,
		chromedp.SendKeys(chromedp.ID("prompt"), "Hello"),
		chromedp.Click(chromedp.ID("send")),
		chromedp.WaitVisible(chromedp.CSS(`#log .msg.assistant[data-state="done"] .meta`)),
	); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]bool](`({
		loginHidden: document.getElementById("login").hidden,
		logoutHidden: document.getElementById("logout").hidden,
		answered: document.querySelector("#log .msg.assistant .body").textContent.includes("You wrote “Hello”"),
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if !got["loginHidden"] || !got["logoutHidden"] || !got["answered"] {
		t.Fatalf("on an open gateway: %v; want no sign-in form, no sign-out button, and the answer", got)
	}

	t.Run("a stream that breaks mid-answer ends in a plain error", func(t *testing.T) {
		if err := l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{DropAfter: 3, Times: 1}); err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx,
			chromedp.SendKeys(chromedp.ID("prompt"), "Break, please"),
			chromedp.Click(chromedp.ID("send")),
			chromedp.WaitVisible(chromedp.CSS(`#log .msg.assistant[data-state="error"] .meta`)),
		); err != nil {
			t.Fatal(err)
		}
		a, err := chromedp.Run(ctx, chromedp.Evaluate[answer](latestAnswer))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`\([a-z_]+, request [0-9a-f]+\)$`).MatchString(a.Meta) || strings.Contains(a.Meta, l.AccountID) {
			t.Fatalf("the broken answer's footer reads %q, want agentgate's message with its code and request id", a.Meta)
		}
		t.Logf("a broken stream reads %q, then %q", a.Text, a.Meta)
		if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			os.WriteFile(filepath.Join(shots, "7-broken-stream.png"), png, 0o644)
		}
	})

	// The page's renderer, fed directly: what each input becomes in the
	// DOM (serialized here by the test, never by the page).
	tests := []struct {
		name, markdown, html string
	}{
		{"plain text is a paragraph", "Hello", "<p>Hello</p>"},
		{"markup is text", `<script>alert(1)</script><img src=x onerror=alert(1)>`,
			"<p>&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;</p>"},
		{"bold, italic and inline code", "**b** *i* _j_ `<c>`", "<p><strong>b</strong> <em>i</em> <em>j</em> <code>&lt;c&gt;</code></p>"},
		{"an http link", "[docs](https://example.com/a?b=1)",
			`<p><a href="https://example.com/a?b=1" rel="noopener noreferrer nofollow" target="_blank">docs</a></p>`},
		{"a javascript link stays text", "[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"},
		{"a data link stays text", "[x](data:text/html,<b>hi</b>)", "<p>[x](data:text/html,&lt;b&gt;hi&lt;/b&gt;)</p>"},
		{"a relative link stays text", "[x](/agents)", "<p>[x](/agents)</p>"},
		{"a link's text is text", "[<b>x</b>](https://example.com/)",
			`<p><a href="https://example.com/" rel="noopener noreferrer nofollow" target="_blank">&lt;b&gt;x&lt;/b&gt;</a></p>`},
		{"a code fence keeps markup as text", "```html\n<b>x</b>\n```", `<pre><code data-lang="html">&lt;b&gt;x&lt;/b&gt;</code></pre>`},
		{"an unfinished fence, mid-stream, is code so far", "```\nline 1", "<pre><code>line 1</code></pre>"},
		{"lists", "- a\n- **b**\n\n1. one\n2. two", "<ul><li>a</li><li><strong>b</strong></li></ul><ol><li>one</li><li>two</li></ol>"},
		{"a heading and a quote", "# Title\n> quoted <i>", "<h3>Title</h3><blockquote>quoted &lt;i&gt;</blockquote>"},
		{"line breaks inside a paragraph", "a\nb\n\nc", "<p>a<br>b</p><p>c</p>"},
	}
	for _, tt := range tests {
		t.Run("markdown: "+tt.name, func(t *testing.T) {
			js := `(() => { const d = document.createElement("div"); renderMarkdown(d, ` + jsString(tt.markdown) + `); return d.innerHTML; })()`
			got, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.html {
				t.Fatalf("renderMarkdown(%q)\n got %s\nwant %s", tt.markdown, got, tt.html)
			}
		})
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
