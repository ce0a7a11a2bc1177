package format_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/event/eventtest"
	"github.com/agentgate/agentgate/internal/format"
)

// TestAgentErrorsNeverPassThrough relays streams that mix content with an
// agent error through every format; see checkAgentError.
func TestAgentErrorsNeverPassThrough(t *testing.T) {
	for seed := range uint64(300) {
		checkAgentError(t, seed, "Hello, world", uint8(seed))
	}
}

// FuzzAgentErrors is TestAgentErrorsNeverPassThrough with random streams
// and content.
func FuzzAgentErrors(f *testing.F) {
	f.Add(uint64(0), "Hello", uint8(0))
	f.Add(uint64(1), "", uint8(7))
	f.Add(uint64(2), "café 👋 \"q\" \\ \n\r\n", uint8(3))
	f.Add(uint64(3), "data: x\n\nevent: error\n", uint8(2))
	f.Fuzz(func(t *testing.T, seed uint64, text string, at uint8) {
		if len(text) > 100 {
			return // longer text finds nothing new, and slows the minimizer down
		}
		checkAgentError(t, seed, text, at)
	})
}

// piece is one content delta of a stream.
type piece struct {
	kind event.Kind
	text string
}

// checkAgentError relays a stream of content deltas in one dialect, each
// naming an AWS resource and carrying text, with an agent error naming
// another resource in a random shape at position at (or none), through
// every format, read by the dialect's decoder and by auto; original and
// the AG-UI pass-through as the gateway relays them, decoding only what
// event.MayMatter picks. The stream ends with agentgate's agent_error at
// the error; nothing the error names comes out; every content byte before
// it does.
func checkAgentError(t *testing.T, seed uint64, text string, at uint8) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 15))
	contentID, errID := eventtest.NewIdentity(r), eventtest.NewIdentity(r)
	text = strings.ToValidUTF8(text, "\uFFFD")
	dialect := []event.Dialect{event.Strands, event.Text, event.AGUI}[r.IntN(3)]
	n := 1 + r.IntN(5)
	errAt := int(at) % (n + 2) // n+1: no error
	e := eventtest.NewError(r, errID)

	var stream, before []byte
	var pieces []piece
	for i := range n + 1 {
		if i == errAt {
			before = bytes.Clone(stream)
			stream = append(stream, e.Block()...)
		}
		if i == n {
			break
		}
		p := piece{kind: []event.Kind{event.KindText, event.KindToolUse, event.KindReasoning}[r.IntN(3)], text: eventtest.ContentText(r, contentID) + text}
		if dialect == event.Text {
			p.kind = event.KindText
		}
		if errAt > i {
			pieces = append(pieces, p)
		}
		stream = append(append(append(stream, "data: "...), eventtest.Content(r, dialect, p.kind, p.text)...), "\n\n"...)
	}
	failed := errAt <= n
	if !failed {
		before = stream
	}

	// What the error names, unless the content names it too (two random
	// identities often share a region).
	var secrets []string
	for _, s := range errID.Identifiers() {
		named := func(c string) bool { return strings.Contains(c, s) }
		if !named(text) && !slices.ContainsFunc(contentID.Identifiers(), named) {
			secrets = append(secrets, s)
		}
	}

	for _, dec := range []event.Dialect{dialect, event.Auto} {
		for _, v := range fuzzVariants() {
			var out bytes.Buffer
			enc := format.New(v.format, &out, v.opts)
			res := relayStream(event.NewDecoder(dec), enc, bytes.NewReader(stream), false, enc.Input() == format.Bytes)
			where := fmt.Sprintf("%s stream read as %s in %s, %s at %d of %d", dialect, dec, v.name, e.Shape, errAt, n)
			if res.err != nil && !errors.Is(res.err, format.ErrResponseTooLarge) {
				t.Fatalf("%s: %v", where, res.err)
			}
			if res.err == nil && ((res.failed != nil) != failed || (failed && *res.failed != agentFailure)) {
				t.Fatalf("%s: the stream ended with %+v; want agent_error %v\nstream %q", where, res.failed, failed, stream)
			}
			if err := checkFraming(v.format, res, out.Bytes()); err != nil {
				t.Fatalf("%s: %v\nstream %q\noutput %q", where, err, stream, out.Bytes())
			}
			for _, s := range secrets {
				if bytes.Contains(out.Bytes(), []byte(s)) {
					t.Fatalf("%s: the output names %q from the agent's error\nstream %q\noutput %q", where, s, stream, out.Bytes())
				}
			}
			if res.err != nil { // too large to buffer: the encoder ended the stream
				continue
			}
			if res.input == format.Bytes {
				if !bytes.Equal(res.raw, before) {
					t.Fatalf("%s: passed %q; want the blocks before the error %q", where, res.raw, before)
				}
				continue
			}
			got, err := answer(v.format, out.Bytes())
			if want := wantAnswer(v, pieces, failed); err != nil || got != want {
				t.Fatalf("%s: the client reads %q (%v); want %q\nstream %q\noutput %q", where, got, err, want, stream, out.Bytes())
			}
		}
	}
}

