package format_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
)

// uiChunk is the part of a UI message stream part the tests read.
type uiChunk struct {
	Type            string          `json:"type"`
	ID              string          `json:"id"`
	Delta           *string         `json:"delta"`
	MessageID       string          `json:"messageId"`
	ErrorText       string          `json:"errorText"`
	FinishReason    string          `json:"finishReason"`
	MessageMetadata json.RawMessage `json:"messageMetadata"`
}

// uiChunks reads the parts of a UI message stream, checking that it ends
// with one [DONE] and holds nothing else but JSON parts in unnamed events.
func uiChunks(out []byte) ([]uiChunk, error) {
	blocks, err := sseBlocks(out)
	if err != nil {
		return nil, err
	}
	if string(blocks[len(blocks)-1].Data) != "[DONE]" {
		return nil, errors.New("the stream does not end with [DONE]")
	}
	chunks := make([]uiChunk, 0, len(blocks)-1)
	for i, b := range blocks[:len(blocks)-1] {
		var c uiChunk
		if b.Type != "" {
			return nil, fmt.Errorf("event %d has type %q", i, b.Type)
		}
		if err := json.Unmarshal(b.Data, &c); err != nil || c.Type == "" {
			return nil, fmt.Errorf("event %d: %q is not a part (%v)", i, b.Data, err)
		}
		chunks = append(chunks, c)
	}
	return chunks, nil
}

// checkUI: a stream the AI SDK's processUIMessageStream accepts, and
// complete: the start part first; steps that open and close in turn; text
// and reasoning parts opened inside a step, each delta and end in an open
// part of its id and kind, every part closed before its step; then the
// finish part with the usage and the session id, or, when the stream
// failed, one error part; then [DONE].
func checkUI(r run, out []byte) error {
	chunks, err := uiChunks(out)
	if err != nil {
		return err
	}
	if len(chunks) < 2 || chunks[0].Type != "start" || chunks[0].MessageID == "" {
		return fmt.Errorf("the stream does not open with a start part and end with another: %q", out)
	}
	open := map[string]string{} // part id → kind
	step := false
	for i, c := range chunks[1:] {
		kind, phase, _ := strings.Cut(c.Type, "-")
		last := i == len(chunks)-2
		switch {
		case c.Type == "start-step" && !step, c.Type == "finish-step" && step && len(open) == 0:
			step = !step
		case (kind == "text" || kind == "reasoning") && phase == "start" && step && open[c.ID] == "":
			open[c.ID] = kind
		case (kind == "text" || kind == "reasoning") && phase == "delta" && open[c.ID] == kind && c.Delta != nil && *c.Delta != "":
		case (kind == "text" || kind == "reasoning") && phase == "end" && open[c.ID] == kind:
			delete(open, c.ID)
		case c.Type == "finish" && last && r.failed == nil && !step && len(open) == 0:
			if err := checkUIFinish(c); err != nil {
				return err
			}
		case c.Type == "error" && last && r.failed != nil:
			if !strings.HasSuffix(c.ErrorText, ", request id req-0042)") {
				return fmt.Errorf("error part %q does not name the request", c.ErrorText)
			}
		default:
			return fmt.Errorf("part %d %+v out of place (step open %v, parts open %v)", i+1, c, step, open)
		}
	}
	return nil
}

func checkUIFinish(c uiChunk) error {
	var meta map[string]json.RawMessage
	err := json.Unmarshal(c.MessageMetadata, &meta)
	if _, hasUsage := meta["usage"]; err != nil || !hasUsage || string(meta["runtimeSessionId"]) != `"`+sessionID+`"` {
		return fmt.Errorf("finish metadata %s: want the usage and the session id", c.MessageMetadata)
	}
	switch c.FinishReason {
	case "stop", "length", "content-filter":
		return nil
	}
	return fmt.Errorf("finish reason %q", c.FinishReason)
}

// uiAnswer is the text and reasoning a UI message stream carries, in order.
func uiAnswer(out []byte) (string, error) {
	chunks, err := uiChunks(out)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, c := range chunks {
		if strings.HasSuffix(c.Type, "-delta") && c.Delta != nil {
			b.WriteString(*c.Delta)
		}
	}
	return b.String(), nil
}

