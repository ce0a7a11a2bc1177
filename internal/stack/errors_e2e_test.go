package stack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/config"
)

// gatewayWith serves a second gateway in front of l's emulator, built from
// l's configuration as changed by edit.
func gatewayWith(t *testing.T, l *Local, edit func(*config.Config)) string {
	t.Helper()
	cfg := l.Config
	cfg.Agents = map[string]config.Agent{}
	for k, v := range l.Config.Agents {
		cfg.Agents[k] = v
	}
	edit(&cfg)
	gw, err := NewGateway(context.Background(), cfg, slog.New(slog.DiscardHandler), Telemetry{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestErrorsArePublicAndLeakNothing(t *testing.T) {
	l := startLocal(t, LocalOptions{})
	badKey := gatewayWith(t, l, func(c *config.Config) { c.AWS.SecretAccessKey = "wrong" + c.AWS.SecretAccessKey[5:] })
	ghost := gatewayWith(t, l, func(c *config.Config) {
		c.Agents["ghost"] = config.Agent{ARN: "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/ghost-0000000001", Endpoint: l.EmulatorURL}
	})
	tests := []struct {
		name       string
		url, body  string
		method     string
		wantStatus int
		wantCode   string
	}{
		{"a request signed with the wrong secret is our fault, not the caller's", badKey + "/", `{"prompt":"hi"}`, "POST", 502, "upstream_access_denied"},
		{"a runtime the upstream does not know reads as an unknown agent by public name", ghost + "/agents/ghost/invocations", `{"prompt":"hi"}`, "POST", 404, "agent_not_found"},
		{"an unknown agent name is 404", l.URL + "/agents/nope/invocations", `{"prompt":"hi"}`, "POST", 404, "agent_not_found"},
		{"an agent name with path tricks is 404", l.URL + "/agents/..%2f..%2fetc/invocations", `{"prompt":"hi"}`, "POST", 404, "agent_not_found"},
		{"an empty prompt is 400", l.URL + "/", `{"prompt":"  "}`, "POST", 400, "invalid_request"},
		{"a missing prompt is 400", l.URL + "/", `{}`, "POST", 400, "invalid_request"},
		{"malformed JSON is 400", l.URL + "/", `{"prompt":`, "POST", 400, "invalid_request"},
		{"a JSON array is 400", l.URL + "/", `["hi"]`, "POST", 400, "invalid_request"},
		{"a prompt that is not a string is 400", l.URL + "/", `{"prompt":42}`, "POST", 400, "invalid_request"},
		{"an unknown response format is 400", l.URL + "/", `{"prompt":"hi","response":"xml"}`, "POST", 400, "invalid_request"},
		{"a session id the gateway did not issue is 400", l.URL + "/", `{"prompt":"hi","runtimeSessionId":"` + strings.Repeat("a", 40) + `"}`, "POST", 400, "invalid_request"},
		{"GET without a prompt is 400", l.URL + "/?prompt=", "", "GET", 400, "invalid_request"},
		{"an unknown route is 404", l.URL + "/nowhere", "", "GET", 404, "not_found"},
		{"a wrong method on a known route is 405", l.URL + "/agents/demo/invocations", "", "GET", 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q, want application/json", ct)
			}
			var e struct {
				Error struct{ Code, Message, RequestID string }
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body is not a JSON error: %s", body)
			}
			if e.Error.Code != tt.wantCode || e.Error.Message == "" {
				t.Fatalf("error %+v, want code %q and a message", e.Error, tt.wantCode)
			}
			if id := resp.Header.Get("X-Request-Id"); id == "" || e.Error.RequestID != id {
				t.Fatalf("request id %q in body, %q in header", e.Error.RequestID, id)
			}
			assertNoLeak(t, l, resp, body)
		})
	}
}

// assertNoLeak fails if any byte of a response names the upstream.
func assertNoLeak(t *testing.T, l *Local, resp *http.Response, body []byte) {
	t.Helper()
	var all strings.Builder
	for k, vs := range resp.Header {
		all.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	all.Write(body)
	secrets := []string{l.ARN, l.AccountID, "us-east-1", strings.TrimPrefix(l.EmulatorURL, "http://"), strings.TrimPrefix(l.AgentURL, "http://"), "bedrock-agentcore", "runtime/"}
	for _, s := range secrets {
		if strings.Contains(all.String(), s) {
			t.Fatalf("response leaks %q:\n%s", s, all.String())
		}
	}
}
