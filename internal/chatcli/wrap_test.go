package chatcli

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// wrapAll feeds text to a wrapper of width in pieces of about n bytes,
// cut at character boundaries, as deltas come, and returns what it wrote.
func wrapAll(text string, width, n int) string {
	var b strings.Builder
	w := newWrapper(&b, width)
	for len(text) > 0 {
		k := min(n, len(text))
		for k < len(text) && !utf8.RuneStart(text[k]) {
			k++
		}
		_ = w.WriteString(text[:k])
		text = text[k:]
	}
	_ = w.Flush()
	return b.String()
}

func TestWrapper(t *testing.T) {
	tests := []struct {
		name, text string
		width      int
		want       string
	}{
		{"a line that fits is left alone", "hello world", 11, "hello world"},
		{"a line breaks at the last space that fits", "hello world foo", 10, "hello\nworld foo"},
		{"the space where a line breaks is dropped", "aaaa   bbbb", 6, "aaaa\nbbbb"},
		{"line breaks in the text start the count again", "aaaa\nbbbb cc", 7, "aaaa\nbbbb cc"},
		{"a word wider than a line is cut at the width", "go https://example.com/a/long/path end", 10, "go\nhttps://ex\nample.com/\na/long/pat\nh end"},
		{"wide characters take two columns", "日本語の文章です ok", 10, "日本語の文\n章です ok"},
		{"combining marks take none", "cafe\u0301 cafe\u0301", 10, "cafe\u0301 cafe\u0301"},
		{"a tab goes to the next stop", "a\tb c", 9, "a\tb\nc"},
		{"carriage returns are dropped", "a\r\nb", 5, "a\nb"},
		{"no width wraps nothing", "hello world foo", 0, "hello world foo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for n := 1; n <= len(tt.text); n++ {
				if got := wrapAll(tt.text, tt.width, n); got != tt.want {
					t.Fatalf("in pieces of %d bytes: got %q, want %q", n, got, tt.want)
				}
			}
		})
	}
}

// TestWrapperKeepsEveryWordWhole wraps random text streamed in random
// pieces: no line is wider than the width, and the words read as they
// were written.
func TestWrapperKeepsEveryWordWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 3))
	for range 200 {
		var words []string
		for range 1 + rng.IntN(60) {
			words = append(words, strings.Repeat(string(rune('a'+rng.IntN(26))), 1+rng.IntN(12)))
		}
		text := strings.Join(words, " ")
		width := 12 + rng.IntN(50)
		got := wrapAll(text, width, 1+rng.IntN(20))
		for _, line := range strings.Split(got, "\n") {
			if utf8.RuneCountInString(line) > width {
				t.Fatalf("width %d: the line %q is wider", width, line)
			}
		}
		if strings.Join(strings.Fields(got), " ") != text || strings.Count(got, " ")+strings.Count(got, "\n") != len(words)-1 {
			t.Fatalf("width %d: %q wrapped to %q", width, text, got)
		}
	}
}
