package format_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/sse"
)

// The failures relay ends a stream with, worded as internal/gateway words
// them.
var (
	agentFailure  = format.Failure{Code: "agent_error", Message: "the agent reported an error while answering", RequestID: "req-0042"}
	brokenFailure = format.Failure{Code: "upstream_stream_broken", Message: "the agent's stream ended unexpectedly", RequestID: "req-0042"}
)

const sessionID = "agentgate-session-0123456789abcdef0123"

// run is what relay did with a stream.
type run struct {
	// raw is every block handed to Raw, concatenated.
	raw []byte
	// failed is the Failure the stream ended with, if it did not finish.
	failed *format.Failure
	// err is the first error an encoder call returned.
	err error
	// input is what the encoder read: Bytes for the pass-throughs.
	input format.Input
}

// relay drives enc over the upstream SSE stream body as internal/gateway's
// copyStream does: each block to Raw, its events (sse.Reader +
// event.Decode) to Event, an agent's error report (an event that decodes
// to one, or a block whose event field names an error) or a read error to
// Fail, the end of the stream to Finish. With beat, it also sends a
// heartbeat before the first block and after every block.
func relay(enc format.Encoder, body io.Reader, beat bool) run {
	return relayWith(event.NewDecoder(event.Auto), enc, body, beat)
}

// relayWith is relay reading the stream with dec.
func relayWith(dec *event.Decoder, enc format.Encoder, body io.Reader, beat bool) run {
	return relayStream(dec, enc, body, beat, false)
}

// relayStream is relayWith. With passthrough, it decodes only the data
// that event.MayMatter picks, as the gateway does for the format that
// reads no event (original).
func relayStream(dec *event.Decoder, enc format.Encoder, body io.Reader, beat, passthrough bool) run {
	r := run{input: enc.Input()}
	call := func(err error) bool {
		if err != nil && r.err == nil {
			r.err = err
		}
		return err == nil
	}
	fail := func(f *format.Failure) run {
		r.failed = f
		call(enc.Fail(*f))
		return r
	}
	rd := sse.NewReader(body, sse.Options{})
	var events []event.Event
	if beat && !call(enc.Heartbeat()) {
		return r
	}
	for {
		blk, err := rd.Next()
		if errors.Is(err, io.EOF) {
			call(enc.Finish(sessionID))
			return r
		}
		if err != nil {
			return fail(&brokenFailure)
		}
		if event.IsErrorEventName(blk.Type) {
			return fail(&agentFailure)
		}
		events = events[:0]
		if blk.HasData && !blk.Incomplete && (!passthrough || event.MayMatter(blk.Data)) {
			events, _ = dec.Decode(events, blk.Data)
		}
		for _, e := range events {
			if e.Kind == event.KindError {
				return fail(&agentFailure)
			}
		}
		r.raw = append(r.raw, blk.Raw...)
		if enc.Input() == format.Bytes && !call(enc.Raw(blk.Raw)) {
			return r
		}
		for _, e := range events {
			if enc.Input() == format.Events && !call(enc.Event(e)) {
				return r
			}
		}
		if beat && !call(enc.Heartbeat()) {
			return r
		}
	}
}

// cutReader ends its stream with an error instead of io.EOF, as a broken
// upstream connection does.
type cutReader struct{ r io.Reader }

