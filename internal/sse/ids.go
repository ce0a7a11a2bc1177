package sse

import (
	"bytes"
	"io"
	"strconv"
)

// IDWriter passes an event stream through to its writer and adds to every
// block an `id` field whose value is the stream's byte position just past
// that block: where a client that has dispatched the block, and
// therefore reports it as Last-Event-ID, resumes. The id line goes last in
// the block, right before the blank line that dispatches it, so it is the
// block's last id (a block's own id lines stay, and lose to it), and a
// stream cut before the blank line leaves the client with neither the
// block nor its id.
//
// Positions count every byte written on, the id lines included, from the
// position the writer started at. The blank line's first byte is the last
// byte the position covers: of a CRLF, the LF follows the position and
// reads to a client starting there as an empty line, which dispatches
// nothing. So a stream resumed at any id continues it byte for byte.
//
// Each Write makes one Write on the underlying writer.
type IDWriter struct {
	w   io.Writer
	pos int64
	// inLine: the current line has content and no line end yet; pending:
	// a line ended since the last blank line; afterCR: the last byte was a
	// CR, so an LF next completes it.
	inLine, pending, afterCR bool
	buf                      []byte
	// general turns the one-block fast path off (for tests).
	general bool
}

// NewIDWriter returns an IDWriter on w for a stream at position pos.
func NewIDWriter(w io.Writer, pos int64) *IDWriter {
	return &IDWriter{w: w, pos: pos}
}

// Pos returns the position after everything written so far.
func (iw *IDWriter) Pos() int64 { return iw.pos }

// Write passes p on with the id lines its blocks need. It reports len(p)
// written when the underlying writer took everything.
func (iw *IDWriter) Write(p []byte) (int, error) {
	if !iw.general && iw.oneBlock(p) {
		// A whole block, LF-ended, from a line start: its id goes right
		// before its blank line, as the general scan below would put it,
		// without a second scan of its lines.
		out := append(iw.buf[:0], p[:len(p)-1]...)
		out = append(iw.appendID(out), '\n')
		return iw.flush(out, len(p))
	}
	out := iw.buf[:0]
	rest := p
	for len(rest) > 0 {
		i := lineEnd(rest)
		if i < 0 {
			out = append(out, rest...)
			iw.inLine, iw.afterCR = true, false
			break
		}
		if i > 0 {
			iw.inLine, iw.afterCR = true, false
		}
		out = append(out, rest[:i]...)
		c := rest[i]
		rest = rest[i+1:]
		switch {
		case c == '\n' && iw.afterCR:
			iw.afterCR = false // the LF of a CRLF
		case iw.inLine:
			iw.inLine, iw.pending, iw.afterCR = false, true, c == '\r'
		case iw.pending:
			out = iw.appendID(out)
			iw.pending, iw.afterCR = false, c == '\r'
		default:
			iw.afterCR = c == '\r'
		}
		out = append(out, c)
	}
	return iw.flush(out, len(p))
}

// oneBlock reports whether p is one whole block as relays write them,
// each line ended by an LF (no CR), the last line blank and no other
// blank, written at a line start with nothing pending: then the general
// scan would only add the id before p's last byte.
func (iw *IDWriter) oneBlock(p []byte) bool {
	n := len(p)
	return n >= 2 && !iw.inLine && !iw.pending && !iw.afterCR && p[0] != '\n' &&
		p[n-1] == '\n' && p[n-2] == '\n' && bytes.Index(p, []byte("\n\n")) == n-2 && bytes.IndexByte(p, '\r') < 0
}

// flush writes out on, keeps its buffer, and reports n written when the
// underlying writer took everything.
func (iw *IDWriter) flush(out []byte, n int) (int, error) {
	iw.buf = out
	m, err := iw.w.Write(out)
	iw.pos += int64(m)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// appendID appends the id line of the block that the byte after out
// dispatches: its value is the position after that byte.
func (iw *IDWriter) appendID(out []byte) []byte {
	at := iw.pos + int64(len(out))
	// "id: " + digits + "\n", then the dispatching byte.
	// The fewest digits d that at+5+d+1 has: digits is monotonic, so
	// from d's lower bound this reaches it in a step or two.
	d := digits(at + 7)
	for digits(at+int64(5+d+1)) != d {
		d = digits(at + int64(5+d+1))
	}
	out = append(out, "id: "...)
	out = strconv.AppendInt(out, at+int64(5+d+1), 10)
	return append(out, '\n')
}

// digits returns how many decimal digits n >= 0 has.
func digits(n int64) int {
	d := 1
	for p := int64(10); d < 19 && n >= p; p *= 10 {
		d++
	}
	return d
}
