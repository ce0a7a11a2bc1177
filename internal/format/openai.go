package format

import (
	"io"
	"strconv"

	"github.com/agentgate/agentgate/internal/event"
)

// openAI writes an OpenAI chat.completion.chunk event stream: a chunk with
// the assistant role, one chunk per text delta, a chunk with an empty delta
// and the finish reason, the usage chunk when asked for, then
// `data: [DONE]`. Every chunk carries the same id, created and model.
// Tools run inside the agent, so a tool loop reads as one answer that
// finishes with "stop", never "tool_calls".
//
// A failure after the start is an event whose data is OpenAI's error
// object, `{"error":{"message","type","param","code"}}`, followed by
// `data: [DONE]`: the OpenAI SDKs stop at an event with a top-level
// "error" member and raise it (openai-go's ssestream returns a
// StreamError; openai-python an APIError), and clients that only watch
// for [DONE] still see the stream end.
type openAI struct {
	readsEvents
	streaming
	w io.Writer
	// head is `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":[`,
	// tail `,"usage":null` when usage was asked for (OpenAI then puts a
	// null usage on every other chunk), else empty.
	head, tail []byte
	usage      bool
	reasoning  bool
	started    bool // the role chunk was written
	tally      tally
	buf        []byte
}

func newOpenAI(w io.Writer, opts Options) *openAI {
	id, created := opts.completion()
	head := append([]byte(nil), `data: {"id":`...)
	head = appendString(head, id)
	head = append(head, `,"object":"chat.completion.chunk","created":`...)
	head = strconv.AppendInt(head, created, 10)
	head = append(head, `,"model":`...)
	head = appendString(head, opts.Model)
	head = append(head, `,"choices":[`...)
	o := &openAI{w: w, head: head, usage: opts.IncludeUsage, reasoning: opts.IncludeReasoning}
	if o.usage {
		o.tail = []byte(`,"usage":null`)
	}
	return o
}

func (o *openAI) ContentType() string { return "text/event-stream; charset=utf-8" }

func (o *openAI) Event(e event.Event) error {
	var key string
	switch {
	case e.Kind == event.KindText:
		key = "content"
	case e.Kind == event.KindReasoning && o.reasoning:
		key = "reasoning_content"
	default:
		o.tally.add(e)
		return nil
	}
	if e.Text == "" {
		return nil
	}
	b := o.start(o.buf[:0])
	b = o.appendChunk(b, `{"index":0,"delta":{"`)
	b = append(b, key...)
	b = append(b, `":`...)
	b = appendString(b, e.Text)
	b = append(b, `},"finish_reason":null}]`...)
	return o.write(o.endChunk(b))
}

var doneEvent = []byte("data: [DONE]\n\n")

func (o *openAI) Heartbeat() error {
	_, err := o.w.Write(keepAlive)
	return err
}

// Finish writes the finish-reason chunk, the usage chunk when asked for,
// and [DONE]. The session id travels only in the response header.
func (o *openAI) Finish(string) error {
	b := o.start(o.buf[:0])
	b = o.appendChunk(b, `{"index":0,"delta":{},"finish_reason":"`)
	b = append(b, finishReason(o.tally.stopReason)...)
	b = o.endChunk(append(b, `"}]`...))
	if o.usage {
		b = append(b, o.head...)
		b = append(b, `],"usage":`...)
		b = appendOpenAIUsage(b, o.tally.Usage())
		b = append(b, "}\n\n"...)
	}
	return o.write(append(b, doneEvent...))
}

// Fail writes OpenAI's error object, then [DONE]. The message carries the
// request id, since OpenAI's error object has no field for it.
func (o *openAI) Fail(f Failure) error {
	b := append(o.buf[:0], `data: {"error":{"message":`...)
	b = appendString(b, failureMessage(f))
	b = append(b, `,"type":"server_error","param":null,"code":`...)
	b = appendString(b, f.Code)
	b = append(b, "}}\n\n"...)
	return o.write(append(b, doneEvent...))
}

// start appends the role chunk if no chunk was written yet.
func (o *openAI) start(b []byte) []byte {
	if o.started {
		return b
	}
	o.started = true
	b = o.appendChunk(b, `{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]`)
	return o.endChunk(b)
}

func (o *openAI) appendChunk(b []byte, choice string) []byte {
	b = append(b, o.head...)
	return append(b, choice...)
}

func (o *openAI) endChunk(b []byte) []byte {
	b = append(b, o.tail...)
	return append(b, "}\n\n"...)
}

func (o *openAI) write(b []byte) error {
	o.buf = b
	_, err := o.w.Write(b)
	return err
}

// finishReason maps the last message's Bedrock stop reason to OpenAI's.
func finishReason(stopReason string) string {
	switch stopReason {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "content_filtered", "guardrail_intervened":
		return "content_filter"
	}
	// end_turn, stop_sequence, none at all, and tool_use: the agent runs
	// its tools itself, so the client has nothing to call.
	return "stop"
}

// failureMessage is f's message with its request id, for error shapes that
// have no field of their own for it.
func failureMessage(f Failure) string {
	if f.RequestID == "" {
		return f.Message
	}
	return f.Message + " (request id " + f.RequestID + ")"
}
