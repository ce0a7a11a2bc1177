package format

import (
	"crypto/rand"
	"io"
	"strconv"

	"github.com/agentgate/agentgate/internal/event"
)

// UIStreamHeader and UIStreamVersion announce the AI SDK's UI message
// stream: a client of the protocol checks for the header.
const (
	UIStreamHeader  = "x-vercel-ai-ui-message-stream"
	UIStreamVersion = "v1"
)

// ui writes the AI SDK's UI message stream (protocol v1), what the `ai`
// package's useChat and readUIMessageStream read: SSE events whose data is
// one JSON part each, in this order:
//
//	{"type":"start","messageId":"msg-…"}                 first
//	{"type":"start-step"}                                each model message (a step)
//	{"type":"text-start","id":"text-1"}                  a text part opens
//	{"type":"text-delta","id":"text-1","delta":"…"}      each text delta
//	{"type":"text-end","id":"text-1"}                    the part closes
//	{"type":"reasoning-start",…} and its siblings        the same, for reasoning when included
//	{"type":"finish-step"}                               the message ends
//	{"type":"finish","finishReason":"stop","messageMetadata":{"usage":{…}|null,"runtimeSessionId":"…"}}
//	[DONE]
//
// A tool loop is one UI message of several steps, as the AI SDK streams
// one. Its tool calls run inside the agent and the event model carries
// their input but neither their name nor their result, which the
// protocol's tool parts need, so they are left out, as in the OpenAI
// format.
//
// A failure after the start is the protocol's error part,
// {"type":"error","errorText":"message (code, request id …)"}, then
// [DONE]: useChat ends the request with that error and readUIMessageStream
// reports it, while the parts received so far stay. Heartbeats are SSE
// comments, which SSE parsers drop.
type ui struct {
	readsEvents
	streaming
	w         io.Writer
	messageID string
	reasoning bool
	started   bool   // the start part was written
	step      bool   // a step is open
	part      uiPart // the open text or reasoning part, if any
	parts     int    // parts opened so far: the next part's id
	tally     tally
	buf       []byte
}

// uiPart is the kind of a streamed part.
type uiPart uint8

const (
	uiNone uiPart = iota
	uiText
	uiReasoning
)

var uiPartNames = [...]string{uiText: "text", uiReasoning: "reasoning"}

func newUI(w io.Writer, opts Options) *ui {
	id := opts.ID
	if id == "" {
		id = "msg-" + rand.Text()
	}
	return &ui{w: w, messageID: id, reasoning: opts.IncludeReasoning}
}

func (u *ui) ContentType() string { return "text/event-stream; charset=utf-8" }

// Announce names the protocol in its response header.
func (u *ui) Announce() (header, value string) { return UIStreamHeader, UIStreamVersion }

func (u *ui) Event(e event.Event) error {
	switch {
	case e.Kind == event.KindText:
		return u.delta(uiText, e.Text)
	case e.Kind == event.KindReasoning && u.reasoning:
		return u.delta(uiReasoning, e.Text)
	case e.Kind == event.KindMessageStart:
		b := u.endStep(u.begin(u.buf[:0]))
		return u.write(u.startStep(b))
	case e.Kind == event.KindMessageStop:
		u.tally.add(e)
		return u.write(u.endStep(u.begin(u.buf[:0])))
	}
	u.tally.add(e)
	return nil
}

// delta writes a text or reasoning delta, opening a part of its kind (and
// a step, outside any message) when another or none is open.
func (u *ui) delta(kind uiPart, text string) error {
	if text == "" {
		return nil
	}
	b := u.begin(u.buf[:0])
	if u.part != kind {
		b = u.startStep(u.endPart(b))
		u.part = kind
		u.parts++
		b = u.appendPart(b, "-start")
		b = append(b, "}\n\n"...)
	}
	b = u.appendPart(b, "-delta")
	b = append(b, `,"delta":`...)
	b = appendString(b, text)
	return u.write(append(b, "}\n\n"...))
}

func (u *ui) Heartbeat() error {
	_, err := u.w.Write(keepAlive)
	return err
}

// Finish ends the open step, then writes the finish part with the usage
// and the session id as the message's metadata, and [DONE].
func (u *ui) Finish(sessionID string) error {
	b := u.endStep(u.begin(u.buf[:0]))
	b = append(b, `data: {"type":"finish","finishReason":"`...)
	b = append(b, uiFinishReason(u.tally.stopReason)...)
	b = append(b, `","messageMetadata":{"usage":`...)
	b = appendUsage(b, u.tally.Usage())
	b = append(b, `,"runtimeSessionId":`...)
	b = appendString(b, sessionID)
	b = append(b, "}}\n\n"...)
	return u.write(append(b, doneEvent...))
}

// Fail writes the error part, then [DONE]. The open part and step stay
// open: the answer did not end, it broke.
func (u *ui) Fail(f Failure) error {
	b := u.begin(u.buf[:0])
	b = append(b, `data: {"type":"error","errorText":`...)
	b = appendString(b, f.Message+" ("+f.Code+", request id "+f.RequestID+")")
	b = append(b, "}\n\n"...)
	return u.write(append(b, doneEvent...))
}

// begin appends the start part if nothing was written yet.
func (u *ui) begin(b []byte) []byte {
	if u.started {
		return b
	}
	u.started = true
	b = append(b, `data: {"type":"start","messageId":`...)
	b = appendString(b, u.messageID)
	return append(b, "}\n\n"...)
}

func (u *ui) startStep(b []byte) []byte {
	if u.step {
		return b
	}
	u.step = true
	return append(b, "data: {\"type\":\"start-step\"}\n\n"...)
}

// endStep closes the open part and step, if any.
func (u *ui) endStep(b []byte) []byte {
	b = u.endPart(b)
	if !u.step {
		return b
	}
	u.step = false
	return append(b, "data: {\"type\":\"finish-step\"}\n\n"...)
}

func (u *ui) endPart(b []byte) []byte {
	if u.part == uiNone {
		return b
	}
	b = u.appendPart(b, "-end")
	u.part = uiNone
	return append(b, "}\n\n"...)
}

// appendPart appends the open part's event up to its id:
// `data: {"type":"text-delta","id":"text-3"`.
func (u *ui) appendPart(b []byte, suffix string) []byte {
	name := uiPartNames[u.part]
	b = append(b, `data: {"type":"`...)
	b = append(b, name...)
	b = append(b, suffix...)
	b = append(b, `","id":"`...)
	b = append(b, name...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(u.parts), 10)
	return append(b, '"')
}

func (u *ui) write(b []byte) error {
	u.buf = b
	if len(b) == 0 {
		return nil
	}
	_, err := u.w.Write(b)
	return err
}

// uiFinishReason maps the last message's Bedrock stop reason to the AI
// SDK's finish reason, as finishReason does for OpenAI's.
func uiFinishReason(stopReason string) string {
	if r := finishReason(stopReason); r != "content_filter" {
		return r
	}
	return "content-filter"
}
