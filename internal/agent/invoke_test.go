package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/model"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// errSecret is what a provider error can look like: it names the endpoint,
// which must reach the log and never the client.
var errSecret = errors.New("bedrock: POST https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude/converse-stream: 503 ServiceUnavailable")

func TestInvocationStreamsTheExactEvents(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		script script
	}{
		{
			name:   "a reply streams one delta per provider delta between start and stop, then usage",
			golden: "reply.golden",
			script: script{
				deltas:  []string{"Hello", `, <world> & "friends"`, " — café\n"},
				result:  model.Result{Usage: model.Usage{InputTokens: 8, OutputTokens: 33}},
				latency: 1182 * time.Millisecond,
			},
		},
		{
			name:   "the provider's stop reason and token counts pass through",
			golden: "stop-reason.golden",
			script: script{
				deltas:  []string{"cut"},
				result:  model.Result{StopReason: "max_tokens", Usage: model.Usage{InputTokens: 1, OutputTokens: 2, TotalTokens: 4}},
				latency: 5 * time.Millisecond,
			},
		},
		{
			name:   "a reply without text still closes its content block",
			golden: "no-deltas.golden",
			script: script{},
		},
		{
			name:   "a provider error after a delta ends the stream with one error event",
			golden: "provider-error.golden",
			script: script{deltas: []string{"partial"}, err: errSecret},
		},
		{
			name:   "a provider error before any delta still answers a stream ending in the error event",
			golden: "provider-error-first.golden",
			script: script{err: errSecret},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			f := serve(t, Config{Provider: &scripted{clock: clock, scripts: []script{tt.script}}, Now: clock.Now})

			resp, body := f.invoke(t, "session-0123456789-0123456789-0123456789", promptBody("hi"))

			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			for k, want := range map[string]string{
				"Content-Type":  "text/event-stream",
				"Cache-Control": "no-cache",
				SessionHeader:   "session-0123456789-0123456789-0123456789",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			assertGolden(t, tt.golden, body)
			if strings.Contains(body, "amazonaws") {
				t.Errorf("stream leaks the provider's error: %s", body)
			}
		})
	}
}

func assertGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("body differs from %s\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestEachEventReachesTheClientBeforeTheNextDelta(t *testing.T) {
	p := newGated("one", "two", "three")
	f := serve(t, Config{Provider: p})

	resp := f.post(t, t.Context(), "", promptBody("count"))
	evs := events(t, resp.Body)

	if got, want := next(t, evs), `data: {"event":{"messageStart":{"role":"assistant"}}}`+"\n\n"; got != want {
		t.Fatalf("first event = %q, want %q", got, want)
	}
	for _, d := range p.deltas {
		// The provider is blocked until the next open, so this event was
		// readable before the model produced the next delta.
		p.open(t)
		want := fmt.Sprintf(`data: {"event":{"contentBlockDelta":{"delta":{"text":%q},"contentBlockIndex":0}}}`+"\n\n", d)
		if got := next(t, evs); got != want {
			t.Fatalf("event = %q, want %q", got, want)
		}
	}
	for _, kind := range []string{"contentBlockStop", "messageStop", "metadata"} {
		if got := next(t, evs); !strings.Contains(got, kind) {
			t.Fatalf("event = %q, want %s", got, kind)
		}
	}
	end(t, evs)
}

