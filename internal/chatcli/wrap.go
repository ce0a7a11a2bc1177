package chatcli

import (
	"io"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// wrapper writes streamed text to a terminal width columns wide, breaking
// lines at white space, so that the terminal never breaks a word. A word
// is held back until it ends (white space, a line break, Flush), since
// only then is it known whether it fits; a word wider than a whole line is
// cut at the width. White space where a line breaks is dropped. A width of
// 0 or less writes the text as it comes.
type wrapper struct {
	w     io.Writer
	width int
	col   int    // columns written on the current line
	space []byte // white space after the last word written, not written yet
	spCol int    // its columns
	word  []byte // the word being read, not written yet
	wdCol int    // its columns
	err   error  // the first write error; nothing is written after it
}

func newWrapper(w io.Writer, width int) *wrapper { return &wrapper{w: w, width: width} }

// WriteString writes s, but for the word at its end, which may go on.
func (w *wrapper) WriteString(s string) error {
	if w.width <= 0 {
		w.write(s)
		return w.err
	}
	for _, r := range s {
		switch r {
		case '\r':
		case '\n':
			w.flushWord()
			w.space, w.spCol = w.space[:0], 0
			w.write("\n")
			w.col = 0
		case ' ', '\t':
			w.flushWord()
			n := 1
			if r == '\t' {
				n = 8 - (w.col+w.spCol)%8
			}
			w.space = utf8.AppendRune(w.space, r)
			w.spCol += n
		default:
			c := runeWidth(r)
			if w.wdCol+c > w.width {
				// No line holds this word: cut it where the line ends.
				w.flushWord()
			}
			w.word = utf8.AppendRune(w.word, r)
			w.wdCol += c
		}
	}
	return w.err
}

// Flush writes the word held back: the text has ended.
func (w *wrapper) Flush() error {
	w.flushWord()
	return w.err
}

// flushWord writes the word held back, on the current line after the
// white space before it if it fits there, else at the start of the next.
func (w *wrapper) flushWord() {
	if len(w.word) == 0 {
		return
	}
	if w.width > 0 && w.col > 0 && w.col+w.spCol+w.wdCol > w.width {
		w.write("\n")
		w.col = 0
	} else {
		w.write(string(w.space))
		w.col += w.spCol
	}
	w.space, w.spCol = w.space[:0], 0
	w.write(string(w.word))
	w.col += w.wdCol
	w.word, w.wdCol = w.word[:0], 0
}

func (w *wrapper) write(s string) {
	if w.err == nil && s != "" {
		_, w.err = io.WriteString(w.w, s)
	}
}

// runeWidth is the columns a terminal gives r: two for East Asian wide
// and full-width characters, none for combining marks and controls.
func runeWidth(r rune) int {
	switch {
	case r < 0x20 || (0x7f <= r && r < 0xa0):
		return 0
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}
