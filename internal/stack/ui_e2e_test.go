package stack

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/config"
)

// uiChatScenario is what ui-chat.mjs runs: the turns of one chat, sent as
// useChat sends them.
type uiChatScenario struct {
	API     string            `json:"api"`
	ID      string            `json:"id"`
	Turns   []string          `json:"turns"`
	Body    map[string]string `json:"body,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Resume  bool              `json:"resume,omitempty"`
}

// uiChatResult is what ui-chat.mjs reports: each turn's assistant message
// as the AI SDK assembled it, and the HTTP exchanges.
type uiChatResult struct {
	Resumed     *bool   `json:"resumed"`
	ResumedText *string `json:"resumedText"`
	Turns       []struct {
		Status       string  `json:"status"`
		Error        *string `json:"error"`
		FinishReason *string `json:"finishReason"`
		Text         string  `json:"text"`
		Message      struct {
			ID       string `json:"id"`
			Role     string `json:"role"`
			Metadata struct {
				Usage            json.RawMessage `json:"usage"`
				RuntimeSessionID string          `json:"runtimeSessionId"`
			} `json:"metadata"`
		} `json:"message"`
	} `json:"turns"`
	Exchanges []struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
	} `json:"exchanges"`
}

func chatWith(t *testing.T, base string, sc uiChatScenario) uiChatResult {
	t.Helper()
	var res uiChatResult
	runClient(t, base, "ui-chat.mjs", sc, &res)
	if len(res.Turns) != len(sc.Turns) {
		t.Fatalf("%d turns reported for %d sent: %+v", len(res.Turns), len(sc.Turns), res)
	}
	return res
}

// TestUseChatAgainstTheLocalStack runs the AI SDK's own chat engine, what
// useChat runs in a browser, against the gateway in front of the emulator
// and the built-in agent.
func TestUseChatAgainstTheLocalStack(t *testing.T) {
	nodeClients(t) // skip or fail at once, before the stack starts
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Retry.MaxAttempts = 1
	l := startWithConfig(t, cfg, LocalOptions{})

	t.Run("the assembled message is the transformed answer, in every dialect, with the usage in its metadata", func(t *testing.T) {
		resp, b := do(t, "POST", l.URL+"/", `{"prompt":"Hello from useChat","response":"transformed"}`)
		want, wantUsage := answerText(t, "transformed", b)
		if resp.StatusCode != 200 || !strings.Contains(want, "Hello from useChat") {
			t.Fatalf("transformed answer: %d %s", resp.StatusCode, b)
		}
		for _, dialect := range []string{"strands", "text", "agui"} {
			res := chatWith(t, l.URL, uiChatScenario{API: "/api/chat", ID: "dialect-" + dialect, Turns: []string{"Hello from useChat"}, Body: map[string]string{"dialect": dialect}})
			turn, x := res.Turns[0], res.Exchanges[0]
			if turn.Status != "ready" || turn.Error != nil || turn.Text != want {
				t.Fatalf("%s: status %s, error %v, text %q; want %q", dialect, turn.Status, turn.Error, turn.Text, want)
			}
			if x.Status != 200 || x.Headers["x-vercel-ai-ui-message-stream"] != "v1" || turn.Message.Metadata.RuntimeSessionID != x.Headers["x-agentgate-session-id"] {
				t.Fatalf("%s: exchange %+v, metadata %+v", dialect, x, turn.Message.Metadata)
			}
			usage, same := compact(t, turn.Message.Metadata.Usage), "null" // only strands carries usage
			if dialect == "strands" {
				same = compact(t, []byte(wantUsage))
			}
			if usage != same {
				t.Fatalf("%s: usage %s, want %s (the transformed answer's is %s)", dialect, usage, same, wantUsage)
			}
			if turn.FinishReason == nil || *turn.FinishReason != "stop" || !strings.HasPrefix(turn.Message.ID, "msg-") {
				t.Fatalf("%s: finish reason %v, message id %q", dialect, turn.FinishReason, turn.Message.ID)
			}
		}
	})

	t.Run("a follow-up in the same chat continues its session, also from a new page and on the named route", func(t *testing.T) {
		first := chatWith(t, l.URL, uiChatScenario{API: "/api/chat", ID: "follow-up", Turns: []string{"My name is Ada", "Who am I?"}, Resume: true})
		if first.Resumed == nil || *first.Resumed || first.Exchanges[0].Method != "GET" || first.Exchanges[0].Path != "/api/chat/follow-up/stream" || first.Exchanges[0].Status != 204 {
			t.Fatalf("resume on mount: resumed %v, exchange %+v; want a 204 and nothing resumed", first.Resumed, first.Exchanges[0])
		}
		if text := first.Turns[1].Text; !strings.Contains(text, "turn 2 of our conversation, which you opened with “My name is Ada”") {
			t.Fatalf("the second turn does not continue the first: %q", text)
		}
		reload := chatWith(t, l.URL, uiChatScenario{API: "/ui/agents/demo", ID: "follow-up", Turns: []string{"Still there?"}})
		if text := reload.Turns[0].Text; !strings.Contains(text, "turn 3 of our conversation") {
			t.Fatalf("a new client with the same chat id starts afresh: %q", text)
		}
		other := chatWith(t, l.URL, uiChatScenario{API: "/api/chat", ID: "another", Turns: []string{"Who am I?"}})
		if text := other.Turns[0].Text; !strings.Contains(text, "turn 1 of our conversation") {
			t.Fatalf("another chat id shares the session: %q", text)
		}
	})

	t.Run("a failure mid-stream surfaces as the protocol's error, in agentgate's words", func(t *testing.T) {
		for _, tt := range []struct {
			fault agentcorelocal.Fault
			code  string
		}{
			{agentcorelocal.Fault{DropAfter: 3, MidStreamError: "RuntimeError"}, "agent_error"},
			{agentcorelocal.Fault{DropAfter: 3}, "upstream_stream_broken"},
		} {
			if err := l.Emulator.SetFault(l.ARN, tt.fault); err != nil {
				t.Fatal(err)
			}
			res := chatWith(t, l.URL, uiChatScenario{API: "/api/chat", ID: "faulty-" + tt.code, Turns: []string{"Hello"}})
			turn := res.Turns[0]
			if turn.Status != "error" || turn.Error == nil || !strings.Contains(*turn.Error, "("+tt.code+", request id ") || strings.Contains(*turn.Error, l.AccountID) {
				t.Fatalf("status %s, error %v: want the chat's error to be agentgate's %s", turn.Status, turn.Error, tt.code)
			}
			if !strings.HasPrefix(turn.Text, "This is agentgate's") {
				t.Fatalf("the text before the failure is gone: %q", turn.Text)
			}
		}
		if err := l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{}); err != nil {
			t.Fatal(err)
		}
	})
}

// compact is raw JSON without its insignificant spaces.
func compact(t *testing.T, raw []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%q is not JSON: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
