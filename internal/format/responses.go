package format

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/internal/event"
)

// ResponsesRequest is what a Responses API request asked for that its
// response object reports back.
type ResponsesRequest struct {
	// Instructions is the request's instructions, or "" for none.
	Instructions string
	// PreviousResponseID is the response the request continued, or "".
	PreviousResponseID string
	// MaxOutputTokens is the request's max_output_tokens, or 0 for none.
	MaxOutputTokens int64
}

// responses writes an OpenAI Responses API answer, streamed (Responses)
// or as one response object at Finish (ResponsesJSON).
//
// Streamed, every event is an SSE event named by its type, with a
// sequence_number counting from 0: response.created and
// response.in_progress, then per output item output_item.added, its part
// (content_part.added for a message, reasoning_summary_part.added for
// reasoning), its deltas (output_text.delta, reasoning_summary_text.delta),
// their done events and output_item.done, and last response.completed (or
// response.incomplete when the agent stopped at its token limit or a
// filter) with the whole response object and its usage. The answer's text
// is one message item; reasoning, when asked for, is a reasoning item whose
// summary holds the agent's reasoning text (the events @ai-sdk/openai and
// openai-go read; OpenAI's raw reasoning_text events are ignored by the AI
// SDK). A tool loop reads as one answer, as in the other formats. The
// stream ends with no [DONE]: the terminal event ends it, as in OpenAI's.
//
// A failure after the start is an "error" event whose data has a
// top-level "error" object (what OpenAI sends, and what openai-go's and
// openai-python's streams raise as an error), then response.failed with
// status "failed" and the same error in the response object.
//
// The text is held for the done events and the final object, bounded by
// Options.MaxBufferedBytes (ErrResponseTooLarge past it). Unstreamed, the
// encoder writes nothing before Finish, like OpenAIJSON.
type responses struct {
	readsEvents
	w         io.Writer
	streamed  bool
	reasoning bool
	max       int
	// head is the response object's fixed members, from `{"id":` to the
	// comma before "status".
	head  []byte
	stem  string // of the item ids: the response id's tail
	seq   int64
	begun bool // response.created and response.in_progress were written
	items []responseItem
	open  bool // the last item has no done events yet
	held  int  // bytes of text in items
	tally tally
	err   error // ErrResponseTooLarge, once the answer outgrew max
	wrote bool  // unstreamed: the object was written
	buf   []byte
}

// responseItem is one output item: a message, or reasoning.
type responseItem struct {
	reasoning bool
	id        string
	text      strings.Builder
}

