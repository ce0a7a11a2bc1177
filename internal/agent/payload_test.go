package agent

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/model"
)

func TestHistoryFieldReadsAConversationAModelTakes(t *testing.T) {
	u := func(s string) model.Message { return model.Message{Role: model.RoleUser, Text: s} }
	a := func(s string) model.Message { return model.Message{Role: model.RoleAssistant, Text: s} }
	tests := []struct {
		name     string
		messages string
		want     []model.Message
	}{
		{"none is none", ``, nil},
		{"null is none", `null`, nil},
		{"turns stay as they are", `[{"role":"user","content":"one"},{"role":"assistant","content":"two"}]`, []model.Message{u("one"), a("two")}},
		{"other roles and empty texts are skipped", `[{"role":"system","content":"s"},{"role":"user","content":"one"},{"role":"tool","content":"t"},{"role":"assistant","content":null},{"role":"assistant","content":" "},{"role":"assistant","content":"two"}]`,
			[]model.Message{u("one"), a("two")}},
		{"messages of one role in a row join", `[{"role":"user","content":"one"},{"role":"user","content":"more"},{"role":"assistant","content":"two"}]`, []model.Message{u("one\n\nmore"), a("two")}},
		{"a leading answer is dropped", `[{"role":"assistant","content":"hi"},{"role":"user","content":"one"},{"role":"assistant","content":"two"}]`, []model.Message{u("one"), a("two")}},
		{"an unanswered message at the end is dropped", `[{"role":"user","content":"one"},{"role":"assistant","content":"two"},{"role":"user","content":"lost"}]`, []model.Message{u("one"), a("two")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"prompt":"p"}`
			if tt.messages != "" {
				body = `{"prompt":"p","messages":` + tt.messages + `}`
			}
			inv, err := parseInvocation([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(inv.History, tt.want) {
				t.Fatalf("history %+v, want %+v", inv.History, tt.want)
			}
		})
	}
	for body, want := range map[string]string{
		`{"prompt":"p","messages":"hi"}`:                            `messages must be a list of {"role", "content"} objects`,
		`{"prompt":"p","messages":[{"role":"user","content":[1]}]}`: "messages[0].content must be a string",
		`{"prompt":"p","maxTokens":-1}`:                             "maxTokens must be a whole number, 0 or more",
		`{"prompt":"p","maxTokens":"ten"}`:                          "maxTokens must be a whole number, 0 or more",
	} {
		if _, err := parseInvocation([]byte(body)); err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", body, err, want)
		}
	}
}

func TestLastMessagesKeepsWholeExchanges(t *testing.T) {
	var h []model.Message
	for i := range 6 {
		role := model.RoleUser
		if i%2 == 1 {
			role = model.RoleAssistant
		}
		h = append(h, model.Message{Role: role, Text: string(rune('a' + i))})
	}
	if got := lastMessages(h, 4); len(got) != 4 || got[0].Text != "c" {
		t.Fatalf("the last 4 of 6: %+v", got)
	}
	if got := lastMessages(h, 3); len(got) != 2 || got[0].Text != "e" {
		t.Fatalf("the last 3 of 6, in exchanges: %+v", got)
	}
	if got := lastMessages(h, 10); len(got) != 6 {
		t.Fatalf("all 6 under a bound of 10: %+v", got)
	}
}

// TestABroughtConversationStartsTheSession: the built-in model counts the
// turns of a conversation the caller brought, and the session keeps it, so
// the next turn counts on; maxTokens cuts the reply.
func TestABroughtConversationStartsTheSession(t *testing.T) {
	f := serve(t, Config{Provider: model.NewBuiltin(model.BuiltinOptions{Delay: -1})})
	const session = "session-0123456789-0123456789-0123456789"
	// turn returns the reply's text, then its events.
	turn := func(body string) string {
		t.Helper()
		resp, events := f.invoke(t, session, body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, events)
		}
		var text strings.Builder
		for line := range strings.Lines(events) {
			var e struct {
				Event struct {
					ContentBlockDelta struct{ Delta struct{ Text string } }
				}
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok && json.Unmarshal([]byte(data), &e) == nil {
				text.WriteString(e.Event.ContentBlockDelta.Delta.Text)
			}
		}
		return text.String() + "\n" + events
	}
	third := turn(`{"prompt":"three","messages":[{"role":"user","content":"one"},{"role":"assistant","content":"1"},{"role":"user","content":"two"},{"role":"assistant","content":"2"}]}`)
	if !strings.Contains(third, "This is turn 3 of our conversation, which you opened with “one”.") {
		t.Fatalf("the third turn reads %s", third)
	}
	fourth := turn(`{"prompt":"four","messages":[{"role":"user","content":"other"},{"role":"assistant","content":"x"}]}`)
	if !strings.Contains(fourth, "This is turn 4 of our conversation, which you opened with “one”.") {
		t.Fatalf("the session did not keep the brought conversation, or let messages replace it: %s", fourth)
	}
	cut := turn(`{"prompt":"five","maxTokens":5}`)
	if !strings.Contains(cut, `"stopReason":"max_tokens"`) || !strings.Contains(cut, `"outputTokens":5`) {
		t.Fatalf("maxTokens 5 did not cut the reply: %s", cut)
	}
}
