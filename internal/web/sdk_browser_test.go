package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/stack"
	"github.com/agentgate/agentgate/internal/testenv"
)

// openAIPage is a page of another origin that loads the openai npm SDK as
// the browser's own ES modules and holds a conversation through it: each
// turn streams, and sends the whole history and no agentgate header.
const openAIPage = `<!doctype html>
<meta charset="utf-8">
<title>openai SDK across origins</title>
<script type="module">
import OpenAI from "/openai/index.mjs";
window.converse = async (baseURL, apiKey, turns) => {
  const client = new OpenAI({ baseURL, apiKey, dangerouslyAllowBrowser: true, maxRetries: 0 });
  const history = [], results = [];
  for (const text of turns) {
    history.push({ role: "user", content: text });
    const { data, response } = await client.chat.completions
      .create({ model: "demo", messages: history, stream: true })
      .withResponse();
    let answer = "", chunks = 0;
    for await (const chunk of data) {
      const delta = chunk.choices[0]?.delta?.content;
      if (delta) { answer += delta; chunks++; }
    }
    history.push({ role: "assistant", content: answer });
    results.push({ answer, chunks,
      session: response.headers.get("x-agentgate-session-id") ?? "",
      requestId: response.headers.get("x-request-id") ?? "" });
  }
  return results;
};
document.title = "ready";
</script>`

// sdkTurn is what the page reports of one turn.
type sdkTurn struct {
	Answer    string `json:"answer"`
	Chunks    int    `json:"chunks"`
	Session   string `json:"session"`
	RequestID string `json:"requestId"`
}

// openAIModules is the openai npm package that internal/stack's client
// tests install, or a skip (a failure under AGENTGATE_REQUIRE_ALL=1).
func openAIModules(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "stack", "testdata", "clients", "node_modules", "openai"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.mjs")); err != nil {
		testenv.Missing(t, "the openai npm package", "cd internal/stack/testdata/clients && npm ci")
	}
	return dir
}

// TestOpenAISDKStreamsAcrossOriginsInChromium runs the official openai npm
// SDK in Chromium, on a page served from another loopback origin than the
// gateway's, with an API key: the SDK's own headers (Authorization, its
// X-Stainless-* set) need the CORS preflight to allow them, each answer
// streams chunk by chunk, the page may read the session and request ids,
// and the second turn continues the first one's session with no header.
//
// The SDK is not bundled: it has no dependencies and ships ES modules
// (.mjs) with relative imports only, so the page's server serves the
// package's folder from node_modules as files and Chromium loads them as
// they are.
func TestOpenAISDKStreamsAcrossOriginsInChromium(t *testing.T) {
	chromium := findChromium(t)
	modules := openAIModules(t)

	mux := http.NewServeMux()
	mux.Handle("GET /openai/", http.StripPrefix("/openai/", http.FileServer(http.Dir(modules))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(openAIPage))
	})
	pages := httptest.NewServer(mux)
	t.Cleanup(pages.Close)

	key, hash, err := auth.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 5 * time.Millisecond
	cfg.Auth.APIKeys = []config.APIKey{{Name: "page", Hash: hash}}
	cfg.Network.CORSOrigins = []string{pages.URL}
	calls := &invocations{}
	l := startStack(t, cfg, stack.LocalOptions{OnInvocation: calls.add})

	ctx := startBrowser(t, chromium)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, chromedp.Navigate(pages.URL)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](`document.title === "ready"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the page did not load the SDK: %v", err)
	}
	js := `converse(` + jsString(l.URL+"/v1") + `, ` + jsString(key) + `, ["Hello from another origin", "And a follow-up"])`
	turns, err := chromedp.Run(sctx, chromedp.Evaluate[[]sdkTurn](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("the SDK failed in the page: %v", err)
	}
	if len(turns) != 2 {
		t.Fatalf("the page reports %d turns", len(turns))
	}
	first, second := turns[0], turns[1]
	if !strings.Contains(first.Answer, "You wrote “Hello from another origin”") || !strings.Contains(first.Answer, "This is turn 1") || first.Chunks < 3 {
		t.Fatalf("turn 1 streamed %d chunks reading %q", first.Chunks, first.Answer)
	}
	if !strings.Contains(second.Answer, "This is turn 2 of our conversation") {
		t.Fatalf("turn 2 reads %q", second.Answer)
	}
	if first.Session == "" || second.Session != first.Session || first.RequestID == "" || second.RequestID == first.RequestID {
		t.Fatalf("the page read sessions %q, %q and request ids %q, %q: want one session, two request ids", first.Session, second.Session, first.RequestID, second.RequestID)
	}
	if r := calls.wait(t, 2); r.SessionID != first.Session || r.UserID != "key:page" {
		t.Fatalf("the second turn ran in session %q as %q, want %q as key:page", r.SessionID, r.UserID, first.Session)
	}
	t.Logf("turn 1 streamed in %d chunks, turn 2 in %d, both in session %s…", first.Chunks, second.Chunks, first.Session[:8])
}
