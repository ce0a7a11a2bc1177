package event

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/agentgate/agentgate/internal/sse"
)

// The answer every recorded stream gives.
const (
	answerText      = "Hello, world! The answer is 42."
	answerToolUse   = `{"expression": "6 * 7"}`
	answerReasoning = "The user greets the world 👋 and asks for 6 × 7; I’ll use the calculator."
)

// fixtures maps each dialect to its recorded stream.
var fixtures = map[Dialect]string{Strands: "strands.sse", Text: "text.sse", AGUI: "agui.sse"}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "dialects", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replay reads an SSE stream from r and decodes the data of every complete
// event with a new decoder for d. It returns the events and how many SSE
// events were skipped.
func replay(t testing.TB, r io.Reader, d Dialect) (evs []Event, skipped int) {
	t.Helper()
	rd := sse.NewReader(r, sse.Options{})
	dec := NewDecoder(d)
	for {
		blk, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return evs, skipped
		}
		if err != nil {
			t.Fatal(err)
		}
		if !blk.HasData || blk.Incomplete {
			continue
		}
		var ok bool
		if evs, ok = dec.Decode(evs, blk.Data); !ok {
			skipped++
		}
	}
}

// summary writes one letter per event, so a test can state a stream's shape.
func summary(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteByte(" TURSPME"[e.Kind])
	}
	return b.String()
}

func TestRecordedStreams(t *testing.T) {
	tests := []struct {
		dialect    Dialect
		summary    string // T text, U tool use, R reasoning, S/P message start/stop, M metadata
		toolUse    string
		reasoning  string
		usage      []Usage
		stopReason []string
	}{
		{Strands, "SRRRUUPMSTTTTPM", answerToolUse, answerReasoning,
			[]Usage{{412, 61, 473}, {489, 12, 501}}, []string{"tool_use", "end_turn"}},
		{Text, "TTTT", "", "", nil, nil},
		{AGUI, "RRRUUSTTTP", answerToolUse, answerReasoning, nil, []string{""}},
	}
	for _, tt := range tests {
		data := readFixture(t, fixtures[tt.dialect])
		for _, d := range []Dialect{tt.dialect, Auto} {
			t.Run(string(tt.dialect)+" read as "+string(d), func(t *testing.T) {
				evs, _ := replay(t, bytes.NewReader(data), d)
				if got := summary(evs); got != tt.summary {
					t.Errorf("events %s; want %s", got, tt.summary)
				}
				if got := join(evs, KindText); got != answerText {
					t.Errorf("text %q; want %q", got, answerText)
				}
				if got := join(evs, KindToolUse); got != tt.toolUse {
					t.Errorf("tool use %q; want %q", got, tt.toolUse)
				}
				if got := join(evs, KindReasoning); got != tt.reasoning {
					t.Errorf("reasoning %q; want %q", got, tt.reasoning)
				}
				var usage []Usage
				var stops []string
				for _, e := range evs {
					if e.Usage != nil {
						usage = append(usage, *e.Usage)
					}
					if e.Kind == KindMessageStop {
						stops = append(stops, e.StopReason)
					}
				}
				if !reflect.DeepEqual(usage, tt.usage) {
					t.Errorf("usage %v; want %v (never a number the agent did not send)", usage, tt.usage)
				}
				if !reflect.DeepEqual(stops, tt.stopReason) {
					t.Errorf("stop reasons %q; want %q", stops, tt.stopReason)
				}
			})
		}
		t.Run(string(tt.dialect)+" reads the same under auto", func(t *testing.T) {
			own, _ := replay(t, bytes.NewReader(data), tt.dialect)
			auto, _ := replay(t, bytes.NewReader(data), Auto)
			if !reflect.DeepEqual(own, auto) {
				t.Errorf("%s decoder: %s; auto: %s", tt.dialect, summary(own), summary(auto))
			}
		})
	}
}

// TestDialectsKeepToThemselves reads each recorded stream with the other
// dialects' decoders: none of them finds any of its answer. The one thing
// another dialect reads is the Strands stream's repr() strings, which the
// text dialect takes at their word, as it takes every JSON string.
func TestDialectsKeepToThemselves(t *testing.T) {
	for stream, name := range fixtures {
		data := readFixture(t, name)
		for _, d := range []Dialect{Strands, Text, AGUI} {
			if d == stream {
				continue
			}
			evs, _ := replay(t, bytes.NewReader(data), d)
			if stream == Strands && d == Text {
				for _, e := range evs {
					if e.Kind != KindText || !isPythonRepr(e.Text) {
						t.Errorf("the strands stream read as text gave %+v; want only its repr strings", e)
					}
				}
				continue
			}
			if len(evs) > 0 {
				t.Errorf("the %s stream read as %s gave %s; want nothing", stream, d, summary(evs))
			}
		}
	}
}

// pieces returns its bytes in reads of random sizes, and counts the reads
// that end inside a UTF-8 sequence or between the CR and LF of a CRLF.
type pieces struct {
	b, all         []byte
	rng            *rand.Rand
	inRune, inCRLF int
}

