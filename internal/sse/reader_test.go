package sse_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/agentgate/agentgate/internal/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// block is a copy of an sse.Event that outlives the next call to Next and
// prints readably in failures and golden files.
type block struct {
	Type       string `json:"type,omitempty"`
	ID         string `json:"id,omitempty"`
	HasID      bool   `json:"hasID,omitempty"`
	Retry      int    `json:"retry"`
	Data       string `json:"data,omitempty"`
	HasData    bool   `json:"hasData,omitempty"`
	Raw        string `json:"raw"`
	Incomplete bool   `json:"incomplete,omitempty"`
}

func copyEvent(ev sse.Event) block {
	return block{
		Type: ev.Type, ID: ev.ID, HasID: ev.HasID, Retry: ev.Retry,
		Data: string(ev.Data), HasData: ev.HasData,
		Raw: string(ev.Raw), Incomplete: ev.Incomplete,
	}
}

// readAll reads blocks until Next fails and returns them with the error,
// which is nil when the stream ended with io.EOF.
func readAll(r io.Reader, opts sse.Options) ([]block, error) {
	rd := sse.NewReader(r, opts)
	var blocks []block
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return blocks, nil
		}
		if err != nil {
			return blocks, err
		}
		blocks = append(blocks, copyEvent(ev))
	}
}

// joinSplitCRLF undoes the one way chunking shows in the output: a CRLF
// ending a block whose LF arrived in a later read than its CR, which Next
// returns as a block of its own. An LF block after a block ending in CR can
// only be that, since an LF right after a CR is never a line of its own.
func joinSplitCRLF(blocks []block) []block {
	var out []block
	for _, b := range blocks {
		if n := len(out); n > 0 && b.Raw == "\n" && !out[n-1].Incomplete && strings.HasSuffix(out[n-1].Raw, "\r") {
			out[n-1].Raw += "\n"
			continue
		}
		out = append(out, b)
	}
	return out
}

func rawOf(blocks []block) string {
	var sb strings.Builder
	for _, b := range blocks {
		sb.WriteString(b.Raw)
	}
	return sb.String()
}

// diffBlocks reports the first difference between two block lists, or "".
func diffBlocks(got, want []block) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			g, _ := json.Marshal(got[i])
			w, _ := json.Marshal(want[i])
			return "block " + strconv.Itoa(i) + ":\n got  " + string(g) + "\n want " + string(w)
		}
	}
	if len(got) != len(want) {
		return "got " + strconv.Itoa(len(got)) + " blocks, want " + strconv.Itoa(len(want))
	}
	return ""
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

