package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/auth/authtest"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/upstream"
)

// answerInvoker answers every invocation with one text event at once and
// hands the request to the test.
type answerInvoker struct{ reqs chan upstream.Request }

func (a answerInvoker) Invoke(_ context.Context, req upstream.Request) (*upstream.Response, error) {
	a.reqs <- req
	return &upstream.Response{Body: io.NopCloser(strings.NewReader(textEvent)), SessionID: req.SessionID, ContentType: "text/event-stream"}, nil
}

func (answerInvoker) StopSession(context.Context, string) error { return nil }

// lockedBuffer is a log destination the server's goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const emailHeader = identity.HeaderPrefix + "Email"

// TestTheAgentLearnsWhoIsAskingFromVerifiedCredentialsOnly: the principal,
// its kind and the configured claims go upstream as custom headers; what
// the client sent under those names never does.
func TestTheAgentLearnsWhoIsAskingFromVerifiedCredentialsOnly(t *testing.T) {
	idp := authtest.NewIdP(t, "agentgate-test")
	j, err := auth.NewJWT(t.Context(), auth.JWTConfig{Issuer: idp.URL, Audience: "agentgate-test", Algorithms: []string{"ES256"}})
	if err != nil {
		t.Fatal(err)
	}
	key, hash, err := auth.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewAPIKeys([]auth.APIKey{{Name: "ci-bot", Hash: hash}})
	if err != nil {
		t.Fatal(err)
	}
	inv := answerInvoker{reqs: make(chan upstream.Request, 1)}
	logs := &lockedBuffer{}
	srv := newTestServer(t, inv, func(o *Options) {
		o.Auth = auth.Chain{keys, j}
		o.ForwardClaims = map[string]map[string]string{"demo": {"email": emailHeader, "bio": identity.HeaderPrefix + "Bio"}}
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	forged := []string{emailHeader, "mallory@example.com", identity.PrincipalHeader, "user:admin",
		strings.ToLower(identity.PrincipalKindHeader), "password", identity.HeaderPrefix + "Tenant", "acme"}
	invoke := func(t *testing.T, credential string, header ...string) http.Header {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{"prompt":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+credential)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return (<-inv.reqs).Headers
	}
	grace, err := auth.QualifyPrincipal("jwt:grace", idp.URL)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a JWT's claim goes in its header, and the client's forgeries do not", func(t *testing.T) {
		h := invoke(t, idp.TokenWith(t, "grace", map[string]any{"email": "grace@example.com"}), forged...)
		want := http.Header{}
		want.Set(identity.PrincipalHeader, grace)
		want.Set(identity.PrincipalKindHeader, "jwt")
		want.Set(emailHeader, "grace@example.com")
		if !equalHeaders(h, want) {
			t.Fatalf("upstream headers %v, want %v", h, want)
		}
	})
	t.Run("a JWT without the claim sends no such header, forged or not", func(t *testing.T) {
		h := invoke(t, idp.Token(t, "grace"), forged...)
		if _, ok := h[http.CanonicalHeaderKey(emailHeader)]; ok || h.Get(identity.PrincipalHeader) != grace || len(h) != 2 {
			t.Fatalf("upstream headers %v, want grace's principal and kind only", h)
		}
	})
	t.Run("an API key's caller is named, with no claims", func(t *testing.T) {
		h := invoke(t, key, forged...)
		if h.Get(identity.PrincipalHeader) != "key:ci-bot" || h.Get(identity.PrincipalKindHeader) != "apikey" || len(h) != 2 {
			t.Fatalf("upstream headers %v, want key:ci-bot's principal and kind only", h)
		}
	})
	t.Run("a claim too long for AgentCore is left out whole and logged without its value", func(t *testing.T) {
		bio := strings.Repeat("b", identity.MaxValueBytes+1)
		h := invoke(t, idp.TokenWith(t, "grace", map[string]any{"email": "grace@example.com", "bio": bio}))
		if _, ok := h[http.CanonicalHeaderKey(identity.HeaderPrefix+"Bio")]; ok || h.Get(emailHeader) != "grace@example.com" {
			t.Fatalf("upstream headers %v, want the email without the bio", h)
		}
		log := logs.String()
		if !strings.Contains(log, "claim=bio") || !strings.Contains(log, "4097 bytes") || strings.Contains(log, "bbbb") {
			t.Fatalf("the log does not say which claim was left out and why, or holds its value:\n%s", log)
		}
	})
}

// TestClientsAgentHeadersAreDroppedOnArrival: no handler sees a custom
// header the client sent, in whatever case, and the request it was given
// is left as it was.
func TestClientsAgentHeadersAreDroppedOnArrival(t *testing.T) {
	var seen http.Header
	h := withoutAgentHeaders(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r.Header }))
	req, err := http.NewRequest(http.MethodPost, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(identity.PrincipalHeader, "user:admin")
	req.Header[strings.ToLower(emailHeader)] = []string{"mallory@example.com"} // as a proxy might leave it
	req.Header.Set("X-Amzn-Bedrock-AgentCore-Runtime-User-Id", "user:admin")
	req.Header.Set("X-Api-Key", "agk_x")
	h.ServeHTTP(nil, req)
	if len(seen) != 2 || seen.Get("X-Api-Key") == "" || seen.Get("X-Amzn-Bedrock-AgentCore-Runtime-User-Id") == "" {
		t.Fatalf("the handler saw %v, want only the headers that are not custom", seen)
	}
	if len(req.Header) != 4 {
		t.Fatalf("the request given was changed: %v", req.Header)
	}
}

func TestForwardClaimsAreCheckedByNew(t *testing.T) {
	for name, claims := range map[string]map[string]map[string]string{
		"an unknown agent":           {"other": {"email": emailHeader}},
		"a header AgentCore refuses": {"demo": {"email": "X-Email"}},
	} {
		t.Run(name+" is refused", func(t *testing.T) {
			issuer, err := session.NewIssuer(session.RandomKey())
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(Options{Agents: map[string]upstream.Invoker{"demo": answerInvoker{}}, DefaultAgent: "demo",
				Sessions: issuer, Auth: auth.None{}, ForwardClaims: claims})
			if err == nil || !strings.Contains(err.Error(), "ForwardClaims") {
				t.Fatalf("New: %v, want a ForwardClaims error", err)
			}
		})
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}
