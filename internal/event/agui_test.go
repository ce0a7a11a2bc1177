package event

import (
	"reflect"
	"testing"
)

func TestAGUI(t *testing.T) {
	runCases(t, AGUI, []decodeCase{
		{"TEXT_MESSAGE_START opens a message", `{"type":"TEXT_MESSAGE_START","messageId":"m1","role":"assistant"}`, []Event{{Kind: KindMessageStart}}},
		{"TEXT_MESSAGE_CONTENT is text", `{"type":"TEXT_MESSAGE_CONTENT","messageId":"m1","delta":"Hi"}`, []Event{{Kind: KindText, Text: "Hi"}}},
		{"fields in any order", `{"delta":"Hi","messageId":"m1","type":"TEXT_MESSAGE_CONTENT","timestamp":1720000000000}`, []Event{{Kind: KindText, Text: "Hi"}}},
		{"TEXT_MESSAGE_END closes it, with no stop reason", `{"type":"TEXT_MESSAGE_END","messageId":"m1"}`, []Event{{Kind: KindMessageStop}}},
		{"TOOL_CALL_ARGS is tool use", `{"type":"TOOL_CALL_ARGS","toolCallId":"t1","delta":"{\"q\":"}`, []Event{{Kind: KindToolUse, Text: `{"q":`}}},
		{"REASONING_MESSAGE_CONTENT is reasoning", `{"type":"REASONING_MESSAGE_CONTENT","messageId":"r1","delta":"hmm"}`, []Event{{Kind: KindReasoning, Text: "hmm"}}},
		{"THINKING_TEXT_MESSAGE_CONTENT is reasoning", `{"type":"THINKING_TEXT_MESSAGE_CONTENT","delta":"hmm"}`, []Event{{Kind: KindReasoning, Text: "hmm"}}},
		{"RUN_ERROR is the agent's error, message kept for the log", `{"type":"RUN_ERROR","message":"model timed out","code":"TIMEOUT"}`, []Event{{Kind: KindError, Text: "model timed out"}}},
		{"RUN_ERROR without a message keeps its code", `{"type":"RUN_ERROR","code":"TIMEOUT"}`, []Event{{Kind: KindError, Text: "TIMEOUT"}}},
		{"RUN_ERROR with nothing is still an error", `{"type":"RUN_ERROR","message":5}`, []Event{{Kind: KindError}}},
		{"the SDK's error object is the agent's error", `{"error": "boom", "error_type": "ValueError", "message": "An error occurred during streaming"}`, []Event{{Kind: KindError, Text: "boom"}}},
		{"RUN_STARTED is skipped", `{"type":"RUN_STARTED","threadId":"t","runId":"r"}`, nil},
		{"RUN_FINISHED is skipped", `{"type":"RUN_FINISHED","threadId":"t","runId":"r","result":{"usage":{"inputTokens":1}}}`, nil},
		{"TOOL_CALL_START is skipped", `{"type":"TOOL_CALL_START","toolCallId":"t1","toolCallName":"calculator","parentMessageId":"m1"}`, nil},
		{"TOOL_CALL_END is skipped", `{"type":"TOOL_CALL_END","toolCallId":"t1"}`, nil},
		{"TOOL_CALL_RESULT is skipped", `{"type":"TOOL_CALL_RESULT","messageId":"m2","toolCallId":"t1","content":"42","role":"tool"}`, nil},
		{"THINKING_START is skipped", `{"type":"THINKING_START","title":"Thinking"}`, nil},
		{"STATE_SNAPSHOT is skipped", `{"type":"STATE_SNAPSHOT","snapshot":{"delta":"not text"}}`, nil},
		{"STATE_DELTA is skipped, though its delta is a string's neighbour", `{"type":"STATE_DELTA","delta":[{"op":"add","path":"/a","value":"x"}]}`, nil},
		{"MESSAGES_SNAPSHOT is skipped (its text came in deltas)", `{"type":"MESSAGES_SNAPSHOT","messages":[{"id":"m1","role":"assistant","content":"Hi"}]}`, nil},
		{"RAW is skipped", `{"type":"RAW","event":{"contentBlockDelta":{"delta":{"text":"Hi"}}},"source":"bedrock"}`, nil},
		{"CUSTOM is skipped", `{"type":"CUSTOM","name":"x","value":"Hi"}`, nil},
		{"an unknown type is skipped", `{"type":"TEXT_MESSAGE_DELTA","delta":"Hi"}`, nil},
		{"a lowercase type is unknown", `{"type":"text_message_content","delta":"Hi"}`, nil},
		{"a content event without a delta is skipped", `{"type":"TEXT_MESSAGE_CONTENT","messageId":"m1"}`, nil},
		{"a Converse event is not AG-UI", `{"event":{"contentBlockDelta":{"delta":{"text":"Hi"}}}}`, nil},
		{"a JSON string is not AG-UI", `"Hello"`, nil},
	})
}