func (c cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// fixed is the creation time the tests give the OpenAI formats.
var fixed = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func openAIOptions() format.Options {
	return format.Options{Model: "demo", ID: "chatcmpl-req-0042", Now: func() time.Time { return fixed }}
}

func uiOptions() format.Options { return format.Options{ID: "msg-req-0042"} }

// aguiOptions are the options the AGUI golden files were written with.
func aguiOptions() format.Options {
	return format.Options{ID: "msg-req-0042", AGUI: format.AGUIRun{ThreadID: "thread-1", RunID: "run-1"}}
}

// passthrough is o for an agent that speaks AG-UI itself.
func passthrough(o format.Options) format.Options {
	o.AGUI.Passthrough = true
	return o
}

// variant is a format with the options a golden file was written with.
type variant struct {
	name   string
	format format.Name
	opts   format.Options
}

func variants() []variant {
	all := format.Options{IncludeTools: true, IncludeReasoning: true}
	usage := openAIOptions()
	usage.IncludeUsage, usage.IncludeReasoning = true, true
	reasoning := openAIOptions()
	reasoning.IncludeReasoning = true
	uiReasoning := uiOptions()
	uiReasoning.IncludeReasoning = true
	return []variant{
		{"original", format.Original, format.Options{}},
		{"transformed", format.Transformed, format.Options{}},
		{"transformed-tools-reasoning", format.Transformed, all},
		{"ndjson", format.NDJSON, format.Options{}},
		{"ndjson-tools-reasoning", format.NDJSON, all},
		{"openai", format.OpenAI, openAIOptions()},
		{"openai-usage-reasoning", format.OpenAI, usage},
		{"openai-json", format.OpenAIJSON, openAIOptions()},
		{"openai-json-reasoning", format.OpenAIJSON, reasoning},
		{"responses", format.Responses, responsesOptions()},
		{"responses-reasoning", format.Responses, withReasoning(responsesOptions())},
		{"responses-json", format.ResponsesJSON, responsesOptions()},
		{"responses-json-reasoning", format.ResponsesJSON, withReasoning(responsesOptions())},
		{"ui", format.UI, uiOptions()},
		{"ui-reasoning", format.UI, uiReasoning},
		{"agui", format.AGUI, aguiOptions()},
		{"agui-reasoning", format.AGUI, withReasoning(aguiOptions())},
	}
}

// responsesOptions are the options the Responses golden files were
// written with: a continued response with instructions and a token cap.
func responsesOptions() format.Options {
	return format.Options{Model: "demo", ID: "resp_req-0042", Now: func() time.Time { return fixed },
		Responses: format.ResponsesRequest{Instructions: "Answer in haiku.", PreviousResponseID: "resp_req-0041", MaxOutputTokens: 64}}
}

func withReasoning(o format.Options) format.Options {
	o.IncludeReasoning = true
	return o
}

// checkFraming reports what is wrong with out as a response in format f,
// after relay produced r; nil when nothing is.
func checkFraming(f format.Name, r run, out []byte) error {
	switch f {
	case format.Original:
		return checkOriginal(r, out)
	case format.NDJSON:
		return checkNDJSON(r, out)
	case format.OpenAI:
		return checkOpenAI(r, out)
	case format.OpenAIJSON:
		return checkOpenAIJSON(r, out)
	case format.Transformed:
		return checkTransformed(r, out)
	case format.Responses:
		return checkResponses(r, out)
	case format.ResponsesJSON:
		return checkResponsesJSON(r, out)
	case format.UI:
		return checkUI(r, out)
	case format.AGUI:
		if r.input == format.Bytes {
			return checkAGUIPassthrough(r, out)
		}
		return checkAGUI(r, out)
	}
	return fmt.Errorf("no check for format %q", f)
}

// checkOriginal: the upstream bytes unchanged, then at most the blank lines
// that end a block the upstream cut short and one terminal error event.
func checkOriginal(r run, out []byte) error {
	rest, ok := bytes.CutPrefix(out, r.raw)
	if !ok {
		return errors.New("output does not start with the upstream bytes")
	}
	if r.failed == nil {
		if len(rest) > 0 {
			return fmt.Errorf("a finished stream added %q", rest)
		}
		return nil
	}
	pad := len(rest) - len(bytes.TrimLeft(rest, "\n"))
	if pad > 2 {
		return fmt.Errorf("%d blank lines before the error event", pad)
	}
	want := sseEvent("error", mustJSON(map[string]format.Failure{"error": *r.failed}))
	if got := string(rest[pad:]); got != want {
		return fmt.Errorf("terminal error %q, want %q", got, want)
	}
	blocks, err := sseBlocks(out)
	if err != nil {
		return err
	}
	if last := blocks[len(blocks)-1]; last.Type != "error" {
		return fmt.Errorf("the last event a client sees is %q, not the error", last.Type)
	}
	return nil
}

// checkNDJSON: every line a JSON object with a type, the last one session
// or error.
func checkNDJSON(r run, out []byte) error {
	if len(out) == 0 || out[len(out)-1] != '\n' {
		return errors.New("output does not end with a line end")
	}
	var last string
	for line := range strings.Lines(string(out)) {
		var obj struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(line), &obj); err != nil || obj.Type == "" {
			return fmt.Errorf("line %q is not a JSON object with a type (%v)", line, err)
		}
		last = obj.Type
	}
	want := "session"
	if r.failed != nil {
		want = "error"
	}
	if last != want {
		return fmt.Errorf("last line is %q, want %q", last, want)
	}
	return nil
}

