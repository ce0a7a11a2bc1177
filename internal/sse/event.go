package sse

import (
	"bytes"
	"math"
)

// Event is one blank-line-terminated block of an SSE stream.
//
// A block that holds only comments, unknown fields or nothing at all is an
// Event too, with HasData false: a pass-through forwards its Raw like any
// other, and a consumer that only wants what a browser would dispatch skips
// it.
type Event struct {
	// Type is the value of the last "event" field, or "" when there is none
	// (which the specification reads as "message").
	Type string
	// ID is the value of the last "id" field in this block; HasID reports
	// whether there was one. An id whose value contains NUL is ignored, as
	// the specification requires.
	ID    string
	HasID bool
	// Retry is the last valid "retry" value in milliseconds, or -1 when the
	// block has none. A valid value is one or more ASCII digits; values too
	// large for an int saturate at math.MaxInt.
	Retry int
	// Data holds the values of the "data" lines joined with "\n", without a
	// trailing newline. HasData reports whether there was at least one data
	// line, that is whether a browser would dispatch this event: "data:"
	// alone dispatches an event whose Data is empty.
	Data    []byte
	HasData bool
	// Raw is the block exactly as read: from the byte after the previous
	// block's terminating line end through this block's terminating blank
	// line inclusive, with comments, unknown fields, a leading byte order
	// mark and every CR, LF or CRLF as received. Concatenating Raw of every
	// block Next returns reproduces the stream.
	//
	// When a CRLF ends a block and its CR arrives at the end of one read and
	// its LF at the start of the next, Next returns the block without
	// waiting for the LF, and returns the LF next as a block of its own
	// (Raw "\n", no fields). Only the split of Raw between blocks depends on
	// how the input was chunked; the fields never do.
	Raw []byte
	// Incomplete reports that the stream ended before this block's blank
	// line. Raw then holds the leftover bytes, and the fields reflect the
	// complete lines among them. The specification discards such a block
	// rather than dispatch it.
	Incomplete bool
}

// field applies one non-blank line of a block to ev, as the specification's
// "process the field" step does.
func (r *Reader) field(ev *Event, line []byte) {
	if line[0] == ':' {
		return // comment
	}
	name, value := line, line[len(line):]
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if ev.HasData {
			r.data = append(r.data, '\n')
		}
		r.data = append(r.data, value...)
		ev.HasData = true
	case "event":
		ev.Type = reuse(&r.typ, value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			ev.ID = reuse(&r.id, value)
			ev.HasID = true
		}
	case "retry":
		if ms, ok := parseRetry(value); ok {
			ev.Retry = ms
		}
	}
}

// reuse returns b as a string, handing out *last again when it holds the
// same bytes: streams repeat their event type on every event, and this keeps
// that from costing an allocation each time.
func reuse(last *string, b []byte) string {
	if string(b) != *last {
		*last = string(b)
	}
	return *last
}

// parseRetry accepts one or more ASCII digits and nothing else.
func parseRetry(b []byte) (int, bool) {
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
			n = math.MaxInt
			continue
		}
		n = n*10 + d
	}
	return n, true
}
