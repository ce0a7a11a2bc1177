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

// responsesEvent is the part of a Responses stream event the checks read.
type responsesEvent struct {
	Type         string          `json:"type"`
	Seq          *int64          `json:"sequence_number"`
	ItemID       string          `json:"item_id"`
	OutputIndex  *int            `json:"output_index"`
	Delta        string          `json:"delta"`
	Text         string          `json:"text"`
	Item         *responsesItem  `json:"item"`
	Response     *responseObject `json:"response"`
	Error        json.RawMessage `json:"error"`
	ContentIndex *int            `json:"content_index"`
	SummaryIndex *int            `json:"summary_index"`
}

type responseObject struct {
	ID     string          `json:"id"`
	Object string          `json:"object"`
	Status string          `json:"status"`
	Output []responsesItem `json:"output"`
	Usage  json.RawMessage `json:"usage"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type responsesItem struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	Summary []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"summary"`
}

// text is the item's whole text, as a client reads it from the item.
func (it responsesItem) text() string {
	var b strings.Builder
	for _, c := range it.Content {
		b.WriteString(c.Text)
	}
	for _, s := range it.Summary {
		b.WriteString(s.Text)
	}
	return b.String()
}

// responsesEvents reads out as SSE and decodes every event, checking that
// its SSE name is its type and that sequence numbers count from 0.
func responsesEvents(out []byte) ([]responsesEvent, error) {
	blocks, err := sseBlocks(out)
	if err != nil {
		return nil, err
	}
	evs := make([]responsesEvent, 0, len(blocks))
	for i, b := range blocks {
		var ev responsesEvent
		if err := json.Unmarshal(b.Data, &ev); err != nil {
			return nil, fmt.Errorf("event %d: %q is not a JSON object: %v", i, b.Data, err)
		}
		if ev.Type == "" || b.Type != ev.Type {
			return nil, fmt.Errorf("event %d: SSE name %q, type %q", i, b.Type, ev.Type)
		}
		if ev.Seq == nil || *ev.Seq != int64(i) {
			return nil, fmt.Errorf("event %d (%s): sequence_number %v, want %d", i, ev.Type, ev.Seq, i)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// checkResponses: numbered typed events opening with response.created and
// response.in_progress; every item's deltas add up to its done events and
// to the item in the final object; the stream ends with
// response.completed or response.incomplete, or after a failure with an
// error event and response.failed. An encoder error (a bound) cuts it short.
func checkResponses(r run, out []byte) error {
	if r.err != nil && len(out) == 0 {
		return nil
	}
	evs, err := responsesEvents(out)
	if err != nil {
		return err
	}
	if len(evs) < 2 || evs[0].Type != "response.created" || evs[1].Type != "response.in_progress" {
		return errors.New("the stream does not open with response.created and response.in_progress")
	}
	if r.err != nil {
		return nil
	}
	last := evs[len(evs)-1]
	if r.failed != nil {
		prev := evs[len(evs)-2]
		if prev.Type != "error" || last.Type != "response.failed" || last.Response.Status != "failed" ||
			last.Response.Error == nil || last.Response.Error.Code != r.failed.Code {
			return fmt.Errorf("a failed stream ends with %s, %s", prev.Type, last.Type)
		}
		var e struct{ Type, Code, Message string }
		if json.Unmarshal(prev.Error, &e) != nil || e.Code != r.failed.Code || !strings.Contains(e.Message, r.failed.RequestID) {
			return fmt.Errorf("error event %s, want code %s and the request id", prev.Error, r.failed.Code)
		}
	} else if last.Type != "response.completed" && last.Type != "response.incomplete" {
		return fmt.Errorf("a finished stream ends with %s", last.Type)
	}
	return checkResponseItems(evs)
}

// checkResponseItems follows the output items through the events.
func checkResponseItems(evs []responsesEvent) error {
	deltas := map[string]*strings.Builder{}
	done := map[string]string{}
	var added []string
	for i, ev := range evs {
		switch ev.Type {
		case "response.output_item.added":
			if ev.Item == nil || ev.OutputIndex == nil || *ev.OutputIndex != len(added) {
				return fmt.Errorf("event %d adds an item at the wrong index", i)
			}
			added = append(added, ev.Item.ID)
			deltas[ev.Item.ID] = &strings.Builder{}
		case "response.output_text.delta", "response.reasoning_summary_text.delta":
			b, ok := deltas[ev.ItemID]
			if !ok || ev.ItemID != added[len(added)-1] || *ev.OutputIndex != len(added)-1 {
				return fmt.Errorf("event %d: a delta for item %q, which is not the open one", i, ev.ItemID)
			}
			b.WriteString(ev.Delta)
		case "response.output_text.done", "response.reasoning_summary_text.done":
			if ev.Text != deltas[ev.ItemID].String() {
				return fmt.Errorf("event %d: done text %q, the deltas read %q", i, ev.Text, deltas[ev.ItemID].String())
			}
		case "response.output_item.done":
			if got := ev.Item.text(); got != deltas[ev.Item.ID].String() {
				return fmt.Errorf("event %d: item text %q, the deltas read %q", i, got, deltas[ev.Item.ID].String())
			}
			done[ev.Item.ID] = ev.Item.text()
		}
	}
	final := evs[len(evs)-1].Response
	if final == nil || len(final.Output) != len(added) {
		return fmt.Errorf("the final object has %d items, the stream added %d", len(final.Output), len(added))
	}
	for i, it := range final.Output {
		if it.ID != added[i] || it.text() != deltas[it.ID].String() {
			return fmt.Errorf("final item %d %q reads %q, the deltas read %q", i, it.ID, it.text(), deltas[it.ID].String())
		}
		if _, ok := done[it.ID]; !ok && final.Status != "failed" {
			return fmt.Errorf("item %q never got output_item.done", it.ID)
		}
	}
	return nil
}

// checkResponsesJSON: one response object with a message item, or
// nothing when the stream failed.
func checkResponsesJSON(r run, out []byte) error {
	if r.failed != nil || r.err != nil {
		if len(out) > 0 {
			return fmt.Errorf("a failed response wrote %q", out)
		}
		return nil
	}
	var obj responseObject
	if err := json.Unmarshal(out, &obj); err != nil {
		return fmt.Errorf("%q is not one JSON object: %v", out, err)
	}
	if obj.Object != "response" || (obj.Status != "completed" && obj.Status != "incomplete") {
		return fmt.Errorf("not a finished response object: %s", out)
	}
	for _, it := range obj.Output {
		if it.Type == "message" {
			return nil
		}
	}
	return fmt.Errorf("no message item in %s", out)
}

func TestResponsesFailShapes(t *testing.T) {
	f := format.Failure{Code: "upstream_timeout", Message: `the agent did not answer in time <"&">`, RequestID: "req-7"}
	var out bytes.Buffer
	if err := format.New(format.Responses, &out, responsesOptions()).Fail(f); err != nil {
		t.Fatal(err)
	}
	evs, err := responsesEvents(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	if got := strings.Join(types, " "); got != "response.created response.in_progress error response.failed" {
		t.Fatalf("events %s", got)
	}
	wantErr := `{"type":"server_error","code":"upstream_timeout","message":"the agent did not answer in time <\"&\"> (request id req-7)","param":null}`
	if string(evs[2].Error) != wantErr {
		t.Errorf("error event's error %s, want %s", evs[2].Error, wantErr)
	}
	if resp := evs[3].Response; resp.Status != "failed" || resp.Error == nil || resp.Error.Code != "upstream_timeout" || len(resp.Output) != 0 {
		t.Errorf("response.failed carries %+v", resp)
	}

	out.Reset()
	enc := format.New(format.ResponsesJSON, &out, responsesOptions())
	_ = enc.Event(event.Event{Kind: event.KindText, Text: "partial"})
	if err := enc.Fail(f); err != nil || out.Len() > 0 || !enc.Buffered() {
		t.Errorf("unstreamed Fail: %v, wrote %q, Buffered %v; want nothing written", err, out.Bytes(), enc.Buffered())
	}
}

// TestResponsesFailureMidItem: a stream that fails inside an item shows
// that item, with its text so far, as incomplete.
func TestResponsesFailureMidItem(t *testing.T) {
	var out bytes.Buffer
	enc := format.New(format.Responses, &out, responsesOptions())
	_ = enc.Event(event.Event{Kind: event.KindText, Text: "Half an "})
	_ = enc.Fail(format.Failure{Code: "upstream_stream_broken", Message: "m", RequestID: "r"})
	evs, err := responsesEvents(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	final := evs[len(evs)-1].Response
	if len(final.Output) != 1 || final.Output[0].Status != "incomplete" || final.Output[0].text() != "Half an " {
		t.Fatalf("response.failed output %+v", final.Output)
	}
}

func TestResponsesHeartbeat(t *testing.T) {
	var out bytes.Buffer
	enc := format.New(format.Responses, &out, responsesOptions())
	if err := enc.Heartbeat(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Heartbeat(); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Count(s, "event: response.created\n") != 1 || !strings.HasSuffix(s, "}\n\n: keep-alive\n\n: keep-alive\n\n") {
		t.Errorf("two heartbeats wrote %q: want the opening events once, then two comments", s)
	}
	out.Reset()
	if err := format.New(format.ResponsesJSON, &out, responsesOptions()).Heartbeat(); err != nil || out.Len() > 0 {
		t.Errorf("unstreamed heartbeat: %v, wrote %q", err, out.Bytes())
	}
}

func TestResponsesBuffering(t *testing.T) {
	text := event.Event{Kind: event.KindText, Text: strings.Repeat("x", 10)}
	t.Run("the streamed format is never buffered", func(t *testing.T) {
		if format.New(format.Responses, &bytes.Buffer{}, format.Options{}).Buffered() {
			t.Error("responses is buffered")
		}
	})
	t.Run("the unstreamed format writes once, at Finish", func(t *testing.T) {
		var out bytes.Buffer
		enc := format.New(format.ResponsesJSON, &out, responsesOptions())
		_ = enc.Event(text)
		if !enc.Buffered() || out.Len() > 0 {
			t.Fatalf("Buffered %v after writing %q", enc.Buffered(), out.Bytes())
		}
		if err := enc.Finish("s"); err != nil || enc.Buffered() || out.Len() == 0 {
			t.Fatalf("after Finish (%v): Buffered %v, wrote %q", err, enc.Buffered(), out.Bytes())
		}
	})
	for _, f := range []format.Name{format.Responses, format.ResponsesJSON} {
		t.Run(string(f)+" refuses an answer past the bound", func(t *testing.T) {
			var out bytes.Buffer
			opts := responsesOptions()
			opts.MaxBufferedBytes = 25
			enc := format.New(f, &out, opts)
			for range 2 {
				if err := enc.Event(text); err != nil {
					t.Fatalf("within the bound: %v", err)
				}
			}
			if err := enc.Event(text); !errors.Is(err, format.ErrResponseTooLarge) {
				t.Fatalf("past the bound: %v, want ErrResponseTooLarge", err)
			}
			if err := enc.Finish("s"); !errors.Is(err, format.ErrResponseTooLarge) {
				t.Errorf("Finish: %v, want ErrResponseTooLarge", err)
			}
		})
	}
}

// TestResponsesItems follows text and reasoning into output items: one
// message for the text of a whole tool loop, a new item whenever the kind
// changes, and an empty message for an answer without text.
func TestResponsesItems(t *testing.T) {
	txt := func(s string) event.Event { return event.Event{Kind: event.KindText, Text: s} }
	rsn := func(s string) event.Event { return event.Event{Kind: event.KindReasoning, Text: s} }
	stop := func(s string) event.Event { return event.Event{Kind: event.KindMessageStop, StopReason: s} }
	tests := []struct {
		name      string
		reasoning bool
		events    []event.Event
		want      string // type:status:text of each final item
		status    string
	}{
		{"no text is one empty message", false, nil, "message:completed:", "completed"},
		{"a tool loop's text is one message", false, []event.Event{txt("a"), stop("tool_use"), txt("b"), stop("end_turn")}, "message:completed:ab", "completed"},
		{"reasoning is left out unless asked for", false, []event.Event{rsn("hm"), txt("a")}, "message:completed:a", "completed"},
		{"reasoning asked for is an item before the message", true, []event.Event{rsn("h"), rsn("m"), txt("a")}, "reasoning:completed:hm message:completed:a", "completed"},
		{"reasoning alone still gets a message", true, []event.Event{rsn("hm")}, "reasoning:completed:hm message:completed:", "completed"},
		{"interleaved kinds open new items", true, []event.Event{txt("a"), rsn("h"), txt("b")}, "message:completed:a reasoning:completed:h message:completed:b", "completed"},
		{"a token limit leaves the response and its last item incomplete", false, []event.Event{txt("a"), stop("max_tokens")}, "message:incomplete:a", "incomplete"},
		{"a filter leaves the response incomplete", false, []event.Event{txt("a"), stop("guardrail_intervened")}, "message:incomplete:a", "incomplete"},
	}
	for _, tt := range tests {
		for _, f := range []format.Name{format.Responses, format.ResponsesJSON} {
			t.Run(tt.name+" ("+string(f)+")", func(t *testing.T) {
				var out bytes.Buffer
				opts := responsesOptions()
				opts.IncludeReasoning = tt.reasoning
				enc := format.New(f, &out, opts)
				for _, e := range tt.events {
					if err := enc.Event(e); err != nil {
						t.Fatal(err)
					}
				}
				if err := enc.Finish("s"); err != nil {
					t.Fatal(err)
				}
				var final responseObject
				if f == format.Responses {
					evs, err := responsesEvents(out.Bytes())
					if err != nil {
						t.Fatal(err)
					}
					if err := checkResponseItems(evs); err != nil {
						t.Fatal(err)
					}
					last := evs[len(evs)-1]
					if last.Type != "response."+tt.status {
						t.Fatalf("last event %s, want response.%s", last.Type, tt.status)
					}
					final = *last.Response
				} else if err := json.Unmarshal(out.Bytes(), &final); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, it := range final.Output {
					got = append(got, it.Type+":"+it.Status+":"+it.text())
				}
				if strings.Join(got, " ") != tt.want || final.Status != tt.status {
					t.Errorf("status %s, items %q; want %s, %q", final.Status, got, tt.status, tt.want)
				}
			})
		}
	}
}
