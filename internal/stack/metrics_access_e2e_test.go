package stack

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
)

// TestPublicMetricsNameNoRestrictedAgent: /metrics on the public listener
// is open unless metrics.token is set. Open, it must not name an agent
// kept to certain principals to everyone who can reach it; with the token,
// it names every agent, to the token's holders only.
func TestPublicMetricsNameNoRestrictedAgent(t *testing.T) {
	l := startLocal(t, LocalOptions{})
	key, hash, err := auth.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	serve := func(t *testing.T, token string) string {
		cfg := l.Config
		cfg.Agents = map[string]config.Agent{
			DemoAgent:    l.Config.Agents[DemoAgent],
			"secret-ops": {ARN: l.ARN, Region: "us-east-1", Endpoint: l.EmulatorURL, Principals: []string{"key:ci"}},
		}
		cfg.Auth = config.Auth{APIKeys: []config.APIKey{{Name: "ci", Hash: hash}}}
		cfg.Metrics.Token = token
		tel, err := NewTelemetry(context.Background(), cfg, TelemetryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		gw, err := NewGateway(context.Background(), cfg, slog.New(slog.DiscardHandler), tel)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(gw)
		t.Cleanup(srv.Close)
		if resp, b := do(t, "POST", srv.URL+"/agents/secret-ops/invocations", `{"prompt":"hi","response":"transformed"}`, "X-Api-Key", key); resp.StatusCode != 200 {
			t.Fatalf("invoking the restricted agent: %d %s", resp.StatusCode, b)
		}
		return srv.URL
	}

	t.Run("without a token the restricted agent is counted under another name", func(t *testing.T) {
		url := serve(t, "")
		resp, b := do(t, "GET", url+"/metrics", "")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if strings.Contains(string(b), "secret-ops") || !strings.Contains(string(b), `agent="restricted"`) {
			t.Fatalf("public metrics name the restricted agent, or do not count it:\n%s", b)
		}
	})
	t.Run("with a token only its holders read the metrics, and they see every name", func(t *testing.T) {
		token := strings.Repeat("m", 24)
		url := serve(t, token)
		if resp, b := do(t, "GET", url+"/metrics", ""); resp.StatusCode != 401 || errorCode(t, b) != "unauthenticated" {
			t.Fatalf("without the token: %d %s", resp.StatusCode, b)
		}
		if resp, b := do(t, "GET", url+"/metrics", "", "Authorization", "Bearer wrong"); resp.StatusCode != 401 {
			t.Fatalf("with a wrong token: %d %s", resp.StatusCode, b)
		}
		resp, b := do(t, "GET", url+"/metrics", "", "Authorization", "Bearer "+token)
		if resp.StatusCode != 200 || !strings.Contains(string(b), `agent="secret-ops"`) {
			t.Fatalf("with the token: %d\n%s", resp.StatusCode, b)
		}
	})
}
