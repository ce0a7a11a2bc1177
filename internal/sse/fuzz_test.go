package sse_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/sse"
)

// specBlocks parses a whole stream the way the WHATWG algorithm reads, one
// line at a time over the complete input, with none of Reader's buffering,
// so that the fuzzer can check Reader against it. A trailing incomplete
// block is returned with the fields of its complete lines.
func specBlocks(input []byte) []block {
	var blocks []block
	rest := input
	if bytes.HasPrefix(rest, []byte("\uFEFF")) {
		rest = rest[3:]
	}
	cur, data, blockStart := block{Retry: -1}, []string(nil), 0
	for {
		i := bytes.IndexAny(rest, "\r\n")
		if i < 0 {
			break
		}
		line := string(rest[:i])
		end := i + 1
		if rest[i] == '\r' && i+1 < len(rest) && rest[i+1] == '\n' {
			end++
		}
		rest = rest[end:]
		if line == "" {
			cur.Data = strings.Join(data, "\n")
			cur.Raw = string(input[blockStart : len(input)-len(rest)])
			blocks = append(blocks, cur)
			cur, data, blockStart = block{Retry: -1}, nil, len(input)-len(rest)
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "data":
			data = append(data, value)
			cur.HasData = true
		case "event":
			cur.Type = value
		case "id":
			if !strings.Contains(value, "\x00") {
				cur.ID, cur.HasID = value, true
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" && len(value) < 18 {
				cur.Retry = 0
				for _, c := range value {
					cur.Retry = cur.Retry*10 + int(c-'0')
				}
			}
		}
	}
	if blockStart < len(input) {
		cur.Data = strings.Join(data, "\n")
		cur.Raw = string(input[blockStart:])
		cur.Incomplete = true
		blocks = append(blocks, cur)
	}
	return blocks
}

// chunkReader hands out its input in reads of pseudo-random sizes.
type chunkReader struct {
	b   []byte
	rng *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.b), 1+c.rng.IntN(16))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

func addSeeds(f *testing.F) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "strands.sse"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(fixture),
		"data: a\r\r\ndata: b\r\n\r\n",
		"\xEF\xBB\xBFdata: x\rid: 1\x00\rretry: 12\r\r",
		"event: e\ndata\ndata:\n\n: c\n\nda",
		"\xEF\xBB",
	} {
		f.Add([]byte(s), uint64(len(s)))
	}
}

func FuzzReader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, input []byte, seed uint64) {
		whole, err := readAll(bytes.NewReader(input), sse.Options{})
		if err != nil {
			t.Fatalf("reading the whole input: %v", err)
		}
		if rawOf(whole) != string(input) {
			t.Fatalf("concatenated Raw differs from the input:\n got %q\nwant %q", rawOf(whole), input)
		}
		if d := diffBlocks(joinSplitCRLF(whole), specBlocks(input)); d != "" {
			t.Fatalf("Reader disagrees with the spec parser: %s", d)
		}

		// Small limits half of the time, so that errors must not depend on
		// chunking either.
		var opts sse.Options
		if seed&1 == 1 {
			opts = sse.Options{MaxLineBytes: 1 + int(seed>>1%64), MaxEventBytes: 1 + int(seed>>7%256)}
		}
		want, wantErr := readAll(bytes.NewReader(input), opts)
		got, err := readAll(&chunkReader{b: input, rng: rand.New(rand.NewPCG(seed, 0))}, opts)
		if !sameLimitError(err, wantErr) {
			t.Fatalf("chunked read failed with %v, whole read with %v", err, wantErr)
		}
		if d := diffBlocks(joinSplitCRLF(got), joinSplitCRLF(want)); d != "" {
			t.Fatalf("chunked read differs from whole read: %s", d)
		}
		if raw := rawOf(got); !strings.HasPrefix(string(input), raw) || (err == nil && raw != string(input)) {
			t.Fatalf("concatenated Raw of the chunked read is not the input:\n got %q\nwant %q", raw, input)
		}
	})
}

func sameLimitError(a, b error) bool {
	for _, target := range []error{sse.ErrLineTooLong, sse.ErrEventTooLarge} {
		if errors.Is(a, target) != errors.Is(b, target) {
			return false
		}
	}
	return (a == nil) == (b == nil)
}

func FuzzWriteEvent(f *testing.F) {
	for _, s := range []string{"", "a", "a\nb", "a\r\nb\rc\n", "\n\n", "data: x\n\nevent: y", "\r"} {
		f.Add("delta", []byte(s))
	}
	f.Add("ty\r\npe", []byte("x"))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		var buf bytes.Buffer
		if err := sse.WriteEvent(&buf, typ, data); err != nil {
			t.Fatal(err)
		}
		written := buf.String()
		got, err := readAll(&buf, sse.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Incomplete || !got[0].HasData || got[0].Raw != written {
			t.Fatalf("wrote %q, read back %+v, want exactly one complete event", written, got)
		}
		wantType := strings.NewReplacer("\r", "", "\n", "").Replace(typ)
		wantData := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
		if got[0].Type != wantType || got[0].Data != wantData || got[0].HasID || got[0].Retry != -1 {
			t.Fatalf("wrote type %q data %q, read back %+v", typ, data, got[0])
		}
	})
}
