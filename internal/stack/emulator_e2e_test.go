package stack

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/config"
)

// TestAnEndedSessionStartsAfreshThroughTheGateway ends a session with the
// gateway's DELETE, and checks that, as after StopRuntimeSession in
// AgentCore, the same id then starts a new conversation: the built-in
// model counts its turns from 1 again and has forgotten the first prompt.
func TestAnEndedSessionStartsAfreshThroughTheGateway(t *testing.T) {
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	l := startWithConfig(t, cfg, LocalOptions{})

	resp, _ := do(t, "POST", l.URL+"/", `{"prompt":"my name is Ada","response":"transformed"}`)
	sid := resp.Header.Get("X-Agentgate-Session-Id")
	again := `{"prompt":"who am I?","response":"transformed","runtimeSessionId":"` + sid + `"}`
	if _, b := do(t, "POST", l.URL+"/", again); !bytes.Contains(b, []byte("turn 2 of our conversation")) {
		t.Fatalf("the second call is not turn 2: %s", b)
	}
	if resp, b := do(t, "DELETE", l.URL+"/sessions/"+sid, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: status %d %s", resp.StatusCode, b)
	}
	resp, b := do(t, "POST", l.URL+"/", again)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("turn 1 of our conversation")) || bytes.Contains(b, []byte("Ada")) {
		t.Fatalf("after DELETE the same id continued the old conversation: status %d %s", resp.StatusCode, b)
	}
}

// TestUpHonoursTheEmulatorsFaultSection configures a fault in the YAML's
// agentcoreLocal section, as `agentgate up --config` reads it, and checks
// that the local stack's runtime suffers it.
func TestUpHonoursTheEmulatorsFaultSection(t *testing.T) {
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Retry.MaxAttempts = 1
	cfg.Emulator.Fault = config.EmulatorFault{Error: "ThrottlingException", Times: 1, RetryAfter: 3 * time.Second}
	l := startWithConfig(t, cfg, LocalOptions{})

	resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi"}`)
	if resp.StatusCode != http.StatusTooManyRequests || errorCode(t, b) != "rate_limited" || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("first call: status %d, Retry-After %q, %s; want the configured throttle", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	assertNoLeak(t, l, resp, b)
	if resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("second call: status %d %s; the fault was for one call", resp.StatusCode, b)
	}
}
