package event

import "strings"

// decodeString reads a JSON string: the text dialect's delta.
func (d *Decoder) decodeString(dst []Event, data []byte) []Event {
	if d.dialect != Text && d.dialect != Auto {
		return dst
	}
	s, ok := unquote(data)
	if !ok || (d.dialect == Auto && isPythonRepr(s)) {
		return dst
	}
	return append(dst, Event{Kind: KindText, Text: s})
}

// isPythonRepr recognises the AgentCore Python SDK's last resort for a value
// it cannot serialise: the JSON string of its repr(). A Strands agent that
// yields the raw events of stream_async() sends one for each callback event,
// {'data': 'Hello', 'delta': {...}, 'agent': <strands.agent.agent.Agent
// object at 0x...>, ...}, beside the Converse event that carries the same
// text. Auto must not read it as a second copy of the answer.
func isPythonRepr(s string) bool {
	return strings.HasPrefix(s, "{'") && strings.Contains(s, " object at 0x")
}
