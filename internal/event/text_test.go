package event

import "testing"

func TestText(t *testing.T) {
	runCases(t, Text, []decodeCase{
		{"a JSON string is a text delta", `"Hello"`, []Event{{Kind: KindText, Text: "Hello"}}},
		{"spaces around it are not text", " \"Hello\" \n", []Event{{Kind: KindText, Text: "Hello"}}},
		{"an empty string is still text", `""`, []Event{{Kind: KindText}}},
		{"escapes are decoded", `"line\nnext \"q\" \u00e9"`, []Event{{Kind: KindText, Text: "line\nnext \"q\" é"}}},
		{"raw UTF-8 is kept", `"6 × 7 👋"`, []Event{{Kind: KindText, Text: "6 × 7 👋"}}},
		{"a string that looks like a Python repr is still text here", `"{'agent': <A object at 0x1>}"`, []Event{{Kind: KindText, Text: "{'agent': <A object at 0x1>}"}}},
		{"the SDK's error object is the agent's error", `{"error": "boom", "error_type": "ValueError", "message": "An error occurred during streaming"}`, []Event{{Kind: KindError, Text: "boom"}}},
		{"a line that is not JSON is not text", `Hello`, nil},
		{"a quoted line that is not JSON is not text", `"Hello`, nil},
		{"a Converse event is not text", `{"event":{"contentBlockDelta":{"delta":{"text":"Hi"}}}}`, nil},
		{"an AG-UI event is not text", `{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":"Hi"}`, nil},
		{"a number is not text", `42`, nil},
		{"an array of strings is not text", `["Hello"]`, nil},
	})
}
