package format

import (
	"encoding/json"
	"io"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/sse"
)

// original passes the upstream SSE bytes through unchanged.
type original struct {
	w io.Writer
}

func (o *original) ContentType() string { return "text/event-stream; charset=utf-8" }

func (o *original) Raw(block []byte) error {
	_, err := o.w.Write(block)
	return err
}

func (o *original) Event(event.Event) error { return nil }

func (o *original) Finish(string) error { return nil }

// Fail writes an `event: error` whose data is {"error": Failure}.
func (o *original) Fail(f Failure) error {
	data, _ := json.Marshal(struct {
		Error Failure `json:"error"`
	}{f})
	return sse.WriteEvent(o.w, "error", data)
}
