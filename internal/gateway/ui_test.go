package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/upstream"
)

// chatBody is a body as the AI SDK's DefaultChatTransport sends it, with
// the given chat id and user text after one earlier exchange.
func chatBody(id, text string) string {
	b, _ := json.Marshal(map[string]any{
		"id": id,
		"messages": []any{
			map[string]any{"id": "u1", "role": "user", "parts": []any{map[string]any{"type": "text", "text": "earlier"}}},
			map[string]any{"id": "a1", "role": "assistant", "parts": []any{map[string]any{"type": "step-start"}, map[string]any{"type": "text", "text": "an answer", "state": "done"}}},
			map[string]any{"id": "u2", "role": "user", "parts": []any{map[string]any{"type": "text", "text": text}}},
		},
		"trigger": "submit-message",
	})
	return string(b)
}

// uiAgent answers each invocation with one text event, and hands the
// request it got to the test.
func uiAgent(t *testing.T) (*pipeInvoker, <-chan upstream.Request) {
	inv := &pipeInvoker{calls: make(chan call, 8)}
	reqs := make(chan upstream.Request, 8)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case c := <-inv.calls:
				reqs <- c.req
				c.w.Write([]byte(textEvent))
				c.w.Close()
			case <-done:
				return
			}
		}
	}()
	return inv, reqs
}

func postChat(t *testing.T, url, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestUIChatAnswersWithTheUIMessageStream(t *testing.T) {
	inv, reqs := uiAgent(t)
	srv := newTestServer(t, inv)
	for _, path := range []string{"/api/chat", "/ui/agents/demo"} {
		t.Run(path, func(t *testing.T) {
			resp, body := postChat(t, srv.URL+path, `{"id":"c1","messages":[{"id":"u1","role":"user","parts":[{"type":"text","text":"Hi"},{"type":"file","url":"data:,x","mediaType":"text/plain"},{"type":"text","text":"there"}]}],"trigger":"submit-message","temperature":0.5,"dialect":"agui","include":["reasoning"]}`)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" || resp.Header.Get("X-Vercel-Ai-Ui-Message-Stream") != "v1" {
				t.Fatalf("status %d, headers %v: want the UI message stream", resp.StatusCode, resp.Header)
			}
			rid := resp.Header.Get(RequestIDHeader)
			want := `data: {"type":"start","messageId":"msg-` + rid + `"}` + "\n\n" +
				`data: {"type":"start-step"}` + "\n\n" +
				`data: {"type":"text-start","id":"text-1"}` + "\n\n" +
				`data: {"type":"text-delta","id":"text-1","delta":"Hello"}` + "\n\n" +
				`data: {"type":"text-end","id":"text-1"}` + "\n\n" +
				`data: {"type":"finish-step"}` + "\n\n" +
				`data: {"type":"finish","finishReason":"stop","messageMetadata":{"usage":null,"runtimeSessionId":"` + resp.Header.Get(SessionHeader) + `"}}` + "\n\n" +
				"data: [DONE]\n\n"
			if string(body) != want {
				t.Fatalf("body\n%s\nwant\n%s", body, want)
			}
			var payload map[string]any
			if err := json.Unmarshal((<-reqs).Payload, &payload); err != nil {
				t.Fatal(err)
			}
			wantPayload := map[string]any{"prompt": "Hi\nthere", "temperature": 0.5, "dialect": "agui"}
			if len(payload) != len(wantPayload) || payload["prompt"] != wantPayload["prompt"] || payload["temperature"] != 0.5 || payload["dialect"] != "agui" {
				t.Fatalf("the agent got %v, want %v: the last user message's text and the extra fields only", payload, wantPayload)
			}
		})
	}
}

