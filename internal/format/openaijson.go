package format

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/internal/event"
)

// openAIJSON writes one OpenAI chat.completion object at Finish:
//
//	{"id":…,"object":"chat.completion","created":…,"model":…,
//	 "choices":[{"index":0,"message":{"role":"assistant","content":"<all text>"},"finish_reason":"stop"}],
//	 "usage":{"prompt_tokens":…,"completion_tokens":…,"total_tokens":…}|null}
//
// It holds the answer until then, bounded by Options.MaxBufferedBytes, and
// writes nothing before: Buffered stays true, so the gateway can still
// answer a failure with a status code. Fail therefore writes nothing, and so
// does Heartbeat (leading white space would be valid JSON, but it would
// commit the status line).
type openAIJSON struct {
	readsEvents
	w          io.Writer
	id, model  string
	created    int64
	reasoning  bool
	max        int
	text, rsng strings.Builder
	tally      tally
	err        error // ErrResponseTooLarge, once the answer outgrew max
	wrote      bool
}

func newOpenAIJSON(w io.Writer, opts Options) *openAIJSON {
	id, created := opts.completion()
	o := &openAIJSON{w: w, id: id, model: opts.Model, created: created, reasoning: opts.IncludeReasoning, max: opts.MaxBufferedBytes}
	if o.max <= 0 {
		o.max = DefaultMaxBufferedBytes
	}
	return o
}

func (o *openAIJSON) ContentType() string { return "application/json" }

// Buffered reports that nothing was written yet: true until Finish.
func (o *openAIJSON) Buffered() bool { return !o.wrote }

func (o *openAIJSON) Event(e event.Event) error {
	var sb *strings.Builder
	switch {
	case e.Kind == event.KindText:
		sb = &o.text
	case e.Kind == event.KindReasoning && o.reasoning:
		sb = &o.rsng
	default:
		o.tally.add(e)
		return nil
	}
	if o.err != nil {
		return o.err
	}
	if o.text.Len()+o.rsng.Len()+len(e.Text) > o.max {
		o.err = fmt.Errorf("%w: the answer passed %d bytes; ask for a streamed response instead", ErrResponseTooLarge, o.max)
		o.text, o.rsng = strings.Builder{}, strings.Builder{}
		return o.err
	}
	sb.WriteString(e.Text)
	return nil
}

func (o *openAIJSON) Heartbeat() error { return nil }

// Finish writes the whole object in one Write; the session id travels only
// in the response header.
func (o *openAIJSON) Finish(string) error {
	if o.err != nil {
		return o.err
	}
	b := make([]byte, 0, 256+o.text.Len()+o.rsng.Len()+o.text.Len()/8)
	b = append(b, `{"id":`...)
	b = appendString(b, o.id)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, o.created, 10)
	b = append(b, `,"model":`...)
	b = appendString(b, o.model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	b = appendString(b, o.text.String())
	if o.rsng.Len() > 0 {
		b = append(b, `,"reasoning_content":`...)
		b = appendString(b, o.rsng.String())
	}
	b = append(b, `},"finish_reason":"`...)
	b = append(b, finishReason(o.tally.stopReason)...)
	b = append(b, `"}],"usage":`...)
	b = appendOpenAIUsage(b, o.tally.Usage())
	b = append(b, "}\n"...)
	o.wrote = true
	_, err := o.w.Write(b)
	return err
}

// Fail writes nothing: the client has seen nothing yet, and the gateway
// answers with a status code and its JSON error (see Buffered).
func (o *openAIJSON) Fail(Failure) error { return nil }
