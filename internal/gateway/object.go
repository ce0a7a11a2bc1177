package gateway

import (
	"bytes"
	"encoding/json"
	"slices"
	"unicode/utf8"

	"github.com/agentgate/agentgate/internal/event"
)

// A request body is a JSON object whose members the gateway reads a few
// of and forwards the rest of. encoding/json does that through reflection
// and a copy of every value; on the path of every stream's first byte, it
// was a quarter of the handler's allocations. The functions here do the
// same on a body json.Valid has accepted, and give encoding/json's results
// byte for byte (FuzzObjects holds them to it); anything else goes to
// encoding/json itself, so that its verdicts and messages stand.

// decodeObject reads body, which must hold one JSON object, into fields:
// each member's value as it stands in body, which it shares. A name given
// twice keeps its last value, as encoding/json does.
func decodeObject(body []byte, fields *map[string]json.RawMessage) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return badRequest("the request body is empty; send a JSON object with a prompt")
	}
	if body[0] != '{' {
		return badRequest("the request body must be a JSON object")
	}
	if !utf8.Valid(body) {
		return badRequest("the request body must be valid UTF-8")
	}
	if !json.Valid(body) {
		return decodeObjectJSON(body, fields)
	}
	if *fields == nil {
		*fields = map[string]json.RawMessage{}
	}
	event.Members(body, func(name string, value []byte) { (*fields)[name] = value })
	return nil
}

// decodeObjectJSON is decodeObject by encoding/json, for a body that is not
// one valid JSON value: its decoder says what is wrong, and what it lets
// through (an object followed by a stray closing bracket) passes as before.
func decodeObjectJSON(body []byte, fields *map[string]json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(fields); err != nil {
		return badRequest("the request body is not valid JSON")
	}
	if dec.More() {
		return badRequest("the request body holds more than one JSON value")
	}
	return nil
}

// stringField reads the member name, when it is there and not null, into
// dst; anything but a string is refused.
func stringField(fields map[string]json.RawMessage, name string, dst *string) error {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	s, ok := event.Unquote(raw)
	if !ok {
		return badRequest(name + ": must be a string")
	}
	*dst = s
	return nil
}

// marshalFields encodes fields as marshalPlain does a map of raw values:
// names sorted, each value compacted, no HTML escaping.
func marshalFields(fields map[string]json.RawMessage) []byte {
	names := make([]string, 0, len(fields))
	size := 2
	for name, v := range fields {
		names = append(names, name)
		size += len(name) + len(v) + 4
	}
	slices.Sort(names)
	b := bytes.NewBuffer(make([]byte, 0, size))
	b.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		if plainString(name) {
			b.WriteByte('"')
			b.WriteString(name)
			b.WriteByte('"')
		} else {
			b.Write(marshalPlain(name))
		}
		b.WriteByte(':')
		v := fields[name]
		if len(v) == 0 {
			b.WriteString("null")
			continue
		}
		if err := json.Compact(b, v); err != nil {
			return marshalPlain(fields) // encoding/json's verdict on a bad value
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

// plainString reports whether encoding/json, without HTML escaping, writes
// s as it is, between quotes: valid UTF-8 with nothing it escapes (a
// quote, a backslash, a control character, U+2028 or U+2029).
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return c >= utf8.RuneSelf && plainRunes(s[i:])
		}
	}
	return true
}

func plainRunes(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == '"' || r == '\\' || r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}
