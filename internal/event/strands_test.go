package event

import (
	"reflect"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []Event
		ok   bool
	}{
		{"a wrapped text delta is text", `{"event":{"contentBlockDelta":{"delta":{"text":"Hi"},"contentBlockIndex":0}}}`, []Event{{Kind: KindText, Text: "Hi"}}, true},
		{"an unwrapped text delta is text", `{"contentBlockDelta":{"delta":{"text":"Hi"}}}`, []Event{{Kind: KindText, Text: "Hi"}}, true},
		{"an empty text delta is still text", `{"event":{"contentBlockDelta":{"delta":{"text":""}}}}`, []Event{{Kind: KindText}}, true},
		{"a tool-use delta is tool use", `{"event":{"contentBlockDelta":{"delta":{"toolUse":{"input":"{\"q\":"}}}}}`, []Event{{Kind: KindToolUse, Text: `{"q":`}}, true},
		{"a reasoning delta is reasoning", `{"event":{"contentBlockDelta":{"delta":{"reasoningContent":{"text":"hmm"}}}}}`, []Event{{Kind: KindReasoning, Text: "hmm"}}, true},
		{"messageStart opens a message", `{"event":{"messageStart":{"role":"assistant"}}}`, []Event{{Kind: KindMessageStart}}, true},
		{"messageStop carries the stop reason", `{"event":{"messageStop":{"stopReason":"tool_use"}}}`, []Event{{Kind: KindMessageStop, StopReason: "tool_use"}}, true},
		{"metadata carries usage and its compacted JSON", `{"event":{"metadata":{ "usage":{"inputTokens":8,"outputTokens":33,"totalTokens":41}, "metrics":{"latencyMs":1182}}}}`,
			[]Event{{Kind: KindMetadata, Usage: &Usage{8, 33, 41}, Metadata: []byte(`{"usage":{"inputTokens":8,"outputTokens":33,"totalTokens":41},"metrics":{"latencyMs":1182}}`)}}, true},
		{"metadata without usage has none", `{"event":{"metadata":{"metrics":{"latencyMs":5}}}}`, []Event{{Kind: KindMetadata, Metadata: []byte(`{"metrics":{"latencyMs":5}}`)}}, true},
		{"a JSON string is a text delta", `"Hello"`, []Event{{Kind: KindText, Text: "Hello"}}, true},
		{"an error object is the agent's error", `{"error":"boom","error_type":"ValueError","message":"An error occurred during streaming"}`, []Event{{Kind: KindError, Text: "boom"}}, true},
		{"an unknown event kind is skipped", `{"event":{"somethingNew":{}}}`, nil, false},
		{"contentBlockStop is skipped", `{"event":{"contentBlockStop":{"contentBlockIndex":0}}}`, nil, false},
		{"a line that is not JSON is skipped", `<Event object at 0x7f>`, nil, false},
		{"truncated JSON is skipped", `{"event":{"contentBlockDelta":`, nil, false},
		{"a number is skipped", `42`, nil, false},
		{"empty data is skipped", ``, nil, false},
		{"a text field of the wrong type is skipped", `{"event":{"contentBlockDelta":{"delta":{"text":5}}}}`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Decode(nil, []byte(tt.data))
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Decode(%s) = %+v, %v; want %+v, %v", tt.data, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"event":{"contentBlockDelta":{"delta":{"text":"Hi"}}}}`, `"x"`, `{"error":1}`, `{"event":{"metadata":{"usage":{}}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, ok := Decode(nil, data)
		if ok != (len(evs) > 0) {
			t.Fatalf("ok %v with %d events", ok, len(evs))
		}
	})
}
