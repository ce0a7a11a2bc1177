// Package model holds the language-model providers behind the agent server:
// Bedrock ConverseStream, any OpenAI-compatible chat-completions endpoint, and
// an offline, deterministic built-in model.
package model

import (
	"context"
	"errors"
)

// Role names the author of a Message.
type Role string

// The roles a conversation holds.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Message is one turn of a conversation.
type Message struct {
	Role Role
	Text string
}

// Request is what the agent asks a model for: the whole conversation so far,
// ending with the user's newest message.
type Request struct {
	// System is an optional system prompt.
	System string
	// Messages alternate user and assistant turns and end with a user turn.
	Messages []Message
	// MaxTokens caps the reply; zero leaves the provider's default.
	MaxTokens int
	// Caller is who is asking, as whoever invoked the agent vouched for
	// them; zero when nobody said. The built-in model says it back; the
	// others do not pass it to their model.
	Caller Caller
}

// Caller is the signed-in user behind a request.
type Caller struct {
	// Principal names them (key:NAME, user:NAME, jwt:TAG:SUB, anonymous)
	// and Kind says how they signed in (apikey, password, jwt, none).
	Principal, Kind string
	// Details are further facts about them, such as the claims of their
	// token, each named after the header that brought it.
	Details []Detail
}

// Detail is one fact about a Caller.
type Detail struct {
	Name, Value string
}

// Usage counts the tokens one call consumed.
type Usage struct {
	InputTokens  int `json:"inputTokens"`
	OutputTokens int `json:"outputTokens"`
	TotalTokens  int `json:"totalTokens"`
}

// Result is what a finished call reports.
type Result struct {
	// StopReason is Bedrock's wording: "end_turn", "max_tokens", ...
	StopReason string
	Usage      Usage
}

// Provider streams one reply. It calls emit once per text delta, in order,
// as the model produces them, and returns when the reply is complete. An
// error from emit ends the call and is returned as is. Providers honour ctx
// cancellation promptly.
type Provider interface {
	Name() string
	Stream(ctx context.Context, req Request, emit func(delta string) error) (Result, error)
}

// ErrEmptyConversation is returned when a Request holds no user message.
var ErrEmptyConversation = errors.New("model: request has no messages")

// ErrTruncated is returned when a provider's stream ends before the model
// said it had finished, as when the connection drops mid-reply. Part of the
// reply may already have been emitted, so the caller should report the
// answer as cut short rather than quietly retry.
var ErrTruncated = errors.New("model: stream ended before the reply was complete")
