package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// sseWriter writes OpenAI-style chunks on a fake server's response, flushing
// each one so the client can see it before the next is written.
type sseWriter struct {
	t *testing.T
	w http.ResponseWriter
	r *http.Request
}

// send writes each line as one SSE event: "data: <line>" and a blank line.
// Lines that start with ":" are written as comments.
func (s sseWriter) send(lines ...string) {
	for _, l := range lines {
		if !strings.HasPrefix(l, ":") {
			l = "data: " + l
		}
		if _, err := fmt.Fprintf(s.w, "%s\n\n", l); err != nil {
			return // the client went away; the test sees why
		}
		s.w.(http.Flusher).Flush()
	}
}

// wait blocks until the test signals on ch, and reports false if the client
// went away or the signal never came.
func (s sseWriter) wait(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-s.r.Context().Done():
		return false
	case <-time.After(waitLimit):
		s.t.Errorf("fake OpenAI: no signal from the test within %v", waitLimit)
		return false
	}
}

// chunk returns a chat.completion.chunk carrying content and, when not
// empty, a finish_reason.
func chunk(content, finish string) string {
	c := map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "llama3",
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": content}, "finish_reason": nil}},
	}
	if finish != "" {
		c["choices"] = []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": finish}}
	}
	b, _ := json.Marshal(c)
	return string(b)
}

const (
	roleChunk  = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"llama3","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`
	usageChunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"llama3","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}`
	done       = "[DONE]"
	testAPIKey = "sk-test-key"
)