func TestReaderReadsRecordedStream(t *testing.T) {
	input, err := os.ReadFile(filepath.Join("testdata", "strands.sse"))
	if err != nil {
		t.Fatal(err)
	}
	whole, err := readAll(bytes.NewReader(input), sse.Options{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("blocks match the golden file", func(t *testing.T) {
		golden := filepath.Join("testdata", "strands.golden.json")
		if *update {
			if err := os.WriteFile(golden, mustJSON(whole), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		data, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		var want []block
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		if d := diffBlocks(whole, want); d != "" {
			t.Errorf("blocks differ from %s (run with -update after checking the change):\n%s", golden, d)
		}
	})

	t.Run("raw blocks concatenate to the input", func(t *testing.T) {
		if got := rawOf(whole); got != string(input) {
			t.Errorf("concatenated Raw differs from the input:\n got %q\nwant %q", got, input)
		}
	})

	t.Run("a split at any offset yields the same blocks", func(t *testing.T) {
		for at := range len(input) + 1 {
			r := io.MultiReader(bytes.NewReader(input[:at]), bytes.NewReader(input[at:]))
			got, err := readAll(r, sse.Options{})
			if err != nil {
				t.Fatalf("split at %d: %v", at, err)
			}
			if rawOf(got) != string(input) {
				t.Fatalf("split at %d: concatenated Raw differs from the input", at)
			}
			if d := diffBlocks(joinSplitCRLF(got), whole); d != "" {
				t.Fatalf("split at %d: %s", at, d)
			}
		}
	})

	t.Run("one byte per read yields the same blocks", func(t *testing.T) {
		got, err := readAll(iotest.OneByteReader(bytes.NewReader(input)), sse.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rawOf(got) != string(input) {
			t.Fatal("concatenated Raw differs from the input")
		}
		if d := diffBlocks(joinSplitCRLF(got), whole); d != "" {
			t.Fatal(d)
		}
	})
}

func TestNextParsesFieldsAsTheSpecDescribes(t *testing.T) {
	const bom = "\xEF\xBB\xBF"
	tests := []struct {
		name  string
		input string
		want  []block
	}{
		{"an empty stream has no blocks", "", nil},
		{"exactly one leading space is stripped from a value", "data:  two\n\n",
			[]block{{Retry: -1, Data: " two", HasData: true, Raw: "data:  two\n\n"}}},
		{"a value may follow the colon directly", "data:x\n\n",
			[]block{{Retry: -1, Data: "x", HasData: true, Raw: "data:x\n\n"}}},
		{"colons after the first belong to the value", "data: a: b\n\n",
			[]block{{Retry: -1, Data: "a: b", HasData: true, Raw: "data: a: b\n\n"}}},
		{"a line without a colon is a field with an empty value", "data\n\n",
			[]block{{Retry: -1, Data: "", HasData: true, Raw: "data\n\n"}}},
		{"an empty data line still dispatches", "data:\n\n",
			[]block{{Retry: -1, HasData: true, Raw: "data:\n\n"}}},
		{"data lines join with LF and keep empty lines", "data: a\ndata:\ndata: b\n\n",
			[]block{{Retry: -1, Data: "a\n\nb", HasData: true, Raw: "data: a\ndata:\ndata: b\n\n"}}},
		{"the last event and id fields win", "event: a\nevent: b\nid: 1\nid: 2\n\n",
			[]block{{Type: "b", ID: "2", HasID: true, Retry: -1, Raw: "event: a\nevent: b\nid: 1\nid: 2\n\n"}}},
		{"an empty event field means message", "event: a\nevent:\ndata: x\n\n",
			[]block{{Retry: -1, Data: "x", HasData: true, Raw: "event: a\nevent:\ndata: x\n\n"}}},
		{"an id containing NUL is ignored", "id: 1\nid: a\x00b\n\n",
			[]block{{ID: "1", HasID: true, Retry: -1, Raw: "id: 1\nid: a\x00b\n\n"}}},
		{"an empty id is an id", "id\n\n",
			[]block{{HasID: true, Retry: -1, Raw: "id\n\n"}}},
		{"retry counts only when all digits", "retry: 10\nretry: 1x\nretry: -5\nretry:\n\n",
			[]block{{Retry: 10, Raw: "retry: 10\nretry: 1x\nretry: -5\nretry:\n\n"}}},
		{"a huge retry saturates", "retry: 99999999999999999999999\n\n",
			[]block{{Retry: math.MaxInt, Raw: "retry: 99999999999999999999999\n\n"}}},
		{"field names are case sensitive", "Data: x\nEVENT: y\n\n",
			[]block{{Retry: -1, Raw: "Data: x\nEVENT: y\n\n"}}},
		{"comments and unknown fields are kept in Raw only", ": hello\nfoo: bar\ndata: x\n\n",
			[]block{{Retry: -1, Data: "x", HasData: true, Raw: ": hello\nfoo: bar\ndata: x\n\n"}}},
		{"every blank line ends a block", "\n\n: ping\n\n",
			[]block{{Retry: -1, Raw: "\n"}, {Retry: -1, Raw: "\n"}, {Retry: -1, Raw: ": ping\n\n"}}},
		{"CR, LF and CRLF all end lines", "data: a\rdata: b\r\ndata: c\n\r\n",
			[]block{{Retry: -1, Data: "a\nb\nc", HasData: true, Raw: "data: a\rdata: b\r\ndata: c\n\r\n"}}},
		{"CR CR LF is a CR line end and then a CRLF blank line", "data: a\r\r\ndata: b\n\n",
			[]block{
				{Retry: -1, Data: "a", HasData: true, Raw: "data: a\r\r\n"},
				{Retry: -1, Data: "b", HasData: true, Raw: "data: b\n\n"},
			}},
		{"a leading byte order mark is ignored", bom + "data: a\n\n",
			[]block{{Retry: -1, Data: "a", HasData: true, Raw: bom + "data: a\n\n"}}},
		{"only one byte order mark is ignored", bom + bom + "data: a\n\n",
			[]block{{Retry: -1, Raw: bom + bom + "data: a\n\n"}}},
		{"a byte order mark later in the stream is not ignored", "\n" + bom + "data: a\n\n",
			[]block{{Retry: -1, Raw: "\n"}, {Retry: -1, Raw: bom + "data: a\n\n"}}},
		{"a lone start of a byte order mark is a line", "\xEF\xBB\n\n",
			[]block{{Retry: -1, Raw: "\xEF\xBB\n\n"}}},
		{"fields do not carry over to the next block", "event: a\nid: 1\nretry: 5\ndata: x\n\ndata: y\n\n",
			[]block{
				{Type: "a", ID: "1", HasID: true, Retry: 5, Data: "x", HasData: true, Raw: "event: a\nid: 1\nretry: 5\ndata: x\n\n"},
				{Retry: -1, Data: "y", HasData: true, Raw: "data: y\n\n"},
			}},
		{"the end of the stream leaves an incomplete block", "data: a\n\ndata: b\nda",
			[]block{
				{Retry: -1, Data: "a", HasData: true, Raw: "data: a\n\n"},
				{Retry: -1, Data: "b", HasData: true, Raw: "data: b\nda", Incomplete: true},
			}},
		{"a final CR ends a line of an incomplete block", "data: b\r",
			[]block{{Retry: -1, Data: "b", HasData: true, Raw: "data: b\r", Incomplete: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunking := range []struct {
				name string
				wrap func(io.Reader) io.Reader
			}{
				{"whole", func(r io.Reader) io.Reader { return r }},
				{"byte by byte", iotest.OneByteReader},
			} {
				got, err := readAll(chunking.wrap(strings.NewReader(tt.input)), sse.Options{})
				if err != nil {
					t.Fatalf("%s: %v", chunking.name, err)
				}
				if d := diffBlocks(joinSplitCRLF(got), tt.want); d != "" {
					t.Errorf("%s: %s", chunking.name, d)
				}
			}
		})
	}
}

// nextWithin calls Next and fails the test if it has not returned within a
// generous bound: a Next that waits for input that never comes hangs.
func nextWithin(t *testing.T, r *sse.Reader) (block, error) {
	t.Helper()
	type result struct {
		b   block
		err error
	}
	done := make(chan result, 1)
	go func() {
		ev, err := r.Next()
		done <- result{copyEvent(ev), err}
	}()
	select {
	case res := <-done:
		return res.b, res.err
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return: it is waiting for input beyond the block")
		return block{}, nil
	}
}

func TestNextReturnsABlockWithoutWaitingForMoreInput(t *testing.T) {
	type step struct {
		write string   // one write on the upstream side
		want  []string // Raw of the blocks Next must then return, in order
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"an LF-terminated event arrives alone", []step{
			{"data: a\n\n", []string{"data: a\n\n"}},
			{"data: b\n\n", []string{"data: b\n\n"}},
		}},
		{"an event whose blank line arrives in a later write", []step{
			{"data: a\n", nil},
			{"\n", []string{"data: a\n\n"}},
		}},
		{"a CRLF-terminated event arrives alone", []step{
			{"data: a\r\n\r\n", []string{"data: a\r\n\r\n"}},
		}},
		{"an event ending in a lone CR does not wait for a possible LF", []step{
			{"data: a\r\r", []string{"data: a\r\r"}},
			{"data: b\r\r", []string{"data: b\r\r"}},
		}},
		{"the LF of a CRLF split across writes comes as its own block", []step{
			{"data: a\r\n\r", []string{"data: a\r\n\r"}},
			{"\n", []string{"\n"}},
			{"data: b\r\n\r\n", []string{"data: b\r\n\r\n"}},
		}},
		{"a comment-only keep-alive is returned", []step{
			{": ping\n\n", []string{": ping\n\n"}},
		}},
		{"two events in one write come one after the other", []step{
			{"data: a\n\ndata: b\n\n", []string{"data: a\n\n", "data: b\n\n"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			// One writer, in order: a write blocks until Next has read it
			// all, and a step may expect no block before the next write.
			writes := make(chan string, len(tt.steps))
			go func() {
				for w := range writes {
					pw.Write([]byte(w))
				}
			}()
			t.Cleanup(func() { close(writes); pw.Close() })
			r := sse.NewReader(pr, sse.Options{})
			for _, s := range tt.steps {
				writes <- s.write
				for _, want := range s.want {
					got, err := nextWithin(t, r)
					if err != nil {
						t.Fatalf("after writing %q: %v", s.write, err)
					}
					if got.Raw != want {
						t.Fatalf("after writing %q: got block %q, want %q", s.write, got.Raw, want)
					}
				}
			}
		})
	}
}

// endlessLine is an upstream that sends "data: " and then one line that
// never ends, counting what it hands out.
type endlessLine struct{ n int64 }

func (e *endlessLine) Read(p []byte) (int, error) {
	for i := range p {
		if e.n+int64(i) < 6 {
			p[i] = "data: "[e.n+int64(i)]
		} else {
			p[i] = 'x'
		}
	}
	e.n += int64(len(p))
	return len(p), nil
}

// endlessEvent is an upstream that sends data lines forever, never the
// blank line that would end the event.
type endlessEvent struct{ n int64 }

func (e *endlessEvent) Read(p []byte) (int, error) {
	const line = "data: x\n"
	for i := range p {
		p[i] = line[(e.n+int64(i))%int64(len(line))]
	}
	e.n += int64(len(p))
	return len(p), nil
}

func TestNextEnforcesLimits(t *testing.T) {
	t.Run("a line too long fails without reading the rest of it", func(t *testing.T) {
		const maxLine = 64 << 10
		src := &endlessLine{}
		r := sse.NewReader(src, sse.Options{MaxLineBytes: maxLine})
		_, err := nextWithin(t, r)
		if !errors.Is(err, sse.ErrLineTooLong) {
			t.Fatalf("got error %v, want ErrLineTooLong", err)
		}
		// The buffer doubles up to the first size holding more than a line.
		if limit := int64(2*maxLine + 4096); src.n > limit {
			t.Errorf("read %d bytes of the line, want at most %d", src.n, limit)
		}
		if _, again := r.Next(); !errors.Is(again, sse.ErrLineTooLong) {
			t.Errorf("the next call returned %v, want ErrLineTooLong again", again)
		}
	})

	t.Run("an event too large fails without reading the rest of it", func(t *testing.T) {
		const maxEvent = 256 << 10
		src := &endlessEvent{}
		r := sse.NewReader(src, sse.Options{MaxEventBytes: maxEvent})
		_, err := nextWithin(t, r)
		if !errors.Is(err, sse.ErrEventTooLarge) {
			t.Fatalf("got error %v, want ErrEventTooLarge", err)
		}
		if limit := int64(maxEvent + 1); src.n > limit {
			t.Errorf("read %d bytes of the event, want at most %d", src.n, limit)
		}
	})

	tests := []struct {
		name    string
		input   string
		opts    sse.Options
		want    []string // Raw of the blocks before the error
		wantErr error
	}{
		{"a line at the limit is accepted", "data: 1234\n\n", sse.Options{MaxLineBytes: 10}, []string{"data: 1234\n\n"}, nil},
		{"a line over the limit fails even when read whole", "data: a\n\ndata: 12345\n\n", sse.Options{MaxLineBytes: 10}, []string{"data: a\n\n"}, sse.ErrLineTooLong},
		{"a comment line counts too", ": 123456789\n\n", sse.Options{MaxLineBytes: 10}, nil, sse.ErrLineTooLong},
		{"a byte order mark does not count toward the line", "\xEF\xBB\xBFdata: 1234\n\n", sse.Options{MaxLineBytes: 10}, []string{"\xEF\xBB\xBFdata: 1234\n\n"}, nil},
		{"a block at the limit is accepted", "data: a\ndata: b\n\n", sse.Options{MaxEventBytes: 17}, []string{"data: a\ndata: b\n\n"}, nil},
		{"a block over the limit fails", "data: a\n\ndata: a\ndata: b\n\n", sse.Options{MaxEventBytes: 16}, []string{"data: a\n\n"}, sse.ErrEventTooLarge},
		{"an incomplete block over the limit fails", "data: a\ndata: b", sse.Options{MaxEventBytes: 12}, nil, sse.ErrEventTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, wrap := range []func(io.Reader) io.Reader{
				func(r io.Reader) io.Reader { return r }, iotest.OneByteReader,
			} {
				got, err := readAll(wrap(strings.NewReader(tt.input)), tt.opts)
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				var raws []string
				for _, b := range got {
					raws = append(raws, b.Raw)
				}
				if strings.Join(raws, "|") != strings.Join(tt.want, "|") {
					t.Errorf("got blocks %q, want %q", raws, tt.want)
				}
			}
		})
	}
}

var errUpstream = errors.New("upstream reset")

func TestNextReportsTheEndOfTheStream(t *testing.T) {
	tests := []struct {
		name    string
		r       io.Reader
		want    []block
		wantErr error
	}{
		{"a clean end gives io.EOF after the last block",
			strings.NewReader("data: a\n\n"),
			[]block{{Retry: -1, Data: "a", HasData: true, Raw: "data: a\n\n"}}, io.EOF},
		{"an end mid-event gives an incomplete block and then io.EOF",
			strings.NewReader("data: a\n\nevent: x\ndata: b"),
			[]block{
				{Retry: -1, Data: "a", HasData: true, Raw: "data: a\n\n"},
				{Type: "x", Retry: -1, Raw: "event: x\ndata: b", Incomplete: true},
			}, io.EOF},
		{"an upstream error mid-event gives an incomplete block and then the error",
			io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(errUpstream)),
			[]block{
				{Retry: -1, Data: "a", HasData: true, Raw: "data: a\n\n"},
				{Retry: -1, Data: "b", HasData: true, Raw: "data: b\n", Incomplete: true},
			}, errUpstream},
		{"an upstream error between events is returned as is",
			io.MultiReader(strings.NewReader("data: a\n\n"), iotest.ErrReader(errUpstream)),
			[]block{{Retry: -1, Data: "a", HasData: true, Raw: "data: a\n\n"}}, errUpstream},
		{"an error returned with the last bytes comes after them",
			iotest.DataErrReader(strings.NewReader("data: a\n\n")),
			[]block{{Retry: -1, Data: "a", HasData: true, Raw: "data: a\n\n"}}, io.EOF},
		{"an upstream that never returns anything is reported",
			emptyReader{},
			nil, io.ErrNoProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sse.NewReader(tt.r, sse.Options{})
			var got []block
			var err error
			for {
				var ev sse.Event
				if ev, err = r.Next(); err != nil {
					break
				}
				got = append(got, copyEvent(ev))
			}
			if err != tt.wantErr {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
			if d := diffBlocks(got, tt.want); d != "" {
				t.Error(d)
			}
			if _, again := r.Next(); again != tt.wantErr {
				t.Errorf("the next call returned %v, want %v again", again, tt.wantErr)
			}
		})
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

// repeatReader serves the same bytes over and over, as a long stream of
// identical events.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

func TestNextDoesNotAllocatePerEvent(t *testing.T) {
	tests := []struct{ name, event string }{
		{"a data-only event", `data: {"event":{"contentBlockDelta":{"delta":{"text":"Hi"}}}}` + "\n\n"},
		{"a typed multi-line event with comments", ": c\r\nevent: delta\r\ndata: a\r\ndata: b\r\nretry: 10\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sse.NewReader(&repeatReader{b: []byte(tt.event)}, sse.Options{})
			for range 100 { // warm up: the buffers reach their size
				if _, err := r.Next(); err != nil {
					t.Fatal(err)
				}
			}
			allocs := testing.AllocsPerRun(1000, func() {
				if _, err := r.Next(); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("Next allocated %v times per event, want 0", allocs)
			}
		})
	}
}

func TestBufferedSaysWhenNextNeedsNoRead(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []bool // Buffered after each Next
	}{
		{"blocks read together are buffered until the last", "data: a\n\ndata: b\n\ndata: c\n\n", []bool{true, true, false}},
		{"CRLF and CR line ends count", "data: a\r\n\r\ndata: b\r\rdata: c\r\n\r\n", []bool{true, true, false}},
		{"a partial block is not buffered", "data: a\n\ndata: b\n", []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One read brings the whole stream, then the reader blocks:
			// a Next that reads when Buffered said it would not hangs the
			// test's deadline instead of passing.
			pr, pw := io.Pipe()
			defer pw.Close()
			go pw.Write([]byte(tt.stream))
			r := sse.NewReader(pr, sse.Options{})
			for i, want := range tt.want {
				ev, err := r.Next()
				if err != nil {
					t.Fatalf("block %d: %v", i, err)
				}
				if got := r.Buffered(); got != want {
					t.Fatalf("after block %d (%q): Buffered %v, want %v", i, ev.Raw, got, want)
				}
			}
		})
	}
}
