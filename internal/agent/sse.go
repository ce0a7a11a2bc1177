package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/agentgate/agentgate/internal/model"
)

// The Bedrock ConverseStream event shapes a Strands agent yields. Field order
// is the order Strands/Bedrock write them, so the bytes match what clients
// of real agents see.
type (
	event struct {
		Event eventBody `json:"event"`
	}
	eventBody struct {
		MessageStart      *messageStart      `json:"messageStart,omitempty"`
		ContentBlockDelta *contentBlockDelta `json:"contentBlockDelta,omitempty"`
		ContentBlockStop  *contentBlockStop  `json:"contentBlockStop,omitempty"`
		MessageStop       *messageStop       `json:"messageStop,omitempty"`
		Metadata          *metadata          `json:"metadata,omitempty"`
	}
	messageStart struct {
		Role model.Role `json:"role"`
	}
	contentBlockDelta struct {
		Delta             textDelta `json:"delta"`
		ContentBlockIndex int       `json:"contentBlockIndex"`
	}
	textDelta struct {
		Text string `json:"text"`
	}
	contentBlockStop struct {
		ContentBlockIndex int `json:"contentBlockIndex"`
	}
	messageStop struct {
		StopReason string `json:"stopReason"`
	}
	metadata struct {
		Usage   model.Usage `json:"usage"`
		Metrics metrics     `json:"metrics"`
	}
	metrics struct {
		LatencyMs int64 `json:"latencyMs"`
	}
)

// streamError is the event the AgentCore Python SDK writes when a streaming
// handler raises (BedrockAgentCoreApp._stream_with_error_handling): the
// exception text, its type name, and a fixed message. Error carries a
// generic text here because provider errors can hold endpoint URLs.
type streamError struct {
	Error     string `json:"error"`
	ErrorType string `json:"error_type"`
	Message   string `json:"message"`
}

// streamErrorMessage is the SDK's fixed text; clients may match on it.
const streamErrorMessage = "An error occurred during streaming"

// errWrite marks a failed write to the client, which means it has gone.
var errWrite = errors.New("agent: write to client failed")

// sse writes Server-Sent Events to one response. It reuses one buffer and one
// encoder for the whole stream, and flushes every event at once: a reply is
// only useful to the client as it is produced.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf bytes.Buffer
	enc *json.Encoder

	// delta is reused for every contentBlockDelta, the one event written
	// per model token, so streaming a reply does not allocate per event.
	delta    contentBlockDelta
	deltaEvt event
}

// startSSE sends the stream's headers and returns its writer.
func startSSE(w http.ResponseWriter) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: http.NewResponseController(w)}
	s.enc = json.NewEncoder(&s.buf)
	// The Python SDK writes "<" as is (json.dumps does not escape HTML);
	// so must we, or replies with code in them would look different.
	s.enc.SetEscapeHTML(false)
	s.deltaEvt.Event.ContentBlockDelta = &s.delta
	return s
}

// writeText writes one contentBlockDelta for text.
func (s *sse) writeText(text string) error {
	s.delta.Delta.Text = text
	return s.write(&s.deltaEvt)
}

// write writes v as one event, "data: <json>\n\n", and flushes it.
func (s *sse) write(v any) error {
	s.buf.Reset()
	s.buf.WriteString("data: ")
	if err := s.enc.Encode(v); err != nil { // Encode ends the line with '\n'.
		return fmt.Errorf("agent: encode event: %w", err)
	}
	s.buf.WriteByte('\n')
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	// Lambda's streaming ResponseWriter cannot flush but sends every Write
	// at once, so ErrNotSupported is no failure.
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("%w: flush: %w", errWrite, err)
	}
	return nil
}
