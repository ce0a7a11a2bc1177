package event

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"unicode/utf8"
)

// FuzzJSONScan checks the walker against encoding/json: on a valid object,
// lookup finds the raw value a map[string]json.RawMessage holds (exact keys,
// the last of repeated ones), and unquote reads a string as Unmarshal does.
func FuzzJSONScan(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":"x","a":[1,{"c":"}"}]}`,
		`{ "event" : { "contentBlockDelta" : { "delta" : { "text" : "a\"b\\" } } } , "t":true }`,
		`{"k":"\ud83d\udc4b \u00e9\n","n":null,"f":-1.5e3,"e":{},"l":[]}`,
		`"a\ud800b"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		data = bytes.TrimSpace(data)
		if data[0] == '"' {
			var want string
			_ = json.Unmarshal(data, &want)
			if got, ok := unquote(data); !ok || got != want {
				t.Fatalf("unquote(%s) = %q, %v; want %q", data, got, ok, want)
			}
			return
		}
		if data[0] != '{' || bytes.IndexByte(data, '\\') >= 0 || !utf8.Valid(data) {
			return // keys with escapes or invalid UTF-8 are matched raw, on purpose
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		n := 0
		for it := newMembers(data); ; n++ {
			if _, _, ok := it.next(); !ok {
				break
			}
		}
		if n < len(m) {
			t.Fatalf("%d members walked in %s; want at least %d", n, data, len(m))
		}
		for k, want := range m {
			if got := lookup(data, k); !bytes.Equal(got, want) {
				t.Fatalf("lookup(%s, %q) = %s; want %s", data, k, got, want)
			}
		}
	})
}

// FuzzSkipString checks the quote-to-quote string skip against the plain
// byte-by-byte rule on any input, valid JSON or not.
func FuzzSkipString(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\"b"`, `"a\\"b"`, `"\\\\\"x\\"`, `"unterminated\`, `"`, `"\"`} {
		f.Add([]byte(s))
	}
	byteByByte := func(b []byte, i int) int {
		for i++; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
		return -1
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for i := range b {
			if b[i] != '"' {
				continue
			}
			if got, want := skipString(b, i), byteByByte(b, i); got != want {
				t.Fatalf("skipString(%q, %d) = %d, want %d", b, i, got, want)
			}
		}
	})
}

// TestMembersReadNamesAsEncodingJSONDoes: Members unescapes names as
// encoding/json does, keeps order and repeats, and hands out values as
// they stand in the object, sharing its bytes.
func TestMembersReadNamesAsEncodingJSONDoes(t *testing.T) {
	obj := []byte(`{ "a" : 1, "pro\u006dpt":"x", "\ud800":[ {"}":"{"} ], "a":null }`)
	var names []string
	var values [][]byte
	Members(obj, func(name string, value []byte) {
		names = append(names, name)
		values = append(values, value)
	})
	wantNames := []string{"a", "prompt", "\ufffd", "a"}
	wantValues := []string{"1", `"x"`, `[ {"}":"{"} ]`, "null"}
	got := make([]string, len(values))
	for i, v := range values {
		got[i] = string(v)
	}
	if !slices.Equal(names, wantNames) || !slices.Equal(got, wantValues) {
		t.Fatalf("Members read %q = %q, want %q = %q", names, got, wantNames, wantValues)
	}
	obj[bytes.IndexByte(obj, '1')] = '2'
	if string(values[0]) != "2" {
		t.Fatal("a value is a copy, not the object's bytes")
	}
}
