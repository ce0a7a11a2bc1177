package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/stack"
	"github.com/agentgate/agentgate/internal/testenv"
)

// TestChatPageResumesADroppedAnswer puts a proxy between Chromium and the
// gateway that cuts the connection in the middle of an answer: the page
// says it is reconnecting, asks for the rest, and shows the whole answer
// once, with nothing repeated.
func TestChatPageResumesADroppedAnswer(t *testing.T) {
	chromium := findChromium(t)
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 15 * time.Millisecond
	l := startStack(t, cfg, stack.LocalOptions{})
	// The cut falls a few lines into the answer's body.
	proxy := testenv.StartCuttingProxy(t, strings.TrimPrefix(l.URL, "http://"), "POST /agents/", 700)
	ctx := startBrowser(t, chromium)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx,
		chromedp.Navigate(proxy.URL()+"/chat"),
		chromedp.WaitEnabled(chromedp.ID("send")),
	); err != nil {
		t.Fatal(err)
	}
	proxy.Armed.Store(true)
	var sawReconnecting atomic.Bool
	watchCtx, stopWatch := context.WithCancel(sctx)
	defer stopWatch()
	go func() {
		for watchCtx.Err() == nil {
			if s, err := chromedp.Run(watchCtx, chromedp.Evaluate[string](`document.getElementById("status").textContent`)); err == nil && strings.Contains(s, "Reconnecting") {
				sawReconnecting.Store(true)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if err := chromedp.Do(sctx,
		chromedp.SendKeys(chromedp.ID("prompt"), "Tell me something long"),
		chromedp.Click(chromedp.ID("send")),
		chromedp.WaitVisible(chromedp.CSS(`#log .msg.assistant[data-state="done"] .meta`)),
	); err != nil {
		a, _ := chromedp.Run(ctx, chromedp.Evaluate[answer](latestAnswer))
		t.Fatalf("%v; the answer reads %+v", err, a)
	}
	stopWatch()
	if proxy.Cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d answers, want 1", proxy.Cuts.Load())
	}
	a, err := chromedp.Run(ctx, chromedp.Evaluate[answer](latestAnswer))
	if err != nil {
		t.Fatal(err)
	}
	session, err := chromedp.Run(ctx, chromedp.Evaluate[string](`state.session`))
	if err != nil {
		t.Fatal(err)
	}
	// The whole answer, as the gateway kept it.
	resp, err := http.Get(l.URL + "/agents/" + stack.DemoAgent + "/sessions/" + session + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var want strings.Builder
	for _, line := range strings.Split(string(kept), "\n") {
		var ev struct{ Type, Text string }
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Type == "text" {
			want.WriteString(ev.Text)
		}
	}
	if len(kept) <= 700 {
		t.Fatalf("the answer's body is %d bytes, too short for a cut at 700 bytes of the response to fall before its end", len(kept))
	}
	if want.Len() == 0 || a.Text != want.String() || a.Count != 1 {
		t.Fatalf("after a cut the page shows %d answers, the last %q\nwant the whole answer once: %q", a.Count, a.Text, want.String())
	}
	if !sawReconnecting.Load() {
		t.Error("the page never said it was reconnecting")
	}
	t.Logf("cut at 700 bytes, the page resumed and shows the %d-character answer once", len(a.Text))
}

// TestEventSourceResumesByItself opens a GET invocation in an EventSource
// behind a proxy that cuts it mid-answer: the browser reconnects by itself
// with Last-Event-ID, the gateway sends the rest of that turn rather than
// starting another, and once the answer is whole the next reconnect gets
// 204, which stops the EventSource. Its events are the answer's, each
// once.
func TestEventSourceResumesByItself(t *testing.T) {
	chromium := findChromium(t)
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 15 * time.Millisecond
	l := startStack(t, cfg, stack.LocalOptions{})
	// A session to continue: EventSource repeats its URL, which names it.
	resp, err := http.Post(l.URL+"/", "application/json", strings.NewReader(`{"prompt":"hi","response":"transformed"}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	sid := resp.Header.Get("X-Agentgate-Session-Id")

	proxy := testenv.StartCuttingProxy(t, strings.TrimPrefix(l.URL, "http://"), "GET /?prompt", 900)
	ctx := startBrowser(t, chromium)
	sctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, chromedp.Navigate(proxy.URL()+"/chat")); err != nil {
		t.Fatal(err)
	}
	proxy.Armed.Store(true)
	type result struct {
		Data    []string `json:"data"`
		Opens   int      `json:"opens"`
		Timeout bool     `json:"timeout"`
	}
	got, err := chromedp.Run(sctx, chromedp.Evaluate[result](`new Promise((resolve) => {
		const es = new EventSource("/?prompt=Tell+me+more&response=original&runtimeSessionId=`+sid+`");
		const data = [];
		let opens = 0;
		es.onopen = () => opens++;
		es.onmessage = (e) => data.push(e.data);
		es.onerror = () => { if (es.readyState === EventSource.CLOSED) resolve({data, opens}); };
		setTimeout(() => { es.close(); resolve({data, opens, timeout: true}); }, 30000);
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if got.Timeout || proxy.Cuts.Load() != 1 || got.Opens < 2 {
		t.Fatalf("the EventSource: %d opens, %d cuts, stopped by itself %v", got.Opens, proxy.Cuts.Load(), !got.Timeout)
	}
	resp, err = http.Get(l.URL + "/sessions/" + sid + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var want []string
	for _, line := range strings.Split(string(kept), "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			want = append(want, d)
		}
	}
	if len(want) < 10 || strings.Join(got.Data, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the EventSource got %d events:\n%s\nthe answer has %d:\n%s", len(got.Data), strings.Join(got.Data, "\n"), len(want), strings.Join(want, "\n"))
	}
	t.Logf("cut once, the EventSource reconnected %d times and got the %d events once each", got.Opens-1, len(got.Data))
}
