package event

import (
	"bytes"
	"encoding/json"
)

// Decode reads the data of one SSE event and appends the events it carries
// to dst. It understands the Strands / Bedrock Converse shapes (with or
// without the {"event": ...} wrapper), JSON strings (a handler that yields
// text) and error objects. Data it does not understand yields nothing and
// ok false, so callers can count it; it is never an error.
func Decode(dst []Event, data []byte) (out []Event, ok bool) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return dst, false
	}
	switch data[0] {
	case '"':
		var s string
		if json.Unmarshal(data, &s) != nil {
			return dst, false
		}
		return append(dst, Event{Kind: KindText, Text: s}), true
	case '{':
		return decodeObject(dst, data)
	}
	return dst, false
}

// converse is the union of the Converse stream event members.
type converse struct {
	MessageStart *struct {
		Role string `json:"role"`
	} `json:"messageStart"`
	ContentBlockDelta *struct {
		Delta struct {
			Text    *string `json:"text"`
			ToolUse *struct {
				Input string `json:"input"`
			} `json:"toolUse"`
			ReasoningContent *struct {
				Text string `json:"text"`
			} `json:"reasoningContent"`
		} `json:"delta"`
	} `json:"contentBlockDelta"`
	MessageStop *struct {
		StopReason string `json:"stopReason"`
	} `json:"messageStop"`
	Metadata json.RawMessage `json:"metadata"`
}

type envelope struct {
	Event *converse       `json:"event"`
	Error json.RawMessage `json:"error"`
	converse
}

func decodeObject(dst []Event, data []byte) ([]Event, bool) {
	var env envelope
	if json.Unmarshal(data, &env) != nil {
		return dst, false
	}
	if len(env.Error) > 0 && !bytes.Equal(env.Error, []byte("null")) {
		return append(dst, Event{Kind: KindError, Text: errorText(env.Error)}), true
	}
	c := &env.converse
	if env.Event != nil {
		c = env.Event
	}
	n := len(dst)
	switch {
	case c.MessageStart != nil:
		dst = append(dst, Event{Kind: KindMessageStart})
	case c.ContentBlockDelta != nil:
		d := c.ContentBlockDelta.Delta
		switch {
		case d.Text != nil:
			dst = append(dst, Event{Kind: KindText, Text: *d.Text})
		case d.ToolUse != nil:
			dst = append(dst, Event{Kind: KindToolUse, Text: d.ToolUse.Input})
		case d.ReasoningContent != nil:
			dst = append(dst, Event{Kind: KindReasoning, Text: d.ReasoningContent.Text})
		}
	case c.MessageStop != nil:
		dst = append(dst, Event{Kind: KindMessageStop, StopReason: c.MessageStop.StopReason})
	case len(c.Metadata) > 0 && c.Metadata[0] == '{':
		dst = append(dst, metadataEvent(c.Metadata))
	}
	return dst, len(dst) > n
}

func metadataEvent(raw json.RawMessage) Event {
	var m struct {
		Usage *Usage `json:"usage"`
	}
	_ = json.Unmarshal(raw, &m) // raw is a valid object: it was decoded above
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		raw = buf.Bytes()
	}
	return Event{Kind: KindMetadata, Usage: m.Usage, Metadata: raw}
}

func errorText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
