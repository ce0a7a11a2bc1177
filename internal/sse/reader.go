package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Default limits for a Reader, used where Options leaves a field zero.
const (
	DefaultMaxLineBytes  = 1 << 20
	DefaultMaxEventBytes = 8 << 20
)

// ErrLineTooLong is returned, wrapped, when a line exceeds
// Options.MaxLineBytes. ErrEventTooLarge is returned, wrapped, when a block
// exceeds Options.MaxEventBytes. Both end the stream: every later call to
// Next returns the same error.
var (
	ErrLineTooLong   = errors.New("sse: line too long")
	ErrEventTooLarge = errors.New("sse: event too large")
)

// Options bound the memory a Reader uses. A field that is zero or negative
// takes its default.
type Options struct {
	// MaxLineBytes is the longest line accepted, not counting its line end
	// (nor a leading byte order mark). Default DefaultMaxLineBytes.
	MaxLineBytes int
	// MaxEventBytes is the largest block accepted, counted in Raw bytes
	// through the first byte of its terminating line end. Default
	// DefaultMaxEventBytes.
	MaxEventBytes int
}

const (
	// A stream's first read gets a small buffer: most of the time an
	// agent's stream is idle (thinking, calling tools), and thousands of
	// open streams each hold one. A read that fills it grows it for the
	// next, so a busy stream soon reads in large pieces.
	firstBufferSize   = 512
	initialBufferSize = 4 << 10
	maxReadBufferSize = 32 << 10
	// maxEmptyReads is how many reads returning nothing Next tolerates
	// before it reports io.ErrNoProgress, as bufio does.
	maxEmptyReads = 100
)

// bom is the UTF-8 byte order mark the specification ignores at the start
// of a stream.
var bom = []byte("\xEF\xBB\xBF")

// Reader splits an SSE stream into blocks. It reads from the underlying
// reader only when its buffer holds no complete line, and its buffer holds
// at most the current block, bounded by Options, and what the last read
// brought beyond it.
type Reader struct {
	rd       io.Reader
	maxLine  int
	maxEvent int

	buf        []byte
	start, end int   // buf[start:end] was read but not yet returned in a block
	filled     bool  // the last read filled the buffer: the stream is busy
	err        error // from rd, or a limit error; returned once buf is drained

	data       []byte // Event.Data of the current block
	typ, id    string // the last Type and ID handed out, for reuse
	bomChecked bool
	// crPending is set when the last block ended with a CR that was the
	// last byte read: an LF arriving next completes that CRLF.
	crPending bool
}

// NewReader returns a Reader that reads an SSE stream from r.
func NewReader(r io.Reader, opts Options) *Reader {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.MaxEventBytes <= 0 {
		opts.MaxEventBytes = DefaultMaxEventBytes
	}
	return &Reader{rd: r, maxLine: opts.MaxLineBytes, maxEvent: opts.MaxEventBytes}
}

// Next returns the next block of the stream as soon as its terminating
// blank line has been read. After the last block it returns io.EOF. If the
// stream ends, or the underlying reader fails, in the middle of a block,
// Next first returns the leftover bytes as an Incomplete block and then the
// error. Event.Data and Event.Raw are valid only until the next call to
// Next.
func (r *Reader) Next() (Event, error) {
	if r.crPending {
		if ev, ok := r.lateLF(); ok {
			return ev, nil
		}
	}
	ev := Event{Retry: -1}
	r.data = r.data[:0]
	pos := r.start // start of the current line
	if !r.bomChecked {
		r.bomChecked = true
		pos += r.bomLen()
	}
	scan := pos     // buf[pos:scan] holds no line end
	skipLF := false // the line before pos ended in a CR that was the last byte read
	for {
		if skipLF && pos < r.end {
			skipLF = false
			if r.buf[pos] == '\n' {
				pos++
				scan = pos
			}
		}
		n := lineEnd(r.buf[scan:r.end])
		if n < 0 {
			scan = r.end
			if err := r.checkLimits(pos, r.end, r.end); err != nil {
				return r.fail(err)
			}
			if r.err != nil {
				return r.leftover(ev)
			}
			shift := r.fill()
			pos, scan = pos-shift, scan-shift
			continue
		}
		eol := scan + n
		if err := r.checkLimits(pos, eol, eol+1); err != nil {
			return r.fail(err)
		}
		next := eol + 1
		if r.buf[eol] == '\r' {
			if next == r.end {
				skipLF = true
			} else if r.buf[next] == '\n' {
				next++
			}
		}
		if eol == pos {
			r.crPending = skipLF
			return r.complete(ev, next), nil
		}
		r.field(&ev, r.buf[pos:eol])
		pos, scan = next, next
	}
}

// Buffered reports whether the next call to Next will return a block
// without reading from the underlying reader: a blank line, the end of a
// block, is already buffered. A relay flushes its client only when it is
// false, so a burst of events read at once goes out in one write while a
// lone event is still sent at once.
func (r *Reader) Buffered() bool {
	if r.err != nil {
		return r.start < r.end
	}
	b := r.buf[r.start:r.end]
	// A blank line is a line end right after another: LF LF, LF CR, CR CR
	// (CR LF CR contains LF CR; CR LF LF contains LF LF).
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\n\r")) || bytes.Contains(b, []byte("\r\r"))
}

