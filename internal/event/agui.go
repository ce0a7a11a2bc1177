package event

// chunkMode is the kind of AG-UI chunk stream that is open.
type chunkMode uint8

const (
	chunkNone chunkMode = iota
	chunkText
	chunkTool
	chunkReasoning
)

// chunkKinds is the kind of delta each chunk stream carries.
var chunkKinds = [...]Kind{chunkText: KindText, chunkTool: KindToolUse, chunkReasoning: KindReasoning}

// chunkState follows AG-UI's chunk events (TEXT_MESSAGE_CHUNK and its tool
// and reasoning siblings), which open a message implicitly and leave it open
// until a chunk with another id or another kind of event arrives. It holds
// one id: its size is bounded by one event.
type chunkState struct {
	mode chunkMode
	id   string
}

// agui reads an AG-UI event (field names as in ag_ui.core, camelCase on the
// wire). known is false when f's "type" is not an AG-UI event type; nothing
// has been appended then.
//
// Text messages open and close model messages (StopReason ""), content
// deltas become text, tool-call argument deltas tool use, and THINKING_* and
// REASONING_* content reasoning. RUN_ERROR never gets here: it is an agent
// error, which decodeObject reads in every dialect. The rest
// (runs, steps, tool-call boundaries and results, state, snapshots, RAW,
// CUSTOM) carry nothing for the model. AG-UI has no token usage, so nothing
// here yields KindMetadata.
func (d *Decoder) agui(dst []Event, f *fields) (out []Event, known bool) {
	if len(f.typ) < 2 || f.typ[0] != '"' {
		return dst, false
	}
	typ := f.typ[1 : len(f.typ)-1]
	switch string(typ) {
	case "RAW", "ACTIVITY_SNAPSHOT", "ACTIVITY_DELTA", "REASONING_ENCRYPTED_VALUE":
		// These pass beside an open chunk stream, as in AG-UI's own client.
		return dst, true
	case "TEXT_MESSAGE_CHUNK":
		return d.chunkEvent(dst, chunkText, f.messageID, f.delta), true
	case "TOOL_CALL_CHUNK":
		return d.chunkEvent(dst, chunkTool, f.toolCallID, f.delta), true
	case "REASONING_MESSAGE_CHUNK":
		return d.chunkEvent(dst, chunkReasoning, f.messageID, f.delta), true
	case "TEXT_MESSAGE_START":
		dst = d.endChunk(dst)
		return append(dst, Event{Kind: KindMessageStart}), true
	case "TEXT_MESSAGE_END":
		dst = d.endChunk(dst)
		return append(dst, Event{Kind: KindMessageStop}), true
	case "TEXT_MESSAGE_CONTENT":
		return appendDelta(d.endChunk(dst), KindText, f.delta), true
	case "TOOL_CALL_ARGS":
		return appendDelta(d.endChunk(dst), KindToolUse, f.delta), true
	case "REASONING_MESSAGE_CONTENT", "THINKING_TEXT_MESSAGE_CONTENT":
		return appendDelta(d.endChunk(dst), KindReasoning, f.delta), true
	case "RUN_STARTED", "RUN_FINISHED", "STEP_STARTED", "STEP_FINISHED",
		"TOOL_CALL_START", "TOOL_CALL_END", "TOOL_CALL_RESULT",
		"THINKING_START", "THINKING_END", "THINKING_TEXT_MESSAGE_START", "THINKING_TEXT_MESSAGE_END",
		"REASONING_START", "REASONING_END", "REASONING_MESSAGE_START", "REASONING_MESSAGE_END",
		"STATE_SNAPSHOT", "STATE_DELTA", "MESSAGES_SNAPSHOT", "CUSTOM":
		return d.endChunk(dst), true
	}
	return dst, false
}

// appendDelta appends a delta if raw is a string; AG-UI deltas are.
func appendDelta(dst []Event, k Kind, raw []byte) []Event {
	if s, ok := unquote(raw); ok {
		dst = append(dst, Event{Kind: k, Text: s})
	}
	return dst
}

// chunkEvent reads a chunk event as AG-UI's client expands it: a chunk of
// another kind, or with an id other than the open one, closes the open
// stream and starts a new one; a chunk without an id continues the open one.
// Only text chunks open and close a model message.
func (d *Decoder) chunkEvent(dst []Event, mode chunkMode, id, delta []byte) []Event {
	kind := chunkKinds[mode]
	if d.stateless {
		return appendDelta(dst, kind, delta)
	}
	if d.chunk.mode != mode || (len(id) > 0 && !isNull(id) && !equalString(id, d.chunk.id)) {
		dst = d.endChunk(dst)
	}
	if d.chunk.mode != mode {
		d.chunk.mode = mode
		d.chunk.id, _ = unquote(id)
		if mode == chunkText {
			dst = append(dst, Event{Kind: KindMessageStart})
		}
	}
	return appendDelta(dst, kind, delta)
}

// endChunk closes the open chunk stream, if any.
func (d *Decoder) endChunk(dst []Event) []Event {
	if d.chunk.mode == chunkText {
		dst = append(dst, Event{Kind: KindMessageStop})
	}
	d.chunk = chunkState{}
	return dst
}
