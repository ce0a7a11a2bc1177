package format

import (
	"crypto/rand"
	"io"
	"strconv"

	"github.com/agentgate/agentgate/internal/event"
)

// AGUIRun is what the AGUI format knows of the run it answers: the ids of
// the client's RunAgentInput, and whether the agent speaks AG-UI itself.
type AGUIRun struct {
	// ThreadID and RunID are the RunAgentInput's, which RUN_STARTED and
	// RUN_FINISHED repeat.
	ThreadID, RunID string
	// Passthrough says the agent streams AG-UI events itself (the agui
	// dialect): they are the answer, written as they came, the agent's own
	// ids and all. The gateway never hands over an agent's error report, so
	// the agent's RUN_ERROR is replaced by agentgate's.
	Passthrough bool
}

// agui writes the AG-UI protocol's event stream, what @ag-ui/client's
// HttpAgent (CopilotKit's transport) reads: SSE events whose data is one
// JSON event each, in this order:
//
//	{"type":"RUN_STARTED","threadId":"…","runId":"…"}                          first
//	{"type":"TEXT_MESSAGE_START","messageId":"msg-…-1","role":"assistant"}      a text message opens
//	{"type":"TEXT_MESSAGE_CONTENT","messageId":"msg-…-1","delta":"…"}           each text delta
//	{"type":"TEXT_MESSAGE_END","messageId":"msg-…-1"}                           it closes
//	REASONING_START, REASONING_MESSAGE_START ("role":"reasoning"),
//	REASONING_MESSAGE_CONTENT, REASONING_MESSAGE_END, REASONING_END            reasoning, when included
//	{"type":"RUN_FINISHED","threadId":"…","runId":"…","usage":[{…}],"metadata":{"runtimeSessionId":"…"}}
//
// Each model message of a tool loop is an assistant message of its own,
// opened at its first delta, so a message that only calls a tool leaves
// none; text and reasoning alternate as messages of their own. Message ids
// are Options.ID with a count. RUN_FINISHED carries the summed usage in
// AG-UI's TokenUsage shape when the agent reported any, and the session id
// in its metadata. AG-UI's tool-call events need the tool's name and call
// id, which the event model does not carry (and a client would take them
// for calls it should run), so tool use is left out, as in the UI format.
//
// A failure is RUN_ERROR, {"type":"RUN_ERROR","message":"… (request id
// …)","code":"…"}, in agentgate's words; what was streamed stays, and the
// open message stays open: the run did not end, it broke. Heartbeats are
// SSE comments, which AG-UI's SSE parser skips.
type agui struct {
	readsEvents
	streaming
	w         io.Writer
	run       AGUIRun
	messageID string
	reasoning bool
	started   bool     // RUN_STARTED was written
	open      aguiPart // the open message, if any
	parts     int      // messages opened so far: the next one's number
	tally     tally
	buf       []byte
}

// aguiPart is the kind of an open message.
type aguiPart uint8

const (
	aguiNone aguiPart = iota
	aguiText
	aguiReasoning
)

func newAGUI(w io.Writer, opts Options) *agui {
	id := opts.ID
	if id == "" {
		id = "msg-" + rand.Text()
	}
	return &agui{w: w, run: opts.AGUI, messageID: id, reasoning: opts.IncludeReasoning}
}

func (a *agui) ContentType() string { return "text/event-stream; charset=utf-8" }

func (a *agui) Event(e event.Event) error {
	switch {
	case e.Kind == event.KindText:
		return a.delta(aguiText, e.Text)
	case e.Kind == event.KindReasoning && a.reasoning:
		return a.delta(aguiReasoning, e.Text)
	case e.Kind == event.KindMessageStart, e.Kind == event.KindMessageStop:
		a.tally.add(e)
		return a.write(a.end(a.begin(a.buf[:0])))
	}
	a.tally.add(e)
	return nil
}

// delta writes a text or reasoning delta, opening a message of its kind
// when another or none is open. AG-UI wants deltas that are not empty.
func (a *agui) delta(kind aguiPart, text string) error {
	if text == "" {
		return nil
	}
	b := a.begin(a.buf[:0])
	if a.open != kind {
		b = a.end(b)
		a.open = kind
		a.parts++
		if kind == aguiReasoning {
			b = a.appendEvent(b, "REASONING_START")
			b = append(b, "}\n\n"...)
			b = a.appendEvent(b, "REASONING_MESSAGE_START")
			b = append(b, `,"role":"reasoning"}`+"\n\n"...)
		} else {
			b = a.appendEvent(b, "TEXT_MESSAGE_START")
			b = append(b, `,"role":"assistant"}`+"\n\n"...)
		}
	}
	name := "TEXT_MESSAGE_CONTENT"
	if kind == aguiReasoning {
		name = "REASONING_MESSAGE_CONTENT"
	}
	b = a.appendEvent(b, name)
	b = append(b, `,"delta":`...)
	b = appendString(b, text)
	return a.write(append(b, "}\n\n"...))
}