func (p *pieces) Read(buf []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := 1 + p.rng.IntN(4096)
	if p.rng.IntN(2) == 0 {
		n = 1 + p.rng.IntN(8) // mostly small pieces, which split the most
	}
	n = min(n, len(p.b), len(buf))
	copy(buf, p.b[:n])
	p.b = p.b[n:]
	if at := len(p.all) - len(p.b); at < len(p.all) {
		if !utf8.RuneStart(p.all[at]) {
			p.inRune++
		}
		if p.all[at-1] == '\r' && p.all[at] == '\n' {
			p.inCRLF++
		}
	}
	return n, nil
}

func TestRecordedStreamsInPieces(t *testing.T) {
	names := []string{"strands.sse", "text.sse", "agui.sse", "mixed.sse"}
	var inRune, inCRLF int
	for _, name := range names {
		lf := readFixture(t, name)
		crlf := bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n"))
		for _, d := range Dialects {
			want, wantSkipped := replay(t, bytes.NewReader(lf), d)
			for ending, data := range map[string][]byte{"LF": lf, "CRLF": crlf} {
				t.Run(name+"/"+string(d)+"/"+ending, func(t *testing.T) {
					if got, skipped := replay(t, bytes.NewReader(data), d); !reflect.DeepEqual(got, want) || skipped != wantSkipped {
						t.Fatalf("whole %s stream: %s, %d skipped; want %s, %d skipped", ending, summary(got), skipped, summary(want), wantSkipped)
					}
					for seed := range uint64(50) {
						p := &pieces{b: data, all: data, rng: rand.New(rand.NewPCG(seed, uint64(len(name))))}
						got, skipped := replay(t, p, d)
						if !reflect.DeepEqual(got, want) || skipped != wantSkipped {
							t.Fatalf("seed %d: %s, %d skipped; want %s, %d skipped", seed, summary(got), skipped, summary(want), wantSkipped)
						}
						inRune += p.inRune
						inCRLF += p.inCRLF
					}
				})
			}
		}
	}
	if inRune == 0 || inCRLF == 0 {
		t.Errorf("the pieces split %d UTF-8 sequences and %d CRLF pairs; want both split", inRune, inCRLF)
	}
}

func TestMixedStream(t *testing.T) {
	evs, skipped := replay(t, bytes.NewReader(readFixture(t, "mixed.sse")), Auto)
	if got, want := join(evs, KindText), "One, two, three, four, five, six."; got != want {
		t.Errorf("text %q; want %q", got, want)
	}
	if got, want := summary(evs), "TTSTPTSTTTP"; got != want {
		t.Errorf("events %s; want %s", got, want)
	}
	// Skipped: the line that is not JSON, the repr, [DONE], 42, null, ["x"],
	// {"unknown": true}, SOMETHING_NEW, the empty and the truncated data.
	if skipped != 10 {
		t.Errorf("%d events skipped; want 10", skipped)
	}
}

func FuzzDecoders(f *testing.F) {
	for _, name := range []string{"strands.sse", "text.sse", "agui.sse", "mixed.sse"} {
		for line := range strings.Lines(string(readFixture(f, name))) {
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				f.Add([]byte(data))
			}
		}
	}
	f.Add([]byte(`{"error":1}`))
	f.Add([]byte(`{"event":{"metadata":{"usage":{}}}}`))
	f.Add([]byte(`{"type":"TEXT_MESSAGE_CHUNK","messageId":"m\u0031","delta":"\ud800"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(name string, dst, out []Event, ok bool) {
			if ok != (len(out) > len(dst)) {
				t.Fatalf("%s: ok %v with %d events after %d", name, ok, len(out), len(dst))
			}
			if len(out) < len(dst) || out[0].Text != "kept" {
				t.Fatalf("%s: dst was not kept", name)
			}
			for _, e := range out[len(dst):] {
				if e.Kind < KindText || e.Kind > KindError || !utf8.ValidString(e.Text) {
					t.Fatalf("%s: bad event %+v", name, e)
				}
			}
		}
		dst := []Event{{Kind: KindText, Text: "kept"}}
		for _, d := range Dialects {
			dec := NewDecoder(d)
			for range 2 { // the second time with whatever state the first left
				out, ok := dec.Decode(dst, data)
				check(string(d), dst, out, ok)
			}
		}
		out, ok := Decode(dst, data)
		check("Decode", dst, out, ok)
	})
}

func BenchmarkDecode(b *testing.B) {
	streams := map[Dialect][][]byte{}
	for d, name := range fixtures {
		streams[d] = dataOf(b, readFixture(b, name))
		streams[Auto] = append(streams[Auto], streams[d]...)
	}
	for _, d := range Dialects {
		b.Run(string(d), func(b *testing.B) {
			events := streams[d]
			n := 0
			for _, data := range events {
				n += len(data)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var out []Event
			for b.Loop() {
				dec := NewDecoder(d)
				for _, data := range events {
					out, _ = dec.Decode(out[:0], data)
				}
			}
		})
	}
}

// dataOf returns the data of each event of an SSE stream.
func dataOf(b *testing.B, stream []byte) [][]byte {
	rd := sse.NewReader(bytes.NewReader(stream), sse.Options{})
	var all [][]byte
	for {
		blk, err := rd.Next()
		if err != nil {
			return all
		}
		if blk.HasData {
			all = append(all, bytes.Clone(blk.Data))
		}
	}
}