func newResponses(w io.Writer, opts Options, streamed bool) *responses {
	id, created := opts.response()
	r := &responses{w: w, streamed: streamed, reasoning: opts.IncludeReasoning, max: opts.MaxBufferedBytes,
		stem: idStem(id)}
	if r.max <= 0 {
		r.max = DefaultMaxBufferedBytes
	}
	req := opts.Responses
	b := append([]byte(nil), `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"object":"response","created_at":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = appendString(b, opts.Model)
	b = append(b, `,"instructions":`...)
	b = appendStringOrNull(b, req.Instructions)
	b = append(b, `,"previous_response_id":`...)
	b = appendStringOrNull(b, req.PreviousResponseID)
	b = append(b, `,"max_output_tokens":`...)
	if req.MaxOutputTokens > 0 {
		b = strconv.AppendInt(b, req.MaxOutputTokens, 10)
	} else {
		b = append(b, "null"...)
	}
	// Tools run inside the agent, sampling is the agent's, and nothing is
	// stored: the object says so rather than echoing what was asked.
	b = append(b, `,"tools":[],"tool_choice":"auto","parallel_tool_calls":false,"temperature":null,"top_p":null,`+
		`"truncation":"disabled","text":{"format":{"type":"text"}},"reasoning":null,"store":false,"background":false,"metadata":{},`...)
	r.head = b
	return r
}

func (r *responses) ContentType() string {
	if r.streamed {
		return "text/event-stream; charset=utf-8"
	}
	return "application/json"
}

// Buffered reports, unstreamed, that nothing was written yet.
func (r *responses) Buffered() bool { return !r.streamed && !r.wrote }

func (r *responses) Event(e event.Event) error {
	reasoning := false
	switch {
	case e.Kind == event.KindText:
	case e.Kind == event.KindReasoning && r.reasoning:
		reasoning = true
	default:
		r.tally.add(e)
		return nil
	}
	if r.err != nil {
		return r.err
	}
	if e.Text == "" {
		return nil
	}
	if r.held+len(e.Text) > r.max {
		r.err = fmt.Errorf("%w: the answer passed %d bytes", ErrResponseTooLarge, r.max)
		r.items, r.open = nil, false
		return r.err
	}
	r.held += len(e.Text)
	b := r.begin(r.buf[:0])
	if !r.open || r.items[len(r.items)-1].reasoning != reasoning {
		b = r.closeItem(b, "completed")
		b = r.openItem(b, reasoning)
	}
	it := &r.items[len(r.items)-1]
	it.text.WriteString(e.Text)
	if !r.streamed {
		return nil
	}
	if reasoning {
		b = r.event(b, "response.reasoning_summary_text.delta")
		b = r.appendRef(b, `,"summary_index":0,"delta":`)
	} else {
		b = r.event(b, "response.output_text.delta")
		b = r.appendRef(b, `,"content_index":0,"logprobs":[],"delta":`)
	}
	b = appendString(b, e.Text)
	return r.write(append(b, "}\n\n"...))
}

// Heartbeat writes an SSE comment, after the opening events, which say
// more than a comment does.
func (r *responses) Heartbeat() error {
	if !r.streamed {
		return nil
	}
	return r.write(append(r.begin(r.buf[:0]), keepAlive...))
}

// Finish ends the answer: the open item's done events and
// response.completed (response.incomplete after a token limit or a
// filter), or, unstreamed, the whole object. An answer without text still
// has its message item, empty. The session id travels in the response id.
func (r *responses) Finish(string) error {
	if r.err != nil {
		return r.err
	}
	b := r.begin(r.buf[:0])
	reason := incompleteReason(r.tally.stopReason)
	status := "completed"
	if reason != "" {
		status = "incomplete"
	}
	if !r.hasMessage() {
		b = r.closeItem(b, "completed")
		b = r.openItem(b, false)
	}
	b = r.closeItem(b, status)
	if !r.streamed {
		b = r.appendObject(b, status, reason, nil)
		r.wrote = true
		return r.write(append(b, '\n'))
	}
	b = r.event(b, "response."+status)
	b = append(b, `,"response":`...)
	b = r.appendObject(b, status, reason, nil)
	return r.write(append(b, "}\n\n"...))
}

// Fail writes the error event and response.failed; unstreamed, nothing,
// as the gateway answers with a status code (see Buffered).
func (r *responses) Fail(f Failure) error {
	if !r.streamed {
		return nil
	}
	b := r.begin(r.buf[:0])
	b = r.event(b, "error")
	b = append(b, `,"error":`...)
	b = appendResponsesError(b, f, true)
	b = append(b, "}\n\n"...)
	b = r.event(b, "response.failed")
	b = append(b, `,"response":`...)
	b = r.appendObject(b, "failed", "", &f)
	return r.write(append(b, "}\n\n"...))
}

// begin appends response.created and response.in_progress, once.
func (r *responses) begin(b []byte) []byte {
	if r.begun || !r.streamed {
		return b
	}
	r.begun = true
	for _, name := range []string{"response.created", "response.in_progress"} {
		b = r.event(b, name)
		b = append(b, `,"response":`...)
		b = r.appendObject(b, "in_progress", "", nil)
		b = append(b, "}\n\n"...)
	}
	return b
}

// openItem starts a new output item and appends its opening events.
func (r *responses) openItem(b []byte, reasoning bool) []byte {
	prefix := "msg_"
	if reasoning {
		prefix = "rs_"
	}
	r.items = append(r.items, responseItem{reasoning: reasoning, id: prefix + r.stem + "_" + strconv.Itoa(len(r.items))})
	r.open = true
	if !r.streamed {
		return b
	}
	it := &r.items[len(r.items)-1]
	b = r.event(b, "response.output_item.added")
	b = r.appendIndex(b)
	b = append(b, `,"item":`...)
	b = appendItem(b, it, "in_progress", false)
	b = append(b, "}\n\n"...)
	if reasoning {
		b = r.event(b, "response.reasoning_summary_part.added")
		b = r.appendRef(b, `,"summary_index":0,"part":{"type":"summary_text","text":""}`)
	} else {
		b = r.event(b, "response.content_part.added")
		b = r.appendRef(b, `,"content_index":0,"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}`)
	}
	return append(b, "}\n\n"...)
}

// closeItem appends the open item's done events, if an item is open.
func (r *responses) closeItem(b []byte, status string) []byte {
	if !r.open {
		return b
	}
	r.open = false
	if !r.streamed {
		return b
	}
	it := &r.items[len(r.items)-1]
	text := it.text.String()
	if it.reasoning {
		b = r.event(b, "response.reasoning_summary_text.done")
		b = r.appendRef(b, `,"summary_index":0,"text":`)
		b = appendString(b, text)
		b = append(b, "}\n\n"...)
		b = r.event(b, "response.reasoning_summary_part.done")
		b = r.appendRef(b, `,"summary_index":0,"part":{"type":"summary_text","text":`)
	} else {
		b = r.event(b, "response.output_text.done")
		b = r.appendRef(b, `,"content_index":0,"logprobs":[],"text":`)
		b = appendString(b, text)
		b = append(b, "}\n\n"...)
		b = r.event(b, "response.content_part.done")
		b = r.appendRef(b, `,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":`)
	}
	b = appendString(b, text)
	b = append(b, "}}\n\n"...)
	b = r.event(b, "response.output_item.done")
	b = r.appendIndex(b)
	b = append(b, `,"item":`...)
	b = appendItem(b, it, status, true)
	return append(b, "}\n\n"...)
}

