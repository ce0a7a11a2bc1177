package sse

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

func TestIDWriter(t *testing.T) {
	tests := []struct {
		name   string
		start  int64
		writes []string
		want   string
	}{
		{"one event", 0, []string{"data: a\n\n"}, "data: a\nid: 16\n\n"},
		{"two events, one write", 0, []string{"data: a\n\ndata: b\n\n"}, "data: a\nid: 16\n\ndata: b\nid: 32\n\n"},
		{"split anywhere", 0, []string{"da", "ta: a\n", "\n"}, "data: a\nid: 16\n\n"},
		{"CRLF", 0, []string{"data: a\r\n\r\n"}, "data: a\r\nid: 17\n\r\n"},
		{"CR", 0, []string{"data: a\r\r"}, "data: a\rid: 16\n\r"},
		{"the agent's own id stays first", 0, []string{"id: 7\ndata: a\n\n"}, "id: 7\ndata: a\nid: 22\n\n"},
		{"a comment block is a block", 0, []string{": keep-alive\n\n"}, ": keep-alive\nid: 21\n\n"},
		{"extra blank lines dispatch nothing", 0, []string{"\n\ndata: a\n\n\n"}, "\n\ndata: a\nid: 18\n\n\n"},
		{"an unfinished block gets no id", 0, []string{"data: a\n"}, "data: a\n"},
		{"from a later position", 98, []string{"data: a\n\n"}, "data: a\nid: 115\n\n"},
		{"the digits grow", 0, []string{"data: " + strings.Repeat("x", 85) + "\n\n"}, "data: " + strings.Repeat("x", 85) + "\nid: 101\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			iw := NewIDWriter(&out, tt.start)
			for _, w := range tt.writes {
				if n, err := iw.Write([]byte(w)); err != nil || n != len(w) {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if out.String() != tt.want {
				t.Fatalf("wrote %q, want %q", out.String(), tt.want)
			}
			if iw.Pos() != tt.start+int64(out.Len()) {
				t.Fatalf("Pos = %d, want %d", iw.Pos(), tt.start+int64(out.Len()))
			}
			checkIDs(t, tt.start, out.Bytes())
		})
	}
}

// checkIDs checks that every id the writer added names the position just
// past its block's dispatching byte, and that reading the stream resumed
// at each such id gives the events that follow it.
func checkIDs(t *testing.T, start int64, stream []byte) {
	t.Helper()
	rest := stream
	for {
		i := bytes.Index(rest, []byte("id: "))
		if i < 0 {
			return
		}
		line := rest[i+4:]
		j := bytes.IndexByte(line, '\n')
		id, err := strconv.ParseInt(string(line[:j]), 10, 64)
		rest = line[j+1:]
		if err != nil {
			continue // an agent's own id
		}
		at := int64(len(stream)-len(rest)) + start // after the id line
		if id != at+1 {
			t.Fatalf("id %d, want %d: the position past the next byte", id, at+1)
		}
	}
}

// FuzzIDWriter checks that whatever is written, however split, the writer
// adds id lines only (removing them gives the input back), a client reads
// the same events with and without them, and each id resumes the stream
// at the end of the block that carries it.
func FuzzIDWriter(f *testing.F) {
	for _, s := range []string{"data: a\n\n", "data: a\r\n\r\nevent: x\rdata: y\r\r", ": c\n\nid: 5\ndata\n\n", "\n\n\r\n"} {
		f.Add([]byte(s), uint8(3))
		f.Add([]byte(s), uint8(200))
	}
	f.Add([]byte("event: a\ndata: b\n\ndata: c\n\n\ndata: d\ndata: e\n\n: x\n\n"), uint8(255))
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		var out, general bytes.Buffer
		iw, gw := NewIDWriter(&out, 0), NewIDWriter(&general, 0)
		gw.general = true
		step := int(split%16) + 1
		if split >= 128 { // write block by block, as relays do
			step = 0
		}
		for i := 0; i < len(in); {
			end := min(i+step, len(in))
			if step == 0 {
				end = len(in)
				if j := bytes.Index(in[i:], []byte("\n\n")); j >= 0 {
					end = i + j + 2
				}
			}
			for _, w := range []*IDWriter{iw, gw} {
				if _, err := w.Write(in[i:end]); err != nil {
					t.Fatal(err)
				}
			}
			i = end
		}
		got := out.Bytes()
		if !bytes.Equal(got, general.Bytes()) {
			t.Fatalf("the one-block path wrote %q, the general scan %q", got, general.Bytes())
		}
		if iw.Pos() != int64(len(got)) {
			t.Fatalf("Pos %d after writing %d bytes", iw.Pos(), len(got))
		}
		events := readAll(t, in)
		withIDs := readAll(t, got)
		if len(events) != len(withIDs) {
			t.Fatalf("%d events without ids, %d with", len(events), len(withIDs))
		}
		for i := range events {
			if events[i].Type != withIDs[i].Type || !bytes.Equal(events[i].Data, withIDs[i].Data) || events[i].HasData != withIDs[i].HasData {
				t.Fatalf("event %d differs: %+v vs %+v", i, events[i], withIDs[i])
			}
		}
		// Every block that dispatches carries an id naming where the rest
		// of the stream begins: resumed there, a reader gets the events
		// that follow, and no more.
		for i, e := range withIDs {
			pos, err := strconv.ParseInt(e.ID, 10, 64)
			if err != nil || pos < 1 || pos > int64(len(got)) {
				t.Fatalf("event %d has id %q, not a position in %d bytes", i, e.ID, len(got))
			}
			if rest := readAll(t, got[pos:]); len(rest) != countComplete(withIDs[i+1:]) {
				t.Fatalf("resumed at %d: %d events, want the %d after event %d", pos, len(rest), countComplete(withIDs[i+1:]), i)
			}
		}
	})
}

// readAll returns the complete blocks of stream that carry data: the
// events a client dispatches.
func readAll(t *testing.T, stream []byte) []Event {
	t.Helper()
	rd := NewReader(bytes.NewReader(stream), Options{})
	var events []Event
	for {
		e, err := rd.Next()
		if err != nil {
			return events
		}
		if e.HasData && !e.Incomplete {
			e.Data = bytes.Clone(e.Data)
			e.Raw = nil
			events = append(events, e)
		}
	}
}

func countComplete(events []Event) int { return len(events) }

func TestDigits(t *testing.T) {
	for _, n := range []int64{0, 1, 9, 10, 99, 100, 999_999, 1_000_000, 1<<62 - 1, 1<<63 - 1} {
		if got, want := digits(n), len(strconv.FormatInt(n, 10)); got != want {
			t.Errorf("digits(%d) = %d, want %d", n, got, want)
		}
	}
}
