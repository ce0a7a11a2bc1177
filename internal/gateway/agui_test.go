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
	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/upstream"
)

// aguiBody is a RunAgentInput as HttpAgent sends it, on the given thread,
// after one earlier exchange, with text as the user's new message.
func aguiBody(thread, text string) string {
	b, _ := json.Marshal(map[string]any{
		"threadId": thread,
		"runId":    "run-" + thread,
		"messages": []any{
			map[string]any{"id": "u1", "role": "user", "content": "earlier"},
			map[string]any{"id": "a1", "role": "assistant", "content": "an answer"},
			map[string]any{"id": "u2", "role": "user", "content": text},
		},
		"tools":          []any{map[string]any{"name": "confirm", "description": "asks the user", "parameters": map[string]any{}}},
		"context":        []any{},
		"state":          map[string]any{},
		"forwardedProps": map[string]any{},
	})
	return string(b)
}

func TestAGUIRunAnswersWithAGUIEvents(t *testing.T) {
	inv, reqs := uiAgent(t)
	srv := newTestServer(t, inv)
	for _, path := range []string{"/agui", "/agui/agents/demo"} {
		t.Run(path, func(t *testing.T) {
			resp, body := postChat(t, srv.URL+path, `{"threadId":"t1","runId":"r1","messages":[{"id":"u1","role":"user","content":[{"type":"text","text":"Hi"},{"type":"image","source":{"type":"url","value":"https://x/y.png"}},{"type":"text","text":"there"}]}],"tools":[],"context":[],"state":null,"forwardedProps":{"temperature":0.5,"dialect":"agui","include":["reasoning"],"runtimeSessionId":"x"}}`)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
				t.Fatalf("status %d, headers %v: want an AG-UI event stream", resp.StatusCode, resp.Header)
			}
			rid, sid := resp.Header.Get(RequestIDHeader), resp.Header.Get(SessionHeader)
			want := `data: {"type":"RUN_STARTED","threadId":"t1","runId":"r1"}` + "\n\n" +
				`data: {"type":"TEXT_MESSAGE_START","messageId":"msg-` + rid + `-1","role":"assistant"}` + "\n\n" +
				`data: {"type":"TEXT_MESSAGE_CONTENT","messageId":"msg-` + rid + `-1","delta":"Hello"}` + "\n\n" +
				`data: {"type":"TEXT_MESSAGE_END","messageId":"msg-` + rid + `-1"}` + "\n\n" +
				`data: {"type":"RUN_FINISHED","threadId":"t1","runId":"r1","metadata":{"runtimeSessionId":"` + sid + `"}}` + "\n\n"
			if string(body) != want {
				t.Fatalf("body\n%s\nwant\n%s", body, want)
			}
			var payload map[string]any
			if err := json.Unmarshal((<-reqs).Payload, &payload); err != nil {
				t.Fatal(err)
			}
			if len(payload) != 3 || payload["prompt"] != "Hi\nthere" || payload["temperature"] != 0.5 || payload["dialect"] != "agui" {
				t.Fatalf("the agent got %v: want the last user message's text and forwardedProps' own fields only", payload)
			}
		})
	}
}