func (r *responses) hasMessage() bool {
	for i := range r.items {
		if !r.items[i].reasoning {
			return true
		}
	}
	return false
}

// event appends the start of an SSE event named name, up to its data's
// sequence_number, and counts it.
func (r *responses) event(b []byte, name string) []byte {
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: {\"type\":\""...)
	b = append(b, name...)
	b = append(b, `","sequence_number":`...)
	b = strconv.AppendInt(b, r.seq, 10)
	r.seq++
	return b
}

// appendIndex appends the last item's output_index.
func (r *responses) appendIndex(b []byte) []byte {
	b = append(b, `,"output_index":`...)
	return strconv.AppendInt(b, int64(len(r.items)-1), 10)
}

// appendRef appends the last item's id and output_index, then rest.
func (r *responses) appendRef(b []byte, rest string) []byte {
	b = append(b, `,"item_id":`...)
	b = appendString(b, r.items[len(r.items)-1].id)
	b = r.appendIndex(b)
	return append(b, rest...)
}

// appendObject appends the response object. The last item is open only on
// a failure, and reads as incomplete then.
func (r *responses) appendObject(b []byte, status, reason string, f *Failure) []byte {
	b = append(b, r.head...)
	b = append(b, `"status":"`...)
	b = append(b, status...)
	b = append(b, `","error":`...)
	if f != nil {
		b = appendResponsesError(b, *f, false)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"incomplete_details":`...)
	if reason != "" {
		b = append(b, `{"reason":"`...)
		b = append(b, reason...)
		b = append(b, `"}`...)
	} else {
		b = append(b, "null"...)
	}
	// The opening events describe the response as it starts, whatever
	// the agent has sent by the time they are written.
	opening := status == "in_progress"
	b = append(b, `,"output":[`...)
	if !opening {
		for i := range r.items {
			if i > 0 {
				b = append(b, ',')
			}
			st := "completed"
			if i == len(r.items)-1 && (r.open || status == "incomplete") {
				st = "incomplete"
			}
			b = appendItem(b, &r.items[i], st, true)
		}
	}
	b = append(b, `],"usage":`...)
	if opening {
		return append(b, "null}"...)
	}
	b = appendResponsesUsage(b, r.tally.Usage())
	return append(b, '}')
}

func (r *responses) write(b []byte) error {
	r.buf = b
	_, err := r.w.Write(b)
	return err
}

// appendItem appends an output item; full adds its text.
func appendItem(b []byte, it *responseItem, status string, full bool) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, it.id)
	if it.reasoning {
		b = append(b, `,"type":"reasoning","status":"`...)
		b = append(b, status...)
		b = append(b, `","summary":[`...)
		if full {
			b = append(b, `{"type":"summary_text","text":`...)
			b = appendString(b, it.text.String())
			b = append(b, '}')
		}
		return append(b, "]}"...)
	}
	b = append(b, `,"type":"message","status":"`...)
	b = append(b, status...)
	b = append(b, `","role":"assistant","content":[`...)
	if full {
		b = append(b, `{"type":"output_text","annotations":[],"logprobs":[],"text":`...)
		b = appendString(b, it.text.String())
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendResponsesError appends f as OpenAI's error object: in an error
// event with its type (OpenAI's "error" event has one), in a response
// object without. The message carries the request id, which OpenAI's
// error has no field for.
func appendResponsesError(b []byte, f Failure, typed bool) []byte {
	b = append(b, '{')
	if typed {
		b = append(b, `"type":"server_error",`...)
	}
	b = append(b, `"code":`...)
	b = appendString(b, f.Code)
	b = append(b, `,"message":`...)
	b = appendString(b, failureMessage(f))
	if typed {
		b = append(b, `,"param":null`...)
	}
	return append(b, '}')
}

// appendResponsesUsage appends u in the Responses API's field names, or
// null when the agent reported none. The agents report no cached or
// reasoning token counts: those read 0.
func appendResponsesUsage(b []byte, u *event.Usage) []byte {
	if u == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.InputTokens), 10)
	b = append(b, `,"input_tokens_details":{"cached_tokens":0},"output_tokens":`...)
	b = strconv.AppendInt(b, int64(u.OutputTokens), 10)
	b = append(b, `,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	return append(b, '}')
}

// idStem is what the item ids of response id have in common: its last 22
// characters (ids end in their random or MAC part, unique per response),
// or all of it after "resp_" when shorter.
func idStem(id string) string {
	const n = 22
	stem := strings.TrimPrefix(id, "resp_")
	if len(stem) > n {
		stem = stem[len(stem)-n:]
	}
	return stem
}

func appendStringOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

// incompleteReason maps the last message's Bedrock stop reason to the
// Responses API's incomplete_details.reason, "" for a completed answer.
func incompleteReason(stopReason string) string {
	switch finishReason(stopReason) {
	case "length":
		return "max_output_tokens"
	case "content_filter":
		return "content_filter"
	}
	return ""
}
