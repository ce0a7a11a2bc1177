package format_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
)

// aguiEvent is the part of an AG-UI event the tests read.
type aguiEvent struct {
	Type      string          `json:"type"`
	ThreadID  *string         `json:"threadId"`
	RunID     *string         `json:"runId"`
	MessageID string          `json:"messageId"`
	Role      string          `json:"role"`
	Delta     *string         `json:"delta"`
	Message   string          `json:"message"`
	Code      string          `json:"code"`
	Usage     json.RawMessage `json:"usage"`
	Metadata  struct {
		RuntimeSessionID string `json:"runtimeSessionId"`
	} `json:"metadata"`
}

// aguiEvents reads the events of an AG-UI stream: unnamed SSE events whose
// data is a JSON object with a type.
func aguiEvents(out []byte) ([]aguiEvent, error) {
	blocks, err := sseBlocks(out)
	if err != nil {
		return nil, err
	}
	evs := make([]aguiEvent, 0, len(blocks))
	for i, b := range blocks {
		var e aguiEvent
		if b.Type != "" {
			return nil, fmt.Errorf("event %d has type %q", i, b.Type)
		}
		if err := json.Unmarshal(b.Data, &e); err != nil || e.Type == "" {
			return nil, fmt.Errorf("event %d: %q is not an AG-UI event (%v)", i, b.Data, err)
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// checkAGUI: a run that @ag-ui/client's verifier accepts, and complete:
// RUN_STARTED first; each message started once, its content and end only
// while it is open, reasoning messages inside a reasoning span of the same
// id; then RUN_FINISHED with every message closed, the start's ids, the
// session id and at most one usage entry, or, when the stream failed,
// RUN_ERROR in agentgate's words.
func checkAGUI(r run, out []byte) error {
	evs, err := aguiEvents(out)
	if err != nil {
		return err
	}
	start := evs[0]
	if start.Type != "RUN_STARTED" || start.ThreadID == nil || start.RunID == nil {
		return fmt.Errorf("the stream does not open with RUN_STARTED and its ids: %q", out)
	}
	seen := map[string]bool{}
	open := map[string]string{} // message id → "text", "span" or "reasoning"
	for i, e := range evs[1:] {
		last, id, kind := i == len(evs)-2, e.MessageID, open[e.MessageID]
		hasDelta := e.Delta != nil && *e.Delta != ""
		switch {
		case e.Type == "TEXT_MESSAGE_START" && !seen[id] && e.Role == "assistant":
			seen[id], open[id] = true, "text"
		case e.Type == "TEXT_MESSAGE_CONTENT" && kind == "text" && hasDelta:
		case e.Type == "TEXT_MESSAGE_END" && kind == "text":
			delete(open, id)
		case e.Type == "REASONING_START" && !seen[id]:
			seen[id], open[id] = true, "span"
		case e.Type == "REASONING_MESSAGE_START" && kind == "span" && e.Role == "reasoning":
			open[id] = "reasoning"
		case e.Type == "REASONING_MESSAGE_CONTENT" && kind == "reasoning" && hasDelta:
		case e.Type == "REASONING_MESSAGE_END" && kind == "reasoning":
			open[id] = "span"
		case e.Type == "REASONING_END" && kind == "span":
			delete(open, id)
		case e.Type == "RUN_FINISHED" && last && r.failed == nil && len(open) == 0:
			return checkAGUIFinish(start, e)
		case e.Type == "RUN_ERROR" && last && r.failed != nil:
			if !strings.HasSuffix(e.Message, " (request id req-0042)") || e.Code != r.failed.Code {
				return fmt.Errorf("RUN_ERROR %+v: want %s and the request id", e, r.failed.Code)
			}
			return nil
		default:
			return fmt.Errorf("event %d %+v out of place (open %v)", i+1, e, open)
		}
	}
	return errors.New("the run does not end")
}

func checkAGUIFinish(start, finish aguiEvent) error {
	var usage []json.RawMessage
	switch {
	case finish.ThreadID == nil || *finish.ThreadID != *start.ThreadID || finish.RunID == nil || *finish.RunID != *start.RunID:
		return fmt.Errorf("RUN_FINISHED %+v does not name the run RUN_STARTED named", finish)
	case finish.Metadata.RuntimeSessionID != sessionID:
		return fmt.Errorf("RUN_FINISHED metadata %+v: want the session id", finish.Metadata)
	case finish.Usage != nil && (json.Unmarshal(finish.Usage, &usage) != nil || len(usage) != 1):
		return fmt.Errorf("RUN_FINISHED usage %s: want one entry or none", finish.Usage)
	}
	return nil
}

// checkAGUIPassthrough: the upstream bytes unchanged, then at most the
// blank lines that end a block the upstream cut short and one RUN_ERROR.
func checkAGUIPassthrough(r run, out []byte) error {
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
		return fmt.Errorf("%d blank lines before RUN_ERROR", pad)
	}
	want := runError(*r.failed)
	if got := string(rest[pad:]); got != want {
		return fmt.Errorf("terminal error %q, want %q", got, want)
	}
	blocks, err := sseBlocks(out)
	if err != nil {
		return err
	}
	if last := blocks[len(blocks)-1]; !bytes.HasPrefix(last.Data, []byte(`{"type":"RUN_ERROR"`)) {
		return fmt.Errorf("the last event a client sees is %q, not RUN_ERROR", last.Data)
	}
	return nil
}

// runError is the RUN_ERROR event for f.
func runError(f format.Failure) string {
	return fmt.Sprintf("data: {\"type\":\"RUN_ERROR\",\"message\":%s,\"code\":%s}\n\n",
		mustJSON(f.Message+" (request id "+f.RequestID+")"), mustJSON(f.Code))
}

// aguiAnswer is the text and reasoning an AG-UI stream carries, in order.
func aguiAnswer(out []byte) (string, error) {
	evs, err := aguiEvents(out)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, e := range evs {
		if (e.Type == "TEXT_MESSAGE_CONTENT" || e.Type == "REASONING_MESSAGE_CONTENT") && e.Delta != nil {
			b.WriteString(*e.Delta)
		}
	}
	return b.String(), nil
}

func TestAGUIEvents(t *testing.T) {
	start := event.Event{Kind: event.KindMessageStart}
	stop := event.Event{Kind: event.KindMessageStop, StopReason: "end_turn"}
	text := func(s string) event.Event { return event.Event{Kind: event.KindText, Text: s} }
	reasoning := func(s string) event.Event { return event.Event{Kind: event.KindReasoning, Text: s} }
	tool := event.Event{Kind: event.KindToolUse, Text: `{"city":"Paris"}`}
	usage := metadata(`{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}`)
	const finished = `{"type":"RUN_FINISHED","threadId":"t","runId":"r","metadata":{"runtimeSessionId":"s"}}`
	tests := []struct {
		name      string
		reasoning bool
		events    []event.Event
		want      []string // the events after RUN_STARTED
	}{
		{"an empty answer is a run without messages", false, nil, []string{finished}},
		{"text without model messages is one message", false, []event.Event{text("Hi"), text(""), text(" there")}, []string{
			`{"type":"TEXT_MESSAGE_START","messageId":"m-1","role":"assistant"}`,
			`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m-1","delta":"Hi"}`,
			`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m-1","delta":" there"}`,
			`{"type":"TEXT_MESSAGE_END","messageId":"m-1"}`,
			finished,
		}},
		{"each model message is a message, tool use is left out, and the usage is summed", false, []event.Event{
			start, text("a"), tool, stop, usage,
			start, tool, stop, usage,
			start, text("b"), stop, usage,
		}, []string{
			`{"type":"TEXT_MESSAGE_START","messageId":"m-1","role":"assistant"}`,
			`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m-1","delta":"a"}`,
			`{"type":"TEXT_MESSAGE_END","messageId":"m-1"}`,
			`{"type":"TEXT_MESSAGE_START","messageId":"m-2","role":"assistant"}`,
			`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m-2","delta":"b"}`,
			`{"type":"TEXT_MESSAGE_END","messageId":"m-2"}`,
			`{"type":"RUN_FINISHED","threadId":"t","runId":"r","usage":[{"inputTokens":3,"outputTokens":6,"totalTokens":9}],"metadata":{"runtimeSessionId":"s"}}`,
		}},
		{"reasoning is a span and a message of its own when included", true, []event.Event{start, reasoning("hm"), text("a"), reasoning("so"), stop}, []string{
			`{"type":"REASONING_START","messageId":"m-1"}`,
			`{"type":"REASONING_MESSAGE_START","messageId":"m-1","role":"reasoning"}`,
			`{"type":"REASONING_MESSAGE_CONTENT","messageId":"m-1","delta":"hm"}`,
			`{"type":"REASONING_MESSAGE_END","messageId":"m-1"}`,
			`{"type":"REASONING_END","messageId":"m-1"}`,
			`{"type":"TEXT_MESSAGE_START","messageId":"m-2","role":"assistant"}`,
			`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m-2","delta":"a"}`,
			`{"type":"TEXT_MESSAGE_END","messageId":"m-2"}`,
			`{"type":"REASONING_START","messageId":"m-3"}`,
			`{"type":"REASONING_MESSAGE_START","messageId":"m-3","role":"reasoning"}`,
			`{"type":"REASONING_MESSAGE_CONTENT","messageId":"m-3","delta":"so"}`,
			`{"type":"REASONING_MESSAGE_END","messageId":"m-3"}`,
			`{"type":"REASONING_END","messageId":"m-3"}`,
			finished,
		}},
		{"reasoning is left out by default", false, []event.Event{start, reasoning("hm"), stop}, []string{finished}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			enc := format.New(format.AGUI, &out, format.Options{ID: "m", IncludeReasoning: tt.reasoning, IncludeTools: true,
				AGUI: format.AGUIRun{ThreadID: "t", RunID: "r"}})
			for _, e := range tt.events {
				if err := enc.Event(e); err != nil {
					t.Fatal(err)
				}
			}
			if err := enc.Finish("s"); err != nil {
				t.Fatal(err)
			}
			want := "data: " + `{"type":"RUN_STARTED","threadId":"t","runId":"r"}` + "\n\n"
			for _, e := range tt.want {
				want += "data: " + e + "\n\n"
			}
			if out.String() != want {
				t.Errorf("wrote\n%s\nwant\n%s", out.String(), want)
			}
		})
	}
}

// TestAGUIPassthrough relays an AG-UI agent's recorded stream as the
// gateway does for an agent of the agui dialect: its events pass as they
// came, ids and all, heartbeats between them, and its own RUN_ERROR gives
// way to agentgate's.
func TestAGUIPassthrough(t *testing.T) {
	recorded, err := os.ReadFile(filepath.Join("..", "event", "testdata", "dialects", "agui.sse"))
	if err != nil {
		t.Fatal(err)
	}
	upstreamError := `data: {"type":"RUN_ERROR","message":"model failed at arn:aws:bedrock:us-east-1:123456789012:x","code":"ThrottlingException"}` + "\n\n"
	i := bytes.Index(recorded, []byte(`data: {"type":"TEXT_MESSAGE_END"`))
	broken := append(bytes.Clone(recorded[:i]), upstreamError...)
	tests := []struct {
		name   string
		stream []byte
		beat   bool
		want   string
	}{
		{"a run passes whole", recorded, false, string(recorded)},
		{"heartbeats sit between events", recorded[:i], true,
			": keep-alive\n\n" + strings.ReplaceAll(string(recorded[:i]), "\n\n", "\n\n: keep-alive\n\n")},
		{"the agent's RUN_ERROR is agentgate's", broken, false, string(recorded[:i]) + runError(agentFailure)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			enc := format.New(format.AGUI, &out, passthrough(aguiOptions()))
			r := relayStream(event.NewDecoder(event.AGUI), enc, bytes.NewReader(tt.stream), tt.beat, true)
			if r.err != nil || r.input != format.Bytes || enc.ContentType() != "text/event-stream; charset=utf-8" {
				t.Fatalf("err %v, input %v, content type %q", r.err, r.input, enc.ContentType())
			}
			if out.String() != tt.want {
				t.Errorf("wrote\n%s\nwant\n%s", out.String(), tt.want)
			}
		})
	}
}