func TestBadRequestsGetAJSONErrorBeforeAnyStream(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		path    string
		session string
		body    string
		status  int
		errText string
	}{
		{"a body that is not JSON is refused", "POST", "/invocations", "", `{"prompt":`, 400, "body is not valid JSON"},
		{"an empty body is refused", "POST", "/invocations", "", ``, 400, "body is not valid JSON"},
		{"JSON followed by more data is refused", "POST", "/invocations", "", `{"prompt":"a"} x`, 400, "body is not valid JSON"},
		{"an array body is refused", "POST", "/invocations", "", `["hi"]`, 400, "body must be a JSON object"},
		{"a string body is refused", "POST", "/invocations", "", `"hi"`, 400, "body must be a JSON object"},
		{"a null body is refused", "POST", "/invocations", "", `null`, 400, "body must be a JSON object"},
		{"a body without a prompt is refused", "POST", "/invocations", "", `{"input":"hi"}`, 400, "prompt is required"},
		{"a null prompt is refused", "POST", "/invocations", "", `{"prompt":null}`, 400, "prompt must be a string"},
		{"a numeric prompt is refused", "POST", "/invocations", "", `{"prompt":42}`, 400, "prompt must be a string"},
		{"an empty prompt is refused", "POST", "/invocations", "", `{"prompt":""}`, 400, "prompt must not be empty"},
		{"a whitespace prompt is refused", "POST", "/invocations", "", `{"prompt":" \n\t "}`, 400, "prompt must not be empty"},
		{"a body over MaxBodyBytes is too large", "POST", "/invocations", "", promptBody(strings.Repeat("x", 200)), 413, "body is larger than 128 bytes"},
		{"a session id longer than AgentCore allows is refused", "POST", "/invocations", strings.Repeat("s", 257), promptBody("hi"), 400, SessionHeader + " is longer than 256 characters"},
		{"GET on /invocations is not allowed", "GET", "/invocations", "", "", 405, "method not allowed"},
		{"POST on /ping is not allowed", "POST", "/ping", "", "", 405, "method not allowed"},
		{"an unknown path is not found", "GET", "/nope", "", "", 404, "not found"},
	}
	p := &scripted{scripts: []script{{deltas: []string{"never"}}}}
	f := serve(t, Config{Provider: p, MaxBodyBytes: 128})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, f.srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.session != "" {
				req.Header.Set(SessionHeader, tt.session)
			}
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var got errorResponse
			if err := jsonDecode(resp.Body, &got); err != nil {
				t.Fatalf("error body: %v", err)
			}
			if got.Error != tt.errText {
				t.Errorf("error = %q, want %q", got.Error, tt.errText)
			}
		})
	}
	if n := len(p.calls()); n != 0 {
		t.Errorf("provider called %d times for bad requests", n)
	}
}

func TestAProviderErrorIsLoggedNotSentAndLeavesHistoryAlone(t *testing.T) {
	p := &scripted{scripts: []script{
		{deltas: []string{"hello"}},
		{deltas: []string{"partial"}, err: errSecret},
		{deltas: []string{"fine"}},
	}}
	f := serve(t, Config{Provider: p})
	const session = "session-for-a-failing-provider-0123456789"

	f.invoke(t, session, promptBody("first"))
	_, body := f.invoke(t, session, promptBody("second"))
	f.invoke(t, session, promptBody("third"))

	wantErr := `data: {"error":"the model provider failed","error_type":"ModelProviderError","message":"An error occurred during streaming"}` + "\n\n"
	if strings.Count(body, `"error"`) != 1 || !strings.HasSuffix(body, wantErr) {
		t.Errorf("failed stream = %q, want it to end with one %q", body, wantErr)
	}
	calls := p.calls()
	want := []model.Message{
		{Role: model.RoleUser, Text: "first"},
		{Role: model.RoleAssistant, Text: "hello"},
		{Role: model.RoleUser, Text: "third"},
	}
	assertMessages(t, calls[2].Messages, want)
	if logs := f.logs.String(); !strings.Contains(logs, errSecret.Error()) {
		t.Errorf("log lacks the provider's error:\n%s", logs)
	}
}

func TestAClientThatGoesAwayCancelsTheProvider(t *testing.T) {
	p := newGated("one", "two")
	f := serve(t, Config{Provider: p})
	const session = "session-whose-client-leaves-0123456789"

	ctx, cancel := context.WithCancel(t.Context())
	resp := f.post(t, ctx, session, promptBody("bye"))
	evs := events(t, resp.Body)
	next(t, evs) // messageStart
	p.open(t)
	next(t, evs) // "one"
	cancel()

	if err := recv(t, p.ended, "end of the provider call"); !errors.Is(err, context.Canceled) {
		t.Fatalf("provider ended with %v, want context.Canceled", err)
	}
	eventually(t, "one log line", func() bool { return len(f.logs.lines(t)) == 1 })
	if got := f.logs.lines(t)[0]; got["outcome"] != outcomeClientGone {
		t.Errorf("log = %v, want outcome client_gone", got)
	}
	// A cancelled reply is not remembered.
	assertMessages(t, f.history(t, session), nil)
}

