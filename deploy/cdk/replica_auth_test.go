package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/agentgate/agentgate/internal/auth"
)

// idp is an OpenID provider on loopback with one ES256 key.
type idp struct {
	url string
	key *ecdsa.PrivateKey
}

func newIdP(t *testing.T) *idp {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{key: key}
	b64 := func(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.FillBytes(make([]byte, 32))) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": p.url, "jwks_uri": p.url + "/jwks"})
		case "/jwks":
			json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
				"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig", "x": b64(key.X), "y": b64(key.Y)}}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func (p *idp) token(t *testing.T, sub string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": p.url, "aud": "agentgate-replica", "sub": sub, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

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
	p := newIdP(t)
	rp := startReplica(t, 0, replicaJWTGateway, "{{ISSUER}}", p.url)
	bearer := "Bearer " + p.token(t, "grace")

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
