// Package format writes an agent's stream in the shape a client asked for.
// Each format is an Encoder; the gateway feeds it every upstream SSE block
// (for byte-exact pass-through) and the events decoded from it (for the
// derived formats), then either Finish or Fail, exactly once.
package format

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/agentgate/agentgate/internal/event"
)

// Name identifies a format.
type Name string

// The formats.
const (
	Original    Name = "original"
	Transformed Name = "transformed"
)

// Names lists the valid format names, in the order help texts show them.
var Names = []Name{Original, Transformed}

// Parse returns the format named s, or an error that lists the valid ones.
func Parse(s string) (Name, error) {
	if slices.Contains(Names, Name(s)) {
		return Name(s), nil
	}
	valid := make([]string, len(Names))
	for i, n := range Names {
		valid[i] = string(n)
	}
	return "", fmt.Errorf("unknown response format %q: valid ones are %s", s, strings.Join(valid, ", "))
}

// Failure is a terminal error as the client sees it: agentgate's own
// wording, never upstream text.
type Failure struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

// Encoder writes one response stream. Calls come from one goroutine. A
// write error means the client is gone; the caller stops the stream.
type Encoder interface {
	// ContentType is the response's Content-Type.
	ContentType() string
	// Raw receives each upstream SSE block exactly as read.
	Raw(block []byte) error
	// Event receives each event decoded from the upstream stream.
	Event(e event.Event) error
	// Finish ends a stream that completed.
	Finish(sessionID string) error
	// Fail ends a stream with one terminal error.
	Fail(f Failure) error
}

// New returns the encoder for name writing to w.
func New(name Name, w io.Writer) Encoder {
	switch name {
	case Transformed:
		return &transformed{w: w}
	default:
		return &original{w: w}
	}
}
