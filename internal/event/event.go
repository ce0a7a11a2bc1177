package event

import "encoding/json"

// Kind says what an Event carries.
type Kind int

// The kinds of event.
const (
	// KindText is a delta of the answer's text.
	KindText Kind = iota + 1
	// KindToolUse is a delta of a tool call's input.
	KindToolUse
	// KindReasoning is a delta of the model's reasoning.
	KindReasoning
	// KindMessageStart opens one model message; a tool loop has several.
	KindMessageStart
	// KindMessageStop closes one model message.
	KindMessageStop
	// KindMetadata carries usage and metrics. Only Strands agents report
	// them; a stream without one has no usage to report.
	KindMetadata
	// KindError is the agent's own report of a failure.
	KindError
)

// Usage counts tokens.
type Usage struct {
	InputTokens  int `json:"inputTokens"`
	OutputTokens int `json:"outputTokens"`
	TotalTokens  int `json:"totalTokens"`
}

// Event is one thing an agent said.
type Event struct {
	Kind Kind
	// Text is the delta for KindText, KindToolUse and KindReasoning, and the
	// agent's own message or the whole error event for KindError (for the
	// log, never for a client).
	Text string
	// StopReason is set on KindMessageStop when the agent gave one, as it
	// gave it ("end_turn", "tool_use", ...); AG-UI gives none, so it is "".
	StopReason string
	// Usage is set on KindMetadata when the agent reported it.
	Usage *Usage
	// Metadata is the agent's metadata object, compacted, on KindMetadata.
	Metadata json.RawMessage
}