func TestUIParts(t *testing.T) {
	start := event.Event{Kind: event.KindMessageStart}
	stop := func(reason string) event.Event { return event.Event{Kind: event.KindMessageStop, StopReason: reason} }
	text := func(s string) event.Event { return event.Event{Kind: event.KindText, Text: s} }
	reasoning := func(s string) event.Event { return event.Event{Kind: event.KindReasoning, Text: s} }
	usage := metadata(`{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}`)
	tests := []struct {
		name      string
		reasoning bool
		events    []event.Event
		want      []string // the parts after start, up to [DONE]
	}{
		{"an empty answer is a message without steps", false, nil, []string{
			`{"type":"finish","finishReason":"stop","messageMetadata":{"usage":null,"runtimeSessionId":"s"}}`,
		}},
		{"text without messages opens a step of its own", false, []event.Event{text("Hi"), text(" there")}, []string{
			`{"type":"start-step"}`,
			`{"type":"text-start","id":"text-1"}`,
			`{"type":"text-delta","id":"text-1","delta":"Hi"}`,
			`{"type":"text-delta","id":"text-1","delta":" there"}`,
			`{"type":"text-end","id":"text-1"}`,
			`{"type":"finish-step"}`,
			`{"type":"finish","finishReason":"stop","messageMetadata":{"usage":null,"runtimeSessionId":"s"}}`,
		}},
		{"each message is a step, and the usage is summed", false, []event.Event{
			start, text("a"), event.Event{Kind: event.KindToolUse, Text: `{"x":1}`}, stop("tool_use"), usage,
			start, text("b"), stop("max_tokens"), usage,
		}, []string{
			`{"type":"start-step"}`,
			`{"type":"text-start","id":"text-1"}`,
			`{"type":"text-delta","id":"text-1","delta":"a"}`,
			`{"type":"text-end","id":"text-1"}`,
			`{"type":"finish-step"}`,
			`{"type":"start-step"}`,
			`{"type":"text-start","id":"text-2"}`,
			`{"type":"text-delta","id":"text-2","delta":"b"}`,
			`{"type":"text-end","id":"text-2"}`,
			`{"type":"finish-step"}`,
			`{"type":"finish","finishReason":"length","messageMetadata":{"usage":{"inputTokens":2,"outputTokens":4,"totalTokens":6},"runtimeSessionId":"s"}}`,
		}},
		{"reasoning is a part of its own when included", true, []event.Event{start, reasoning("hm"), text("a"), reasoning("so"), stop("guardrail_intervened")}, []string{
			`{"type":"start-step"}`,
			`{"type":"reasoning-start","id":"reasoning-1"}`,
			`{"type":"reasoning-delta","id":"reasoning-1","delta":"hm"}`,
			`{"type":"reasoning-end","id":"reasoning-1"}`,
			`{"type":"text-start","id":"text-2"}`,
			`{"type":"text-delta","id":"text-2","delta":"a"}`,
			`{"type":"text-end","id":"text-2"}`,
			`{"type":"reasoning-start","id":"reasoning-3"}`,
			`{"type":"reasoning-delta","id":"reasoning-3","delta":"so"}`,
			`{"type":"reasoning-end","id":"reasoning-3"}`,
			`{"type":"finish-step"}`,
			`{"type":"finish","finishReason":"content-filter","messageMetadata":{"usage":null,"runtimeSessionId":"s"}}`,
		}},
		{"reasoning is left out by default", false, []event.Event{start, reasoning("hm"), stop("end_turn")}, []string{
			`{"type":"start-step"}`,
			`{"type":"finish-step"}`,
			`{"type":"finish","finishReason":"stop","messageMetadata":{"usage":null,"runtimeSessionId":"s"}}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			enc := format.New(format.UI, &out, format.Options{ID: "m", IncludeReasoning: tt.reasoning, IncludeTools: true})
			for _, e := range tt.events {
				if err := enc.Event(e); err != nil {
					t.Fatal(err)
				}
			}
			if err := enc.Finish("s"); err != nil {
				t.Fatal(err)
			}
			want := "data: " + `{"type":"start","messageId":"m"}` + "\n\n"
			for _, p := range tt.want {
				want += "data: " + p + "\n\n"
			}
			want += "data: [DONE]\n\n"
			if out.String() != want {
				t.Errorf("wrote\n%s\nwant\n%s", out.String(), want)
			}
		})
	}
}

func TestUIAnnouncesItself(t *testing.T) {
	enc := format.New(format.UI, &bytes.Buffer{}, format.Options{})
	a, ok := enc.(format.Announcer)
	if !ok {
		t.Fatal("ui does not announce its protocol")
	}
	if h, v := a.Announce(); h != "x-vercel-ai-ui-message-stream" || v != "v1" {
		t.Errorf("Announce() = %q, %q", h, v)
	}
	if _, ok := format.New(format.OpenAI, &bytes.Buffer{}, format.Options{}).(format.Announcer); ok {
		t.Error("openai announces a protocol header")
	}
}

func TestUIMessageIDs(t *testing.T) {
	var a, b bytes.Buffer
	_ = format.New(format.UI, &a, format.Options{}).Finish("s")
	_ = format.New(format.UI, &b, format.Options{}).Finish("s")
	ca, err := uiChunks(a.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := uiChunks(b.Bytes())
	if id := ca[0].MessageID; !strings.HasPrefix(id, "msg-") || len(id) < len("msg-")+16 || id == cb[0].MessageID {
		t.Errorf("generated message ids %q and %q", id, cb[0].MessageID)
	}
}
