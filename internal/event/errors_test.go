package event_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/event/eventtest"
)

// Identifiers the error events below name. None may leave the gateway.
const (
	arn     = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4"
	account = "123456789012"
)

// errorShapes are agent errors in the shapes agents send them, each a kind
// that the decoders did not know: Bedrock ConverseStream's exception
// events, error keys spelled in other cases or with escapes, and error
// objects shaped like AWS's.
var errorShapes = []struct {
	name string
	data string
}{
	{"modelStreamErrorException", `{"modelStreamErrorException":{"message":"Model ` + arn + ` failed","originalStatusCode":424,"originalMessage":"boom"}}`},
	{"internalServerException", `{"internalServerException":{"message":"Internal error in ` + arn + `"}}`},
	{"throttlingException", `{"throttlingException":{"message":"Too many requests for ` + arn + `"}}`},
	{"validationException", `{"validationException":{"message":"Invalid model ` + arn + `"}}`},
	{"serviceUnavailableException", `{"serviceUnavailableException":{"message":"` + arn + ` is unavailable"}}`},
	{"modelStreamErrorException, wrapped", `{"event":{"modelStreamErrorException":{"message":"Model ` + arn + ` failed","originalStatusCode":424}}}`},
	{"internalServerException, wrapped", `{"event":{"internalServerException":{"message":"` + arn + `"}}}`},
	{"throttlingException, wrapped, with Python's spacing", `{"event": {"throttlingException": {"message": "Too many requests for ` + arn + `"}}}`},
	{"validationException, wrapped", `{"event":{"validationException":{"message":"` + arn + `"}}}`},
	{"serviceUnavailableException, wrapped", `{"event":{"serviceUnavailableException":{"message":"` + arn + `"}}}`},
	{"an exception beside another kind", `{"event":{"contentBlockStop":{"contentBlockIndex":0},"throttlingException":{"message":"` + arn + `"}}}`},
	{"an exception under a wrapper spelled with an escape", `{"\u0065vent":{"throttlingException":{"message":"` + arn + `"}}}`},
	{"an exception under a wrapper in capitals", `{"Event":{"ThrottlingException":{"message":"` + arn + `"}}}`},
	{"an exception whose key has an escape", `{"event":{"thr\u006fttlingException":{"message":"` + arn + `"}}}`},
	{"an exception in another case", `{"THROTTLINGEXCEPTION":{"message":"` + arn + `"}}`},
	{"an error key spelled with an escape", `{"\u0065rror":"Access denied to ` + arn + `"}`},
	{"an error key spelled with an uppercase escape", `{"\u0045RROR":"` + arn + `"}`},
	{"an error key in capitals", `{"ERROR":"` + arn + `"}`},
	{"an Error key", `{"Error":"` + arn + `"}`},
	{"an error under the wrapper", `{"event":{"error":{"message":"` + arn + `"}}}`},
	{"a kind that ends in Error", `{"ModelTimeoutError":{"message":"` + arn + `"}}`},
	{"a snake_case kind", `{"model_stream_error_exception":{"message":"` + arn + `"}}`},
	{"AWS's query protocol error", `{"Error":{"Type":"Sender","Code":"AccessDeniedException","Message":"User: arn:aws:iam::` + account + `:user/x is not authorized"},"RequestId":"4c7f"}`},
	{"AWS's JSON protocol error", `{"__type":"com.amazonaws.bedrock#ValidationException","message":"Invalid model ` + arn + `"}`},
	{"AWS's JSON protocol error with a URL after the name", `{"__type":"ValidationException:http://internal.amazon.com/coral/com.amazon.coral.validate/","message":"` + arn + `"}`},
	{"an error code", `{"message":"Too many requests for ` + arn + `","code":"ThrottlingException"}`},
	{"an error Code", `{"Code":"InternalServerError","Message":"` + arn + `"}`},
	{"a code spelled with escapes", `{"c\u006fde":"Thrott\u006cingException","message":"` + arn + `"}`},
	{"Lambda's error object", `{"errorMessage":"` + arn + `","errorType":"ThrottlingException"}`},
	{"RUN_ERROR spelled with an escape", `{"type":"RUN_\u0045RROR","message":"` + arn + `"}`},
	{"an AG-UI RAW event carrying an exception", `{"type":"RAW","event":{"throttlingException":{"message":"` + arn + `"}},"source":"bedrock"}`},
	{"an AG-UI content event carrying an error", `{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":"Hi","error":"` + arn + `"}`},
	{"a text delta carrying an error", `{"event":{"contentBlockDelta":{"delta":{"text":"Hi"}},"error":{"message":"` + arn + `"}}}`},
}

