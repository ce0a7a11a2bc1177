package event

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// An agent's error report can name what it ran on (ARNs, account ids,
// regions), so the gateway must know one whatever its shape: agents, SDKs
// and services each have their own. The rule below is about what an event
// says, not how it is written, and errs on the side of an error: reading
// one as content would pass it to the client, while reading content as an
// error only ends an answer early.

// IsErrorEventName reports whether an SSE event field names an agent
// error: the name contains "error" or "exception" in any ASCII case, as
// "error", "ThrottlingException" and "internal_server_error" do.
func IsErrorEventName(name string) bool {
	return isErrorKind(name)
}

// isErrorKind reports whether an event kind (a member key, unescaped, or
// an SSE event name) is an error's: it contains "error" or "exception" in
// any ASCII case.
func isErrorKind[T string | []byte](kind T) bool {
	return containsFold(kind, "error") || containsFold(kind, "exception")
}

// isErrorName reports whether a string that names an event's kind (a
// "type", "__type" or "code" value, unescaped) names an error: the name,
// up to a colon, ends in "error" or "exception" in any ASCII case. So
// "RUN_ERROR", "ThrottlingException", AWS's
// "com.amazonaws.bedrock#ValidationException" and
// "ValidationException:http://internal.amazon.com/..." do, and a code such
// as "print('error')" does not.
func isErrorName(name []byte) bool {
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		name = name[:i]
	}
	return hasSuffixFold(name, "error") || hasSuffixFold(name, "exception")
}

// reportsError applies the rule to one member of an event object. Its key
// is compared unescaped and in any ASCII case: a null member says
// nothing; a key that is an error kind makes an error; so does a "type",
// "__type" or "code" member whose string value names an error; and, at the
// top level, so does an object under "event" with such a member.
func reportsError(key, val []byte, top bool) bool {
	if isNull(val) {
		return false
	}
	k := keyText(key)
	switch {
	case isErrorKind(k):
		return true
	case equalFold(k, "type"), equalFold(k, "__type"), equalFold(k, "code"):
		name, ok := stringText(val)
		return ok && isErrorName(name)
	case top && equalFold(k, "event") && isObject(val):
		for it := newMembers(val); ; {
			k, v, ok := it.next()
			if !ok {
				return false
			}
			if reportsError(k, v, false) {
				return true
			}
		}
	}
	return false
}

// keyText returns a member key's text: the raw bytes unless it has escapes.
func keyText(key []byte) []byte {
	if bytes.IndexByte(key, '\\') < 0 {
		return key
	}
	raw := make([]byte, 0, len(key)+2)
	raw = append(append(append(raw, '"'), key...), '"')
	s, _ := unquoteSlow(raw)
	return []byte(s)
}

// stringText returns the text of a JSON string value without copying it
// when it has no escapes. Invalid UTF-8 is left as is: the callers look
// for ASCII only, which it cannot hide.
func stringText(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, true
	}
	s, ok := unquoteSlow(raw)
	return []byte(s), ok
}

// MayMatter reports whether data, one SSE event's data, could decode in
// any dialect to an agent error or to usage: the only events a
// pass-through must decode. It is a byte scan, cheap enough for every
// event, and errs towards true: false only when data is not a JSON object,
// or has none of "error", "exception" (in any ASCII case) or "metadata",
// and no \u escape that could spell a letter of them.
//
// It looks eight positions at a time for what each of those must hold,
// and is rare in text: "rr" (of "error", any case), "xc" (of
// "exception", any case), "ad" (of "metadata") and a backslash; only
// there does it check the word itself. mayMatterBytewise, the plain scan,
// says the same for every input (FuzzMayMatterScans).
func MayMatter(data []byte) bool {
	data = bytes.TrimSpace(data) // as Decode trims it
	if len(data) == 0 || data[0] != '{' {
		return false // strings are text; nothing else decodes
	}
	i := 0
	for ; i+9 <= len(data); i += 8 {
		w0 := binary.LittleEndian.Uint64(data[i:])
		w1 := binary.LittleEndian.Uint64(data[i+1:])
		l0, l1 := w0|fold, w1|fold
		m := eqBytes(l0, 'r')&eqBytes(l1, 'r') | eqBytes(l0, 'x')&eqBytes(l1, 'c') |
			eqBytes(w0, 'a')&eqBytes(w1, 'd') | eqBytes(w0, '\\')
		for m != 0 {
			if matterAt(data, i+bits.TrailingZeros64(m)/8) {
				return true
			}
			m &= m - 1
		}
	}
	// The last positions one by one, from where a word could start that
	// the loop above could not see whole.
	return mayMatterFrom(data, max(0, i-3))
}

// fold sets the bit that makes an ASCII capital letter small, in every
// byte.
const fold = 0x2020202020202020

// eqBytes returns, in w, 0x80 in each byte equal to c, and maybe in a
// byte above one that is: the candidates matterAt then checks.
func eqBytes(w uint64, c byte) uint64 {
	const lows, highs = 0x0101010101010101, 0x8080808080808080
	x := w ^ (lows * uint64(c))
	return (x - lows) &^ x & highs
}

// matterAt checks the words whose telltale pair (or backslash) is at p.
func matterAt(data []byte, p int) bool {
	switch lower(data[p]) {
	case 'r', 'x':
		return p >= 1 && (hasPrefixFold(data[p-1:], "error") || hasPrefixFold(data[p-1:], "exception"))
	case 'a':
		return p >= 3 && bytes.HasPrefix(data[p-3:], []byte("metadata"))
	}
	return data[p] == '\\' && isLetterEscape(data[p:])
}

// mayMatterFrom is MayMatter's plain scan of data from position from on.
func mayMatterFrom(data []byte, from int) bool {
	for i := from; i < len(data); i++ {
		switch data[i] {
		case 'e', 'E':
			if hasPrefixFold(data[i:], "error") || hasPrefixFold(data[i:], "exception") {
				return true
			}
		case 'm':
			if bytes.HasPrefix(data[i:], []byte("metadata")) {
				return true
			}
		case '\\':
			if isLetterEscape(data[i:]) {
				return true
			}
		}
	}
	return false
}

// isLetterEscape reports whether b starts with a \u escape that could
// spell an ASCII letter: U+0040 to U+007F.
func isLetterEscape(b []byte) bool {
	return len(b) >= 6 && b[1] == 'u' && b[2] == '0' && b[3] == '0' && '4' <= b[4] && b[4] <= '7'
}

// lower folds an ASCII letter to lower case.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasPrefixFold reports whether s starts with word, which is in lower
// case, in any ASCII case.
func hasPrefixFold[T string | []byte](s T, word string) bool {
	if len(s) < len(word) {
		return false
	}
	for i := range len(word) {
		if lower(s[i]) != word[i] {
			return false
		}
	}
	return true
}

func hasSuffixFold[T string | []byte](s T, word string) bool {
	return len(s) >= len(word) && hasPrefixFold(s[len(s)-len(word):], word)
}

func equalFold[T string | []byte](s T, word string) bool {
	return len(s) == len(word) && hasPrefixFold(s, word)
}

func containsFold[T string | []byte](s T, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		if hasPrefixFold(s[i:], word) {
			return true
		}
	}
	return false
}