func TestUIChatIDsMapToTheCallersSessions(t *testing.T) {
	inv, reqs := uiAgent(t)
	aliceKey, aliceHash, _ := auth.GenerateAPIKey()
	bobKey, bobHash, _ := auth.GenerateAPIKey()
	keys, err := auth.NewAPIKeys([]auth.APIKey{{Name: "alice", Hash: aliceHash}, {Name: "bob", Hash: bobHash}})
	if err != nil {
		t.Fatal(err)
	}
	issuer, _ := session.NewIssuer(session.RandomKey())
	srv := newTestServer(t, inv, func(o *Options) { o.Auth, o.Sessions = keys, issuer })
	// A second instance with the same key, as behind a load balancer.
	other := newTestServer(t, inv, func(o *Options) { o.Auth, o.Sessions = keys, issuer })
	chat := func(base, key, id string) string {
		t.Helper()
		resp, body := postChat(t, base+"/api/chat", chatBody(id, "hello"), "Authorization", "Bearer "+key)
		got := (<-reqs).SessionID
		if resp.StatusCode != http.StatusOK || resp.Header.Get(SessionHeader) != got {
			t.Fatalf("status %d, session header %q, upstream session %q: %s", resp.StatusCode, resp.Header.Get(SessionHeader), got, body)
		}
		return got
	}
	first := chat(srv.URL, aliceKey, "chat-1")
	if len(first) < 33 {
		t.Fatalf("session id %q is shorter than AgentCore takes", first)
	}
	tests := []struct {
		name string
		got  string
		same bool
	}{
		{"the same chat id continues the session", chat(srv.URL, aliceKey, "chat-1"), true},
		{"another instance maps the chat id to the same session", chat(other.URL, aliceKey, "chat-1"), true},
		{"another chat is another session", chat(srv.URL, aliceKey, "chat-2"), false},
		{"another caller's chat of the same id is another session", chat(srv.URL, bobKey, "chat-1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.got == first) != tt.same {
				t.Fatalf("session %q, first %q: want the same %v", tt.got, first, tt.same)
			}
		})
	}
	t.Run("the session is the caller's own: only they may end it", func(t *testing.T) {
		if bob, alice := stopSession(t, srv.URL, first, bobKey), stopSession(t, srv.URL, first, aliceKey); bob != http.StatusForbidden || alice != http.StatusNoContent {
			t.Fatalf("ending alice's chat session: status %d for bob, %d for alice; want 403, 204", bob, alice)
		}
	})
}

// stopSession asks to end session id with key, and returns the status.
func stopSession(t *testing.T, base, id, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, base+"/sessions/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestUIChatRefusesBadBodies(t *testing.T) {
	srv := newTestServer(t, &pipeInvoker{err: errors.New("the agent must not be called")})
	user := func(parts string) string { return `[{"id":"u","role":"user","parts":` + parts + `}]` }
	text := user(`[{"type":"text","text":"hi"}]`)
	tests := []struct {
		name, body, contentType string
		status                  int
		mentions                string
	}{
		{"an empty body", ``, "application/json", 400, "empty"},
		{"a body that is not JSON", `{"id":`, "application/json", 400, "not valid JSON"},
		{"a body that is not an object", `[]`, "application/json", 400, "JSON object"},
		{"a body that is not JSON at all", `id=c1`, "text/html", 415, "JSON"},
		{"no chat id", `{"messages":` + text + `}`, "application/json", 400, "id:"},
		{"a chat id that is not a string", `{"id":7,"messages":` + text + `}`, "application/json", 400, "id:"},
		{"a chat id too long", `{"id":"` + strings.Repeat("c", 257) + `","messages":` + text + `}`, "application/json", 400, "id:"},
		{"no messages", `{"id":"c1"}`, "application/json", 400, "messages:"},
		{"messages that are not a list", `{"id":"c1","messages":{"role":"user"}}`, "application/json", 400, "messages:"},
		{"an empty list of messages", `{"id":"c1","messages":[]}`, "application/json", 400, "messages:"},
		{"parts that are not a list", `{"id":"c1","messages":` + user(`"hi"`) + `}`, "application/json", 400, "messages:"},
		{"a text part whose text is not a string", `{"id":"c1","messages":` + user(`[{"type":"text","text":5}]`) + `}`, "application/json", 400, "messages:"},
		{"a last message that is not the user's", `{"id":"c1","messages":[{"id":"u","role":"user","parts":[{"type":"text","text":"hi"}]},{"id":"a","role":"assistant","parts":[]}]}`, "application/json", 400, "last message"},
		{"a user message without text", `{"id":"c1","messages":` + user(`[{"type":"file","url":"data:,x","mediaType":"text/plain"}]`) + `}`, "application/json", 400, "messages:"},
		{"an unknown trigger", `{"id":"c1","messages":` + text + `,"trigger":"resume-stream"}`, "application/json", 400, "trigger:"},
		{"an unknown include", `{"id":"c1","messages":` + text + `,"include":["everything"]}`, "application/json", 400, "include:"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/chat", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Error struct{ Code, Message, RequestID string }
			}
			body, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, body %s: want %d and the gateway's JSON error", resp.StatusCode, body, tt.status)
			}
			if e.Error.RequestID == "" || e.Error.RequestID != resp.Header.Get(RequestIDHeader) || !strings.Contains(e.Error.Message, tt.mentions) {
				t.Fatalf("error %+v: want the request id and a message that mentions %q", e.Error, tt.mentions)
			}
		})
	}
}

