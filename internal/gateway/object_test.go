package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"
)

// The encoding/json way of reading and writing a body's members, as the
// gateway did it before object.go: the reference its functions are held to.

func referenceDecodeObject(body []byte, fields *map[string]json.RawMessage) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return badRequest("the request body is empty; send a JSON object with a prompt")
	}
	if body[0] != '{' {
		return badRequest("the request body must be a JSON object")
	}
	if !validUTF8(body) {
		return badRequest("the request body must be valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(fields); err != nil {
		return badRequest("the request body is not valid JSON")
	}
	if dec.More() {
		return badRequest("the request body holds more than one JSON value")
	}
	return nil
}

func referenceStringField(fields map[string]json.RawMessage, name string, dst *string) error {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return badRequest(name + ": must be a string")
	}
	return nil
}

func validUTF8(b []byte) bool { return bytes.Equal(b, bytes.ToValidUTF8(b, nil)) }

func message(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Message
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// checkObject compares decodeObject, stringField and marshalFields with
// encoding/json on body.
func checkObject(t *testing.T, body []byte) {
	t.Helper()
	want, got := map[string]json.RawMessage{}, map[string]json.RawMessage{}
	wantErr, gotErr := referenceDecodeObject(body, &want), decodeObject(body, &got)
	if message(gotErr) != message(wantErr) {
		t.Fatalf("%q: decodeObject says %q, encoding/json %q", body, message(gotErr), message(wantErr))
	}
	if wantErr != nil {
		return
	}
	if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
		t.Fatalf("%q: decodeObject read %q, encoding/json %q", body, got, want)
	}
	for _, name := range append(slices.Collect(maps.Keys(want)), "prompt") {
		var a, b string
		aErr, bErr := stringField(got, name, &a), referenceStringField(want, name, &b)
		if a != b || message(aErr) != message(bErr) {
			t.Fatalf("%q: stringField(%q) = %q, %q; encoding/json %q, %q", body, name, a, message(aErr), b, message(bErr))
		}
	}
	// As a payload is made: the gateway's members out, the prompt set.
	for _, name := range gatewayFields {
		delete(got, name)
		delete(want, name)
	}
	got["prompt"], want["prompt"] = marshalPlain("a <prompt> & \u2028"), marshalPlain("a <prompt> & \u2028")
	if g, w := marshalFields(got), marshalPlain(want); !bytes.Equal(g, w) {
		t.Fatalf("%q: marshalFields wrote\n%s\nencoding/json\n%s", body, g, w)
	}
}

var objectSeeds = []string{
	`{"prompt":"hello","response":"original"}`,
	` { "prompt" : "hi\nthere" , "runtimeSessionId" : null, "x": [1, {"a": "}"}], "y": {"z": [true, false, null]} } `,
	`{"prompt":"a","prompt":"b"}`,
	`{"pro\u006dpt":"escaped name","respons\u0065":"ndjson"}`,
	`{"\u2028":"line separator","\"q\"":1,"tab\t":2,"é":3,"\ud83d\ude00":4}`,
	"{\"\u2028raw\":1,\"\u00e9\":2}",
	`{"prompt":"\"quoted\" \\ \/ \u00e9 \ud83d\ude00","n":-1.5e+10,"e":{},"a":[]}`,
	`{"prompt":5}`,
	`{"prompt":["x"]}`,
	`{"include":["tool_use"],"maxTokens":10}`,
	`{}`,
	`{} }`,
	`{}]`,
	`{"a":1}{"b":2}`,
	`{"a":1,}`,
	`{"a" 1}`,
	`{"a":"\x"}`,
	`{"a":tru}`,
	`[]`,
	``,
	"{\"a\":\"\xff\"}",
	`{"a":  [ 1 ,  2 ] , "b" : { "c" : " d " } }`,
}

func TestObjectsAreReadAndWrittenAsEncodingJSONDoes(t *testing.T) {
	for _, s := range objectSeeds {
		checkObject(t, []byte(s))
	}
}

// TestPlainStringsAreWrittenAsEncodingJSONDoes: marshalPlain's shortcut for
// a string with nothing to escape.
func TestPlainStringsAreWrittenAsEncodingJSONDoes(t *testing.T) {
	for _, s := range append(objectSeeds, "", "plain", "<&>", "é ü 😀", "a\u2028b", "\u2029", "\x7f", "\ufffd", "\xff", "tab\t", "q\"") {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := marshalPlain(s); !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("marshalPlain(%q) = %s, encoding/json %s", s, got, want.Bytes())
		}
	}
}

func FuzzObjects(f *testing.F) {
	for _, s := range objectSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkObject(t, body)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(string(body))
		if got := marshalPlain(string(body)); !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("marshalPlain(%q) = %s, encoding/json %s", body, got, want.Bytes())
		}
	})
}

func BenchmarkDecodeInvocationBody(b *testing.B) {
	body := []byte(`{"prompt":"What is the weather like in Paris today? Answer briefly.","response":"original","runtimeSessionId":"s1VJoXoLmZhjgMhg17dL3Q7wQaCvB-FigdZr9p7ncI0giA","temperature":0.2}`)
	for _, bb := range []struct {
		name   string
		decode func([]byte, *map[string]json.RawMessage) error
		field  func(map[string]json.RawMessage, string, *string) error
		encode func(map[string]json.RawMessage) []byte
	}{
		{"gateway", decodeObject, stringField, marshalFields},
		{"encoding-json", referenceDecodeObject, referenceStringField, func(m map[string]json.RawMessage) []byte { return marshalPlain(m) }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				fields := map[string]json.RawMessage{}
				var prompt, session, response string
				if bb.decode(body, &fields) != nil || bb.field(fields, "prompt", &prompt) != nil ||
					bb.field(fields, "runtimeSessionId", &session) != nil || bb.field(fields, "response", &response) != nil {
					b.Fatal("decode")
				}
				for _, k := range gatewayFields {
					delete(fields, k)
				}
				fields["prompt"] = marshalPlain(prompt)
				_ = bb.encode(fields)
			}
		})
	}
}
