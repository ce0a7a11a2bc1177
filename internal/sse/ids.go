package sse

import (
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
	iw.buf = out
	n, err := iw.w.Write(out)
	iw.pos += int64(n)
	if err != nil {
		return 0, err
	}
	return len(p), nil
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
