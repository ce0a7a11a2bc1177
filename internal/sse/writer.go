package sse

import (
	"io"
	"strings"
)

// The fixed parts of what the writers emit, kept as byte slices so that
// writing them does not allocate.
var (
	eventPrefix   = []byte("event: ")
	dataPrefix    = []byte("data: ")
	commentPrefix = []byte(": ")
	newline       = []byte("\n")
)

// WriteEvent writes one event of type typ carrying data, and the blank line
// that dispatches it. An empty typ writes no "event" line, which clients
// read as "message". CR and LF are removed from typ. Each line of data is
// written as its own "data" line, splitting on LF, CRLF and CR, so data can
// never end the event early or inject a field; a reader joins the lines
// with LF again. Empty data is written as one empty data line, so the event
// is still dispatched.
//
// WriteEvent issues one Write per line part and does not flush: w should
// buffer, as an http.ResponseWriter or a bufio.Writer does, and the caller
// flushes.
func WriteEvent(w io.Writer, typ string, data []byte) error {
	ew := errWriter{w: w}
	if typ = stripLineBreaks(typ); typ != "" {
		ew.write(eventPrefix)
		ew.writeString(typ)
		ew.write(newline)
	}
	for {
		n := lineEnd(data)
		if n < 0 {
			n = len(data)
		}
		ew.write(dataPrefix)
		if n > 0 {
			ew.write(data[:n])
		}
		ew.write(newline)
		if n == len(data) {
			break
		}
		if data[n] == '\r' && n+1 < len(data) && data[n+1] == '\n' {
			n++
		}
		data = data[n+1:]
	}
	ew.write(newline)
	return ew.err
}

// WriteComment writes text as a comment block, which clients ignore; it is
// what keep-alives are made of. Each line of text becomes its own comment
// line, so a CR or LF in text cannot end the comment and start a field.
func WriteComment(w io.Writer, text string) error {
	ew := errWriter{w: w}
	for {
		n := strings.IndexAny(text, "\r\n")
		if n < 0 {
			n = len(text)
		}
		ew.write(commentPrefix)
		ew.writeString(text[:n])
		ew.write(newline)
		if n == len(text) {
			break
		}
		if strings.HasPrefix(text[n:], "\r\n") {
			n++
		}
		text = text[n+1:]
	}
	ew.write(newline)
	return ew.err
}

func stripLineBreaks(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}

// errWriter keeps the first error so the writers can write a whole block
// and check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (ew *errWriter) write(b []byte) {
	if ew.err == nil {
		_, ew.err = ew.w.Write(b)
	}
}

func (ew *errWriter) writeString(s string) {
	if ew.err == nil {
		_, ew.err = io.WriteString(ew.w, s)
	}
}
