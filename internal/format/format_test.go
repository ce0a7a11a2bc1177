package format_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
)

func TestParse(t *testing.T) {
	for _, n := range format.Names {
		if got, err := format.Parse(string(n)); err != nil || got != n {
			t.Errorf("Parse(%q) = %q, %v", n, got, err)
		}
	}
	for _, s := range []string{"", "openai-json", "responses", "responses-json", "OpenAI", "json"} {
		_, err := format.Parse(s)
		if err == nil || !strings.Contains(err.Error(), "original, transformed, ndjson, openai, ui") {
			t.Errorf("Parse(%q) = %v, want an error listing the valid names", s, err)
		}
	}
}

func TestContentTypeAndAnnounceByNameAreTheEncoders(t *testing.T) {
	names := []format.Name{format.Original, format.Transformed, format.NDJSON, format.OpenAI, format.OpenAIJSON,
		format.Responses, format.ResponsesJSON, format.UI, format.AGUI, "unknown"}
	for _, n := range names {
		for _, passthrough := range []bool{false, true} {
			enc := format.New(n, &bytes.Buffer{}, format.Options{AGUI: format.AGUIRun{Passthrough: passthrough}})
			if got, want := format.ContentType(n), enc.ContentType(); got != want {
				t.Errorf("ContentType(%q) = %q, its encoder's is %q", n, got, want)
			}
			h, v, ok := format.Announce(n)
			a, isAnnouncer := enc.(format.Announcer)
			if ok != isAnnouncer {
				t.Errorf("Announce(%q) ok = %v, its encoder an Announcer: %v", n, ok, isAnnouncer)
				continue
			}
			if ok {
				if wh, wv := a.Announce(); h != wh || v != wv {
					t.Errorf("Announce(%q) = %q, %q, its encoder's %q, %q", n, h, v, wh, wv)
				}
			}
		}
	}
}

func TestFromAccept(t *testing.T) {
	tests := []struct {
		name   string
		accept string
		want   format.Name
		ok     bool
	}{
		{"an empty header chooses nothing", "", "", false},
		{"event-stream is original", "text/event-stream", format.Original, true},
		{"plain text is transformed", "text/plain", format.Transformed, true},
		{"ndjson is ndjson", "application/x-ndjson", format.NDJSON, true},
		{"parameters and case do not matter", "Text/Plain; charset=utf-8", format.Transformed, true},
		{"wildcards choose nothing", "*/*", "", false},
		{"a type wildcard chooses nothing", "text/*", "", false},
		{"unknown types are skipped", "application/json, text/html, text/plain", format.Transformed, true},
		{"the first listed wins a tie", "application/x-ndjson, text/event-stream", format.NDJSON, true},
		{"a higher q-value wins", "text/event-stream;q=0.5, application/x-ndjson;q=0.9", format.NDJSON, true},
		{"a missing q-value is 1", "text/plain;q=0.8, text/event-stream", format.Original, true},
		{"q=0 refuses a type", "text/event-stream;q=0", "", false},
		{"a wildcard does not outrank a real type", "*/*, text/plain;q=0.1", format.Transformed, true},
		{"a malformed q-value is skipped", "text/plain;q=high, application/x-ndjson;q=0.2", format.NDJSON, true},
		{"a q-value above 1 is skipped", "text/plain;q=2", "", false},
		{"a malformed range is skipped", "text/plain;;=, text/event-stream;q=0.3", format.Original, true},
		{"browsers' defaults choose nothing", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := format.FromAccept(tt.accept)
			if got != tt.want || ok != tt.ok {
				t.Errorf("FromAccept(%q) = %q, %v; want %q, %v", tt.accept, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestFailShapes pins the exact bytes of a terminal error in every format,
// written before any event.
func TestFailShapes(t *testing.T) {
	f := format.Failure{Code: "upstream_timeout", Message: `the agent did not answer in time <"&">`, RequestID: "req-7"}
	tests := []struct {
		format format.Name
		want   string
	}{
		{format.Original, "event: error\n" +
			`data: {"error":{"code":"upstream_timeout","message":"the agent did not answer in time \u003c\"\u0026\"\u003e","requestId":"req-7"}}` + "\n\n"},
		{format.Transformed, "\n[error] the agent did not answer in time <\"&\"> (upstream_timeout, request id req-7)\n"},
		{format.NDJSON, `{"type":"error","error":{"code":"upstream_timeout","message":"the agent did not answer in time <\"&\">","requestId":"req-7"}}` + "\n"},
		{format.OpenAI, `data: {"error":{"message":"the agent did not answer in time <\"&\"> (request id req-7)","type":"server_error","param":null,"code":"upstream_timeout"}}` + "\n\n" +
			"data: [DONE]\n\n"},
		{format.OpenAIJSON, ""},
		{format.UI, `data: {"type":"start","messageId":"chatcmpl-req-0042"}` + "\n\n" +
			`data: {"type":"error","errorText":"the agent did not answer in time <\"&\"> (upstream_timeout, request id req-7)"}` + "\n\n" +
			"data: [DONE]\n\n"},
		{format.AGUI, `data: {"type":"RUN_STARTED","threadId":"","runId":""}` + "\n\n" +
			`data: {"type":"RUN_ERROR","message":"the agent did not answer in time <\"&\"> (request id req-7)","code":"upstream_timeout"}` + "\n\n"},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			var out bytes.Buffer
			if err := format.New(tt.format, &out, openAIOptions()).Fail(f); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("Fail wrote\n%q, want\n%q", out.String(), tt.want)
			}
		})
	}
}

func TestHeartbeat(t *testing.T) {
	tests := []struct {
		format format.Name
		want   string
	}{
		{format.Original, ": keep-alive\n\n"},
		{format.Transformed, ""},
		{format.NDJSON, `{"type":"ping"}` + "\n"},
		{format.OpenAI, ": keep-alive\n\n"},
		{format.OpenAIJSON, ""},
		{format.UI, ": keep-alive\n\n"},
		{format.AGUI, ": keep-alive\n\n"},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			var out bytes.Buffer
			if err := format.New(tt.format, &out, openAIOptions()).Heartbeat(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("Heartbeat wrote %q, want %q", out.String(), tt.want)
			}
		})
	}
}

