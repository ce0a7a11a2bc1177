package format_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentgate/agentgate/internal/format"
)

// FuzzEncoders relays arbitrary upstream bytes through every format, as
// the gateway does, with and without heartbeats, and checks that nothing
// panics and that every output is well framed: original is the upstream
// bytes plus at most a terminal error event, ndjson is JSON lines, openai
// is SSE of JSON ending in [DONE], openai-json is one object or nothing,
// responses is SSE of numbered typed events ending in a terminal one,
// responses-json is one response object or nothing, ui is parts the AI
// SDK's stream processor accepts, and agui is a run AG-UI's verifier
// accepts (or, passing an AG-UI agent through, the upstream bytes plus at
// most a RUN_ERROR).
func FuzzEncoders(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "streams", "*.sse"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	f.Add([]byte("data: {\"event\":{\"contentBlockDelta\":{\"delta\":{\"text\":\"a\"}}}}\r\n\r"), true)
	f.Add([]byte("\uFEFFdata: \"x\"\n\ndata: {\"error\":\"boom\"}\n\n"), false)
	f.Add([]byte("data: {\"event\":{\"metadata\":{\"usage\":{\"inputTokens\":1e3}}}}\n\n"), true)
	f.Add([]byte("data: {\"event\":{\"metadata\":{\"usage\":{}}}}\n\n"), false) // usage before any text
	f.Fuzz(func(t *testing.T, input []byte, cut bool) {
		body := func() io.Reader {
			if cut {
				return cutReader{bytes.NewReader(input)}
			}
			return bytes.NewReader(input)
		}
		for _, v := range fuzzVariants() {
			var plain, beating bytes.Buffer
			r := relay(format.New(v.format, &plain, v.opts), body(), false)
			if r.err != nil && !errors.Is(r.err, format.ErrResponseTooLarge) {
				t.Fatalf("%s: %v", v.name, r.err)
			}
			if err := checkFraming(v.format, r, plain.Bytes()); err != nil {
				t.Fatalf("%s: %v\ninput %q\noutput %q", v.name, err, input, plain.Bytes())
			}
			rb := relay(format.New(v.format, &beating, v.opts), body(), true)
			if rb.input != format.Bytes { // a pass-through's heartbeats sit between its upstream bytes
				if err := checkFraming(v.format, rb, beating.Bytes()); err != nil {
					t.Fatalf("%s with heartbeats: %v\ninput %q\noutput %q", v.name, err, input, beating.Bytes())
				}
			}
			if err := sameAnswer(v.format, plain.Bytes(), beating.Bytes()); err != nil {
				t.Fatalf("%s: %v\ninput %q", v.name, err, input)
			}
		}
	})
}

// fuzzVariants is every format, with everything included, and a small
// bound for the formats that hold the answer so that the fuzzer reaches it.
func fuzzVariants() []variant {
	all := openAIOptions()
	all.IncludeTools, all.IncludeReasoning, all.IncludeUsage = true, true, true
	small := all
	small.MaxBufferedBytes = 64
	vs := []variant{{"openai-json-small", format.OpenAIJSON, small}}
	vs = append(vs, variant{"responses-small", format.Responses, small}, variant{"responses-json-small", format.ResponsesJSON, small})
	for _, n := range []format.Name{format.Original, format.Transformed, format.NDJSON, format.OpenAI, format.OpenAIJSON, format.Responses, format.ResponsesJSON, format.UI, format.AGUI} {
		vs = append(vs, variant{string(n), n, all}, variant{string(n) + "-plain", n, openAIOptions()})
	}
	return append(vs, variant{"agui-passthrough", format.AGUI, passthrough(all)})
}
