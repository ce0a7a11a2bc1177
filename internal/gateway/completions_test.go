package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/limit"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/upstream"
)

func TestChatParametersReachTheAgent(t *testing.T) {
	c := newConversations(t)
	tests := []struct {
		name, body string
		want       map[string]any
	}{
		{"max_completion_tokens wins over max_tokens, and sampling goes under its documented names",
			`{"model":"demo","messages":[{"role":"user","content":"hi"}],"max_tokens":50,"max_completion_tokens":70,"temperature":0.2,"top_p":0.9,"stop":["\n\n","END"]}`,
			map[string]any{"prompt": "hi", "maxTokens": 70.0, "temperature": 0.2, "topP": 0.9, "stop": []any{"\n\n", "END"}}},
		{"max_tokens alone, and a stop string as a list",
			`{"model":"demo","messages":[{"role":"user","content":"hi"}],"max_tokens":50,"stop":"END","temperature":0}`,
			map[string]any{"prompt": "hi", "maxTokens": 50.0, "stop": []any{"END"}, "temperature": 0.0}},
		{"text parts join with a newline; system and developer messages are the instructions",
			`{"model":"demo","messages":[{"role":"system","content":"be brief"},{"role":"developer","content":[{"type":"text","text":"and kind"}]},{"role":"user","content":[{"type":"text","text":"line one"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"line two"}]}],"n":1,"tools":[]}`,
			map[string]any{"prompt": "line one\nline two", "instructions": "be brief\n\nand kind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, p := completion(t, c.url, "alice", tt.body, c.seen)
			if resp.StatusCode != http.StatusOK || p == nil {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var got map[string]any
			if err := json.Unmarshal(p.raw, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("payload %s, want %v", p.raw, tt.want)
			}
		})
	}
}

func TestChatParametersNoAgentHonoursAreRefused(t *testing.T) {
	c := newConversations(t)
	tests := []struct {
		name, fields string
		code, param  string
	}{
		{"two choices", `"n":2`, "unsupported_parameter", "n"},
		{"tools", `"tools":[{"type":"function","function":{"name":"f"}}]`, "unsupported_parameter", "tools"},
		{"functions", `"functions":[{"name":"f"}]`, "unsupported_parameter", "functions"},
		{"negative max_tokens", `"max_tokens":-1`, "invalid_request", "max_tokens"},
		{"negative max_completion_tokens", `"max_completion_tokens":-5`, "invalid_request", "max_completion_tokens"},
		{"a temperature past 2", `"temperature":2.5`, "invalid_request", "temperature"},
		{"a temperature that is not a number", `"temperature":"warm"`, "invalid_request", "temperature"},
		{"a top_p past 1", `"top_p":1.5`, "invalid_request", "top_p"},
		{"five stop sequences", `"stop":["a","b","c","d","e"]`, "invalid_request", "stop"},
		{"a stop that is a number", `"stop":7`, "invalid_request", "stop"},
		{"a message whose content is a number", `"messages":[{"role":"user","content":7}]`, "invalid_request", "messages[0].content"},
		{"no user message", `"messages":[{"role":"system","content":"hi"}]`, "invalid_request", "messages"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is OpenAI's 400 naming the parameter", func(t *testing.T) {
			body := `{"model":"demo","messages":[{"role":"user","content":"hi"}],` + tt.fields + `}`
			if strings.HasPrefix(tt.fields, `"messages":`) {
				body = `{"model":"demo",` + tt.fields + `}`
			}
			resp, b, p := completion(t, c.url, "alice", body, c.seen)
			if p != nil {
				t.Fatal("the request reached the agent")
			}
			checkOpenAIError(t, &http.Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(b))}, http.StatusBadRequest, tt.code, tt.param)
		})
	}
}

// FuzzChatCompletionsBody: every body is answered, and every refusal is
// the caller's 4xx in OpenAI's shape, with conversations remembered.
func FuzzChatCompletionsBody(f *testing.F) {
	for _, s := range []string{`{"model":"demo","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"demo","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":[{"type":"text","text":"c"}]}]}`,
		`{"model":"demo","messages":[{"role":"user","content":"hi"}],"stop":["a"],"n":1,"tools":[],"temperature":1}`,
		`{"model":"demo","messages":[{"role":"assistant","content":null}]}`, `{"model":"demo","messages":{}}`, `[]`, `{"model":1}`} {
		f.Add([]byte(s))
	}
	inv := &pipeInvoker{err: &upstream.Error{Kind: upstream.KindInternal, Err: errors.New("x")}}
	issuer, _ := session.NewIssuer(session.RandomKey())
	gw, err := New(Options{Agents: map[string]upstream.Invoker{"demo": inv}, DefaultAgent: "demo", Sessions: issuer, Auth: auth.None{},
		Conversations: limit.NewMemory(nil)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body)))
		if rec.Code != http.StatusBadGateway && (rec.Code < 400 || rec.Code > 499) {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var e struct {
			Error struct{ Message, Type, Code string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Type == "" || e.Error.Message == "" {
			t.Fatalf("body %q is not OpenAI's error object", rec.Body.Bytes())
		}
	})
}
