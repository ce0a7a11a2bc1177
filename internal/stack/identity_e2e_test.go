package stack

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/auth/authtest"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/identity"
)

// headerTap records the custom headers of every invocation that reached
// the agent.
type headerTap struct {
	mu    sync.Mutex
	calls []http.Header
}

func (h *headerTap) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/invocations" {
			custom := http.Header{}
			for name, values := range r.Header {
				if identity.IsCustom(name) {
					custom[name] = values
				}
			}
			h.mu.Lock()
			h.calls = append(h.calls, custom)
			h.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (h *headerTap) last(t *testing.T) http.Header {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) == 0 {
		t.Fatal("no invocation reached the agent")
	}
	return h.calls[len(h.calls)-1]
}

// syncLog is a log sink the servers write and the test reads.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestVerifiedIdentityReachesTheAgent runs gateway, emulator and agent
// together: a JWT's claim arrives at the agent in the header
// agents.demo.forwardClaims names, beside the principal and its kind, and
// the built-in model says so; what a client sends under those names never
// arrives, and a claim too long for AgentCore is left out and logged.
func TestVerifiedIdentityReachesTheAgent(t *testing.T) {
	const (
		email = identity.HeaderPrefix + "Email"
		bio   = identity.HeaderPrefix + "Bio"
	)
	idp := authtest.NewIdP(t, "agentgate-test")
	key, hash, err := auth.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Auth.APIKeys = []config.APIKey{{Name: "ci-bot", Hash: hash}}
	cfg.Auth.JWT = config.JWT{Issuer: idp.URL, Audience: "agentgate-test", Algorithms: []string{"ES256"}, PrincipalClaim: "sub", ClockSkew: time.Minute}
	cfg.Agents = map[string]config.Agent{DemoAgent: {ForwardClaims: map[string]string{"email": email, "bio": bio}}}
	tap := &headerTap{}
	logs := &syncLog{}
	l := startWithConfig(t, cfg, LocalOptions{WrapAgent: tap.wrap, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	grace, err := auth.QualifyPrincipal("jwt:grace", idp.URL)
	if err != nil {
		t.Fatal(err)
	}
	forged := []string{email, "mallory@example.com", identity.PrincipalHeader, "user:admin", identity.PrincipalKindHeader, "password"}
	ask := func(t *testing.T, credential string, header ...string) string {
		t.Helper()
		resp, b := do(t, "POST", l.URL+"/", `{"prompt":"Who am I?","response":"transformed"}`, append([]string{"Authorization", "Bearer " + credential}, header...)...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
		return string(b)
	}

	t.Run("a JWT's claim arrives in its header and the agent says who is signed in", func(t *testing.T) {
		answer := ask(t, idp.TokenWith(t, "grace", map[string]any{"email": "grace@example.com"}), forged...)
		h := tap.last(t)
		if h.Get(email) != "grace@example.com" || len(h.Values(email)) != 1 {
			t.Errorf("the agent got %s %q, want the token's claim alone", email, h.Values(email))
		}
		if h.Get(identity.PrincipalHeader) != grace || h.Get(identity.PrincipalKindHeader) != "jwt" || len(h) != 3 {
			t.Errorf("the agent got %v, want grace's principal, kind and email", h)
		}
		want := "You are signed in as “" + grace + "” with a token from your identity provider, and the gateway vouches for your Email “grace@example.com”."
		if !strings.Contains(answer, want) {
			t.Errorf("the answer %q lacks %q", answer, want)
		}
	})
	t.Run("a client's copy of the header never arrives, whatever the credential", func(t *testing.T) {
		ask(t, idp.Token(t, "grace"), forged...)
		if h := tap.last(t); h.Get(email) != "" || h.Get(identity.PrincipalHeader) != grace || len(h) != 2 {
			t.Errorf("a JWT without the claim: the agent got %v, want grace's principal and kind only", h)
		}
		answer := ask(t, key, forged...)
		if h := tap.last(t); h.Get(email) != "" || h.Get(identity.PrincipalHeader) != "key:ci-bot" || h.Get(identity.PrincipalKindHeader) != "apikey" || len(h) != 2 {
			t.Errorf("an API key: the agent got %v, want key:ci-bot's principal and kind only", h)
		}
		if !strings.Contains(answer, "You are signed in as “key:ci-bot” with an API key.") || strings.Contains(answer, "mallory") {
			t.Errorf("the answer %q does not name the key's holder alone", answer)
		}
	})
	t.Run("a claim too long for AgentCore is left out and logged, the others go", func(t *testing.T) {
		ask(t, idp.TokenWith(t, "grace", map[string]any{"email": "grace@example.com", "bio": strings.Repeat("b", identity.MaxValueBytes+1)}))
		if h := tap.last(t); h.Get(bio) != "" || h.Get(email) != "grace@example.com" {
			t.Errorf("the agent got %v, want the email without the bio", h)
		}
		if log := logs.String(); !strings.Contains(log, `"claim":"bio"`) || !strings.Contains(log, "4097 bytes") || strings.Contains(log, "bbbb") {
			t.Errorf("the log does not say the bio was left out and why, or holds its value:\n%s", log)
		}
	})
	t.Run("every route tells the agent the same", func(t *testing.T) {
		resp, b := do(t, "POST", l.URL+"/v1/chat/completions", `{"model":"demo","messages":[{"role":"user","content":"Who am I?"}]}`,
			"Authorization", "Bearer "+idp.TokenWith(t, "grace", map[string]any{"email": "grace@example.com"}), email, "mallory@example.com")
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "grace@example.com") {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
		if h := tap.last(t); h.Get(email) != "grace@example.com" || h.Get(identity.PrincipalHeader) != grace {
			t.Errorf("the agent got %v", h)
		}
	})
}

// TestARuntimeThatDoesNotAllowListAClaimDropsIt: the emulator, like
// AgentCore, passes on only the headers its runtime allow-lists, so
// agentcoreLocal.headerAllowlist can rehearse a runtime set up without
// the claim's header.
func TestARuntimeThatDoesNotAllowListAClaimDropsIt(t *testing.T) {
	const email = identity.HeaderPrefix + "Email"
	idp := authtest.NewIdP(t, "agentgate-test")
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Auth.JWT = config.JWT{Issuer: idp.URL, Audience: "agentgate-test", Algorithms: []string{"ES256"}, PrincipalClaim: "sub", ClockSkew: time.Minute}
	cfg.Agents = map[string]config.Agent{DemoAgent: {ForwardClaims: map[string]string{"email": email}}}
	cfg.Emulator.HeaderAllowlist = []string{identity.PrincipalHeader}
	tap := &headerTap{}
	l := startWithConfig(t, cfg, LocalOptions{WrapAgent: tap.wrap})
	resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi"}`, "Authorization", "Bearer "+idp.TokenWith(t, "grace", map[string]any{"email": "grace@example.com"}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, b)
	}
	if h := tap.last(t); len(h) != 1 || h.Get(identity.PrincipalHeader) == "" {
		t.Fatalf("the agent got %v, want the one allow-listed header", h)
	}
}