// chatCall is what the fake OpenAI server saw of one request.
type chatCall struct {
	auth, contentType string
	body              struct {
		Model         string          `json:"model"`
		Messages      []openaiMessage `json:"messages"`
		Stream        bool            `json:"stream"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		MaxTokens int `json:"max_tokens"`
	}
}

// newFakeOpenAI starts a loopback server that speaks the chat-completions
// streaming wire format under /v1. It records each request on the returned
// channel and hands the response to script.
func newFakeOpenAI(t *testing.T, script func(sseWriter)) (*httptest.Server, <-chan chatCall) {
	t.Helper()
	calls := make(chan chatCall, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		call := chatCall{auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")}
		if err := json.NewDecoder(r.Body).Decode(&call.body); err != nil {
			t.Errorf("fake OpenAI: request body: %v", err)
		}
		// Read the request to its very end before answering: a fake that
		// aborts while the client still writes makes the client's write
		// fail, and that error would mask the one under test.
		io.Copy(io.Discard, r.Body)
		calls <- call
		w.Header().Set("Content-Type", "text/event-stream")
		script(sseWriter{t: t, w: w, r: r})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake OpenAI: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, calls
}

func newTestOpenAI(t *testing.T, srv *httptest.Server, opts OpenAIOptions) *OpenAI {
	t.Helper()
	opts.BaseURL = srv.URL + "/v1"
	if opts.Model == "" {
		opts.Model = "llama3"
	}
	opts.HTTPClient = srv.Client()
	o, err := NewOpenAI(opts)
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}
	return o
}

func TestOpenAIStreamsEachDeltaAsItArrives(t *testing.T) {
	words := []string{"Hello", ", ", "world", "!"}
	next := make(chan struct{})
	srv, _ := newFakeOpenAI(t, func(s sseWriter) {
		s.send(roleChunk)
		for i, w := range words {
			// Each delta after the first waits until the test has seen the
			// one before: a provider that buffers deltas deadlocks here.
			if i > 0 && !s.wait(next) {
				return
			}
			s.send(chunk(w, ""))
		}
		if s.wait(next) {
			s.send(chunk("", "stop"), usageChunk, done)
		}
	})
	o := newTestOpenAI(t, srv, OpenAIOptions{APIKey: testAPIKey})

	var got []string
	res, err := o.Stream(context.Background(), hello, func(d string) error {
		got = append(got, d)
		select {
		case next <- struct{}{}:
			return nil
		case <-time.After(waitLimit):
			return errors.New("the fake never asked for the next chunk")
		}
	})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if strings.Join(got, "|") != strings.Join(words, "|") {
		t.Errorf("deltas = %q, want %q", got, words)
	}
	want := Result{StopReason: "end_turn", Usage: Usage{InputTokens: 9, OutputTokens: 4, TotalTokens: 13}}
	if res != want {
		t.Errorf("Result = %+v, want %+v", res, want)
	}
}

func TestOpenAIStreamOutcomes(t *testing.T) {
	longPage := "<html>" + strings.Repeat("internal detail ", 1000) + "</html>"
	tests := []struct {
		name       string
		script     func(sseWriter)
		wantDeltas []string
		want       Result
		wantErr    func(error) bool // nil: success expected
	}{
		{
			name:       "a length finish becomes max_tokens",
			script:     func(s sseWriter) { s.send(roleChunk, chunk("cut", ""), chunk("", "length"), usageChunk, done) },
			wantDeltas: []string{"cut"},
			want:       Result{StopReason: "max_tokens", Usage: Usage{InputTokens: 9, OutputTokens: 4, TotalTokens: 13}},
		},
		{
			name:   "a tool_calls finish becomes tool_use",
			script: func(s sseWriter) { s.send(roleChunk, chunk("", "tool_calls"), done) },
			want:   Result{StopReason: "tool_use"},
		},
		{
			name:       "a server that sends no usage reports zeros",
			script:     func(s sseWriter) { s.send(roleChunk, chunk("hi", ""), chunk("", "stop"), done) },
			wantDeltas: []string{"hi"},
			want:       Result{StopReason: "end_turn"},
		},
		{
			name: "comments and a usage chunk without a total are understood",
			script: func(s sseWriter) {
				s.send(": keep-alive", chunk("a", ""), ": ping", chunk("b", ""), chunk("", "stop"),
					`{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3}}`, done)
			},
			wantDeltas: []string{"a", "b"},
			want:       Result{StopReason: "end_turn", Usage: Usage{InputTokens: 2, OutputTokens: 3, TotalTokens: 5}},
		},
		{
			name:       "a stream that ends after the finish reason but before [DONE] still succeeds",
			script:     func(s sseWriter) { s.send(chunk("whole", ""), chunk("", "stop")) },
			wantDeltas: []string{"whole"},
			want:       Result{StopReason: "end_turn"},
		},
		{
			name:       "a server that closes mid-stream is truncated",
			script:     func(s sseWriter) { s.send(roleChunk, chunk("half", "")) },
			wantDeltas: []string{"half"},
			wantErr:    func(err error) bool { return errors.Is(err, ErrTruncated) },
		},
		{
			name: "a connection dropped mid-event is truncated",
			script: func(s sseWriter) {
				s.send(roleChunk, chunk("half", ""))
				fmt.Fprint(s.w, `data: {"choices":[{"index":0,"delta":{"content":"lost`)
				s.w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			},
			wantDeltas: []string{"half"},
			wantErr:    func(err error) bool { return errors.Is(err, ErrTruncated) },
		},
		{
			name: "an error object mid-stream becomes an error",
			script: func(s sseWriter) {
				s.send(chunk("so", ""), `{"error":{"message":"model crashed","type":"server_error"}}`)
			},
			wantDeltas: []string{"so"},
			wantErr:    func(err error) bool { return strings.Contains(err.Error(), "model crashed") },
		},
		{
			name:    "a chunk that is not JSON becomes an error",
			script:  func(s sseWriter) { s.send("{not json") },
			wantErr: func(err error) bool { return strings.Contains(err.Error(), "decode chunk") },
		},
		{
			name: "a 401 becomes a StatusError with the server's message",
			script: func(s sseWriter) {
				s.w.Header().Set("Content-Type", "application/json")
				s.w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(s.w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
			},
			wantErr: func(err error) bool {
				var se *StatusError
				return errors.As(err, &se) && se.StatusCode == 401 && se.Message == "Incorrect API key provided" &&
					strings.Contains(err.Error(), "401")
			},
		},
		{
			name: "a long error page is cut to a short excerpt",
			script: func(s sseWriter) {
				s.w.Header().Set("Content-Type", "text/html")
				s.w.WriteHeader(http.StatusBadGateway)
				fmt.Fprint(s.w, longPage)
			},
			wantErr: func(err error) bool {
				var se *StatusError
				return errors.As(err, &se) && se.StatusCode == 502 &&
					len([]rune(se.Message)) <= statusExcerptRunes+1 && strings.HasPrefix(se.Message, "<html>internal detail") &&
					!strings.Contains(err.Error(), "</html>")
			},
		},
		{
			name: "a JSON answer to a streaming request becomes an error",
			script: func(s sseWriter) {
				s.w.Header().Set("Content-Type", "application/json; charset=utf-8")
				fmt.Fprint(s.w, `{"choices":[{"message":{"content":"hi"}}]}`)
			},
			wantErr: func(err error) bool { return strings.Contains(err.Error(), "not an event stream") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newFakeOpenAI(t, tt.script)
			deltas, res, err := collect(t, newTestOpenAI(t, srv, OpenAIOptions{}), hello)
			if strings.Join(deltas, "|") != strings.Join(tt.wantDeltas, "|") {
				t.Errorf("deltas = %q, want %q", deltas, tt.wantDeltas)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Stream: %v", err)
				}
				if res != tt.want {
					t.Errorf("Result = %+v, want %+v", res, tt.want)
				}
				return
			}
			if err == nil || !tt.wantErr(err) {
				t.Errorf("Stream error = %v (%T), not the one expected", err, err)
			}
		})
	}
}

func TestOpenAISendsTheConversation(t *testing.T) {
	tests := []struct {
		name         string
		opts         OpenAIOptions
		req          Request
		wantAuth     string
		wantMessages []openaiMessage
		wantMax      int
	}{
		{
			name: "the system prompt leads and every turn follows, with the key as a bearer token",
			opts: OpenAIOptions{APIKey: testAPIKey, Model: "qwen2.5:0.5b"},
			req: Request{System: "Be brief.", Messages: []Message{
				user("first"), assistant("reply"), user("second"),
			}},
			wantAuth: "Bearer " + testAPIKey,
			wantMessages: []openaiMessage{
				{"system", "Be brief."}, {"user", "first"}, {"assistant", "reply"}, {"user", "second"},
			},
		},
		{
			name:         "no key sends no Authorization and the options' cap applies",
			opts:         OpenAIOptions{Model: "llama3", MaxTokens: 256},
			req:          hello,
			wantMessages: []openaiMessage{{"user", "hello"}},
			wantMax:      256,
		},
		{
			name:         "a request's cap wins over the options' cap",
			opts:         OpenAIOptions{Model: "llama3", MaxTokens: 256},
			req:          Request{Messages: hello.Messages, MaxTokens: 16},
			wantMessages: []openaiMessage{{"user", "hello"}},
			wantMax:      16,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := newFakeOpenAI(t, func(s sseWriter) { s.send(chunk("", "stop"), done) })
			if _, _, err := collect(t, newTestOpenAI(t, srv, tt.opts), tt.req); err != nil {
				t.Fatalf("Stream: %v", err)
			}
			call := <-calls
			if call.auth != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", call.auth, tt.wantAuth)
			}
			if call.contentType != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", call.contentType)
			}
			b := call.body
			if b.Model != tt.opts.Model || !b.Stream || !b.StreamOptions.IncludeUsage || b.MaxTokens != tt.wantMax {
				t.Errorf("body = model %q stream %v include_usage %v max_tokens %d, want %q true true %d",
					b.Model, b.Stream, b.StreamOptions.IncludeUsage, b.MaxTokens, tt.opts.Model, tt.wantMax)
			}
			if fmt.Sprint(b.Messages) != fmt.Sprint(tt.wantMessages) {
				t.Errorf("messages = %v, want %v", b.Messages, tt.wantMessages)
			}
		})
	}
}

