package agent

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/agentgate/agentgate/internal/model"
)

// A dialect is the shape an agent streams its reply in. Real AgentCore
// agents use several; the agent server speaks each, chosen per request by
// the payload's "dialect" field, so the gateway's readers can be shown
// and tested against all of them over real HTTP.
type dialect interface {
	begin(out *sse) error
	text(out *sse, delta string) error
	end(out *sse, stopReason string, usage model.Usage, latency time.Duration) error
	fail(out *sse) error
}

// dialectNames lists what the "dialect" field accepts.
var dialectNames = []string{"strands", "text", "agui"}

// newDialect returns the writer for name ("" is strands).
func newDialect(name, session string) (dialect, error) {
	switch name {
	case "", "strands":
		return strands{}, nil
	case "text":
		return textDialect{}, nil
	case "agui":
		return &agui{thread: session, run: randomID(), message: randomID()}, nil
	}
	return nil, fmt.Errorf("dialect: %q is not one of %v", name, dialectNames)
}

// dialectField reads the optional "dialect" member of a payload.
func dialectField(fields map[string]json.RawMessage) (string, error) {
	raw, ok := fields["dialect"]
	if !ok {
		return "", nil
	}
	var name string
	if json.Unmarshal(raw, &name) != nil {
		return "", fmt.Errorf("dialect must be a string")
	}
	return name, nil
}

// strands writes Bedrock ConverseStream events, as a Strands agent does.
type strands struct{}

func (strands) begin(out *sse) error {
	return out.write(event{Event: eventBody{MessageStart: &messageStart{Role: model.RoleAssistant}}})
}

func (strands) text(out *sse, delta string) error { return out.writeText(delta) }

func (strands) end(out *sse, stopReason string, usage model.Usage, latency time.Duration) error {
	for _, ev := range []eventBody{
		{ContentBlockStop: &contentBlockStop{}},
		{MessageStop: &messageStop{StopReason: stopReason}},
		{Metadata: &metadata{Usage: usage, Metrics: metrics{LatencyMs: latency.Milliseconds()}}},
	} {
		if err := out.write(event{Event: ev}); err != nil {
			return err
		}
	}
	return nil
}

func (strands) fail(out *sse) error {
	return out.write(streamError{Error: errorTextProvider, ErrorType: errorTypeProvider, Message: streamErrorMessage})
}

// textDialect writes each delta as a JSON string, as the AgentCore Python
// SDK does for a handler that yields text. It carries no usage.
type textDialect struct{}

func (textDialect) begin(*sse) error { return nil }

func (textDialect) text(out *sse, delta string) error { return out.write(delta) }

func (textDialect) end(*sse, string, model.Usage, time.Duration) error { return nil }

func (textDialect) fail(out *sse) error { return strands{}.fail(out) }

// agui writes AG-UI protocol events. AG-UI carries no token usage.
type agui struct {
	thread, run, message string
}

type aguiEvent struct {
	Type      string `json:"type"`
	ThreadID  string `json:"threadId,omitempty"`
	RunID     string `json:"runId,omitempty"`
	MessageID string `json:"messageId,omitempty"`
	Role      string `json:"role,omitempty"`
	Delta     string `json:"delta,omitempty"`
	Message   string `json:"message,omitempty"`
}

func (a *agui) begin(out *sse) error {
	if err := out.write(aguiEvent{Type: "RUN_STARTED", ThreadID: a.thread, RunID: a.run}); err != nil {
		return err
	}
	return out.write(aguiEvent{Type: "TEXT_MESSAGE_START", MessageID: a.message, Role: "assistant"})
}

func (a *agui) text(out *sse, delta string) error {
	if delta == "" { // AG-UI requires a non-empty delta
		return nil
	}
	return out.write(aguiEvent{Type: "TEXT_MESSAGE_CONTENT", MessageID: a.message, Delta: delta})
}

func (a *agui) end(out *sse, _ string, _ model.Usage, _ time.Duration) error {
	if err := out.write(aguiEvent{Type: "TEXT_MESSAGE_END", MessageID: a.message}); err != nil {
		return err
	}
	return out.write(aguiEvent{Type: "RUN_FINISHED", ThreadID: a.thread, RunID: a.run})
}

func (a *agui) fail(out *sse) error {
	return out.write(aguiEvent{Type: "RUN_ERROR", Message: errorTextProvider})
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
