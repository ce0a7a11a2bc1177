package event

import (
	"reflect"
	"strings"
	"testing"
)

// decodeCase is one event's data and what a decoder should make of it; ok
// is true exactly when want is not empty.
type decodeCase struct {
	name string
	data string
	want []Event
}

func runCases(t *testing.T, d Dialect, cases []decodeCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NewDecoder(d).Decode(nil, []byte(tt.data))
			if ok != (len(tt.want) > 0) || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("%s: Decode(%s) = %+v, %v; want %+v, %v", d, tt.data, got, ok, tt.want, len(tt.want) > 0)
			}
		})
	}
}

// decodeAll decodes each data with one decoder, as a stream.
func decodeAll(d *Decoder, data ...string) []Event {
	var out []Event
	for _, s := range data {
		out, _ = d.Decode(out, []byte(s))
	}
	return out
}

func TestParseDialect(t *testing.T) {
	for _, d := range Dialects {
		if got, err := ParseDialect(string(d)); got != d || err != nil {
			t.Errorf("ParseDialect(%q) = %q, %v", d, got, err)
		}
	}
	for _, s := range []string{"", "AGUI", "ag-ui", "bedrock"} {
		_, err := ParseDialect(s)
		if err == nil || !strings.Contains(err.Error(), "auto, strands, text, agui") {
			t.Errorf("ParseDialect(%q) error = %v; want one that lists the valid dialects", s, err)
		}
	}
}

func TestNewDecoderReadsAnUnknownDialectAsAuto(t *testing.T) {
	for _, d := range []Dialect{"", "nonsense"} {
		got := decodeAll(NewDecoder(d), `"a"`, `{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":"b"}`, `{"event":{"contentBlockDelta":{"delta":{"text":"c"}}}}`)
		if text := join(got, KindText); text != "abc" {
			t.Errorf("NewDecoder(%q) read text %q; want %q", d, text, "abc")
		}
	}
}

func TestZeroDecoderReadsAsAuto(t *testing.T) {
	var d Decoder
	got := decodeAll(&d, `"a"`, `{"type":"TEXT_MESSAGE_CHUNK","messageId":"m","delta":"b"}`, `{"event":{"contentBlockDelta":{"delta":{"text":"c"}}}}`)
	if text, sum := join(got, KindText), summary(got); text != "abc" || sum != "TSTT" {
		t.Errorf("the zero Decoder read %s, text %q; want TSTT, %q", sum, text, "abc")
	}
}

func TestAuto(t *testing.T) {
	runCases(t, Auto, []decodeCase{
		{"a JSON string is text", `"Hello"`, []Event{{Kind: KindText, Text: "Hello"}}},
		{"a Converse event is read as Strands", `{"event":{"contentBlockDelta":{"delta":{"text":"Hi"}}}}`, []Event{{Kind: KindText, Text: "Hi"}}},
		{"an AG-UI event is read as AG-UI", `{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":"Hi"}`, []Event{{Kind: KindText, Text: "Hi"}}},
		{"an AG-UI type wins over a Converse wrapper (AG-UI RAW carries one)", `{"type":"RAW","event":{"contentBlockDelta":{"delta":{"text":"Hi"}}}}`, nil},
		{"an unknown type falls back to Converse", `{"type":"x","event":{"contentBlockDelta":{"delta":{"text":"Hi"}}}}`, []Event{{Kind: KindText, Text: "Hi"}}},
		{"an unknown type with a delta is not text", `{"type":"SOMETHING_NEW","delta":"Hi"}`, nil},
		{"an AG-UI type must be a string", `{"type":["TEXT_MESSAGE_CONTENT"],"delta":"Hi"}`, nil},
		{"the SDK's error object is an error", `{"error": "boom", "error_type": "ValueError", "message": "An error occurred during streaming"}`, []Event{{Kind: KindError, Text: "boom"}}},
		{"RUN_ERROR is an error", `{"type":"RUN_ERROR","message":"boom"}`, []Event{{Kind: KindError, Text: "boom"}}},
		{"a Python repr from the SDK's fallback is not text", `"{'data': 'Hi', 'agent': <strands.agent.agent.Agent object at 0x7f3c2a1b2c10>}"`, nil},
		{"text that merely looks like a dict is text", `"{'a': 1}"`, []Event{{Kind: KindText, Text: "{'a': 1}"}}},
		{"Strands' own lifecycle events are skipped", `{"start_event_loop": true}`, nil},
		{"Strands' callback event is skipped (its text came in the Converse event)", `{"data": "Hi", "delta": {"text": "Hi"}}`, nil},
	})
}