func (a *agui) Heartbeat() error {
	_, err := a.w.Write(keepAlive)
	return err
}

// Finish closes the open message, then writes RUN_FINISHED with the usage
// and the session id.
func (a *agui) Finish(sessionID string) error {
	b := a.end(a.begin(a.buf[:0]))
	b = a.appendRun(b, "RUN_FINISHED")
	if u := a.tally.Usage(); u != nil {
		b = append(b, `,"usage":[`...)
		b = appendUsage(b, u)
		b = append(b, ']')
	}
	b = append(b, `,"metadata":{"runtimeSessionId":`...)
	b = appendString(b, sessionID)
	return a.write(append(b, "}}\n\n"...))
}

// Fail writes RUN_ERROR, after RUN_STARTED if nothing was written yet.
func (a *agui) Fail(f Failure) error {
	return a.write(appendRunError(a.begin(a.buf[:0]), f))
}

// begin appends RUN_STARTED if nothing was written yet.
func (a *agui) begin(b []byte) []byte {
	if a.started {
		return b
	}
	a.started = true
	b = a.appendRun(b, "RUN_STARTED")
	return append(b, "}\n\n"...)
}

// end closes the open message, if any.
func (a *agui) end(b []byte) []byte {
	switch a.open {
	case aguiText:
		b = a.appendEvent(b, "TEXT_MESSAGE_END")
		b = append(b, "}\n\n"...)
	case aguiReasoning:
		b = a.appendEvent(b, "REASONING_MESSAGE_END")
		b = append(b, "}\n\n"...)
		b = a.appendEvent(b, "REASONING_END")
		b = append(b, "}\n\n"...)
	}
	a.open = aguiNone
	return b
}

// appendEvent appends an event of the open message up to its id:
// `data: {"type":"TEXT_MESSAGE_CONTENT","messageId":"msg-…-3"`.
func (a *agui) appendEvent(b []byte, typ string) []byte {
	b = append(b, `data: {"type":"`...)
	b = append(b, typ...)
	b = append(b, `","messageId":`...)
	b = appendString(b, a.messageID)
	b = append(b[:len(b)-1], '-') // inside the id's closing quote
	b = strconv.AppendInt(b, int64(a.parts), 10)
	return append(b, '"')
}

// appendRun appends a run event up to its ids:
// `data: {"type":"RUN_STARTED","threadId":"…","runId":"…"`.
func (a *agui) appendRun(b []byte, typ string) []byte {
	b = append(b, `data: {"type":"`...)
	b = append(b, typ...)
	b = append(b, `","threadId":`...)
	b = appendString(b, a.run.ThreadID)
	b = append(b, `,"runId":`...)
	return appendString(b, a.run.RunID)
}

func (a *agui) write(b []byte) error {
	a.buf = b
	if len(b) == 0 {
		return nil
	}
	_, err := a.w.Write(b)
	return err
}

// appendRunError appends RUN_ERROR for f: its message and request id in
// "message", its code in "code".
func appendRunError(b []byte, f Failure) []byte {
	b = append(b, `data: {"type":"RUN_ERROR","message":`...)
	b = appendString(b, f.Message+" (request id "+f.RequestID+")")
	b = append(b, `,"code":`...)
	b = appendString(b, f.Code)
	return append(b, "}\n\n"...)
}

// aguiPassthrough relays an agent that speaks AG-UI itself: its SSE
// blocks pass as original passes them, heartbeats only between blocks,
// and a failure, its own RUN_ERROR included (which the gateway never
// hands over), is agentgate's RUN_ERROR.
type aguiPassthrough struct{ original }

// Fail ends a block the upstream cut short, then writes RUN_ERROR.
func (p *aguiPassthrough) Fail(f Failure) error {
	if err := p.endBlock(); err != nil {
		return err
	}
	_, err := p.w.Write(appendRunError(nil, f))
	return err
}
