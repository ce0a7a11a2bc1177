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
	"github.com/agentgate/agentgate/internal/sse"
	"github.com/agentgate/agentgate/internal/upstream"
)

const (
	metadataEvent = "data: {\"event\":{\"metadata\":{\"usage\":{\"inputTokens\":3,\"outputTokens\":1,\"totalTokens\":4}}}}\n\n"
	reasonEvent   = "data: {\"event\":{\"contentBlockDelta\":{\"delta\":{\"reasoningContent\":{\"text\":\"Hmm.\"}},\"contentBlockIndex\":0}}}\n\n"
)

// responsesCall posts body to /v1/responses as user, with extra headers
// given as name, value pairs.
func responsesCall(t *testing.T, url, user, body string, header ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/responses", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-User", user)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// answerWith serves every upstream call with stream, and sends each call's
// request on the returned channel.
func answerWith(t *testing.T, inv *pipeInvoker, stream string) <-chan call {
	t.Helper()
	seen := make(chan call, 8)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case c := <-inv.calls:
				seen <- c
				c.w.Write([]byte(stream))
				c.w.Close()
			case <-done:
				return
			}
		}
	}()
	return seen
}

// sseTypes reads an SSE body into its events' names and data.
func sseTypes(t *testing.T, body []byte) ([]string, [][]byte) {
	t.Helper()
	rd := sse.NewReader(bytes.NewReader(body), sse.Options{})
	var names []string
	var data [][]byte
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return names, data
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.HasData {
			names = append(names, ev.Type)
			data = append(data, bytes.Clone(ev.Data))
		}
	}
}

func TestResponsesStreamAndObject(t *testing.T) {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	srv, gw := newTestGateway(t, inv, func(o *Options) { o.Auth = headerAuth{} })
	seen := answerWith(t, inv, textEvent+metadataEvent)

	t.Run("a streamed response is the typed event sequence, ending with response.completed", func(t *testing.T) {
		resp := responsesCall(t, srv.URL, "alice", `{"model":"demo","input":"hi","stream":true}`)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		names, data := sseTypes(t, body)
		want := "response.created response.in_progress response.output_item.added response.content_part.added response.output_text.delta " +
			"response.output_text.done response.content_part.done response.output_item.done response.completed"
		if strings.Join(names, " ") != want {
			t.Fatalf("events %v, want %s", names, want)
		}
		var done struct {
			Response struct {
				ID    string
				Usage struct {
					InputTokens  int `json:"input_tokens"`
					OutputTokens int `json:"output_tokens"`
					TotalTokens  int `json:"total_tokens"`
				} `json:"usage"`
			}
		}
		_ = json.Unmarshal(data[len(data)-1], &done)
		u := done.Response.Usage
		if u.InputTokens != 3 || u.OutputTokens != 1 || u.TotalTokens != 4 {
			t.Errorf("usage %+v, want the agent's 3, 1, 4 (%s)", u, data[len(data)-1])
		}
		c := <-seen
		sid, err := gw.opts.Sessions.ResponseSession("key:alice", done.Response.ID)
		if err != nil || sid != c.req.SessionID || resp.Header.Get(SessionHeader) != sid {
			t.Errorf("response id %q reads session %q (%v); the agent got %q, the header says %q", done.Response.ID, sid, err, c.req.SessionID, resp.Header.Get(SessionHeader))
		}
		if string(c.req.Payload) != `{"prompt":"hi"}` {
			t.Errorf("payload %s", c.req.Payload)
		}
	})
	t.Run("an unstreamed response is one response object", func(t *testing.T) {
		resp := responsesCall(t, srv.URL, "alice", `{"model":"demo","input":"hi"}`)
		body, _ := io.ReadAll(resp.Body)
		<-seen
		var obj struct {
			Object, Status string
			Output         []struct {
				Type    string
				Content []struct{ Type, Text string }
			}
		}
		if err := json.Unmarshal(body, &obj); err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, %v: %s", resp.StatusCode, err, body)
		}
		if obj.Object != "response" || obj.Status != "completed" || len(obj.Output) != 1 || obj.Output[0].Content[0].Text != "Hello" {
			t.Fatalf("object %s", body)
		}
	})
}

