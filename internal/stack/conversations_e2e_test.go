package stack

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/config"
)

// chatScenario is what chat-completions.mjs runs: one conversation, turn
// by turn, through one client library.
type chatScenario struct {
	Client string   `json:"client"`
	Model  string   `json:"model"`
	Turns  []string `json:"turns"`
	Stream bool     `json:"stream"`
}

type chatResult struct {
	Turns []struct {
		Text              string `json:"text"`
		SessionID         string `json:"sessionId"`
		SentSessionHeader bool   `json:"sentSessionHeader"`
	} `json:"turns"`
}

// sessionsSeen records the session of every invocation the emulator answers.
type sessionsSeen struct {
	mu  sync.Mutex
	ids []string
}

func (s *sessionsSeen) add(r agentcorelocal.InvocationReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, r.SessionID)
}

func (s *sessionsSeen) since(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids[n:]...)
}

// TestChatClientsContinueTheirConversationWithoutAHeader holds three-turn
// conversations through the official clients, which send the whole history
// and never agentgate's session header: each reaches one agent session,
// whose built-in agent counts turns 1, 2 and 3.
func TestChatClientsContinueTheirConversationWithoutAHeader(t *testing.T) {
	nodeClients(t) // skip or fail at once, before the stack starts
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Retry.MaxAttempts = 1
	seen := &sessionsSeen{}
	l := startWithConfig(t, cfg, LocalOptions{OnInvocation: seen.add})

	for _, sc := range []chatScenario{
		{Client: "openai", Stream: true}, {Client: "openai"},
		{Client: "ai-sdk", Stream: true}, {Client: "ai-sdk"},
		{Client: "langchain", Stream: true},
	} {
		how := "streamed"
		if !sc.Stream {
			how = "not streamed"
		}
		t.Run(sc.Client+", "+how, func(t *testing.T) {
			sc.Model = DemoAgent
			sc.Turns = []string{"Hello from " + sc.Client, "And a follow-up", "One more"}
			before := len(seen.since(0))
			var res chatResult
			runClient(t, l.URL, "chat-completions.mjs", sc, &res)
			if len(res.Turns) != 3 {
				t.Fatalf("%d turns reported: %+v", len(res.Turns), res)
			}
			for i, turn := range res.Turns {
				want := fmt.Sprintf("This is turn %d of our conversation", i+1)
				if !strings.Contains(turn.Text, want) || turn.SentSessionHeader {
					t.Fatalf("turn %d reads %q (sent a session header: %v); want %q", i+1, turn.Text, turn.SentSessionHeader, want)
				}
				if turn.SessionID == "" || turn.SessionID != res.Turns[0].SessionID {
					t.Fatalf("turn %d answered in session %q, turn 1 in %q", i+1, turn.SessionID, res.Turns[0].SessionID)
				}
			}
			if !strings.Contains(res.Turns[2].Text, "which you opened with “Hello from "+sc.Client+"”") {
				t.Fatalf("turn 3 forgot how the conversation began: %q", res.Turns[2].Text)
			}
			if ids := seen.since(before); len(ids) != 3 || ids[0] != res.Turns[0].SessionID || ids[1] != ids[0] || ids[2] != ids[0] {
				t.Fatalf("the agent was invoked in sessions %q, want three times %q", ids, res.Turns[0].SessionID)
			}
		})
	}
}
