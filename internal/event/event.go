// Package event is the gateway's model of an agent's stream, and the
// decoders that read agent dialects into it. Derived output formats read
// only this model, never the upstream bytes, so every dialect gives the same
// answer in every format.
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
	// KindMetadata carries usage and metrics.
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
	// agent's own message for KindError (for the log, never for a client).
	Text string
	// StopReason is set on KindMessageStop.
	StopReason string
	// Usage is set on KindMetadata when the agent reported it.
	Usage *Usage
	// Metadata is the agent's metadata object as sent, on KindMetadata.
	Metadata json.RawMessage
}