// checkOpenAI: SSE whose events are JSON objects, the chunks sharing one
// id, and a single [DONE] last.
func checkOpenAI(r run, out []byte) error {
	blocks, err := sseBlocks(out)
	if err != nil {
		return err
	}
	var data []sse.Event
	for _, b := range blocks {
		if b.HasData {
			data = append(data, b)
		}
	}
	if len(data) == 0 || string(data[len(data)-1].Data) != "[DONE]" {
		return errors.New("the stream does not end with [DONE]")
	}
	id := ""
	for i, b := range data[:len(data)-1] {
		if b.Type != "" {
			return fmt.Errorf("event %d has type %q", i, b.Type)
		}
		var chunk struct {
			ID     string          `json:"id"`
			Object string          `json:"object"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(b.Data, &chunk); err != nil {
			return fmt.Errorf("event %d: %q is not a JSON object: %v", i, b.Data, err)
		}
		switch {
		case chunk.Error != nil:
			if r.failed == nil || i != len(data)-2 {
				return fmt.Errorf("event %d is an error in the wrong place", i)
			}
		case chunk.Object != "chat.completion.chunk":
			return fmt.Errorf("event %d: object %q", i, chunk.Object)
		case id != "" && chunk.ID != id:
			return fmt.Errorf("event %d: id %q, want %q", i, chunk.ID, id)
		default:
			id = chunk.ID
		}
	}
	return nil
}

// checkOpenAIJSON: one chat.completion object, or nothing at all when the
// stream failed (the gateway answers with a status code then).
func checkOpenAIJSON(r run, out []byte) error {
	if r.failed != nil || r.err != nil {
		if len(out) > 0 {
			return fmt.Errorf("a failed response wrote %q", out)
		}
		return nil
	}
	var obj struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(out, &obj); err != nil {
		return fmt.Errorf("%q is not one JSON object: %v", out, err)
	}
	if obj.Object != "chat.completion" || len(obj.Choices) != 1 || obj.Choices[0].Message.Content == nil {
		return fmt.Errorf("not a chat.completion with one choice: %s", out)
	}
	return nil
}

// checkTransformed: the text, then the separator, metadata and session
// lines, or the error line.
func checkTransformed(r run, out []byte) error {
	s := string(out)
	if r.failed != nil {
		if !strings.HasSuffix(s, " (upstream_stream_broken, request id req-0042)\n") && !strings.HasSuffix(s, " (agent_error, request id req-0042)\n") {
			return fmt.Errorf("no error line at the end of %q", s)
		}
		return nil
	}
	i := strings.LastIndex(s, format.Separator)
	if i < 0 {
		return fmt.Errorf("no separator in %q", s)
	}
	meta, sess, ok := strings.Cut(s[i+len(format.Separator):], "\n")
	if !ok || !json.Valid([]byte(meta)) || sess != `{"runtimeSessionId":"`+sessionID+`"}` {
		return fmt.Errorf("bad trailer %q", s[i:])
	}
	return nil
}

// sseBlocks reads out as a client would, refusing a stream that ends in the
// middle of a block.
func sseBlocks(out []byte) ([]sse.Event, error) {
	rd := sse.NewReader(bytes.NewReader(out), sse.Options{})
	var blocks []sse.Event
	for {
		b, err := rd.Next()
		if errors.Is(err, io.EOF) {
			if len(blocks) == 0 {
				return nil, errors.New("no SSE events")
			}
			return blocks, nil
		}
		if err != nil {
			return nil, err
		}
		if b.Incomplete {
			return nil, fmt.Errorf("the stream ends inside a block: %q", b.Raw)
		}
		b.Data = bytes.Clone(b.Data)
		b.Raw = nil
		if b.HasData {
			blocks = append(blocks, b)
		}
	}
}

func sseEvent(typ string, data []byte) string {
	var b bytes.Buffer
	_ = sse.WriteEvent(&b, typ, data)
	return b.String()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// sameAnswer reports how beating, an output with heartbeats, reads
// differently from plain, the same output without; nil when a client reads
// both alike.
func sameAnswer(f format.Name, plain, beating []byte) error {
	switch f {
	case format.Original, format.OpenAI, format.Responses, format.UI, format.AGUI:
		a, b := dispatched(plain), dispatched(beating)
		if len(a) != len(b) {
			return fmt.Errorf("%d events without heartbeats, %d with", len(a), len(b))
		}
		for i := range a {
			if a[i].Type != b[i].Type || a[i].ID != b[i].ID || !bytes.Equal(a[i].Data, b[i].Data) {
				return fmt.Errorf("event %d reads %q/%q without heartbeats, %q/%q with", i, a[i].Type, a[i].Data, b[i].Type, b[i].Data)
			}
		}
	case format.NDJSON:
		stripped := strings.ReplaceAll(string(beating), `{"type":"ping"}`+"\n", "")
		if stripped != string(plain) {
			return fmt.Errorf("without its ping lines the output is %q, want %q", stripped, plain)
		}
	default:
		if !bytes.Equal(plain, beating) {
			return fmt.Errorf("heartbeats changed the output to %q, want %q", beating, plain)
		}
	}
	return nil
}

// dispatched returns the events a browser would dispatch from out.
func dispatched(out []byte) []sse.Event {
	rd := sse.NewReader(bytes.NewReader(out), sse.Options{})
	var evs []sse.Event
	for {
		b, err := rd.Next()
		if err != nil {
			return evs
		}
		if b.HasData && !b.Incomplete {
			b.Data, b.Raw = bytes.Clone(b.Data), nil
			evs = append(evs, b)
		}
	}
}
