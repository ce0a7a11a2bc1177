package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Dialect names the shape of the events an agent streams.
type Dialect string

// The dialects.
const (
	// Auto recognises the dialect of each event by itself.
	Auto Dialect = "auto"
	// Strands reads Bedrock ConverseStream events as Strands agents yield
	// them.
	Strands Dialect = "strands"
	// Text reads JSON strings as deltas of the answer.
	Text Dialect = "text"
	// AGUI reads AG-UI protocol events.
	AGUI Dialect = "agui"
)

// Dialects lists the valid dialects, in the order help texts show them.
var Dialects = []Dialect{Auto, Strands, Text, AGUI}

// ParseDialect returns the dialect named s, or an error that lists the
// valid ones.
func ParseDialect(s string) (Dialect, error) {
	if slices.Contains(Dialects, Dialect(s)) {
		return Dialect(s), nil
	}
	valid := make([]string, len(Dialects))
	for i, d := range Dialects {
		valid[i] = string(d)
	}
	return "", fmt.Errorf("unknown agent dialect %q: valid ones are %s", s, strings.Join(valid, ", "))
}

// Decoder reads the events of one stream in one dialect. It keeps a little
// state from one event to the next (which AG-UI chunked message is open), so
// each stream needs its own; it is not safe for concurrent use. The zero
// Decoder reads as Auto.
type Decoder struct {
	dialect Dialect
	// stateless makes AG-UI chunk events yield only their deltas, for the
	// package-level Decode that sees events one at a time.
	stateless bool
	chunk     chunkState
}

// NewDecoder returns a decoder for dialect d at the start of a stream. A
// dialect that ParseDialect would reject, the empty one included, reads as
// Auto.
func NewDecoder(d Dialect) *Decoder {
	if !slices.Contains(Dialects, d) {
		d = Auto
	}
	return &Decoder{dialect: d}
}

// Decode reads the data of one SSE event and appends the events it carries
// to dst. Data it does not understand, or that carries nothing for the
// model, yields nothing and ok false, so callers can count it as skipped; it
// is never an error. ok is true exactly when out is longer than dst.
func (d *Decoder) Decode(dst []Event, data []byte) (out []Event, ok bool) {
	if d.dialect == "" {
		d.dialect = Auto
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || (data[0] != '"' && data[0] != '{') || !json.Valid(data) {
		return dst, false
	}
	n := len(dst)
	if data[0] == '"' {
		dst = d.decodeString(dst, data)
	} else {
		dst = d.decodeObject(dst, data)
	}
	return dst, len(dst) > n
}

// Decode reads one event's data as Auto does, without state from earlier
// events: AG-UI chunk events give their deltas but open and close no
// message. A stream is better read with a Decoder.
func Decode(dst []Event, data []byte) (out []Event, ok bool) {
	d := Decoder{dialect: Auto, stateless: true}
	return d.Decode(dst, data)
}

// fields holds the raw values of the top-level members that decide how an
// object is read, found in one pass, and whether the object is an agent
// error.
type fields struct {
	typ, event, err                       []byte
	delta, messageID, toolCallID, message []byte
	code                                  []byte
	failed                                bool
}

func scanFields(obj []byte) fields {
	var f fields
	for it := newMembers(obj); ; {
		k, v, ok := it.next()
		if !ok {
			return f
		}
		if !f.failed {
			f.failed = reportsError(k, v, true)
		}
		switch string(k) {
		case "type":
			f.typ = v
		case "event":
			f.event = v
		case "error":
			f.err = v
		case "delta":
			f.delta = v
		case "messageId":
			f.messageID = v
		case "toolCallId":
			f.toolCallID = v
		case "message":
			f.message = v
		case "code":
			f.code = v
		}
	}
}

// decodeObject routes a JSON object. An agent error, in any dialect, is
// an object that reportsError says is one; an AG-UI event is an object
// whose "type" is an AG-UI event type; anything else may be a Converse
// event.
func (d *Decoder) decodeObject(dst []Event, obj []byte) []Event {
	f := scanFields(obj)
	if f.failed {
		return append(d.endChunk(dst), Event{Kind: KindError, Text: errorText(obj, &f)})
	}
	if d.dialect == AGUI || d.dialect == Auto {
		if out, ok := d.agui(dst, &f); ok {
			return out
		}
	}
	if d.dialect == Strands || d.dialect == Auto {
		return decodeConverse(dst, obj, f.event)
	}
	return dst
}

// errorText is what the log keeps of an agent error: the "error" of the
// AgentCore Python SDK's error object, which is str(exception), as a
// string or else as compact JSON; RUN_ERROR's message, or its code when it
// has none; any other error whole, as compact JSON.
func errorText(obj []byte, f *fields) string {
	switch {
	case len(f.err) > 0 && !isNull(f.err):
		if s, ok := unquote(f.err); ok {
			return s
		}
		return rawText(f.err)
	case equalString(f.typ, "RUN_ERROR"):
		msg, ok := unquote(f.message)
		if !ok || msg == "" {
			msg, _ = unquote(f.code)
		}
		return msg
	}
	return rawText(obj)
}