func TestEveryInvocationLogsOneLineWithoutThePrompt(t *testing.T) {
	clock := newClock()
	p := &scripted{clock: clock, scripts: []script{
		{deltas: []string{"a", "b"}, result: model.Result{Usage: model.Usage{InputTokens: 3, OutputTokens: 2}}, latency: 250 * time.Millisecond},
		{err: errSecret},
	}}
	f := serve(t, Config{Provider: p, Now: clock.Now})
	const prompt = "my-secret-prompt-text"
	const session = "0123456789abcdef-session-id-for-logs"

	f.invoke(t, session, promptBody(prompt))
	f.invoke(t, session, promptBody(prompt))
	f.invoke(t, session, `{"prompt": 1, "note": "`+prompt+`"}`)

	if logs := f.logs.String(); strings.Contains(logs, prompt) {
		t.Errorf("log holds the prompt:\n%s", logs)
	}
	lines := f.logs.lines(t)
	if len(lines) != 3 {
		t.Fatalf("got %d log lines, want 3:\n%s", len(lines), f.logs.String())
	}
	tests := []struct {
		name string
		line map[string]any
		want map[string]any
	}{
		{"a streamed reply logs its status, deltas, tokens and duration", lines[0], map[string]any{
			"level": "INFO", "msg": "invocation", "session": "01234567…", "provider": "scripted", "status": 200.0,
			"outcome": "ok", "deltas": 2.0, "input_tokens": 3.0, "output_tokens": 2.0, "total_tokens": 5.0, "duration": 250e6,
		}},
		{"a provider failure logs its cause as a warning", lines[1], map[string]any{
			"level": "WARN", "status": 200.0, "outcome": "provider_error", "deltas": 0.0, "error": errSecret.Error(),
		}},
		{"a refused request logs its status", lines[2], map[string]any{
			"level": "INFO", "status": 400.0, "outcome": "rejected",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, want := range tt.want {
				if got := tt.line[k]; got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
		})
	}
}

func FuzzParseInvocation(f *testing.F) {
	for _, seed := range []string{`{"prompt":"hi"}`, `{"prompt":"hi","dialect":"openai"}`, `[]`, `null`, `{"prompt":null}`, `{"prompt":"  "}`, `{`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		inv, err := parseInvocation(body)
		if err != nil {
			return
		}
		if strings.TrimSpace(inv.Prompt) == "" {
			t.Errorf("accepted blank prompt from %q", body)
		}
		if _, ok := inv.Fields["prompt"]; !ok {
			t.Errorf("fields lost the prompt from %q", body)
		}
	})
}

// TestTheCallerComesFromTheGatewaysHeaders: the principal, its kind and
// every other custom header reach the model as the caller, sorted by name;
// other headers are no part of it.
func TestTheCallerComesFromTheGatewaysHeaders(t *testing.T) {
	p := &echo{}
	f := serve(t, Config{Provider: p})
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/invocations", strings.NewReader(promptBody("hi")))
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{
		identity.PrincipalHeader: "jwt:0123456789ab:ada", identity.PrincipalKindHeader: "jwt",
		identity.HeaderPrefix + "Tenant": "acme", identity.HeaderPrefix + "Email": "ada@example.com",
		"X-Amzn-Bedrock-AgentCore-Runtime-User-Id": "jwt:0123456789ab:ada", "X-Other": "no",
	} {
		req.Header.Set(name, value)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := p.last(t).Caller
	want := model.Caller{Principal: "jwt:0123456789ab:ada", Kind: "jwt",
		Details: []model.Detail{{Name: "Email", Value: "ada@example.com"}, {Name: "Tenant", Value: "acme"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("caller %+v, want %+v", got, want)
	}

	f.invoke(t, "", promptBody("hi"))
	if got := p.last(t).Caller; !reflect.DeepEqual(got, model.Caller{}) {
		t.Fatalf("a call without the headers has caller %+v, want none", got)
	}
}