// TestOriginalFraming covers the places where original must add bytes of
// its own without changing what a client reads.
func TestOriginalFraming(t *testing.T) {
	fail := format.Failure{Code: "c", Message: "m", RequestID: "r"}
	errEvent := sseEvent("error", []byte(`{"error":{"code":"c","message":"m","requestId":"r"}}`))
	tests := []struct {
		name string
		do   func(format.Encoder)
		want string
	}{
		{"a heartbeat before the first block drops the byte order mark a client would no longer skip", func(e format.Encoder) {
			_ = e.Heartbeat()
			_ = e.Raw([]byte("\uFEFFdata: x\n\n"))
		}, ": keep-alive\n\ndata: x\n\n"},
		{"without a heartbeat first the byte order mark passes", func(e format.Encoder) {
			_ = e.Raw([]byte("\uFEFFdata: x\n\n"))
			_ = e.Heartbeat()
		}, "\uFEFFdata: x\n\n: keep-alive\n\n"},
		{"no heartbeat after a block cut mid-line", func(e format.Encoder) {
			_ = e.Raw([]byte("data: x\n\ndata: cut"))
			_ = e.Heartbeat()
		}, "data: x\n\ndata: cut"},
		{"no heartbeat after a block cut after a line", func(e format.Encoder) {
			_ = e.Raw([]byte("data: cut\r\n"))
			_ = e.Heartbeat()
		}, "data: cut\r\n"},
		{"a heartbeat after a block ended by a lone CR", func(e format.Encoder) {
			_ = e.Raw([]byte("data: x\r\r"))
			_ = e.Heartbeat()
			_ = e.Raw([]byte("\n"))
		}, "data: x\r\r: keep-alive\n\n\n"},
		{"the LF of a split CRLF blank line completes the block", func(e format.Encoder) {
			_ = e.Raw([]byte("data: x\r\n\r"))
			_ = e.Raw([]byte("\n"))
			_ = e.Fail(fail)
		}, "data: x\r\n\r\n" + errEvent},
		{"a failure ends a block cut mid-line first", func(e format.Encoder) {
			_ = e.Raw([]byte("data: cut"))
			_ = e.Fail(fail)
		}, "data: cut\n\n" + errEvent},
		{"a failure after a cut CR needs two LFs", func(e format.Encoder) {
			_ = e.Raw([]byte("data: cut\r"))
			_ = e.Fail(fail)
		}, "data: cut\r\n\n" + errEvent},
		{"a failure after a comment cut short", func(e format.Encoder) {
			_ = e.Raw([]byte(": comment\n"))
			_ = e.Fail(fail)
		}, ": comment\n\n" + errEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.do(format.New(format.Original, &out, format.Options{}))
			if out.String() != tt.want {
				t.Errorf("wrote %q, want %q", out.String(), tt.want)
			}
		})
	}
}