func TestPackageDecodeIsStatelessAuto(t *testing.T) {
	var got []Event
	for _, s := range []string{
		`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m","delta":"a"}`,
		`{"type":"TEXT_MESSAGE_CHUNK","delta":"b"}`,
		`{"type":"RUN_FINISHED","threadId":"t","runId":"r"}`,
		`"c"`,
	} {
		got, _ = Decode(got, []byte(s))
	}
	want := []Event{{Kind: KindText, Text: "a"}, {Kind: KindText, Text: "b"}, {Kind: KindText, Text: "c"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode over a chunked stream = %+v; want the deltas alone %+v", got, want)
	}
}

// TestRobustness feeds every decoder what an agent should never send.
func TestRobustness(t *testing.T) {
	huge := strings.Repeat("ab€", 1<<20) // 5 MiB of text with multi-byte runes
	nested := strings.Repeat("[", 1<<20)
	cases := []struct {
		name string
		data string
	}{
		{"empty data", ""},
		{"only spaces", " \t\r\n "},
		{"a line that is not JSON", "<strands.agent.agent.Agent object at 0x7f3c2a1b2c10>"},
		{"[DONE]", "[DONE]"},
		{"a number", "42"},
		{"an array", `["Hello"]`},
		{"null", "null"},
		{"true", "true"},
		{"an empty object", "{}"},
		{"truncated JSON", `{"event":{"contentBlockDelta":`},
		{"two JSON values", `"a" "b"`},
		{"an unterminated string", `"abc`},
		{"a control character in a string", "\"a\x01b\""},
		{"raw invalid UTF-8 outside strings", "{\"a\":1\xff}"},
		{"a Converse delta of the wrong type", `{"event":{"contentBlockDelta":{"delta":"Hi"}}}`},
		{"Converse text of the wrong type", `{"event":{"contentBlockDelta":{"delta":{"text":5}}}}`},
		{"a tool-use input of the wrong type", `{"event":{"contentBlockDelta":{"delta":{"toolUse":{"input":{"q":1}}}}}}`},
		{"a wrapper of the wrong type", `{"event":"messageStart"}`},
		{"metadata of the wrong type", `{"event":{"metadata":[1]}}`},
		{"an AG-UI delta of the wrong type", `{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":5}`},
		{"an AG-UI delta that is null", `{"type":"TOOL_CALL_ARGS","toolCallId":"t","delta":null}`},
		{"an AG-UI type of the wrong type", `{"type":5,"delta":"x"}`},
		{"an unknown event kind", `{"event":{"somethingNew":{"text":"x"}}}`},
		{"keys in another case", `{"Event":{"ContentBlockDelta":{"Delta":{"Text":"x"}}}}`},
		{"deep nesting", nested},
		{"deep nesting inside an object", `{"event":` + nested},
		{"a huge line that is not JSON", strings.Repeat("x", 6<<20)},
		{"a huge unknown object", `{"blob":"` + huge + `"}`},
	}
	for _, d := range Dialects {
		for _, tt := range cases {
			t.Run(string(d)+"/"+tt.name, func(t *testing.T) {
				dst := []Event{{Kind: KindText, Text: "kept"}}
				got, ok := NewDecoder(d).Decode(dst, []byte(tt.data))
				if ok || len(got) != 1 || got[0].Text != "kept" {
					t.Fatalf("Decode = %d events, %v; want dst untouched, false", len(got), ok)
				}
			})
		}
	}

	t.Run("a huge event in each dialect's shape is read whole", func(t *testing.T) {
		for d, data := range map[Dialect]string{
			Strands: `{"event":{"contentBlockDelta":{"delta":{"text":"` + huge + `"}}}}`,
			Text:    `"` + huge + `"`,
			AGUI:    `{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":"` + huge + `"}`,
		} {
			for _, dec := range []Dialect{d, Auto} {
				got, ok := NewDecoder(dec).Decode(nil, []byte(data))
				if !ok || len(got) != 1 || got[0].Text != huge {
					t.Errorf("%s stream, %s decoder: %d events, %v; want the whole text", d, dec, len(got), ok)
				}
			}
		}
	})
}

// TestInvalidUTF8 pins encoding/json's behaviour, which the decoders keep:
// invalid bytes and lone surrogates inside strings become U+FFFD, the rest of
// the string is kept, and the event is not dropped.
func TestInvalidUTF8(t *testing.T) {
	const want = "a\uFFFDb\uFFFDc"
	for d, data := range map[Dialect]string{
		Strands: "{\"event\":{\"contentBlockDelta\":{\"delta\":{\"text\":\"a\xffb\\ud800c\"}}}}",
		Text:    "\"a\xffb\\ud800c\"",
		AGUI:    "{\"type\":\"TEXT_MESSAGE_CONTENT\",\"messageId\":\"m\",\"delta\":\"a\xffb\\ud800c\"}",
	} {
		got, ok := NewDecoder(d).Decode(nil, []byte(data))
		if !ok || len(got) != 1 || got[0].Text != want {
			t.Errorf("%s: Decode = %+v, %v; want text %q", d, got, ok, want)
		}
	}
	got, _ := NewDecoder(Auto).Decode(nil, []byte("{\"error\":{\"detail\":\"x\xffy\"}}"))
	if len(got) != 1 || got[0].Text != `{"detail":"x`+"\uFFFD"+`y"}` {
		t.Errorf("an error object's JSON = %+v; want it as valid UTF-8", got)
	}
}

func join(evs []Event, k Kind) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Kind == k {
			b.WriteString(e.Text)
		}
	}
	return b.String()
}
