package stack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/config"
)

func TestAcceptPicksTheFormat(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.None = true
	cfg.Agent.Builtin.Delay = 0
	l := startWithConfig(t, cfg, LocalOptions{})
	tests := []struct {
		accept      string
		contentType string
		check       func(body []byte) bool
	}{
		{"text/event-stream", "text/event-stream", func(b []byte) bool { return bytes.HasPrefix(b, []byte(`data: {"event":{"messageStart"`)) }},
		{"text/plain", "text/plain", func(b []byte) bool { return bytes.Contains(b, []byte("\n----------\n")) }},
		{"application/x-ndjson", "application/x-ndjson", func(b []byte) bool {
			sc := bufio.NewScanner(bytes.NewReader(b))
			var last struct{ Type string }
			for sc.Scan() {
				if json.Unmarshal(sc.Bytes(), &last) != nil {
					return false
				}
			}
			return last.Type == "session"
		}},
	}
	for _, tt := range tests {
		t.Run("Accept "+tt.accept+" gets "+tt.contentType, func(t *testing.T) {
			resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi"}`, "Accept", tt.accept)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.contentType) || !tt.check(b) {
				t.Fatalf("status %d Content-Type %q body %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
		})
	}
	t.Run("an unknown response value lists the valid ones", func(t *testing.T) {
		resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi","response":"yaml"}`)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "original, transformed, ndjson, openai") {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
	})
}

func TestAgentListFollowsAllowLists(t *testing.T) {
	cfg, keys := keyConfig(t, "alice", "bob")
	l := startWithConfig(t, cfg, LocalOptions{})
	gw := gatewayWith(t, l, func(c *config.Config) {
		demo := c.Agents["demo"]
		private := demo
		private.Principals = []string{"key:alice"}
		c.Agents["private"] = private
	})
	list := func(key string) string {
		resp, b := do(t, "GET", gw+"/agents", "", "X-Api-Key", key)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
		return strings.TrimSpace(string(b))
	}
	if got := list(keys["alice"]); got != `{"agents":[{"name":"demo","default":true},{"name":"private","default":false}]}` {
		t.Fatalf("alice sees %s", got)
	}
	if got := list(keys["bob"]); got != `{"agents":[{"name":"demo","default":true}]}` {
		t.Fatalf("bob sees %s", got)
	}
	resp, b := do(t, "POST", gw+"/agents/private/invocations", `{"prompt":"hi"}`, "X-Api-Key", keys["bob"])
	if resp.StatusCode != 404 || errorCode(t, b) != "agent_not_found" {
		t.Fatalf("bob invoking private: %d %s", resp.StatusCode, b)
	}
}