func TestUIResumeFindsNoStream(t *testing.T) {
	srv := newTestServer(t, &pipeInvoker{err: errors.New("the agent must not be called")})
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/api/chat/c1/stream", 204, ""},
		{"GET", "/api/chat/a%2Fb/stream", 204, ""},
		{"GET", "/ui/agents/demo/c1/stream", 204, ""},
		{"GET", "/ui/agents/nobody/c1/stream", 404, ""},
		{"GET", "/api/chat/" + strings.Repeat("c", 257) + "/stream", 400, ""},
		{"POST", "/api/chat/c1/stream", 405, "GET"},
		{"POST", "/ui/agents/demo/c1/stream", 405, "GET"},
		{"GET", "/api/chat", 405, "POST"},
		{"GET", "/ui/agents/demo", 405, "POST"},
		{"GET", "/api/chat/c1", 404, ""},
		{"GET", "/ui/agents/demo/c1", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Allow") != tt.allow {
				t.Fatalf("status %d, Allow %q, body %s; want %d, %q", resp.StatusCode, resp.Header.Get("Allow"), body, tt.status, tt.allow)
			}
			if tt.status == 204 && len(body) > 0 {
				t.Fatalf("204 with body %q", body)
			}
		})
	}
}

func TestUIChatMidStreamFailureIsTheProtocolsError(t *testing.T) {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	srv := newTestServer(t, inv)
	go func() {
		c := <-inv.calls
		c.w.Write([]byte(textEvent + agentErr))
		c.w.Close()
	}()
	resp, body := postChat(t, srv.URL+"/api/chat", chatBody("c1", "hi"))
	rid := resp.Header.Get(RequestIDHeader)
	want := `data: {"type":"text-delta","id":"text-1","delta":"Hello"}` + "\n\n" +
		`data: {"type":"error","errorText":"the agent reported an error while answering (agent_error, request id ` + rid + `)"}` + "\n\n" +
		"data: [DONE]\n\n"
	if resp.StatusCode != http.StatusOK || !bytes.HasSuffix(body, []byte(want)) || bytes.Contains(body, []byte("arn:")) {
		t.Fatalf("status %d, body\n%s\nwant it to end with\n%s", resp.StatusCode, body, want)
	}
}

func TestUIFormatOnTheInvokeRoute(t *testing.T) {
	inv, _ := uiAgent(t)
	srv := newTestServer(t, inv)
	resp, body := postChat(t, srv.URL+"/", `{"prompt":"hi","response":"ui"}`)
	if resp.Header.Get("X-Vercel-Ai-Ui-Message-Stream") != "v1" || !bytes.Contains(body, []byte(`"delta":"Hello"`)) || !bytes.HasSuffix(body, []byte("data: [DONE]\n\n")) {
		t.Fatalf("headers %v, body %s: want the UI message stream", resp.Header, body)
	}
}

func FuzzUIChatBody(f *testing.F) {
	for _, s := range []string{chatBody("c1", "hi"), `{"id":"c","messages":[]}`, `{"id":"","messages":[{"role":"user","parts":[{"type":"text","text":"x"}]}]}`, `{"id":"c","messages":[{"role":"user","parts":null}]}`, `{"id":"c","messages":[null]}`} {
		f.Add([]byte(s))
	}
	inv := &pipeInvoker{err: &upstream.Error{Kind: upstream.KindInternal, Err: errors.New("x")}}
	issuer, _ := session.NewIssuer(session.RandomKey())
	gw, err := New(Options{Agents: map[string]upstream.Invoker{"demo": inv}, DefaultAgent: "demo", Sessions: issuer, Auth: auth.None{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/chat", bytes.NewReader(body)))
		// Valid chats reach the failing upstream (502); everything else
		// must be refused as the client's fault, with a JSON error.
		if rec.Code != http.StatusBadGateway && (rec.Code < 400 || rec.Code > 499) {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var e struct {
			Error struct{ Code, Message, RequestID string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.RequestID == "" {
			t.Fatalf("body %q is not a JSON error", rec.Body.Bytes())
		}
	})
}
