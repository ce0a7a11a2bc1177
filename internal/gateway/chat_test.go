package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/upstream"
)

func TestChatPageIsServedOnlyWhereConfigured(t *testing.T) {
	start := func(t *testing.T, chat bool) string {
		issuer, err := session.NewIssuer(session.RandomKey())
		if err != nil {
			t.Fatal(err)
		}
		// Callers need an API key: the page itself must not.
		keys, err := auth.NewAPIKeys(nil)
		if err != nil {
			t.Fatal(err)
		}
		gw, err := New(Options{
			Agents:       map[string]upstream.Invoker{"demo": &pipeInvoker{calls: make(chan call)}},
			DefaultAgent: "demo",
			Sessions:     issuer,
			Auth:         keys,
			Chat:         chat,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(gw)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	on, off := start(t, true), start(t, false)

	tests := []struct {
		name         string
		base, method string
		path         string
		status       int
		contentType  string
		code, allow  string
	}{
		{"the page is served without credentials", on, "GET", "/chat", 200, "text/html; charset=utf-8", "", ""},
		{"its script is served as JavaScript", on, "GET", "/chat/chat.js", 200, "text/javascript; charset=utf-8", "", ""},
		{"its style sheet is served as CSS", on, "GET", "/chat/chat.css", 200, "text/css; charset=utf-8", "", ""},
		{"HEAD answers like GET", on, "HEAD", "/chat", 200, "text/html; charset=utf-8", "", ""},
		{"POST to the page is 405 naming GET", on, "POST", "/chat", 405, "application/json", "method_not_allowed", "GET"},
		{"an unknown asset is the gateway's 404", on, "GET", "/chat/other.js", 404, "application/json", "not_found", ""},
		{"a trailing slash is not the page", on, "GET", "/chat/", 404, "application/json", "not_found", ""},
		{"the API still needs credentials", on, "GET", "/agents", 401, "application/json", "unauthenticated", ""},
		{"without the option there is no page", off, "GET", "/chat", 404, "application/json", "not_found", ""},
		{"without the option there are no assets", off, "GET", "/chat/chat.js", 404, "application/json", "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.base+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.contentType) {
				t.Fatalf("status %d, Content-Type %q; want %d, %q; body %s", resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, tt.contentType, body)
			}
			if tt.code != "" {
				var e struct{ Error struct{ Code string } }
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.code {
					t.Fatalf("body %s, want error code %q", body, tt.code)
				}
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Fatalf("Allow %q, want %q", got, tt.allow)
			}
			if tt.status == 200 {
				csp := resp.Header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Fatalf("CSP %q, nosniff %q: want a strict policy", csp, resp.Header.Get("X-Content-Type-Options"))
				}
				if tt.method == "GET" && len(body) == 0 {
					t.Fatal("empty body")
				}
			}
		})
	}
}
