package format

import (
	"io"

	"github.com/agentgate/agentgate/internal/event"
)

// ndjson writes one JSON object per line:
//
//	{"type":"text","text":"..."}          each text delta
//	{"type":"tool_use","input":"..."}     each tool-input delta, when included
//	{"type":"reasoning","text":"..."}     each reasoning delta, when included
//	{"type":"ping"}                       a heartbeat
//	{"type":"usage","usage":{...}|null}   at Finish, summed over the stream
//	{"type":"session","id":"..."}         at Finish, last
//	{"type":"error","error":{...}}        at Fail, last
//
// Strings are escaped as encoding/json does with HTML escaping off.
type ndjson struct {
	readsEvents
	streaming
	w     io.Writer
	shown deltas
	tally tally
	buf   []byte
}

func (n *ndjson) ContentType() string { return "application/x-ndjson" }

func (n *ndjson) Event(e event.Event) error {
	if !n.shown.shows(e.Kind) {
		n.tally.add(e)
		return nil
	}
	if e.Text == "" {
		return nil
	}
	b := n.buf[:0]
	switch e.Kind {
	case event.KindToolUse:
		b = append(b, `{"type":"tool_use","input":`...)
	case event.KindReasoning:
		b = append(b, `{"type":"reasoning","text":`...)
	default:
		b = append(b, `{"type":"text","text":`...)
	}
	b = appendString(b, e.Text)
	return n.write(append(b, "}\n"...))
}

var pingLine = []byte(`{"type":"ping"}` + "\n")

// Heartbeat writes a ping line, which clients skip by its type.
func (n *ndjson) Heartbeat() error {
	_, err := n.w.Write(pingLine)
	return err
}

func (n *ndjson) Finish(sessionID string) error {
	b := append(n.buf[:0], `{"type":"usage","usage":`...)
	b = appendUsage(b, n.tally.Usage())
	b = append(b, "}\n"...)
	b = append(b, `{"type":"session","id":`...)
	b = appendString(b, sessionID)
	return n.write(append(b, "}\n"...))
}

func (n *ndjson) Fail(f Failure) error {
	b := append(n.buf[:0], `{"type":"error","error":{"code":`...)
	b = appendString(b, f.Code)
	b = append(b, `,"message":`...)
	b = appendString(b, f.Message)
	b = append(b, `,"requestId":`...)
	b = appendString(b, f.RequestID)
	return n.write(append(b, "}}\n"...))
}

// write writes one or more whole lines in a single Write, and keeps the
// buffer for the next.
func (n *ndjson) write(b []byte) error {
	n.buf = b
	_, err := n.w.Write(b)
	return err
}
