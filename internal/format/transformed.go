package format

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/agentgate/agentgate/internal/event"
)

// Separator comes between the answer and its metadata in transformed mode.
const Separator = "\n----------\n"

// transformed writes the answer's text as plain text as it arrives, then
// the separator, the metadata JSON and a line with the runtime session id.
type transformed struct {
	w        io.Writer
	metadata json.RawMessage
}

func (t *transformed) ContentType() string { return "text/plain; charset=utf-8" }

func (t *transformed) Raw([]byte) error { return nil }

func (t *transformed) Event(e event.Event) error {
	switch e.Kind {
	case event.KindText:
		_, err := io.WriteString(t.w, e.Text)
		return err
	case event.KindMetadata:
		// The last report wins: copy it, the event's bytes are not ours.
		t.metadata = append(t.metadata[:0], e.Metadata...)
	}
	return nil
}

func (t *transformed) Finish(sessionID string) error {
	meta := t.metadata
	if len(meta) == 0 {
		meta = json.RawMessage(`{"usage":null}`)
	}
	sess, _ := json.Marshal(struct {
		RuntimeSessionID string `json:"runtimeSessionId"`
	}{sessionID})
	_, err := fmt.Fprintf(t.w, "%s%s\n%s", Separator, meta, sess)
	return err
}

// Fail writes a line of its own: `[error] message (code, request id)`.
func (t *transformed) Fail(f Failure) error {
	_, err := fmt.Fprintf(t.w, "\n[error] %s (%s, request id %s)\n", f.Message, f.Code, f.RequestID)
	return err
}
