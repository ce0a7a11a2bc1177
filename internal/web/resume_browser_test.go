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
	stackCtx, stopStack := context.WithCancel(context.Background())
	l, err := stack.StartLocal(stackCtx, cfg, stack.LocalOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		stopStack()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopStack()
		if err := l.Wait(); err != nil {
			t.Errorf("servers stopped with %v", err)
		}
	})
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
