package stack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
)

// agentLog records the invocations that reached the agent.
type agentLog struct {
	mu      sync.Mutex
	userIDs []string
}

func (a *agentLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/invocations" {
			a.mu.Lock()
			a.userIDs = append(a.userIDs, r.Header.Get("X-Amzn-Bedrock-AgentCore-Runtime-User-Id"))
			a.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (a *agentLog) calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.userIDs...)
}

// startWithConfig runs the local stack with cfg's auth settings.
func startWithConfig(t *testing.T, cfg config.Config, opts LocalOptions) *Local {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts.Listen = "127.0.0.1:0"
	l, err := StartLocal(ctx, cfg, opts)
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

func do(t *testing.T, method, url, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e struct{ Error struct{ Code string } }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not a JSON error: %s", body)
	}
	return e.Error.Code
}

func TestAPIKeysAndSessionOwnership(t *testing.T) {
	aliceKey, aliceHash, _ := auth.GenerateAPIKey()
	bobKey, bobHash, _ := auth.GenerateAPIKey()
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Auth.APIKeys = []config.APIKey{{Name: "alice", Hash: aliceHash}, {Name: "bob", Hash: bobHash}}
	log := &agentLog{}
	l := startWithConfig(t, cfg, LocalOptions{WrapAgent: log.wrap})
	body := `{"prompt":"hi","response":"transformed"}`

	t.Run("a request without a key is refused with 401 and a challenge", func(t *testing.T) {
		resp, b := do(t, "POST", l.URL+"/", body)
		if resp.StatusCode != 401 || errorCode(t, b) != "unauthenticated" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("status %d %s %q", resp.StatusCode, b, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("a wrong key is refused with 401", func(t *testing.T) {
		resp, b := do(t, "POST", l.URL+"/", body, "Authorization", "Bearer agk_"+strings.Repeat("A", 43))
		if resp.StatusCode != 401 || errorCode(t, b) != "invalid_credentials" {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
	})

	resp, _ := do(t, "POST", l.URL+"/", body, "Authorization", "Bearer "+aliceKey)
	sid := resp.Header.Get("X-Agentgate-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("alice's call: status %d", resp.StatusCode)
	}
	if got := log.calls(); len(got) != 1 || got[0] != "key:alice" {
		t.Fatalf("the agent saw runtime user ids %q, want [key:alice]", got)
	}

	t.Run("bob cannot use alice's session and the upstream sees no request", func(t *testing.T) {
		before := len(log.calls())
		resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi","runtimeSessionId":"`+sid+`"}`, "X-Api-Key", bobKey)
		if resp.StatusCode != 403 || errorCode(t, b) != "session_forbidden" {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
		if after := len(log.calls()); after != before {
			t.Fatalf("the agent saw %d new requests, want none", after-before)
		}
	})
	t.Run("alice continues her own session", func(t *testing.T) {
		resp, _ := do(t, "POST", l.URL+"/", `{"prompt":"again","runtimeSessionId":"`+sid+`"}`, "X-Api-Key", aliceKey)
		if resp.StatusCode != 200 || resp.Header.Get("X-Agentgate-Session-Id") != sid {
			t.Fatalf("status %d session %q", resp.StatusCode, resp.Header.Get("X-Agentgate-Session-Id"))
		}
	})
	t.Run("bob cannot end alice's session", func(t *testing.T) {
		resp, b := do(t, "DELETE", l.URL+"/sessions/"+sid, "", "X-Api-Key", bobKey)
		if resp.StatusCode != 403 {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
	})
	t.Run("alice ends her session, and a second stop finds nothing", func(t *testing.T) {
		resp, b := do(t, "DELETE", l.URL+"/sessions/"+sid, "", "X-Api-Key", aliceKey)
		if resp.StatusCode != 204 {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
		resp, b = do(t, "DELETE", l.URL+"/agents/demo/sessions/"+sid, "", "X-Api-Key", aliceKey)
		if resp.StatusCode != 404 || errorCode(t, b) != "session_not_found" {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
		assertNoLeak(t, l, resp, b)
	})
}

// usersFile writes a users file with one user, ada, whose password is
// "correct horse battery", and returns its path.
func usersFile(t *testing.T) string {
	t.Helper()
	users := filepath.Join(t.TempDir(), "users.txt")
	hash, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, []byte("ada:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return users
}

func TestPasswordSignIn(t *testing.T) {
	users := usersFile(t)
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Auth.Passwords.UsersFile = users
	cfg.Auth.Passwords.TokenKey = strings.Repeat("t", 32)
	cfg.Auth.Passwords.MaxFailures = 3
	cfg.Network.CORSOrigins = []string{"https://app.example.com"}
	l := startWithConfig(t, cfg, LocalOptions{})
	prompt := `{"prompt":"hi","response":"transformed"}`

	resp, b := do(t, "POST", l.URL+"/auth/login", `{"username":"ada","password":"correct horse battery"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("login: status %d %s", resp.StatusCode, b)
	}
	var login struct{ Token string }
	json.Unmarshal(b, &login)
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || !cookies[0].Secure || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Value != login.Token {
		t.Fatalf("login cookie %+v, want HttpOnly, Secure, SameSite=Strict carrying the token", cookies)
	}
	t.Run("the token authenticates as a bearer", func(t *testing.T) {
		if resp, b := do(t, "POST", l.URL+"/", prompt, "Authorization", "Bearer "+login.Token); resp.StatusCode != 200 {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
	})
	cookie := cookies[0].Name + "=" + cookies[0].Value
	t.Run("the cookie authenticates a request from the gateway's own page", func(t *testing.T) {
		if resp, b := do(t, "POST", l.URL+"/", prompt, "Cookie", cookie, "Origin", l.URL); resp.StatusCode != 200 {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
	})
	// Cross-site request forgery: a page elsewhere makes the browser send
	// the cookie; only the gateway's own pages and configured CORS origins
	// may use it, and never for a GET invocation.
	for _, tt := range []struct {
		name, method, url, body string
		header                  []string
		status                  int
	}{
		{"a text/plain POST from another origin is refused", "POST", "/", prompt, []string{"Content-Type", "text/plain", "Origin", "https://evil.example"}, 403},
		{"a POST the browser marks cross-site is refused", "POST", "/", prompt, []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403},
		{"a POST the browser marks same-site (a sibling subdomain) is refused", "POST", "/", prompt, []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"a POST with neither Origin nor Sec-Fetch-Site is refused", "POST", "/", prompt, nil, 403},
		{"a GET invocation an image tag makes is refused", "GET", "/?prompt=hi", "", []string{"Sec-Fetch-Dest", "image", "Sec-Fetch-Site", "cross-site"}, 403},
		{"a GET invocation from the gateway's own page is refused too", "GET", "/?prompt=hi", "", []string{"Sec-Fetch-Site", "same-origin"}, 403},
		{"a DELETE from another origin is refused", "DELETE", "/sessions/s1", "", []string{"Origin", "https://evil.example"}, 403},
		{"a POST the browser marks same-origin passes (behind an edge that rewrites Host)", "POST", "/", prompt, []string{"Sec-Fetch-Site", "same-origin", "Origin", "https://gateway.example"}, 200},
		{"a POST from a configured CORS origin passes", "POST", "/", prompt, []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://app.example.com"}, 200},
		{"reading the agent list needs no Origin", "GET", "/agents", "", nil, 200},
	} {
		t.Run("cookie: "+tt.name, func(t *testing.T) {
			resp, b := do(t, tt.method, l.URL+tt.url, tt.body, append([]string{"Cookie", cookie}, tt.header...)...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status == 403 && errorCode(t, b) != "cross_site_request" {
				t.Fatalf("body %s", b)
			}
		})
	}
	t.Run("a bearer token from another origin is not a forgery", func(t *testing.T) {
		if resp, b := do(t, "POST", l.URL+"/", prompt, "Authorization", "Bearer "+login.Token, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != 200 {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
	})
	t.Run("HTTP Basic authenticates", func(t *testing.T) {
		req, _ := http.NewRequest("POST", l.URL+"/", strings.NewReader(prompt))
		req.SetBasicAuth("ada", "correct horse battery")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("navigations are offered Basic, a page's scripts are not", func(t *testing.T) {
		for _, tt := range []struct {
			mode  string
			basic bool
		}{{"", true}, {"navigate", true}, {"cors", false}, {"same-origin", false}} {
			resp, _ := do(t, "GET", l.URL+"/agents", "", "Sec-Fetch-Mode", tt.mode)
			challenges := strings.Join(resp.Header.Values("WWW-Authenticate"), " | ")
			if resp.StatusCode != 401 || strings.Contains(challenges, "Basic ") != tt.basic || !strings.Contains(challenges, "Bearer ") {
				// A Basic challenge to a fetch makes the browser show its
				// own dialog over the chat page's form.
				t.Errorf("Sec-Fetch-Mode %q: status %d, challenges %q; want 401 with Basic offered: %v", tt.mode, resp.StatusCode, challenges, tt.basic)
			}
		}
	})
	t.Run("an unknown user and a wrong password answer alike", func(t *testing.T) {
		r1, b1 := do(t, "POST", l.URL+"/auth/login", `{"username":"nobody","password":"whatever1"}`)
		r2, b2 := do(t, "POST", l.URL+"/auth/login", `{"username":"ada","password":"whatever1"}`)
		strip := func(b []byte) string {
			var e struct {
				Error struct{ Code, Message string }
			}
			json.Unmarshal(b, &e)
			return e.Error.Code + "|" + e.Error.Message
		}
		if r1.StatusCode != 401 || r1.StatusCode != r2.StatusCode || strip(b1) != strip(b2) {
			t.Fatalf("unknown user: %d %s; wrong password: %d %s", r1.StatusCode, b1, r2.StatusCode, b2)
		}
	})
	t.Run("repeated failures are slowed down with 429 even for the right password", func(t *testing.T) {
		for range 3 {
			do(t, "POST", l.URL+"/auth/login", `{"username":"ada","password":"wrong-guess"}`)
		}
		resp, b := do(t, "POST", l.URL+"/auth/login", `{"username":"ada","password":"correct horse battery"}`)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || errorCode(t, b) != "too_many_attempts" {
			t.Fatalf("status %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	})
	t.Run("logout clears the cookie", func(t *testing.T) {
		resp, _ := do(t, "POST", l.URL+"/auth/logout", "")
		c := resp.Cookies()
		if resp.StatusCode != 204 || len(c) != 1 || c[0].MaxAge >= 0 {
			t.Fatalf("status %d cookies %+v", resp.StatusCode, c)
		}
	})
}

func TestOriginLock(t *testing.T) {
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Auth.None = true
	cfg.OriginLock = config.OriginLock{Header: "X-Origin-Verify", Secret: "edge-secret-0123456789"}
	l := startWithConfig(t, cfg, LocalOptions{})
	prompt := `{"prompt":"hi","response":"transformed"}`
	if resp, b := do(t, "POST", l.URL+"/", prompt); resp.StatusCode != 403 || errorCode(t, b) != "forbidden" {
		t.Fatalf("without the header: status %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", l.URL+"/", prompt, "X-Origin-Verify", "edge-secret-0123456788"); resp.StatusCode != 403 {
		t.Fatalf("with a wrong secret: status %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", l.URL+"/", prompt, "X-Origin-Verify", "edge-secret-0123456789"); resp.StatusCode != 200 {
		t.Fatalf("with the secret: status %d %s", resp.StatusCode, b)
	}
	if resp, _ := do(t, "GET", l.URL+"/healthz", ""); resp.StatusCode != 200 {
		t.Fatalf("healthz: status %d", resp.StatusCode)
	}
}
