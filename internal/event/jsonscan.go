package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// The decoders route an event and find the few members they read by walking
// its bytes, rather than unmarshalling into structs: that costs no
// allocation and no reflection. They walk only data json.Valid accepted, but
// every helper here stays inside its slice whatever the input.
//
// Keys are matched byte for byte, as agents send them: unlike
// encoding/json's struct decoding, "Delta" is not "delta", and a key written
// with escapes matches nothing. A repeated key counts once, last one wins, as
// in encoding/json. The error rule (errors.go) is the exception: it reads
// every key, unescaped and in any case.

// members iterates over the members of one JSON object.
type members struct {
	b []byte
	i int
}

// newMembers returns an iterator over obj, which should start with '{'; for
// anything else it yields nothing.
func newMembers(obj []byte) members {
	if len(obj) == 0 || obj[0] != '{' {
		return members{}
	}
	return members{b: obj, i: 1}
}

// next returns the next member's key (its raw bytes between the quotes) and
// value (its raw JSON), or ok false at the end of the object.
func (m *members) next() (key, val []byte, ok bool) {
	b := m.b
	i := skipSpace(b, m.i)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return nil, nil, false
	}
	end := skipString(b, i)
	if end < 0 {
		return nil, nil, false
	}
	key = b[i+1 : end-1]
	i = skipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return nil, nil, false
	}
	i = skipSpace(b, i+1)
	vend := skipValue(b, i)
	if vend < 0 {
		return nil, nil, false
	}
	m.i = vend
	return key, b[i:vend], true
}

// Members calls f with the name and the raw value of each member of obj, a
// JSON object that json.Valid accepts, in order. Names are unescaped (as
// encoding/json reads them); values share obj's bytes.
func Members(obj []byte, f func(name string, value []byte)) {
	for it := newMembers(obj); ; {
		k, v, ok := it.next()
		if !ok {
			return
		}
		name := string(k)
		if bytes.IndexByte(k, '\\') >= 0 {
			name, _ = unquoteSlow(append(append([]byte{'"'}, k...), '"'))
		}
		f(name, v)
	}
}

// Unquote returns the text of a JSON string value, as encoding/json reads
// it; ok is false for any other value.
func Unquote(raw []byte) (string, bool) { return unquote(raw) }

// lookup returns the raw value of obj's member named key, or nil.
func lookup(obj []byte, key string) []byte {
	var val []byte
	for it := newMembers(obj); ; {
		k, v, ok := it.next()
		if !ok {
			return val
		}
		if string(k) == key {
			val = v
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string that starts at b[i],
// or -1 if it does not end.
func skipString(b []byte, i int) int {
	// Jump from quote to quote: a quote ends the string unless an odd run
	// of backslashes escapes it. Text deltas are long and mostly plain.
	for j := i + 1; j < len(b); {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return -1
		}
		q += j
		escapes := 0
		for k := q - 1; k > i && b[k] == '\\'; k-- {
			escapes++
		}
		if escapes%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
	return -1
}

// skipValue returns the index just past the value that starts at b[i], or
// -1. It counts brackets instead of recursing, so nesting depth costs no
// stack.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	start := i // a number, true, false or null
	for i < len(b) && !isDelimiter(b[i]) {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// isDelimiter reports whether c ends a number or literal.
func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

func isObject(raw []byte) bool { return len(raw) > 0 && raw[0] == '{' }

func isNull(raw []byte) bool { return string(raw) == "null" }

// unquote returns the text of a JSON string value; ok is false for any other
// value. Invalid UTF-8 and lone surrogates become U+FFFD, as encoding/json
// does.
func unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	return unquoteSlow(raw)
}

// unquoteSlow leaves escapes and invalid UTF-8 to encoding/json. It is a
// function of its own so that the fast path's result does not escape.
func unquoteSlow(raw []byte) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// equalString reports whether raw is a JSON string holding s, without
// allocating in the common case of a string with no escapes.
func equalString(raw []byte, s string) bool {
	if len(raw) < 2 || raw[0] != '"' {
		return false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner) == s
	}
	u, ok := unquote(raw)
	return ok && u == s
}

// rawText is raw JSON as one line of valid UTF-8, for logs.
func rawText(raw []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		raw = buf.Bytes()
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}