func TestAGUIChunks(t *testing.T) {
	start, stop := Event{Kind: KindMessageStart}, Event{Kind: KindMessageStop}
	text := func(s string) Event { return Event{Kind: KindText, Text: s} }
	tests := []struct {
		name string
		data []string
		want []Event
	}{
		{"the first text chunk opens a message and a later event closes it", []string{
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m1","role":"assistant","delta":"Hel"}`,
			`{"type":"TEXT_MESSAGE_CHUNK","delta":"lo"}`,
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m1","delta":"!"}`,
			`{"type":"RUN_FINISHED","threadId":"t","runId":"r"}`,
		}, []Event{start, text("Hel"), text("lo"), text("!"), stop}},
		{"a chunk with another id starts another message", []string{
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m1","delta":"a"}`,
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m2","delta":"b"}`,
		}, []Event{start, text("a"), stop, start, text("b")}},
		{"a chunk without a delta opens the message alone", []string{
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m1"}`,
		}, []Event{start}},
		{"a tool chunk closes a text chunk stream", []string{
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m1","delta":"a"}`,
			`{"type":"TOOL_CALL_CHUNK","toolCallId":"t1","toolCallName":"calc","delta":"{}"}`,
			`{"type":"TOOL_CALL_CHUNK","delta":"x"}`,
		}, []Event{start, text("a"), stop, {Kind: KindToolUse, Text: "{}"}, {Kind: KindToolUse, Text: "x"}}},
		{"reasoning chunks are reasoning and open no message", []string{
			`{"type":"REASONING_MESSAGE_CHUNK","messageId":"r1","delta":"hmm"}`,
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m1","delta":"a"}`,
		}, []Event{{Kind: KindReasoning, Text: "hmm"}, start, text("a")}},
		{"RAW and activity events leave a chunk stream open", []string{
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m1","delta":"a"}`,
			`{"type":"RAW","event":{}}`,
			`{"type":"ACTIVITY_DELTA","messageId":"x","activityType":"y","patch":[]}`,
			`{"type":"TEXT_MESSAGE_CHUNK","delta":"b"}`,
		}, []Event{start, text("a"), text("b")}},
		{"explicit messages close a chunk stream first", []string{
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m1","delta":"a"}`,
			`{"type":"TEXT_MESSAGE_START","messageId":"m2","role":"assistant"}`,
			`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m2","delta":"b"}`,
			`{"type":"TEXT_MESSAGE_END","messageId":"m2"}`,
		}, []Event{start, text("a"), stop, start, text("b"), stop}},
		{"RUN_ERROR closes a chunk stream, then reports", []string{
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m1","delta":"a"}`,
			`{"type":"RUN_ERROR","message":"boom"}`,
		}, []Event{start, text("a"), stop, {Kind: KindError, Text: "boom"}}},
		{"events of other dialects leave a chunk stream open under auto", []string{
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m1","delta":"a"}`,
			`"b"`,
			`{"type":"TEXT_MESSAGE_CHUNK","delta":"c"}`,
		}, []Event{start, text("a"), text("b"), text("c")}},
		{"an id with escapes is the same id", []string{
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m\u0031","delta":"a"}`,
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m1","delta":"b"}`,
		}, []Event{start, text("a"), text("b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decodeAll(NewDecoder(Auto), tt.data...); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
