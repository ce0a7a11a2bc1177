package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/auth/authtest"
)

const replicaJWTGateway = `defaultAgent: demo
agents:
  demo:
    arn: {{ARN}}
auth:
  apiKeys:
    - name: replica
      hash: {{KEYHASH}}
  jwt:
    issuer: {{ISSUER}}
    audience: agentgate-replica
network:
  trustedProxies: ["0.0.0.0/0", "::/0"]
chat:
  enabled: true
`

// TestReplicaCarriesBearerTokensAndSessions: a viewer's bearer token (a
// JWT from the identity provider) gets through the edge, whose OAC writes
// its own Authorization, by way of the viewer-request function's copy; a
// copy the viewer sends itself gains nothing; the session id the first
// answer names continues the agent's conversation; the chat page keeps
// its own Content-Security-Policy.
func TestReplicaCarriesBearerTokensAndSessions(t *testing.T) {
	p := authtest.NewIdP(t, "agentgate-replica")
	rp := startReplica(t, 0, replicaJWTGateway, "{{ISSUER}}", p.URL)
	bearer := "Bearer " + p.Token(t, "grace")

	resp := replicaPost(t, rp.url+"/", `{"prompt":"hello","response":"transformed"}`, "Authorization", bearer)
	first, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a JWT through the edge: %d %s", resp.StatusCode, first)
	}
	sid := resp.Header.Get("X-Agentgate-Session-Id")
	if sid == "" {
		t.Fatal("no session id")
	}
	resp = replicaPost(t, rp.url+"/", `{"prompt":"again","response":"transformed"}`, "Authorization", bearer, "X-Agentgate-Session-Id", sid)
	second, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(second), "turn 2") {
		t.Errorf("the session's second turn: %d %s", resp.StatusCode, second)
	}

	// A viewer that sends the copy without an Authorization of its own.
	resp = replicaPost(t, rp.url+"/", `{"prompt":"hi"}`, "X-Agentgate-Authorization", bearer)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a viewer-sent copy: %d %s, want 401", resp.StatusCode, b)
	}

	page, err := http.Get(rp.url + "/chat")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, page.Body)
	page.Body.Close()
	csp := page.Header.Get("Content-Security-Policy")
	if page.StatusCode != http.StatusOK || !strings.Contains(csp, "script-src") {
		t.Errorf("the chat page: %d, Content-Security-Policy %q: want the page's own", page.StatusCode, csp)
	}
}

// TestReplicaPasswordSignIn: with users put in the gateway's secret, as the
// deployment guide says, a viewer signs in through the edge, then uses the
// login token as a bearer, the login cookie from a page of the same
// origin, and HTTP Basic.
func TestReplicaPasswordSignIn(t *testing.T) {
	rp := startReplica(t, 0, replicaGateway)
	hash, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	rp.putSecret(t, map[string]any{"users": "ada:" + hash + "\n"})

	resp := replicaPost(t, rp.url+"/auth/login", `{"username":"ada","password":"correct horse battery"}`)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tok struct{ Token string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.Token == "" {
		t.Fatalf("sign-in through the edge: %d %s", resp.StatusCode, b)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "agentgate_session" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("no login cookie: %v", resp.Header.Values("Set-Cookie"))
	}
	prompt := `{"prompt":"hello","response":"transformed"}`
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"the token as a bearer", []string{"Authorization", "Bearer " + tok.Token}},
		{"the cookie from the same origin", []string{"Cookie", "agentgate_session=" + cookie.Value, "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors"}},
		{"HTTP Basic", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("ada:correct horse battery"))}},
	} {
		resp := replicaPost(t, rp.url+"/", prompt, tc.header...)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, b)
		}
	}
	// A cookie sent from another site is refused: the edge carried the
	// browser's Sec-Fetch-Site for the gateway's check.
	resp = replicaPost(t, rp.url+"/", prompt, "Cookie", "agentgate_session="+cookie.Value, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("the cookie from another site was taken: %s", b)
	}
}