func TestAGUIThreadsMapToTheCallersSessions(t *testing.T) {
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
	run := func(base, key, path, thread string) string {
		t.Helper()
		resp, body := postChat(t, base+path, aguiBody(thread, "hello"), "Authorization", "Bearer "+key)
		got := (<-reqs).SessionID
		if resp.StatusCode != http.StatusOK || resp.Header.Get(SessionHeader) != got {
			t.Fatalf("status %d, session header %q, upstream session %q: %s", resp.StatusCode, resp.Header.Get(SessionHeader), got, body)
		}
		return got
	}
	first := run(srv.URL, aliceKey, "/agui", "thread-1")
	if len(first) < 33 {
		t.Fatalf("session id %q is shorter than AgentCore takes", first)
	}
	chatResp, _ := postChat(t, srv.URL+"/api/chat", chatBody("thread-1", "hello"), "Authorization", "Bearer "+aliceKey)
	chat := (<-reqs).SessionID
	tests := []struct {
		name string
		got  string
		same bool
	}{
		{"the same thread continues the session", run(srv.URL, aliceKey, "/agui", "thread-1"), true},
		{"the named route maps the thread to the same session", run(srv.URL, aliceKey, "/agui/agents/demo", "thread-1"), true},
		{"another instance maps the thread to the same session", run(other.URL, aliceKey, "/agui", "thread-1"), true},
		{"another thread is another session", run(srv.URL, aliceKey, "/agui", "thread-2"), false},
		{"another caller's thread of the same id is another session", run(srv.URL, bobKey, "/agui", "thread-1"), false},
		{"a useChat chat of the same id is another session", chat, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.got == first) != tt.same || chatResp.StatusCode != http.StatusOK {
				t.Fatalf("session %q, first %q: want the same %v", tt.got, first, tt.same)
			}
		})
	}
	t.Run("the session is the caller's own: only they may end it", func(t *testing.T) {
		if bob, alice := stopSession(t, srv.URL, first, bobKey), stopSession(t, srv.URL, first, aliceKey); bob != http.StatusForbidden || alice != http.StatusNoContent {
			t.Fatalf("ending alice's thread session: status %d for bob, %d for alice; want 403, 204", bob, alice)
		}
	})
}

func TestAGUIRefusesBadBodies(t *testing.T) {
	srv := newTestServer(t, &pipeInvoker{err: errors.New("the agent must not be called")})
	user := func(content string) string { return `[{"id":"u","role":"user","content":` + content + `}]` }
	run := func(rest string) string { return `{"threadId":"t","runId":"r",` + rest + `}` }
	text := user(`"hi"`)
	tests := []struct {
		name, body, contentType string
		status                  int
		mentions                string
	}{
		{"an empty body", ``, "application/json", 400, "empty"},
		{"a body that is not JSON", `{"threadId":`, "application/json", 400, "not valid JSON"},
		{"a body that is not an object", `[]`, "application/json", 400, "JSON object"},
		{"a body that is not JSON at all", `threadId=t`, "text/html", 415, "JSON"},
		{"no thread id", `{"runId":"r","messages":` + text + `}`, "application/json", 400, "threadId:"},
		{"a thread id that is not a string", `{"threadId":7,"runId":"r","messages":` + text + `}`, "application/json", 400, "threadId:"},
		{"a thread id too long", `{"threadId":"` + strings.Repeat("t", 257) + `","runId":"r","messages":` + text + `}`, "application/json", 400, "threadId:"},
		{"no run id", `{"threadId":"t","messages":` + text + `}`, "application/json", 400, "runId:"},
		{"no messages", run(`"tools":[]`), "application/json", 400, "messages:"},
		{"messages that are not a list", run(`"messages":{"role":"user"}`), "application/json", 400, "messages:"},
		{"an empty list of messages", run(`"messages":[]`), "application/json", 400, "messages:"},
		{"content that is neither text nor parts", run(`"messages":` + user(`7`)), "application/json", 400, "messages:"},
		{"a text part whose text is not a string", run(`"messages":` + user(`[{"type":"text","text":5}]`)), "application/json", 400, "messages:"},
		{"a last message that is a tool's result", run(`"messages":[{"id":"u","role":"user","content":"hi"},{"id":"t","role":"tool","toolCallId":"c","content":"ok"}]`), "application/json", 400, "last message must be the user's"},
		{"a user message without text", run(`"messages":` + user(`[{"type":"image","source":{"type":"url","value":"x"}}]`)), "application/json", 400, "messages:"},
		{"forwardedProps that are not an object", run(`"messages":` + text + `,"forwardedProps":[1]`), "application/json", 400, "forwardedProps:"},
		{"an unknown include", run(`"messages":` + text + `,"forwardedProps":{"include":["everything"]}`), "application/json", 400, "forwardedProps.include:"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/agui", strings.NewReader(tt.body))
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

func TestAGUIRoutesTakePOSTOnly(t *testing.T) {
	srv := newTestServer(t, &pipeInvoker{err: errors.New("the agent must not be called")})
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/agui", 405, "POST"},
		{"GET", "/agui/agents/demo", 405, "POST"},
		{"POST", "/agui/agents/nobody", 404, ""},
		{"POST", "/agui/agents/demo/runs", 404, ""},
		{"POST", "/agui/agents", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(aguiBody("t", "hi")))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("Allow") != tt.allow {
				t.Fatalf("status %d, Allow %q; want %d, %q", resp.StatusCode, resp.Header.Get("Allow"), tt.status, tt.allow)
			}
		})
	}
}

