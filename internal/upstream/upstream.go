// Package upstream reaches the agents behind the gateway. An Invoker starts
// one streamed invocation; the agentcore Invoker does it through the AWS SDK
// (InvokeAgentRuntime, SigV4). Failures are reported as *Error values whose
// Kind the gateway maps to a public answer; their wrapped errors may carry
// upstream identifiers and must never reach a client.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Request is one invocation of an agent.
type Request struct {
	// Payload is the body the agent receives (JSON by convention).
	Payload []byte
	// SessionID is the runtime session id (33 to 256 characters).
	SessionID string
	// UserID, when set, travels as the runtime user id.
	UserID string
	// TraceParent, TraceState and Baggage carry W3C trace context upstream.
	TraceParent, TraceState, Baggage string
	// Headers are more headers for the agent: AgentCore custom headers
	// (X-Amzn-Bedrock-AgentCore-Runtime-Custom-*) that tell it who is
	// asking. They are signed with the rest of the request; the runtime
	// passes on those it allow-lists.
	Headers http.Header
}

// Response is a started invocation. The caller reads Body as the agent
// streams and must close it.
type Response struct {
	Body        io.ReadCloser
	ContentType string
	SessionID   string
}

// Invoker starts invocations of one agent and ends its sessions.
type Invoker interface {
	// Invoke returns as soon as the upstream answered with headers; the
	// stream follows in Response.Body. ctx governs the whole stream.
	Invoke(ctx context.Context, req Request) (*Response, error)
	// StopSession ends a runtime session upstream.
	StopSession(ctx context.Context, sessionID string) error
}

// Checker is implemented by an Invoker that can tell, cheaply and without
// invoking the agent, whether its upstream can be reached.
type Checker interface {
	Check(ctx context.Context) error
}

// Kind classifies an upstream failure for the public answer.
type Kind int

// The kinds of upstream failure.
const (
	KindUnknown       Kind = iota
	KindValidation         // the upstream refused the request as invalid
	KindAccessDenied       // our credentials were refused
	KindNotFound           // the runtime or session does not exist
	KindThrottled          // too many requests
	KindQuotaExceeded      // a service quota is spent
	KindAgentFailed        // the agent container failed (RuntimeClientError)
	KindInternal           // the service failed
	KindUnavailable        // the service is unavailable or a session is still starting
	KindConflict           // the session is busy starting or stopping
	KindTimeout            // no answer in time
	KindConnection         // the upstream could not be reached
)

var kindNames = [...]string{"unknown", "validation", "access_denied", "not_found", "throttled",
	"quota_exceeded", "agent_failed", "internal", "unavailable", "conflict", "timeout", "connection"}

// String returns the kind's snake_case name, fit for logs and metric labels.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an upstream failure. Err holds the full upstream error for the
// server log; it may contain ARNs and account ids.
type Error struct {
	Kind Kind
	// Status is the upstream HTTP status, 0 when none was received.
	Status int
	// RetryAfter is the upstream's hint, 0 when none.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	return fmt.Sprintf("upstream %s (status %d): %v", e.Kind, e.Status, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same request may succeed if sent again
// before any byte of the answer reached the client.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindThrottled, KindInternal, KindUnavailable, KindConflict, KindConnection:
		return true
	}
	return false
}

// KindOf returns the Kind of err, KindUnknown when err is not an *Error.
func KindOf(err error) Kind {
	var ue *Error
	if errors.As(err, &ue) {
		return ue.Kind
	}
	return KindUnknown
}