func TestOpenAICancellationReachesTheServer(t *testing.T) {
	serverSawCancel := make(chan struct{})
	srv, _ := newFakeOpenAI(t, func(s sseWriter) {
		s.send(roleChunk, chunk("first", ""))
		select {
		case <-s.r.Context().Done():
			close(serverSawCancel)
		case <-time.After(waitLimit):
			s.t.Error("fake OpenAI: the request was never cancelled")
		}
	})
	o := newTestOpenAI(t, srv, OpenAIOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	_, err := o.Stream(ctx, hello, func(string) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Stream error = %v, want context.Canceled", err)
	}
	select {
	case <-serverSawCancel:
	case <-time.After(waitLimit):
		t.Fatal("the server never saw the request end")
	}
}

func TestOpenAIReturnsEmitErrorsAsIs(t *testing.T) {
	srv, _ := newFakeOpenAI(t, func(s sseWriter) { s.send(chunk("one", ""), chunk("two", ""), chunk("", "stop"), done) })
	errStop := errors.New("client went away")
	calls := 0
	_, err := newTestOpenAI(t, srv, OpenAIOptions{}).Stream(context.Background(), hello, func(string) error {
		calls++
		return errStop
	})
	if err != errStop || calls != 1 {
		t.Errorf("Stream error = %v after %d emits, want %v after 1", err, calls, errStop)
	}
}

func TestOpenAIStopReason(t *testing.T) {
	tests := []struct{ finish, want string }{
		{"stop", "end_turn"},
		{"length", "max_tokens"},
		{"tool_calls", "tool_use"},
		{"function_call", "tool_use"},
		{"content_filter", "content_filtered"},
		{"something_new", "something_new"},
	}
	for _, tt := range tests {
		t.Run(tt.finish+" becomes "+tt.want, func(t *testing.T) {
			if got := openaiStopReason(tt.finish); got != tt.want {
				t.Errorf("openaiStopReason(%q) = %q, want %q", tt.finish, got, tt.want)
			}
		})
	}
}

func TestNewOpenAINamesTheBadField(t *testing.T) {
	tests := []struct {
		name  string
		opts  OpenAIOptions
		field string
	}{
		{name: "a missing base URL is refused", opts: OpenAIOptions{Model: "m"}, field: "OpenAIOptions.BaseURL"},
		{name: "a base URL without a scheme is refused", opts: OpenAIOptions{BaseURL: "127.0.0.1:11434/v1", Model: "m"}, field: "OpenAIOptions.BaseURL"},
		{name: "a missing model is refused", opts: OpenAIOptions{BaseURL: "http://127.0.0.1:11434/v1"}, field: "OpenAIOptions.Model"},
		{name: "a negative token cap is refused", opts: OpenAIOptions{BaseURL: "http://127.0.0.1:11434/v1", Model: "m", MaxTokens: -1}, field: "OpenAIOptions.MaxTokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewOpenAI(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("NewOpenAI error = %v, want one naming %s", err, tt.field)
			}
		})
	}
}

func TestNewOpenAIJoinsTheEndpoint(t *testing.T) {
	tests := []struct{ base, want string }{
		{"http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1/chat/completions"},
		{"http://127.0.0.1:11434/v1/", "http://127.0.0.1:11434/v1/chat/completions"},
		{"https://example.com/openai/v1?api-version=2024", "https://example.com/openai/v1/chat/completions?api-version=2024"},
	}
	for _, tt := range tests {
		t.Run(tt.base+" posts to "+tt.want, func(t *testing.T) {
			o, err := NewOpenAI(OpenAIOptions{BaseURL: tt.base, Model: "m"})
			if err != nil {
				t.Fatalf("NewOpenAI: %v", err)
			}
			if o.url != tt.want {
				t.Errorf("url = %q, want %q", o.url, tt.want)
			}
		})
	}
}
