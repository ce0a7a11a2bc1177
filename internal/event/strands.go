package event

import (
	"bytes"
	"encoding/json"
	"math"
)

// converse holds the raw members of one Converse stream event.
type converse struct {
	messageStart, contentBlockDelta, messageStop, metadata []byte
}

// decodeConverse reads a Bedrock ConverseStream event, as Strands yields it:
// inside {"event": ...} when wrapped is an object, else at the top of obj.
// contentBlockStart and contentBlockStop carry nothing for the model; other
// members (Strands' own lifecycle events such as {"start": true} or
// {"message": ...}) are not Converse events.
func decodeConverse(dst []Event, obj, wrapped []byte) []Event {
	if isObject(wrapped) {
		obj = wrapped
	}
	var c converse
	for it := newMembers(obj); ; {
		k, v, ok := it.next()
		if !ok {
			break
		}
		switch string(k) {
		case "messageStart":
			c.messageStart = v
		case "contentBlockDelta":
			c.contentBlockDelta = v
		case "messageStop":
			c.messageStop = v
		case "metadata":
			c.metadata = v
		}
	}
	switch {
	case isObject(c.messageStart):
		return append(dst, Event{Kind: KindMessageStart})
	case isObject(c.contentBlockDelta):
		return decodeDelta(dst, lookup(c.contentBlockDelta, "delta"))
	case isObject(c.messageStop):
		reason, _ := unquote(lookup(c.messageStop, "stopReason"))
		return append(dst, Event{Kind: KindMessageStop, StopReason: reason})
	case isObject(c.metadata):
		return append(dst, metadataEvent(c.metadata))
	}
	return dst
}

// decodeDelta reads a contentBlockDelta's delta: text, a piece of a tool
// call's input, or reasoning text. A reasoning signature or redacted content
// carries no text and is skipped.
func decodeDelta(dst []Event, delta []byte) []Event {
	var text, toolUse, reasoning []byte
	for it := newMembers(delta); ; {
		k, v, ok := it.next()
		if !ok {
			break
		}
		switch string(k) {
		case "text":
			text = v
		case "toolUse":
			toolUse = v
		case "reasoningContent":
			reasoning = v
		}
	}
	if s, ok := unquote(text); ok {
		return append(dst, Event{Kind: KindText, Text: s})
	}
	if s, ok := unquote(lookup(toolUse, "input")); ok {
		return append(dst, Event{Kind: KindToolUse, Text: s})
	}
	if s, ok := unquote(lookup(reasoning, "text")); ok {
		return append(dst, Event{Kind: KindReasoning, Text: s})
	}
	return dst
}

// metadataEvent reads a metadata object. A usage the agent did not send, or
// sent with a count that is not an integer, is nil: no number is ever made
// up.
func metadataEvent(raw []byte) Event {
	e := Event{Kind: KindMetadata, Usage: readUsage(lookup(raw, "usage"))}
	// A copy: raw is the caller's buffer, which it reuses.
	buf := bytes.NewBuffer(make([]byte, 0, len(raw)))
	if json.Compact(buf, raw) != nil {
		buf.Reset()
		buf.Write(raw)
	}
	e.Metadata = buf.Bytes()
	return e
}

// readUsage reads a Converse usage object. A count that is absent or null
// is 0, as encoding/json would leave it.
func readUsage(raw []byte) *Usage {
	if !isObject(raw) {
		return nil
	}
	var u Usage
	for it := newMembers(raw); ; {
		k, v, ok := it.next()
		if !ok {
			return &u
		}
		var dst *int
		switch string(k) {
		case "inputTokens":
			dst = &u.InputTokens
		case "outputTokens":
			dst = &u.OutputTokens
		case "totalTokens":
			dst = &u.TotalTokens
		default:
			continue
		}
		if isNull(v) {
			*dst = 0
			continue
		}
		n, ok := readInt(v)
		if !ok {
			return nil
		}
		*dst = n
	}
}

// readInt reads a JSON number that is an integer in int's range.
func readInt(b []byte) (int, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int(c - '0')
		if n > (math.MaxInt-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		n = -n
	}
	return n, true
}
