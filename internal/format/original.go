package format

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/sse"
)

// keepAlive is the SSE heartbeat: a comment block, which clients ignore.
var keepAlive = []byte(": keep-alive\n\n")

// bom is the UTF-8 byte order mark an SSE client skips only at the very
// start of a stream.
var bom = []byte("\xEF\xBB\xBF")

// original passes the upstream SSE bytes through unchanged. It adds bytes
// of its own only between blocks: heartbeats, and the terminal error.
type original struct {
	streaming
	w     io.Writer
	frame framing
	// raw reports that an upstream block was written; beat that a heartbeat
	// was written before it.
	raw, beat bool
}

func (o *original) ContentType() string { return "text/event-stream; charset=utf-8" }

// Input is Bytes: original writes the upstream blocks themselves.
func (o *original) Input() Input { return Bytes }

// Raw writes block as is, except for a byte order mark that a heartbeat
// has pushed off the start of the stream: there a client would read it as
// part of the first field's name, so it is dropped.
func (o *original) Raw(block []byte) error {
	if !o.raw {
		o.raw = true
		if o.beat {
			block = bytes.TrimPrefix(block, bom)
		}
	}
	if len(block) == 0 {
		return nil
	}
	o.frame.advance(block)
	_, err := o.w.Write(block)
	return err
}

func (o *original) Event(event.Event) error { return nil }

// Heartbeat writes a comment block, only where a block may start: after an
// upstream block that the stream cut short it writes nothing, as a comment
// there would join that block.
func (o *original) Heartbeat() error {
	if !o.frame.between() {
		return nil
	}
	if !o.raw {
		o.beat = true
	}
	o.frame.advance(keepAlive)
	_, err := o.w.Write(keepAlive)
	return err
}

func (o *original) Finish(string) error { return nil }

// Fail writes an `event: error` whose data is {"error": Failure}. When the
// upstream stream was cut in the middle of a block, it first ends that
// block (endBlock), so the error is an event of its own rather than more
// lines of the broken one.
func (o *original) Fail(f Failure) error {
	data, _ := json.Marshal(struct {
		Error Failure `json:"error"`
	}{f})
	if err := o.endBlock(); err != nil {
		return err
	}
	return sse.WriteEvent(o.w, "error", data)
}

// endBlock ends with blank lines a block the upstream cut short, if any,
// so that what is written next is an event of its own.
func (o *original) endBlock() error {
	var pad []byte
	for !o.frame.between() {
		pad = append(pad, '\n')
		o.frame.step('\n')
	}
	if len(pad) == 0 {
		return nil
	}
	_, err := o.w.Write(pad)
	return err
}

// framing follows where the bytes written so far leave a client's SSE
// parser. The zero value is the start of a stream.
type framing struct {
	// inLine: the current line has content and no line end yet.
	inLine bool
	// pending: a line ended since the last blank line, so the parser holds
	// a block that is not dispatched yet.
	pending bool
	// afterCR: the last byte was a CR, so an LF next completes a CRLF
	// rather than ending another line.
	afterCR bool
}

// between reports whether a new block may start here.
func (f *framing) between() bool { return !f.inLine && !f.pending }

// advance moves past b. Only the run of line ends at the end of b matters:
// any other byte starts a line afresh.
func (f *framing) advance(b []byte) {
	i := len(b)
	for i > 0 && (b[i-1] == '\n' || b[i-1] == '\r') {
		i--
	}
	if i > 0 {
		*f = framing{inLine: true}
	}
	for _, c := range b[i:] {
		f.step(c)
	}
}

// step moves past one CR or LF.
func (f *framing) step(c byte) {
	if c == '\n' && f.afterCR {
		f.afterCR = false
		return
	}
	// A line end after content ends a field line; on an empty line it is
	// the blank line that dispatches the block.
	f.pending = f.inLine
	f.inLine = false
	f.afterCR = c == '\r'
}
