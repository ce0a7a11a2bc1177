package format

import (
	"strconv"
	"unicode/utf8"

	"github.com/agentgate/agentgate/internal/event"
)

// The derived formats build their JSON by appending to a buffer the encoder
// reuses, so that a text delta costs no allocation; encoding/json would
// cost several (reflection, interface boxing, its own buffer).

const hexDigits = "0123456789abcdef"

// appendString appends s to dst as a JSON string, byte for byte as
// encoding/json writes it with HTML escaping off: '"', '\\' and control
// characters escaped (\b \f \n \r \t short, others \u00XX), invalid UTF-8
// replaced by \ufffd, and U+2028 and U+2029 escaped so the result is also
// valid JavaScript. No raw CR or LF can remain, so the result never breaks
// an SSE data line or an NDJSON line.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendUsage appends u in the event model's (Bedrock's) field names, or
// null when the agent reported none.
func appendUsage(dst []byte, u *event.Usage) []byte {
	if u == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"inputTokens":`...)
	dst = strconv.AppendInt(dst, int64(u.InputTokens), 10)
	dst = append(dst, `,"outputTokens":`...)
	dst = strconv.AppendInt(dst, int64(u.OutputTokens), 10)
	dst = append(dst, `,"totalTokens":`...)
	dst = strconv.AppendInt(dst, int64(u.TotalTokens), 10)
	return append(dst, '}')
}

// appendOpenAIUsage appends u in OpenAI's field names, or null when the
// agent reported none.
func appendOpenAIUsage(dst []byte, u *event.Usage) []byte {
	if u == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.InputTokens), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.OutputTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.TotalTokens), 10)
	return append(dst, '}')
}