// TestErrorShapesAreAgentErrors: an event whose kind is an error is the
// agent's error in every dialect, never content or nothing, and the whole
// agent's words are kept for the log.
func TestErrorShapesAreAgentErrors(t *testing.T) {
	for _, d := range event.Dialects {
		for _, tt := range errorShapes {
			t.Run(string(d)+"/"+tt.name, func(t *testing.T) {
				got, ok := event.NewDecoder(d).Decode(nil, []byte(tt.data))
				if !ok || len(got) != 1 || got[0].Kind != event.KindError {
					t.Fatalf("Decode(%s) = %+v, %v; want one agent error", tt.data, got, ok)
				}
				if !strings.Contains(got[0].Text, "arn:aws:") {
					t.Errorf("error text %q; want the agent's own words, for the log", got[0].Text)
				}
			})
		}
	}
}

// TestContentNamingAWSResourcesIsContent: text, tool input and reasoning
// are the agent's answer even when they name an ARN or quote an AWS
// error, and members that merely mention errors make no error.
func TestContentNamingAWSResourcesIsContent(t *testing.T) {
	text := func(s string) []event.Event { return []event.Event{{Kind: event.KindText, Text: s}} }
	tests := []struct {
		name     string
		dialects []event.Dialect
		data     string
		want     []event.Event
	}{
		{"text naming an ARN", []event.Dialect{event.Strands, event.Auto},
			`{"event":{"contentBlockDelta":{"delta":{"text":"Your profile ` + arn + ` is active."},"contentBlockIndex":0}}}`, text("Your profile " + arn + " is active.")},
		{"text quoting a Converse exception", []event.Dialect{event.Strands, event.Auto},
			`{"event":{"contentBlockDelta":{"delta":{"text":"{\"throttlingException\":{\"message\":\"` + arn + `\"}}"}}}}`, text(`{"throttlingException":{"message":"` + arn + `"}}`)},
		{"tool input with an error member", []event.Dialect{event.Strands, event.Auto},
			`{"event":{"contentBlockDelta":{"delta":{"toolUse":{"input":"{\"error\": \"` + arn + `\"}"}}}}}`, []event.Event{{Kind: event.KindToolUse, Text: `{"error": "` + arn + `"}`}}},
		{"reasoning about a ValidationException", []event.Dialect{event.Strands, event.Auto},
			`{"event":{"contentBlockDelta":{"delta":{"reasoningContent":{"text":"ValidationException on ` + arn + `"}}}}}`, []event.Event{{Kind: event.KindReasoning, Text: "ValidationException on " + arn}}},
		{"an error key inside a delta is content's", []event.Dialect{event.Strands, event.Auto},
			`{"event":{"contentBlockDelta":{"delta":{"text":"Hi","error":"x"}}}}`, text("Hi")},
		{"an AG-UI delta naming an exception", []event.Dialect{event.AGUI, event.Auto},
			`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":"ThrottlingException: ` + arn + `"}`, text("ThrottlingException: " + arn)},
		{"AG-UI tool arguments with an error member", []event.Dialect{event.AGUI, event.Auto},
			`{"type":"TOOL_CALL_ARGS","toolCallId":"t","delta":"{\"error\":true}"}`, []event.Event{{Kind: event.KindToolUse, Text: `{"error":true}`}}},
		{"a JSON string that is an error object's text", []event.Dialect{event.Text, event.Auto},
			`"{\"error\": \"` + arn + `\"}"`, text(`{"error": "` + arn + `"}`)},
		{"a null error is no error", event.Dialects,
			`{"error":null,"ERROR":null,"throttlingException":null}`, nil},
		{"an AG-UI CUSTOM event named error is no error", event.Dialects,
			`{"type":"CUSTOM","name":"error","value":"x"}`, nil},
		{"a code that is not an error name is no error", event.Dialects,
			`{"code":"print('error')","message":"x"}`, nil},
		{"a type that merely mentions an error is no error", event.Dialects,
			`{"type":"error_report_requested"}`, nil},
		{"a number code is no error", event.Dialects,
			`{"code":500,"message":"x"}`, nil},
		{"a message alone is no error", event.Dialects,
			`{"message":{"role":"assistant","content":[{"text":"` + arn + `"}]}}`, nil},
	}
	for _, tt := range tests {
		for _, d := range tt.dialects {
			t.Run(string(d)+"/"+tt.name, func(t *testing.T) {
				got, ok := event.NewDecoder(d).Decode(nil, []byte(tt.data))
				if ok != (len(tt.want) > 0) || fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("Decode(%s) = %+v, %v; want %+v", tt.data, got, ok, tt.want)
				}
			})
		}
	}
}

