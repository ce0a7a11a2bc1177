package stack

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/config"
)

// TestUpstreamErrorsEveryKindEveryMode drives each AgentCore error kind,
// before and during the stream, through each response format, and checks
// the exact public answer and that nothing upstream leaks: the emulator's
// messages carry the ARN, the account id and the region.
func TestUpstreamErrorsEveryKindEveryMode(t *testing.T) {
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Retry.MaxAttempts = 1 // retries have their own test
	l := startWithConfig(t, cfg, LocalOptions{})

	before := []struct {
		fault      string
		status     int
		code       string
		retryAfter bool
	}{
		{"ValidationException", 400, "invalid_request", false},
		{"AccessDeniedException", 502, "upstream_access_denied", false},
		{"ResourceNotFoundException", 404, "agent_not_found", false},
		{"ThrottlingException", 429, "rate_limited", true},
		{"ServiceQuotaExceededException", 429, "quota_exceeded", true},
		{"RuntimeClientError", 502, "agent_failed", false},
		{"InternalServerException", 502, "upstream_error", false},
		{"RetryableConflictException", 503, "upstream_unavailable", true},
		{"ServiceUnavailableException", 503, "upstream_unavailable", true},
	}
	for _, mode := range []string{"original", "transformed", "ndjson", "openai"} {
		for _, tt := range before {
			t.Run(tt.fault+" before the stream answers "+tt.code+" in "+mode+" mode", func(t *testing.T) {
				if err := l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{Error: tt.fault}); err != nil {
					t.Fatal(err)
				}
				resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi","response":"`+mode+`"}`)
				if resp.StatusCode != tt.status || errorCode(t, b) != tt.code {
					t.Fatalf("status %d %s, want %d %s", resp.StatusCode, b, tt.status, tt.code)
				}
				if got := resp.Header.Get("Retry-After") != ""; got != tt.retryAfter {
					t.Fatalf("Retry-After %q, want present: %v", resp.Header.Get("Retry-After"), tt.retryAfter)
				}
				assertNoLeak(t, l, resp, b)
			})
		}
	}

	during := []struct {
		name  string
		fault agentcorelocal.Fault
		code  string
	}{
		{"a stream cut after two events", agentcorelocal.Fault{DropAfter: 2}, "upstream_stream_broken"},
		{"an error event after two events", agentcorelocal.Fault{DropAfter: 2, MidStreamError: "InternalServerException"}, "agent_error"},
		{"an oversized event", agentcorelocal.Fault{OversizedAfter: 2}, "upstream_event_too_large"},
	}
	for _, mode := range []string{"original", "transformed", "ndjson", "openai"} {
		for _, tt := range during {
			t.Run(tt.name+" ends a "+mode+" stream with one "+tt.code, func(t *testing.T) {
				if err := l.Emulator.SetFault(l.ARN, tt.fault); err != nil {
					t.Fatal(err)
				}
				resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi","response":"`+mode+`"}`)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if n := strings.Count(string(b), tt.code); n != 1 {
					t.Fatalf("%d terminal errors %s in %q, want one", n, tt.code, b)
				}
				assertNoLeak(t, l, resp, b)
			})
		}
	}

	t.Run("a malformed event is passed through in original mode and skipped in transformed", func(t *testing.T) {
		if err := l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{MalformedAfter: 1}); err != nil {
			t.Fatal(err)
		}
		_, orig := do(t, "POST", l.URL+"/", `{"prompt":"hi","response":"original"}`)
		if !strings.Contains(string(withoutIDs(orig)), "\ndata: {\"event\": {not json\n\n") {
			t.Fatalf("original mode dropped the malformed event: %q", orig)
		}
		_, tr := do(t, "POST", l.URL+"/", `{"prompt":"hi","response":"transformed"}`)
		lines := strings.Split(string(tr), "\n")
		var tail struct{ RuntimeSessionID string }
		if json.Unmarshal([]byte(lines[len(lines)-1]), &tail) != nil || tail.RuntimeSessionID == "" || strings.Contains(string(tr), "[error]") {
			t.Fatalf("transformed mode did not complete: %q", tr)
		}
	})
}

func TestRetriesBeforeTheFirstByte(t *testing.T) {
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Retry.MaxAttempts = 3
	cfg.Retry.MaxBackoff = 20 * time.Millisecond
	var mu sync.Mutex
	var reports []agentcorelocal.InvocationReport
	calls := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := len(reports)
		reports = nil
		return n
	}
	l := startWithConfig(t, cfg, LocalOptions{OnInvocation: func(r agentcorelocal.InvocationReport) {
		mu.Lock()
		reports = append(reports, r)
		mu.Unlock()
	}})

	t.Run("throttled twice then OK succeeds through retries", func(t *testing.T) {
		calls()
		l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{Error: "ThrottlingException", Times: 2})
		resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi","response":"transformed"}`)
		if resp.StatusCode != 200 || !strings.Contains(string(b), "runtimeSessionId") {
			t.Fatalf("status %d %q", resp.StatusCode, b)
		}
		if n := calls(); n != 3 {
			t.Fatalf("the emulator saw %d calls, want 3", n)
		}
	})
	t.Run("never OK gives 429 with Retry-After", func(t *testing.T) {
		l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{Error: "ThrottlingException"})
		resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi"}`)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	})
	t.Run("a stream cut mid-way is never retried", func(t *testing.T) {
		calls()
		l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{DropAfter: 1})
		_, b := do(t, "POST", l.URL+"/", `{"prompt":"hi","response":"transformed"}`)
		if n := calls(); n != 1 || !strings.Contains(string(b), "upstream_stream_broken") {
			t.Fatalf("%d calls, body %q", n, b)
		}
	})
}