// wantAnswer is what a client of v reads of pieces.
func wantAnswer(v variant, pieces []piece, failed bool) string {
	if (v.format == format.OpenAIJSON || v.format == format.ResponsesJSON) && failed {
		return "" // the gateway answers with a status instead
	}
	var b, reasoning strings.Builder
	for _, p := range pieces {
		switch {
		case p.kind == event.KindText:
			b.WriteString(p.text)
		case p.kind == event.KindToolUse && v.opts.IncludeTools && (v.format == format.Transformed || v.format == format.NDJSON):
			b.WriteString(p.text)
		case p.kind == event.KindReasoning && v.opts.IncludeReasoning && v.format == format.OpenAIJSON:
			reasoning.WriteString(p.text)
		case p.kind == event.KindReasoning && v.opts.IncludeReasoning:
			b.WriteString(p.text)
		}
	}
	return b.String() + reasoning.String()
}

// answer is the content a client of format f reads in out, in order: text,
// and tool input and reasoning where f shows them (openai-json's reasoning
// after its content; the Responses formats' in the order of their items).
func answer(f format.Name, out []byte) (string, error) {
	var b strings.Builder
	switch f {
	case format.Transformed:
		s := string(out)
		if i := strings.LastIndex(s, "\n[error] "); i >= 0 {
			return s[:i], nil
		}
		if i := strings.LastIndex(s, format.Separator); i >= 0 {
			return s[:i], nil
		}
		return "", fmt.Errorf("no end in %q", s)
	case format.NDJSON:
		for line := range strings.Lines(string(out)) {
			var l struct{ Type, Text, Input string }
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				return "", err
			}
			b.WriteString(l.Text + l.Input)
		}
	case format.OpenAI:
		blocks, err := sseBlocks(out)
		if err != nil {
			return "", err
		}
		for _, blk := range blocks {
			var chunk struct {
				Choices []struct {
					Delta struct {
						Content          string `json:"content"`
						ReasoningContent string `json:"reasoning_content"`
					} `json:"delta"`
				} `json:"choices"`
			}
			if string(blk.Data) == "[DONE]" {
				continue
			}
			if err := json.Unmarshal(blk.Data, &chunk); err != nil {
				return "", err
			}
			for _, c := range chunk.Choices {
				b.WriteString(c.Delta.Content + c.Delta.ReasoningContent)
			}
		}
	case format.UI:
		return uiAnswer(out)
	case format.AGUI:
		return aguiAnswer(out)
	case format.OpenAIJSON:
		if len(out) == 0 {
			return "", nil
		}
		var obj struct {
			Choices []struct {
				Message struct {
					Content          string `json:"content"`
					ReasoningContent string `json:"reasoning_content"`
				} `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(out, &obj); err != nil {
			return "", err
		}
		for _, c := range obj.Choices {
			b.WriteString(c.Message.Content + c.Message.ReasoningContent)
		}
	case format.Responses:
		evs, err := responsesEvents(out)
		if err != nil {
			return "", err
		}
		for _, ev := range evs {
			if ev.Type == "response.output_text.delta" || ev.Type == "response.reasoning_summary_text.delta" {
				b.WriteString(ev.Delta)
			}
		}
	case format.ResponsesJSON:
		if len(out) == 0 {
			return "", nil
		}
		var obj responseObject
		if err := json.Unmarshal(out, &obj); err != nil {
			return "", err
		}
		for _, it := range obj.Output {
			b.WriteString(it.text())
		}
	}
	return b.String(), nil
}
