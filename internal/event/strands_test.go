package event

import (
	"reflect"
	"testing"
)

func TestStrands(t *testing.T) {
	runCases(t, Strands, []decodeCase{
		{"a wrapped text delta is text", `{"event":{"contentBlockDelta":{"delta":{"text":"Hi"},"contentBlockIndex":0}}}`, []Event{{Kind: KindText, Text: "Hi"}}},
		{"an unwrapped text delta is text", `{"contentBlockDelta":{"delta":{"text":"Hi"}}}`, []Event{{Kind: KindText, Text: "Hi"}}},
		{"Python's spacing is read", `{"event": {"contentBlockDelta": {"delta": {"text": "Hi"}, "contentBlockIndex": 0}}}`, []Event{{Kind: KindText, Text: "Hi"}}},
		{"an empty text delta is still text", `{"event":{"contentBlockDelta":{"delta":{"text":""}}}}`, []Event{{Kind: KindText}}},
		{"escapes are decoded", `{"event":{"contentBlockDelta":{"delta":{"text":"a\"b\n\u00e9\ud83d\udc4b"}}}}`, []Event{{Kind: KindText, Text: "a\"b\né👋"}}},
		{"a tool-use delta is tool use", `{"event":{"contentBlockDelta":{"delta":{"toolUse":{"input":"{\"q\":"}}}}}`, []Event{{Kind: KindToolUse, Text: `{"q":`}}},
		{"a reasoning delta is reasoning", `{"event":{"contentBlockDelta":{"delta":{"reasoningContent":{"text":"hmm"}}}}}`, []Event{{Kind: KindReasoning, Text: "hmm"}}},
		{"a reasoning signature is skipped", `{"event":{"contentBlockDelta":{"delta":{"reasoningContent":{"signature":"EqQB"}}}}}`, nil},
		{"a citation delta is skipped", `{"event":{"contentBlockDelta":{"delta":{"citation":{"title":"x"}}}}}`, nil},
		{"messageStart opens a message", `{"event":{"messageStart":{"role":"assistant"}}}`, []Event{{Kind: KindMessageStart}}},
		{"messageStop carries the stop reason", `{"event":{"messageStop":{"stopReason":"tool_use"}}}`, []Event{{Kind: KindMessageStop, StopReason: "tool_use"}}},
		{"messageStop without a string reason still stops", `{"event":{"messageStop":{"stopReason":7}}}`, []Event{{Kind: KindMessageStop}}},
		{"metadata carries usage and its compacted JSON", `{"event":{"metadata":{ "usage":{"inputTokens":8,"outputTokens":33,"totalTokens":41}, "metrics":{"latencyMs":1182}}}}`,
			[]Event{{Kind: KindMetadata, Usage: &Usage{8, 33, 41}, Metadata: []byte(`{"usage":{"inputTokens":8,"outputTokens":33,"totalTokens":41},"metrics":{"latencyMs":1182}}`)}}},
		{"metadata without usage has none", `{"event":{"metadata":{"metrics":{"latencyMs":5}}}}`, []Event{{Kind: KindMetadata, Metadata: []byte(`{"metrics":{"latencyMs":5}}`)}}},
		{"usage of the wrong type is none, not zero", `{"event":{"metadata":{"usage":{"inputTokens":"8"}}}}`, []Event{{Kind: KindMetadata, Metadata: []byte(`{"usage":{"inputTokens":"8"}}`)}}},
		{"a count that is not an integer is no usage", `{"event":{"metadata":{"usage":{"inputTokens":8.5,"outputTokens":1,"totalTokens":9}}}}`, []Event{{Kind: KindMetadata, Metadata: []byte(`{"usage":{"inputTokens":8.5,"outputTokens":1,"totalTokens":9}}`)}}},
		{"a count too large for int is no usage", `{"event":{"metadata":{"usage":{"inputTokens":99999999999999999999}}}}`, []Event{{Kind: KindMetadata, Metadata: []byte(`{"usage":{"inputTokens":99999999999999999999}}`)}}},
		{"a usage that is null is none", `{"event":{"metadata":{"usage":null}}}`, []Event{{Kind: KindMetadata, Metadata: []byte(`{"usage":null}`)}}},
		{"a null or absent count is zero, as the agent left it", `{"event":{"metadata":{"usage":{"inputTokens":null,"outputTokens":3}}}}`, []Event{{Kind: KindMetadata, Usage: &Usage{0, 3, 0}, Metadata: []byte(`{"usage":{"inputTokens":null,"outputTokens":3}}`)}}},
		{"the SDK's error object is the agent's error", `{"error": "boom", "error_type": "ValueError", "message": "An error occurred during streaming"}`, []Event{{Kind: KindError, Text: "boom"}}},
		{"an error that is not a string is kept as JSON", `{"error": {"code": 500, "detail": "x"}}`, []Event{{Kind: KindError, Text: `{"code":500,"detail":"x"}`}}},
		{"a null error is no error", `{"error": null, "event": {"messageStart": {"role": "assistant"}}}`, []Event{{Kind: KindMessageStart}}},
		{"a JSON string is not Strands (the SDK's repr fallback is one)", `"Hello"`, nil},
		{"an AG-UI event is not Strands", `{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":"Hi"}`, nil},
		{"an unknown event kind is skipped", `{"event":{"somethingNew":{}}}`, nil},
		{"contentBlockStart is skipped", `{"event":{"contentBlockStart":{"start":{"toolUse":{"toolUseId":"t","name":"calc"}},"contentBlockIndex":1}}}`, nil},
		{"contentBlockStop is skipped", `{"event":{"contentBlockStop":{"contentBlockIndex":0}}}`, nil},
		{"Strands' message event is skipped (its text came in deltas)", `{"message": {"role": "assistant", "content": [{"text": "Hi"}]}}`, nil},
		{"a text field of the wrong type is skipped", `{"event":{"contentBlockDelta":{"delta":{"text":5}}}}`, nil},
	})
}

func TestMetadataIsACopy(t *testing.T) {
	data := []byte(`{"event":{"metadata":{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}}}`)
	got, _ := NewDecoder(Strands).Decode(nil, data)
	for i := range data {
		data[i] = 'x' // the SSE reader reuses its buffer
	}
	if want := `{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}`; string(got[0].Metadata) != want {
		t.Fatalf("Metadata = %s after the data was overwritten; want %s", got[0].Metadata, want)
	}
}

// TestDecode is the package-level Decode the gateway calls: Auto.
func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []Event
		ok   bool
	}{
		{"a wrapped text delta is text", `{"event":{"contentBlockDelta":{"delta":{"text":"Hi"},"contentBlockIndex":0}}}`, []Event{{Kind: KindText, Text: "Hi"}}, true},
		{"a JSON string is a text delta", `"Hello"`, []Event{{Kind: KindText, Text: "Hello"}}, true},
		{"an AG-UI delta is text", `{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":"Hi"}`, []Event{{Kind: KindText, Text: "Hi"}}, true},
		{"an error object is the agent's error", `{"error":"boom","error_type":"ValueError","message":"An error occurred during streaming"}`, []Event{{Kind: KindError, Text: "boom"}}, true},
		{"a line that is not JSON is skipped", `<Event object at 0x7f>`, nil, false},
		{"empty data is skipped", ``, nil, false},
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