// TestResponsesContinueTheSession: previous_response_id continues its
// session for its owner only; anyone else's, or a forged one, is refused
// in OpenAI's shape before any upstream call.
func TestResponsesContinueTheSession(t *testing.T) {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	srv, _ := newTestGateway(t, inv, func(o *Options) { o.Auth = headerAuth{} })
	seen := answerWith(t, inv, textEvent)

	first := responsesCall(t, srv.URL, "alice", `{"model":"demo","input":"one"}`)
	var obj struct{ ID string }
	if err := json.NewDecoder(first.Body).Decode(&obj); err != nil {
		t.Fatal(err)
	}
	session := (<-seen).req.SessionID

	next := responsesCall(t, srv.URL, "alice", `{"model":"demo","input":"two","previous_response_id":"`+obj.ID+`"}`)
	var second struct {
		ID                 string
		PreviousResponseID string `json:"previous_response_id"`
	}
	_ = json.NewDecoder(next.Body).Decode(&second)
	if c := <-seen; c.req.SessionID != session || next.StatusCode != 200 {
		t.Fatalf("status %d; the continued response went to session %q, want %q", next.StatusCode, c.req.SessionID, session)
	}
	if second.ID == obj.ID || second.PreviousResponseID != obj.ID {
		t.Errorf("second response id %q, previous_response_id %q; want a new id after %q", second.ID, second.PreviousResponseID, obj.ID)
	}

	forged := obj.ID[:len(obj.ID)-3] + "AAA"
	if forged == obj.ID {
		forged = obj.ID[:len(obj.ID)-3] + "BBA"
	}
	tests := []struct {
		name, user, id string
		header         []string
		status         int
		code           string
	}{
		{"another caller's response id is not found", "bob", obj.ID, nil, 404, "previous_response_not_found"},
		{"a forged response id is not found", "alice", forged, nil, 404, "previous_response_not_found"},
		{"an id this gateway never issued is refused", "alice", "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", nil, 400, "invalid_request"},
		{"a session header naming another session is refused", "alice", obj.ID, []string{SessionHeader, "s1" + strings.Repeat("A", 44)}, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := responsesCall(t, srv.URL, tt.user, `{"model":"demo","input":"x","previous_response_id":"`+tt.id+`"}`, tt.header...)
			checkOpenAIError(t, resp, tt.status, tt.code, "previous_response_id")
		})
	}
	select {
	case c := <-seen:
		t.Fatalf("a refused request reached the agent with session %q", c.req.SessionID)
	default:
	}
}