func TestIsErrorEventName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"error", true},
		{"ERROR", true},
		{"Error", true},
		{"ThrottlingException", true},
		{"modelStreamErrorException", true},
		{"internal_server_error", true},
		{"errorMessage", true},
		{"", false},
		{"message", false},
		{"message_start", false},
		{"content_block_delta", false},
		{"ping", false},
		{"result", false},
	}
	for _, tt := range tests {
		if got := event.IsErrorEventName(tt.name); got != tt.want {
			t.Errorf("IsErrorEventName(%q) = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestMayMatter(t *testing.T) {
	for _, tt := range errorShapes {
		if !event.MayMatter([]byte(tt.data)) {
			t.Errorf("MayMatter(%s) = false for %s; the passthrough would skip an agent error", tt.data, tt.name)
		}
	}
	tests := []struct {
		name string
		data string
		want bool
	}{
		{"usage", `{"event":{"metadata":{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}}}`, true},
		{"the SDK's error object", `{"error": "boom"}`, true},
		{"RUN_ERROR", `{"type":"RUN_ERROR","message":"boom"}`, true},
		{"an object after spaces", " \t{\"error\":1}", true},
		{"a key with an escaped letter", `{"\u0078":1}`, true},
		{"a text delta", `{"event":{"contentBlockDelta":{"delta":{"text":"hi"},"contentBlockIndex":0}}}`, false},
		{"an unwrapped text delta", `{"contentBlockDelta":{"delta":{"text":"Hello, world"}}}`, false},
		{"a tool-use delta", `{"event":{"contentBlockDelta":{"delta":{"toolUse":{"input":"{\"city\":"}}}}}`, false},
		{"a text delta with escaped non-ASCII", `{"event":{"contentBlockDelta":{"delta":{"text":"caf\u00e9 \ud83d\udc4b \u003c"}}}}`, false},
		{"an AG-UI text delta", `{"type":"TEXT_MESSAGE_CONTENT","messageId":"m1","delta":"Hello"}`, false},
		{"messageStart", `{"event":{"messageStart":{"role":"assistant"}}}`, false},
		{"a JSON string", `"Hello"`, false},
		{"a JSON string that names an error", `"ThrottlingException: error"`, false},
		{"an array", `[{"error":1}]`, false},
		{"empty data", ``, false},
	}
	for _, tt := range tests {
		if got := event.MayMatter([]byte(tt.data)); got != tt.want {
			t.Errorf("MayMatter(%s) = %v; want %v (%s)", tt.data, got, tt.want, tt.name)
		}
	}
}

// FuzzErrorShapes draws error events in random shapes, spellings and
// escapes, naming random AWS resources, and content that names such
// resources too: every dialect reads the error as the agent's error and
// MayMatter picks it, and reads the content as content, unchanged.
func FuzzErrorShapes(f *testing.F) {
	f.Add(uint64(0), "Hello")
	f.Add(uint64(1), "")
	f.Add(uint64(42), "café 👋 \"quoted\" \\ \n")
	f.Add(uint64(7), `{"error": "arn:aws:bedrock:us-east-1:123456789012:x"}`)
	f.Fuzz(func(t *testing.T, seed uint64, text string) {
		if len(text) > 100 {
			return // longer text finds nothing new, and slows the minimizer down
		}
		r := rand.New(rand.NewPCG(seed, seed>>32|1))
		id := eventtest.NewIdentity(r)
		e := eventtest.NewError(r, id)
		if e.Name != "" {
			if !event.IsErrorEventName(e.Name) {
				t.Fatalf("%s: IsErrorEventName(%q) = false", e.Shape, e.Name)
			}
		} else {
			if !event.MayMatter(e.Data) {
				t.Fatalf("%s: MayMatter(%s) = false", e.Shape, e.Data)
			}
			for _, d := range event.Dialects {
				got, ok := event.NewDecoder(d).Decode(nil, e.Data)
				if !ok || len(got) != 1 || got[0].Kind != event.KindError {
					t.Fatalf("%s, read as %s: Decode(%s) = %+v; want one agent error", e.Shape, d, e.Data, got)
				}
			}
		}

		text = eventtest.ContentText(r, id) + strings.ToValidUTF8(text, "\uFFFD")
		for _, d := range []event.Dialect{event.Strands, event.Text, event.AGUI} {
			k := []event.Kind{event.KindText, event.KindToolUse, event.KindReasoning}[r.IntN(3)]
			if d == event.Text {
				k = event.KindText
			}
			data := eventtest.Content(r, d, k, text)
			for _, dec := range []event.Dialect{d, event.Auto} {
				got, ok := event.NewDecoder(dec).Decode(nil, data)
				if !ok || len(got) != 1 || got[0].Kind != k || got[0].Text != text {
					t.Fatalf("%s content read as %s: Decode(%s) = %+v; want %v %q", d, dec, data, got, k, text)
				}
			}
		}
	})
}

// FuzzMayMatter checks MayMatter against the decoders: whatever the data,
// when a decoder of any dialect reads an agent error or usage in it,
// MayMatter is true, so the passthrough never skips one.
func FuzzMayMatter(f *testing.F) {
	for _, tt := range errorShapes {
		f.Add([]byte(tt.data))
	}
	f.Add([]byte(`{"event":{"metadata":{"usage":{"inputTokens":1}}}}`))
	f.Add([]byte(`{"type":"RUN_ERROR"}`))
	f.Add([]byte(`{"event":{"contentBlockDelta":{"delta":{"text":"hi"},"contentBlockIndex":0}}}`))
	f.Add([]byte(`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m","delta":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 512 || event.MayMatter(data) {
			return // longer data finds nothing new, and slows the minimizer down
		}
		for _, d := range event.Dialects {
			dec := event.NewDecoder(d)
			for range 2 { // the second time with whatever state the first left
				got, _ := dec.Decode(nil, data)
				for _, e := range got {
					if e.Kind == event.KindError || e.Usage != nil {
						t.Fatalf("MayMatter(%q) = false, but %s reads %+v", data, d, e)
					}
				}
			}
		}
	})
}

// BenchmarkMayMatter measures the pass-through's check on the events that
// make most of a stream: text deltas, which it must let go undecoded.
func BenchmarkMayMatter(b *testing.B) {
	deltas := [][]byte{
		[]byte(`{"event": {"contentBlockDelta": {"delta": {"text": "The answer is 42, as the calculator says."}, "contentBlockIndex": 0}}}`),
		[]byte(`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m1","delta":"The answer is 42, as the calculator says."}`),
		[]byte(`"The answer is 42, as the calculator says."`),
	}
	n := 0
	for _, d := range deltas {
		n += len(d)
	}
	b.SetBytes(int64(n))
	for b.Loop() {
		for _, d := range deltas {
			if event.MayMatter(d) {
				b.Fatalf("MayMatter(%s) = true", d)
			}
		}
	}
}
