package stack

import (
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/config"
)

// TestResponsesAPIWithTheOfficialClients runs the openai npm SDK's
// responses.create (streamed and not, each turn continuing the last by
// previous_response_id) and the AI SDK's default OpenAI provider, which
// calls /v1/responses, against the local stack.
func TestResponsesAPIWithTheOfficialClients(t *testing.T) {
	nodeClients(t)
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	l := startWithConfig(t, cfg, LocalOptions{})
	var res struct {
		SDK []struct {
			ID, Text, Status string
			Usage            *struct {
				TotalTokens int `json:"total_tokens"`
			}
			Types []string
		}
		AISDK struct {
			Generate, Stream struct {
				Text   string
				Chunks int
				Usage  struct {
					TotalTokens int `json:"totalTokens"`
				}
			}
		} `json:"aiSdk"`
	}
	turns := []string{"My name is Ada.", "What did I say?", "Once more."}
	runClient(t, l.URL, "responses.mjs", map[string]any{"turns": turns}, &res)
	if len(res.SDK) != len(turns) {
		t.Fatalf("%d turns answered, want %d: %+v", len(res.SDK), len(turns), res)
	}
	for i, r := range res.SDK {
		n := i + 1
		if r.Status != "completed" || !strings.HasPrefix(r.ID, "resp_") || r.Usage == nil || r.Usage.TotalTokens == 0 {
			t.Errorf("turn %d: status %q, id %q, usage %+v", n, r.Status, r.ID, r.Usage)
		}
		// The built-in agent counts the session's turns: previous_response_id
		// continued the same session each time.
		if want := "turn " + string(rune('0'+n)); !strings.Contains(r.Text, want) {
			t.Errorf("turn %d: %q does not say %q", n, r.Text, want)
		}
	}
	if types := res.SDK[1].Types; len(types) < 3 || types[0] != "response.created" || types[len(types)-1] != "response.completed" {
		t.Errorf("the streamed turn's events: %v", types)
	}
	for name, a := range map[string]struct {
		Text   string
		Chunks int
		Usage  struct {
			TotalTokens int `json:"totalTokens"`
		}
	}{"generateText": res.AISDK.Generate, "streamText": res.AISDK.Stream} {
		if !strings.Contains(a.Text, turns[0]) || a.Usage.TotalTokens == 0 {
			t.Errorf("AI SDK %s: %q, usage %+v", name, a.Text, a.Usage)
		}
	}
	if res.AISDK.Stream.Chunks < 2 {
		t.Errorf("AI SDK streamText read %d chunks: not streamed", res.AISDK.Stream.Chunks)
	}
}
