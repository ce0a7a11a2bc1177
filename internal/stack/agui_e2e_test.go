package stack

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/config"
)

// aguiScenario is what agui-run.mjs runs: the turns of one AG-UI thread,
// sent as HttpAgent sends them.
type aguiScenario struct {
	Path           string            `json:"path"`
	ThreadID       string            `json:"threadId"`
	Turns          []string          `json:"turns"`
	ForwardedProps map[string]string `json:"forwardedProps,omitempty"`
}

// aguiResult is what agui-run.mjs reports: each run as HttpAgent saw it,
// and the HTTP exchanges.
type aguiResult struct {
	Turns []struct {
		Error    *string `json:"error"`
		RunError *struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"runError"`
		RunStarted *struct {
			ThreadID string `json:"threadId"`
			RunID    string `json:"runId"`
		} `json:"runStarted"`
		RunFinished *struct {
			ThreadID string            `json:"threadId"`
			Usage    []json.RawMessage `json:"usage"`
			Metadata struct {
				RuntimeSessionID string `json:"runtimeSessionId"`
			} `json:"metadata"`
		} `json:"runFinished"`
		Events []string `json:"events"`
		Text   string   `json:"text"`
	} `json:"turns"`
	Exchanges []struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
	} `json:"exchanges"`
}

func runAGUI(t *testing.T, base string, sc aguiScenario) aguiResult {
	t.Helper()
	var res aguiResult
	runClient(t, base, "agui-run.mjs", sc, &res)
	if len(res.Turns) != len(sc.Turns) || len(res.Exchanges) != len(sc.Turns) {
		t.Fatalf("%d runs and %d exchanges reported for %d sent: %+v", len(res.Turns), len(res.Exchanges), len(sc.Turns), res)
	}
	return res
}

// TestAGUIAgainstTheLocalStack runs AG-UI's HttpAgent, what CopilotKit
// runs in a browser, against the gateway in front of the emulator and the
// built-in agent: as agentgate's own AG-UI answer, and passing through an
// agent that speaks AG-UI itself (the built-in agent in the agui dialect,
// behind a gateway that knows it as such).
func TestAGUIAgainstTheLocalStack(t *testing.T) {
	nodeClients(t) // skip or fail at once, before the stack starts
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Retry.MaxAttempts = 1
	l := startWithConfig(t, cfg, LocalOptions{})
	native := gatewayWith(t, l, func(c *config.Config) {
		a := c.Agents[DemoAgent]
		a.Dialect = "agui"
		c.Agents["native"] = a
	})
	agui := map[string]string{"dialect": "agui"}

	t.Run("the run's messages hold the transformed answer, derived or passed through", func(t *testing.T) {
		resp, b := do(t, "POST", l.URL+"/", `{"prompt":"Hello from AG-UI","response":"transformed"}`)
		want, wantUsage := answerText(t, "transformed", b)
		if resp.StatusCode != 200 || !strings.Contains(want, "Hello from AG-UI") {
			t.Fatalf("transformed answer: %d %s", resp.StatusCode, b)
		}
		for _, tt := range []struct {
			name, base, path string
			props            map[string]string
		}{
			{"a strands agent", l.URL, "/agui", map[string]string{"dialect": "strands"}},
			{"an AG-UI agent read as events", l.URL, "/agui/agents/demo", agui},
			{"an AG-UI agent passed through", native, "/agui/agents/native", agui},
		} {
			res := runAGUI(t, tt.base, aguiScenario{Path: tt.path, ThreadID: "dialects-" + tt.name, Turns: []string{"Hello from AG-UI"}, ForwardedProps: tt.props})
			turn, x := res.Turns[0], res.Exchanges[0]
			if turn.Error != nil || turn.RunError != nil || turn.Text != want || turn.RunStarted == nil || turn.RunFinished == nil {
				t.Fatalf("%s: error %v, RUN_ERROR %+v, text %q, events %v; want %q", tt.name, turn.Error, turn.RunError, turn.Text, turn.Events, want)
			}
			sid := x.Headers["x-agentgate-session-id"]
			if x.Status != 200 || !strings.HasPrefix(x.Headers["content-type"], "text/event-stream") || sid == "" {
				t.Fatalf("%s: exchange %+v", tt.name, x)
			}
			if tt.base == native {
				// The agent's own ids: the built-in agent names the run's
				// thread after its runtime session.
				if turn.RunStarted.ThreadID != sid || turn.RunFinished.Metadata.RuntimeSessionID != "" {
					t.Fatalf("%s: RUN_STARTED %+v, RUN_FINISHED %+v: want the agent's events as it wrote them", tt.name, turn.RunStarted, turn.RunFinished)
				}
				continue
			}
			if turn.RunStarted.ThreadID != "dialects-"+tt.name || turn.RunStarted.RunID == "" || turn.RunFinished.Metadata.RuntimeSessionID != sid {
				t.Fatalf("%s: RUN_STARTED %+v, RUN_FINISHED %+v: want the client's thread and the session id", tt.name, turn.RunStarted, turn.RunFinished)
			}
			usage := "null" // only strands carries usage
			if len(turn.RunFinished.Usage) == 1 {
				usage = compact(t, turn.RunFinished.Usage[0])
			}
			if same := map[bool]string{true: compact(t, []byte(wantUsage)), false: "null"}[tt.props["dialect"] == "strands"]; usage != same {
				t.Fatalf("%s: usage %s, want %s", tt.name, usage, same)
			}
		}
	})

	t.Run("a thread continues its session, also from a new client and on the named route", func(t *testing.T) {
		// Each case has threads of its own: both gateways sign with the
		// stack's session key, as instances of one deployment do, so the
		// same thread id would be the same session on either.
		for _, tt := range []struct{ name, base, path, thread string }{
			{"derived", l.URL, "/agui", "follow-up"},
			{"passed through", native, "/agui/agents/native", "follow-up-native"},
		} {
			first := runAGUI(t, tt.base, aguiScenario{Path: tt.path, ThreadID: tt.thread, Turns: []string{"My name is Ada", "Who am I?"}, ForwardedProps: agui})
			if text := first.Turns[1].Text; !strings.Contains(text, "turn 2 of our conversation, which you opened with “My name is Ada”") {
				t.Fatalf("%s: the second run does not continue the first: %q", tt.name, text)
			}
			again := runAGUI(t, tt.base, aguiScenario{Path: tt.path, ThreadID: tt.thread, Turns: []string{"Still there?"}, ForwardedProps: agui})
			if text := again.Turns[0].Text; !strings.Contains(text, "turn 3 of our conversation") {
				t.Fatalf("%s: a new client on the same thread starts afresh: %q", tt.name, text)
			}
			other := runAGUI(t, tt.base, aguiScenario{Path: tt.path, ThreadID: "another-" + tt.thread, Turns: []string{"Who am I?"}, ForwardedProps: agui})
			if text := other.Turns[0].Text; !strings.Contains(text, "turn 1 of our conversation") {
				t.Fatalf("%s: another thread shares the session: %q", tt.name, text)
			}
		}
		named := runAGUI(t, l.URL, aguiScenario{Path: "/agui/agents/demo", ThreadID: "follow-up", Turns: []string{"And now?"}})
		if text := named.Turns[0].Text; !strings.Contains(text, "turn 4 of our conversation") {
			t.Fatalf("the named route does not continue the default route's thread: %q", text)
		}
	})

	t.Run("a failure mid-stream is RUN_ERROR, in agentgate's words", func(t *testing.T) {
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
			for _, base := range []string{l.URL, native} {
				res := runAGUI(t, base, aguiScenario{Path: "/agui/agents/" + map[bool]string{true: "native", false: "demo"}[base == native], ThreadID: "faulty-" + tt.code, Turns: []string{"Hello"}, ForwardedProps: agui})
				turn := res.Turns[0]
				if turn.RunError == nil || turn.RunError.Code != tt.code || !strings.Contains(turn.RunError.Message, "(request id ") || strings.Contains(turn.RunError.Message, l.AccountID) {
					t.Fatalf("%s: RUN_ERROR %+v, error %v, events %v: want agentgate's %s", base, turn.RunError, turn.Error, turn.Events, tt.code)
				}
				if turn.RunFinished != nil || !strings.HasPrefix(turn.Text, "This is agentgate's") {
					t.Fatalf("%s: RUN_FINISHED %+v, text %q: want the text before the failure and no finish", base, turn.RunFinished, turn.Text)
				}
			}
		}
		if err := l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{}); err != nil {
			t.Fatal(err)
		}
	})
}
