package sse_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/agentgate/agentgate/internal/sse"
)

func TestWriteEvent(t *testing.T) {
	tests := []struct {
		name     string
		typ      string
		data     string
		want     string
		wantType string
		wantData string // as a reader sees it
	}{
		{"an untyped event has only data", "", `{"text":"Hi"}`,
			"data: {\"text\":\"Hi\"}\n\n", "", `{"text":"Hi"}`},
		{"a typed event starts with its type", "delta", "x",
			"event: delta\ndata: x\n\n", "delta", "x"},
		{"each LF-separated line gets its own data line", "", "a\nb\nc",
			"data: a\ndata: b\ndata: c\n\n", "", "a\nb\nc"},
		{"CRLF and lone CR split lines too", "", "a\r\nb\rc",
			"data: a\ndata: b\ndata: c\n\n", "", "a\nb\nc"},
		{"a trailing newline survives as an empty last line", "", "a\n",
			"data: a\ndata: \n\n", "", "a\n"},
		{"empty data is still dispatched", "", "",
			"data: \n\n", "", ""},
		{"data cannot inject a field or end the event", "", "a\n\nevent: evil\nid: 1",
			"data: a\ndata: \ndata: event: evil\ndata: id: 1\n\n", "", "a\n\nevent: evil\nid: 1"},
		{"line breaks are stripped from the type", "up\r\ndate", "x",
			"event: update\ndata: x\n\n", "update", "x"},
		{"a type of only line breaks writes no event line", "\r\n", "x",
			"data: x\n\n", "", "x"},
		{"a leading space in data is kept", "", " indented",
			"data:  indented\n\n", "", " indented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := sse.WriteEvent(&buf, tt.typ, []byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("wrote %q, want %q", got, tt.want)
			}
			got, err := readAll(&buf, sse.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("read back %d blocks, want 1", len(got))
			}
			if !got[0].HasData || got[0].Type != tt.wantType || got[0].Data != tt.wantData {
				t.Errorf("read back type %q data %q (hasData %v), want type %q data %q",
					got[0].Type, got[0].Data, got[0].HasData, tt.wantType, tt.wantData)
			}
		})
	}
}

func TestWriteComment(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"a comment is one line and a blank line", "keep-alive", ": keep-alive\n\n"},
		{"an empty comment still ends its block", "", ": \n\n"},
		{"each line of the text becomes a comment line", "a\nb\r\nc\rd", ": a\n: b\n: c\n: d\n\n"},
		{"text that looks like a field stays a comment", "x\n\ndata: evil", ": x\n: \n: data: evil\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := sse.WriteComment(&buf, tt.text); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("wrote %q, want %q", got, tt.want)
			}
			got, err := readAll(&buf, sse.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].HasData || got[0].Type != "" || got[0].HasID {
				t.Errorf("read back %+v, want one block with no fields", got)
			}
		})
	}
}

// failingWriter accepts n writes and fails the next.
type failingWriter struct{ n int }

var errClientGone = errors.New("client gone")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errClientGone
	}
	w.n--
	return len(p), nil
}

func TestWritersReturnTheFirstWriteError(t *testing.T) {
	writers := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"WriteEvent", func(w io.Writer) error { return sse.WriteEvent(w, "t", []byte("a\nb")) }},
		{"WriteComment", func(w io.Writer) error { return sse.WriteComment(w, "a\nb") }},
	}
	for _, wr := range writers {
		for n := range 4 {
			t.Run(fmt.Sprintf("%s returns the error of write %d", wr.name, n+1), func(t *testing.T) {
				w := &failingWriter{n: n}
				if err := wr.write(w); !errors.Is(err, errClientGone) {
					t.Errorf("got %v, want the writer's error", err)
				}
			})
		}
	}
}