func TestResponsesInput(t *testing.T) {
	tests := []struct {
		name, body, payload string
	}{
		{"a string is the prompt", `"hi"`, `{"prompt":"hi"}`},
		{"the last user message is the prompt", `[{"role":"user","content":"first"},{"role":"assistant","content":[{"type":"output_text","text":"ok"}]},{"type":"message","role":"user","content":[{"type":"input_text","text":"sec"},{"type":"input_text","text":"ond"}]}]`, `{"prompt":"second"}`},
		{"references to earlier items are skipped", `[{"type":"item_reference","id":"msg_1"},{"type":"reasoning","id":"rs_1","summary":[]},{"role":"user","content":"hi"}]`, `{"prompt":"hi"}`},
		{"instructions and system messages become the instructions", `[{"role":"system","content":"Be brief."},{"role":"developer","content":[{"type":"input_text","text":"Use French."}]},{"role":"user","content":"hi"}]`, `{"instructions":"Answer kindly.\n\nBe brief.\n\nUse French.","prompt":"hi"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &pipeInvoker{calls: make(chan call, 1)}
			srv := newTestServer(t, inv, func(o *Options) { o.Auth = headerAuth{} })
			seen := answerWith(t, inv, textEvent)
			instructions := ""
			if strings.Contains(tt.payload, "instructions") {
				instructions = `"instructions":"Answer kindly.",`
			}
			resp := responsesCall(t, srv.URL, "alice", `{"model":"demo",`+instructions+`"input":`+tt.body+`}`)
			io.Copy(io.Discard, resp.Body)
			if c := <-seen; string(c.req.Payload) != tt.payload || resp.StatusCode != 200 {
				t.Fatalf("status %d, payload %s; want %s", resp.StatusCode, c.req.Payload, tt.payload)
			}
		})
	}
}

func TestResponsesRefusals(t *testing.T) {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	srv := newTestServer(t, inv, func(o *Options) { o.Auth = headerAuth{} })
	tests := []struct {
		name, body  string
		status      int
		code, param string
	}{
		{"tools are refused", `{"model":"demo","input":"hi","tools":[{"type":"function","name":"f"}]}`, 400, "unsupported_parameter", "tools"},
		{"a required tool choice is refused", `{"model":"demo","input":"hi","tool_choice":"required"}`, 400, "unsupported_parameter", "tool_choice"},
		{"several answers are refused", `{"model":"demo","input":"hi","n":2}`, 400, "unsupported_parameter", "n"},
		{"background responses are refused", `{"model":"demo","input":"hi","background":true}`, 400, "unsupported_parameter", "background"},
		{"conversations are refused", `{"model":"demo","input":"hi","conversation":"conv_1"}`, 400, "unsupported_parameter", "conversation"},
		{"prompt templates are refused", `{"model":"demo","input":"hi","prompt":{"id":"pmpt_1"}}`, 400, "unsupported_parameter", "prompt"},
		{"structured output is refused", `{"model":"demo","input":"hi","text":{"format":{"type":"json_schema"}}}`, 400, "unsupported_parameter", "text.format"},
		{"an image part is refused", `{"model":"demo","input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}]}`, 400, "invalid_request", "input[0].content[0]"},
		{"a tool output item is refused", `{"model":"demo","input":[{"role":"user","content":"hi"},{"type":"function_call_output","call_id":"c","output":"x"}]}`, 400, "invalid_request", "input[1].type"},
		{"an unknown role is refused", `{"model":"demo","input":[{"role":"tool","content":"hi"}]}`, 400, "invalid_request", "input[0].role"},
		{"input without a user message is refused", `{"model":"demo","input":[{"role":"system","content":"hi"}]}`, 400, "invalid_request", "input"},
		{"a missing input is refused", `{"model":"demo"}`, 400, "invalid_request", "input"},
		{"an empty prompt is refused", `{"model":"demo","input":" "}`, 400, "invalid_request", "input"},
		{"a missing model is refused", `{"input":"hi"}`, 400, "invalid_request", "model"},
		{"a wrongly typed field is named", `{"model":"demo","input":"hi","max_output_tokens":"many"}`, 400, "invalid_request", "max_output_tokens"},
		{"a negative token cap is refused", `{"model":"demo","input":"hi","max_output_tokens":-1}`, 400, "invalid_request", "max_output_tokens"},
		{"an unknown model is not found", `{"model":"nope","input":"hi"}`, 404, "model_not_found", "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkOpenAIError(t, responsesCall(t, srv.URL, "alice", tt.body), tt.status, tt.code, tt.param)
		})
	}
	t.Run("empty tools and auto tool choice are accepted, as the Agents SDK sends them", func(t *testing.T) {
		seen := answerWith(t, inv, textEvent)
		resp := responsesCall(t, srv.URL, "alice", `{"model":"demo","input":"hi","tools":[],"tool_choice":"auto","include":[],"store":false,"temperature":0.2,"n":1}`)
		io.Copy(io.Discard, resp.Body)
		<-seen
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// TestResponsesFailures: a streamed response that fails ends with an error
// event and response.failed in agentgate's words; an unstreamed one
// answers with the failure's status in OpenAI's shape.
func TestResponsesFailures(t *testing.T) {
	for _, stream := range []bool{true, false} {
		inv := &pipeInvoker{calls: make(chan call, 1)}
		srv := newTestServer(t, inv, func(o *Options) { o.Auth = headerAuth{} })
		go func() {
			c := <-inv.calls
			c.w.Write([]byte(textEvent + agentErr))
			c.w.Close()
		}()
		body := `{"model":"demo","input":"hi","stream":` + map[bool]string{true: "true", false: "false"}[stream] + `}`
		resp := responsesCall(t, srv.URL, "alice", body)
		if !stream {
			checkOpenAIError(t, resp, http.StatusBadGateway, "agent_error", "")
			continue
		}
		out, _ := io.ReadAll(resp.Body)
		if bytes.Contains(out, []byte("arn:")) {
			t.Fatalf("the upstream's words reached the client: %s", out)
		}
		names, data := sseTypes(t, out)
		n := len(names)
		if n < 2 || names[n-2] != "error" || names[n-1] != "response.failed" {
			t.Fatalf("events %v: want error, then response.failed last", names)
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(data[n-2], &e) != nil || e.Error.Code != "agent_error" || !strings.Contains(e.Error.Message, resp.Header.Get(RequestIDHeader)) {
			t.Errorf("error event %s", data[n-2])
		}
	}
}

func TestResponsesReasoningOnRequest(t *testing.T) {
	for _, ask := range []string{"", `,"reasoning":{"summary":"auto"}`} {
		inv := &pipeInvoker{calls: make(chan call, 1)}
		srv := newTestServer(t, inv, func(o *Options) { o.Auth = headerAuth{} })
		seen := answerWith(t, inv, reasonEvent+textEvent)
		resp := responsesCall(t, srv.URL, "alice", `{"model":"demo","input":"hi"`+ask+`}`)
		body, _ := io.ReadAll(resp.Body)
		<-seen
		if got := bytes.Contains(body, []byte(`"type":"reasoning"`)); got != (ask != "") {
			t.Errorf("asked %q: reasoning item %v in %s", ask, got, body)
		}
	}
}

// FuzzResponsesBody: every body is either refused as the caller's fault or
// reaches the (failing) agent, and every refusal is OpenAI's error object.
func FuzzResponsesBody(f *testing.F) {
	for _, s := range []string{`{"model":"demo","input":"hi"}`, `{"model":"demo","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}]}`,
		`{"model":"demo","input":[{"type":"item_reference","id":"x"},{"role":"system","content":"s"}]}`, `{"model":"demo","input":"hi","previous_response_id":"resp_x"}`,
		`{"model":"demo","input":"hi","tools":[]}`, `{"model":"demo","input":{"role":"user"}}`, `[]`, `{"model":1}`} {
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
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/responses", bytes.NewReader(body)))
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
