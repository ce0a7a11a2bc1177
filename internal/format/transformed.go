package format

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/agentgate/agentgate/internal/event"
)

// Separator comes between the answer and its metadata in transformed mode.
const Separator = "\n----------\n"

// transformed writes the answer's text as plain text as it arrives, then
// the separator, the metadata JSON and a line with the runtime session id.
type transformed struct {
	readsEvents
	streaming
	w     io.Writer
	shown deltas
	tally tally
}

func (t *transformed) ContentType() string { return "text/plain; charset=utf-8" }

func (t *transformed) Event(e event.Event) error {
	if !t.shown.shows(e.Kind) {
		t.tally.add(e)
		return nil
	}
	_, err := io.WriteString(t.w, e.Text)
	return err
}

// Heartbeat writes nothing: plain text has no bytes a reader would skip.
func (t *transformed) Heartbeat() error { return nil }

func (t *transformed) Finish(sessionID string) error {
	sess, _ := json.Marshal(struct {
		RuntimeSessionID string `json:"runtimeSessionId"`
	}{sessionID})
	_, err := fmt.Fprintf(t.w, "%s%s\n%s", Separator, t.metadata(), sess)
	return err
}

// metadata is the object printed after the separator: the agent's own
// when it reported once (as in the seed), {"usage":null} when it never
// did, and for a tool loop that reported several times
// {"usage":{summed},"metrics":{"latencyMs":summed}}, where usage is null
// when no report carried any and metrics is left out when none had a
// latency.
func (t *transformed) metadata() []byte {
	tl := &t.tally
	switch {
	case tl.reports == 0:
		return []byte(`{"usage":null}`)
	case tl.reports == 1:
		return tl.first
	}
	b := appendUsage([]byte(`{"usage":`), tl.Usage())
	if tl.hasLatency {
		b = append(b, `,"metrics":{"latencyMs":`...)
		b = strconv.AppendInt(b, tl.latencyMs, 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// Fail writes a line of its own: `[error] message (code, request id)`.
func (t *transformed) Fail(f Failure) error {
	_, err := fmt.Fprintf(t.w, "\n[error] %s (%s, request id %s)\n", f.Message, f.Code, f.RequestID)
	return err
}
