package format_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
)

// pieces reads b in random pieces of 1 B to 4 KB, so events, UTF-8
// sequences and CRLF pairs get split across reads.
type pieces struct {
	b   []byte
	rnd *rand.Rand
}

func (p *pieces) Read(out []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := min(1+p.rnd.IntN(4096), len(p.b), len(out))
	if p.rnd.IntN(3) == 0 {
		n = min(1+p.rnd.IntN(3), len(p.b), len(out))
	}
	copy(out, p.b[:n])
	p.b = p.b[n:]
	return n, nil
}

var allFormats = []format.Name{format.Original, format.Transformed, format.NDJSON, format.OpenAI, format.OpenAIJSON, format.Responses, format.ResponsesJSON, format.UI, format.AGUI}

func fixedOptions() format.Options {
	return format.Options{Model: "demo", ID: "chatcmpl-test", IncludeUsage: true, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
}

// TestDialectStreamsInPiecesGiveTheSameOutput replays each dialect's
// recorded stream (also with CRLF line ends) in random pieces through its
// own decoder and auto, and every format's output must equal the unsplit
// replay's byte for byte.
func TestDialectStreamsInPiecesGiveTheSameOutput(t *testing.T) {
	for _, d := range []event.Dialect{event.Strands, event.Text, event.AGUI} {
		lf, err := os.ReadFile(filepath.Join("..", "event", "testdata", "dialects", string(d)+".sse"))
		if err != nil {
			t.Fatal(err)
		}
		crlf := bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n"))
		for _, input := range [][]byte{lf, crlf} {
			for _, dec := range []event.Dialect{d, event.Auto} {
				for _, f := range allFormats {
					t.Run(fmt.Sprintf("%s read as %s in %s", d, dec, f), func(t *testing.T) {
						var whole bytes.Buffer
						relayWith(event.NewDecoder(dec), format.New(f, &whole, fixedOptions()), bytes.NewReader(input), false)
						if f != format.Original && !bytes.Contains(whole.Bytes(), []byte("42")) {
							t.Fatalf("the answer is missing from %q", whole.Bytes())
						}
						for seed := range uint64(20) {
							var split bytes.Buffer
							relayWith(event.NewDecoder(dec), format.New(f, &split, fixedOptions()), &pieces{b: input, rnd: rand.New(rand.NewPCG(seed, 7))}, false)
							if !bytes.Equal(split.Bytes(), whole.Bytes()) {
								t.Fatalf("seed %d: split replay differs\nwhole: %q\nsplit: %q", seed, whole.Bytes(), split.Bytes())
							}
						}
					})
				}
			}
		}
	}
}

// FuzzDialectsThroughFormats feeds arbitrary bytes mixed with each
// dialect's valid events through every decoder and every format: no
// panic, no hang, well-framed output.
func FuzzDialectsThroughFormats(f *testing.F) {
	var valid [][]byte
	for _, d := range []string{"strands", "text", "agui", "mixed"} {
		b, err := os.ReadFile(filepath.Join("..", "event", "testdata", "dialects", d+".sse"))
		if err != nil {
			f.Fatal(err)
		}
		valid = append(valid, b)
		f.Add(b, uint8(0))
	}
	f.Add([]byte("data: {\"type\":\"RUN_ERROR\",\"message\":\"x\"}\n\n"), uint8(1))
	f.Fuzz(func(t *testing.T, junk []byte, which uint8) {
		v := valid[int(which)%len(valid)]
		input := append(append(bytes.Clone(v[:len(v)/2]), junk...), v[len(v)/2:]...)
		for _, dec := range []event.Dialect{event.Auto, event.Strands, event.Text, event.AGUI} {
			for _, name := range allFormats {
				var out bytes.Buffer
				r := relayWith(event.NewDecoder(dec), format.New(name, &out, fixedOptions()), bytes.NewReader(input), false)
				if err := checkFraming(name, r, out.Bytes()); err != nil {
					t.Fatalf("%s/%s: %v\ninput %q\noutput %q", dec, name, err, input, out.Bytes())
				}
			}
		}
	})
}