func TestAGUIMidStreamFailureIsRunError(t *testing.T) {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	srv := newTestServer(t, inv)
	go func() {
		c := <-inv.calls
		c.w.Write([]byte(textEvent + agentErr))
		c.w.Close()
	}()
	resp, body := postChat(t, srv.URL+"/agui", aguiBody("t1", "hi"))
	rid := resp.Header.Get(RequestIDHeader)
	want := `data: {"type":"TEXT_MESSAGE_CONTENT","messageId":"msg-` + rid + `-1","delta":"Hello"}` + "\n\n" +
		`data: {"type":"RUN_ERROR","message":"the agent reported an error while answering (request id ` + rid + `)","code":"agent_error"}` + "\n\n"
	if resp.StatusCode != http.StatusOK || !bytes.HasSuffix(body, []byte(want)) || bytes.Contains(body, []byte("arn:")) {
		t.Fatalf("status %d, body\n%s\nwant it to end with\n%s", resp.StatusCode, body, want)
	}
}

// TestAGUIPassesAnAGUIAgentThrough fronts an agent of the agui dialect:
// its events reach the client as it wrote them, its own ids kept, and its
// RUN_ERROR, which may name what it ran on, is agentgate's.
func TestAGUIPassesAnAGUIAgentThrough(t *testing.T) {
	run := `data: {"type":"RUN_STARTED","threadId":"agent-thread","runId":"agent-run"}` + "\n\n" +
		`data: {"type":"TEXT_MESSAGE_START","messageId":"agent-msg","role":"assistant"}` + "\n\n" +
		`data: {"type":"TEXT_MESSAGE_CONTENT","messageId":"agent-msg","delta":"Hello"}` + "\n\n"
	done := `data: {"type":"TEXT_MESSAGE_END","messageId":"agent-msg"}` + "\n\n" +
		`data: {"type":"RUN_FINISHED","threadId":"agent-thread","runId":"agent-run"}` + "\n\n"
	runErr := `data: {"type":"RUN_ERROR","message":"throttled at arn:aws:bedrock:us-east-1:123456789012:x","code":"ThrottlingException"}` + "\n\n"
	tests := []struct {
		name, upstream string
		want           func(rid string) string
	}{
		{"a run passes as the agent wrote it", run + done, func(string) string { return run + done }},
		{"the agent's RUN_ERROR is agentgate's", run + runErr, func(rid string) string {
			return run + `data: {"type":"RUN_ERROR","message":"the agent reported an error while answering (request id ` + rid + `)","code":"agent_error"}` + "\n\n"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &pipeInvoker{calls: make(chan call, 1)}
			srv := newTestServer(t, inv, func(o *Options) { o.Dialects = map[string]event.Dialect{"demo": event.AGUI} })
			go func() {
				c := <-inv.calls
				c.w.Write([]byte(tt.upstream))
				c.w.Close()
			}()
			resp, body := postChat(t, srv.URL+"/agui/agents/demo", aguiBody("t1", "hi"))
			if want := tt.want(resp.Header.Get(RequestIDHeader)); resp.StatusCode != http.StatusOK || string(body) != want {
				t.Fatalf("status %d, body\n%s\nwant\n%s", resp.StatusCode, body, want)
			}
		})
	}
}

func FuzzAGUIBody(f *testing.F) {
	for _, s := range []string{aguiBody("t", "hi"), `{"threadId":"t","runId":"r","messages":[]}`, `{"threadId":"","runId":"r","messages":[{"role":"user","content":"x"}]}`,
		`{"threadId":"t","runId":"r","messages":[{"role":"user","content":null}]}`, `{"threadId":"t","runId":"r","messages":[null]}`,
		`{"threadId":"t","runId":"r","messages":[{"role":"user","content":"x"}],"forwardedProps":{"maxTokens":-1}}`} {
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
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/agui", bytes.NewReader(body)))
		// Valid runs reach the failing upstream (502); everything else
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
