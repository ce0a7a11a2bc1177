package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/auth/authtest"
	"github.com/agentgate/agentgate/internal/config"
)

// TestPrincipalNameSpacesDoNotMeet is the hostile probe's impersonation: a
// JWT whose subject spells an API key's or a password user's principal
// must not pass their allow-lists, nor reach the agent under their runtime
// user id; a bare name in principals stops the start, naming the entry; a
// subject the runtime user id header cannot carry is a 401, not a 502.
func TestPrincipalNameSpacesDoNotMeet(t *testing.T) {
	agent := &agentLog{}
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	l := startWithConfig(t, cfg, LocalOptions{WrapAgent: agent.wrap})
	idp := authtest.NewIdP(t, "agentgate-test")
	key, hash, err := auth.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	build := func(principals ...string) (*httptest.Server, error) {
		c := l.Config
		c.Agents = map[string]config.Agent{
			DemoAgent: l.Config.Agents[DemoAgent],
			"ops":     {ARN: l.ARN, Region: "us-east-1", Endpoint: l.EmulatorURL, Principals: principals},
		}
		c.Auth = config.Auth{
			APIKeys: []config.APIKey{{Name: "ci-bot", Hash: hash}},
			JWT:     config.JWT{Issuer: idp.URL, Audience: "agentgate-test", Algorithms: []string{"ES256"}, PrincipalClaim: "sub", ClockSkew: time.Minute},
		}
		gw, err := NewGateway(context.Background(), c, slog.New(slog.DiscardHandler), Telemetry{})
		if err != nil {
			return nil, err
		}
		srv := httptest.NewServer(gw)
		t.Cleanup(srv.Close)
		return srv, nil
	}

	t.Run("a bare name in principals stops the start and names the entry", func(t *testing.T) {
		_, err := build("key:ci-bot", "ada")
		if err == nil || !strings.Contains(err.Error(), "agents.ops.principals[1]") || !strings.Contains(err.Error(), "user:NAME") {
			t.Fatalf("error %v, want one naming agents.ops.principals[1] and how to write a user", err)
		}
	})

	srv, err := build("key:ci-bot", "user:ada", "jwt:grace")
	if err != nil {
		t.Fatal(err)
	}
	invoke := func(t *testing.T, agentName, credential string) (int, string) {
		t.Helper()
		resp, b := do(t, "POST", srv.URL+"/agents/"+agentName+"/invocations", `{"prompt":"hi","response":"transformed"}`, "Authorization", "Bearer "+credential)
		if resp.StatusCode != 200 {
			return resp.StatusCode, errorCode(t, b)
		}
		return 200, ""
	}
	sum := sha256.Sum256([]byte(idp.URL))
	tag := hex.EncodeToString(sum[:])[:12]

	for _, sub := range []string{"key:ci-bot", "ada", "user:ada", "grace:x"} {
		t.Run("a JWT whose subject is "+sub+" does not pass the allow-list", func(t *testing.T) {
			if status, code := invoke(t, "ops", idp.Token(t, sub)); status != 404 || code != "agent_not_found" {
				t.Fatalf("status %d %s, want 404 agent_not_found", status, code)
			}
		})
	}
	t.Run("the API key's holder and the JWT subject listed as jwt:grace pass", func(t *testing.T) {
		before := len(agent.calls())
		if status, code := invoke(t, "ops", key); status != 200 {
			t.Fatalf("API key: %d %s", status, code)
		}
		if status, code := invoke(t, "ops", idp.Token(t, "grace")); status != 200 {
			t.Fatalf("jwt grace: %d %s", status, code)
		}
		got := agent.calls()[before:]
		want := []string{"key:ci-bot", "jwt:" + tag + ":grace"}
		if !slices.Equal(got, want) {
			t.Fatalf("runtime user ids upstream %q, want %q", got, want)
		}
	})
	t.Run("a JWT subject spelling a key reaches the agent in the JWT name space", func(t *testing.T) {
		before := len(agent.calls())
		if status, code := invoke(t, DemoAgent, idp.Token(t, "key:ci-bot")); status != 200 {
			t.Fatalf("status %d %s", status, code)
		}
		if got := agent.calls()[before:]; len(got) != 1 || got[0] != "jwt:"+tag+":key:ci-bot" {
			t.Fatalf("runtime user id %q, want jwt:%s:key:ci-bot", got, tag)
		}
	})
	for _, sub := range []string{"ada\r\nX-Injected: 1", "ada\x00", strings.Repeat("a", 200)} {
		t.Run("a subject the user id header cannot carry is 401: "+strings.ToValidUTF8(sub[:min(len(sub), 12)], "?"), func(t *testing.T) {
			before := len(agent.calls())
			if status, code := invoke(t, DemoAgent, idp.Token(t, sub)); status != 401 || code != "invalid_credentials" {
				t.Fatalf("status %d %s, want 401 invalid_credentials", status, code)
			}
			if len(agent.calls()) != before {
				t.Fatal("the agent was called")
			}
		})
	}
}