func metadata(raw string) event.Event {
	var m struct {
		Usage *event.Usage `json:"usage"`
	}
	_ = json.Unmarshal([]byte(raw), &m)
	return event.Event{Kind: event.KindMetadata, Usage: m.Usage, Metadata: json.RawMessage(raw)}
}

func TestTransformedMetadata(t *testing.T) {
	tests := []struct {
		name   string
		events []event.Event
		want   string
	}{
		{"no report reads as null usage", nil, `{"usage":null}`},
		{"a single report is printed as the agent sent it", []event.Event{
			metadata(`{"metrics":{"latencyMs":5,"timeToFirstByteMs":2},"usage":{"totalTokens":3,"inputTokens":1,"outputTokens":2,"cacheReadInputTokens":0}}`),
		}, `{"metrics":{"latencyMs":5,"timeToFirstByteMs":2},"usage":{"totalTokens":3,"inputTokens":1,"outputTokens":2,"cacheReadInputTokens":0}}`},
		{"several reports are summed", []event.Event{
			metadata(`{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3},"metrics":{"latencyMs":10}}`),
			metadata(`{"usage":{"inputTokens":10,"outputTokens":20,"totalTokens":30},"metrics":{"latencyMs":2.6}}`),
			metadata(`{"usage":{"inputTokens":100,"outputTokens":200,"totalTokens":300}}`),
		}, `{"usage":{"inputTokens":111,"outputTokens":222,"totalTokens":333},"metrics":{"latencyMs":13}}`},
		{"several reports without latency leave metrics out", []event.Event{
			metadata(`{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}`),
			metadata(`{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3},"metrics":"n/a"}`),
		}, `{"usage":{"inputTokens":2,"outputTokens":4,"totalTokens":6}}`},
		{"several reports without usage give null usage", []event.Event{
			metadata(`{"metrics":{"latencyMs":1}}`),
			metadata(`{"metrics":{"latencyMs":1}}`),
		}, `{"usage":null,"metrics":{"latencyMs":2}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			enc := format.New(format.Transformed, &out, format.Options{})
			for _, e := range tt.events {
				if err := enc.Event(e); err != nil {
					t.Fatal(err)
				}
			}
			if err := enc.Finish("s"); err != nil {
				t.Fatal(err)
			}
			want := format.Separator + tt.want + "\n" + `{"runtimeSessionId":"s"}`
			if out.String() != want {
				t.Errorf("wrote %q, want %q", out.String(), want)
			}
		})
	}
}

func TestOpenAIFinishReason(t *testing.T) {
	tests := []struct {
		stops []string
		want  string
	}{
		{nil, "stop"},
		{[]string{"end_turn"}, "stop"},
		{[]string{"stop_sequence"}, "stop"},
		{[]string{"max_tokens"}, "length"},
		{[]string{"model_context_window_exceeded"}, "length"},
		{[]string{"content_filtered"}, "content_filter"},
		{[]string{"guardrail_intervened"}, "content_filter"},
		{[]string{"tool_use"}, "stop"},
		{[]string{"tool_use", "end_turn"}, "stop"},
		{[]string{"tool_use", "max_tokens"}, "length"},
		{[]string{"max_tokens", "end_turn"}, "stop"},
		{[]string{"something_new"}, "stop"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.stops, ","), func(t *testing.T) {
			for _, f := range []format.Name{format.OpenAI, format.OpenAIJSON} {
				var out bytes.Buffer
				enc := format.New(f, &out, openAIOptions())
				for _, s := range tt.stops {
					_ = enc.Event(event.Event{Kind: event.KindMessageStart})
					_ = enc.Event(event.Event{Kind: event.KindMessageStop, StopReason: s})
				}
				if err := enc.Finish("s"); err != nil {
					t.Fatal(err)
				}
				if want := `"finish_reason":"` + tt.want + `"`; !strings.Contains(out.String(), want) {
					t.Errorf("%s: %s has no %s", f, out.String(), want)
				}
			}
		})
	}
}

func TestOpenAIJSONIsBuffered(t *testing.T) {
	text := event.Event{Kind: event.KindText, Text: strings.Repeat("x", 10)}
	t.Run("it writes nothing before Finish", func(t *testing.T) {
		var out bytes.Buffer
		enc := format.New(format.OpenAIJSON, &out, openAIOptions())
		_ = enc.Raw([]byte("data: x\n\n"))
		_ = enc.Event(text)
		_ = enc.Heartbeat()
		if !enc.Buffered() || out.Len() > 0 {
			t.Fatalf("Buffered %v after writing %q", enc.Buffered(), out.Bytes())
		}
		if err := enc.Finish("s"); err != nil || enc.Buffered() || out.Len() == 0 {
			t.Fatalf("after Finish (%v): Buffered %v, wrote %q", err, enc.Buffered(), out.Bytes())
		}
	})
	t.Run("an answer past the bound fails and writes nothing", func(t *testing.T) {
		var out bytes.Buffer
		opts := openAIOptions()
		opts.MaxBufferedBytes = 25
		enc := format.New(format.OpenAIJSON, &out, opts)
		for range 2 {
			if err := enc.Event(text); err != nil {
				t.Fatalf("within the bound: %v", err)
			}
		}
		if err := enc.Event(text); !errors.Is(err, format.ErrResponseTooLarge) {
			t.Fatalf("past the bound: %v, want ErrResponseTooLarge", err)
		}
		if err := enc.Finish("s"); !errors.Is(err, format.ErrResponseTooLarge) {
			t.Errorf("Finish: %v, want ErrResponseTooLarge", err)
		}
		_ = enc.Fail(format.Failure{Code: "response_too_large"})
		if !enc.Buffered() || out.Len() > 0 {
			t.Errorf("Buffered %v, wrote %q", enc.Buffered(), out.Bytes())
		}
	})
	t.Run("streaming formats are never buffered", func(t *testing.T) {
		for _, n := range format.Names {
			if format.New(n, &bytes.Buffer{}, format.Options{}).Buffered() {
				t.Errorf("%s is buffered", n)
			}
		}
	})
}

func TestOpenAIDefaults(t *testing.T) {
	before := time.Now().Unix()
	var out bytes.Buffer
	enc := format.New(format.OpenAIJSON, &out, format.Options{Model: "m"})
	if err := enc.Finish("s"); err != nil {
		t.Fatal(err)
	}
	var c struct {
		ID      string `json:"id"`
		Created int64  `json:"created"`
		Model   string `json:"model"`
	}
	if err := json.Unmarshal(out.Bytes(), &c); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ID, "chatcmpl-") || len(c.ID) < len("chatcmpl-")+16 {
		t.Errorf("generated id %q", c.ID)
	}
	if c.Created < before || c.Created > time.Now().Unix() || c.Model != "m" {
		t.Errorf("created %d, model %q", c.Created, c.Model)
	}
}

// TestEmptyDeltasAreSkipped checks that a delta without text writes no
// line or chunk of its own.
func TestEmptyDeltasAreSkipped(t *testing.T) {
	for _, f := range []format.Name{format.Transformed, format.NDJSON, format.OpenAI, format.UI} {
		var out bytes.Buffer
		enc := format.New(f, &out, format.Options{IncludeTools: true, IncludeReasoning: true})
		for _, k := range []event.Kind{event.KindText, event.KindToolUse, event.KindReasoning} {
			if err := enc.Event(event.Event{Kind: k}); err != nil {
				t.Fatal(err)
			}
		}
		if out.Len() > 0 {
			t.Errorf("%s wrote %q for empty deltas", f, out.Bytes())
		}
	}
}