// lateLF returns the LF that completes the CRLF the last block ended with,
// as a block of its own, when that LF arrived in a later read than its CR.
func (r *Reader) lateLF() (Event, bool) {
	r.crPending = false
	if r.start == r.end {
		r.fill()
	}
	if r.start == r.end || r.buf[r.start] != '\n' {
		return Event{}, false
	}
	r.start++
	return Event{Retry: -1, Raw: r.buf[r.start-1 : r.start]}, true
}

// bomLen reads until it can tell whether the stream starts with a byte
// order mark and returns the mark's length, or 0 when there is none.
func (r *Reader) bomLen() int {
	for r.end-r.start < len(bom) && bytes.HasPrefix(bom, r.buf[r.start:r.end]) && r.err == nil {
		r.fill() // start is 0 before the first block, so nothing moves
	}
	if bytes.HasPrefix(r.buf[r.start:r.end], bom) {
		return len(bom)
	}
	return 0
}

// complete returns the block that ends just before next.
func (r *Reader) complete(ev Event, next int) Event {
	ev.Raw = r.buf[r.start:next]
	r.start = next
	if ev.HasData {
		ev.Data = r.data
	}
	return ev
}

// leftover returns what is left in the buffer, once the underlying reader
// has failed, as an Incomplete block, or the reader's error when nothing is
// left.
func (r *Reader) leftover(ev Event) (Event, error) {
	if r.start == r.end {
		return Event{}, r.err
	}
	ev.Incomplete = true
	return r.complete(ev, r.end), nil
}

// fail ends the stream with err.
func (r *Reader) fail(err error) (Event, error) {
	r.err = err
	r.start, r.end = 0, 0
	r.crPending = false
	return Event{}, err
}

// checkLimits reports whether the line buf[pos:lineEnd] or the block
// buf[r.start:blockEnd] is over its limit; both may still grow. When both
// are, the limit whose first excess byte comes first in the stream wins, so
// the error does not depend on how the input was chunked.
func (r *Reader) checkLimits(pos, lineEnd, blockEnd int) error {
	lineOver := lineEnd-pos > r.maxLine
	eventOver := blockEnd-r.start > r.maxEvent
	if lineOver && (!eventOver || pos+r.maxLine <= r.start+r.maxEvent) {
		return fmt.Errorf("%w: a line is longer than %d bytes", ErrLineTooLong, r.maxLine)
	}
	if eventOver {
		return fmt.Errorf("%w: a block is larger than %d bytes", ErrEventTooLarge, r.maxEvent)
	}
	return nil
}

// fill reads once from the underlying reader, after moving the unreturned
// bytes to the front of the buffer, growing it when they fill it. It
// returns how far the bytes moved so that Next can adjust its offsets. The
// buffer never grows past MaxEventBytes+1: checkLimits fails a block before
// it needs more.
func (r *Reader) fill() (shift int) {
	if r.err != nil {
		return 0
	}
	if r.start > 0 {
		shift = r.start
		copy(r.buf, r.buf[r.start:r.end])
		r.start, r.end = 0, r.end-shift
	}
	switch {
	case len(r.buf) == 0:
		r.buf = make([]byte, min(firstBufferSize, r.maxEvent+1))
	case r.end == len(r.buf), r.filled && len(r.buf) < maxReadBufferSize:
		// Grown when a block outgrows it, or when reads come in full.
		size := max(2*len(r.buf), initialBufferSize)
		buf := make([]byte, min(size, r.maxEvent+1))
		copy(buf, r.buf[:r.end])
		r.buf = buf
	}
	for range maxEmptyReads {
		n, err := r.rd.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			r.err = fmt.Errorf("sse: underlying reader returned an invalid count %d", n)
			return shift
		}
		r.filled = n > 0 && r.end+n == len(r.buf)
		r.end += n
		if err != nil {
			r.err = err
			return shift
		}
		if n > 0 {
			return shift
		}
	}
	r.err = io.ErrNoProgress
	return shift
}

// lineEndWindow is how far lineEnd looks for an LF before it looks for a CR
// in the same span. Bounding it keeps a stream of CR-terminated lines from
// costing a scan of the whole buffer per line.
const lineEndWindow = 256

// lineEnd returns the index of the first CR or LF in b, or -1.
func lineEnd(b []byte) int {
	for off := 0; off < len(b); off += lineEndWindow {
		w := b[off:min(off+lineEndWindow, len(b))]
		lf := bytes.IndexByte(w, '\n')
		if lf < 0 {
			lf = len(w)
		}
		if cr := bytes.IndexByte(w[:lf], '\r'); cr >= 0 {
			return off + cr
		}
		if lf < len(w) {
			return off + lf
		}
	}
	return -1
}
