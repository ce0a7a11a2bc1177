package agentcorelocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/agentgate/agentgate/internal/sse"
)

// relayLimit bounds one line and one block of a stream relayed event by
// event: AgentCore's limit on a stream chunk (10 MB). A longer one breaks
// the stream, as a failure of the agent would. Buffers grow only as far as
// the stream needs.
const relayLimit = 10 << 20

// relayEvents is how a stream flows from the agent to the caller when a
// per-event fault is set (copyStream is the other way). It relays the
// stream one SSE block at a time, each block's exact bytes written and
// flushed as soon as its blank line has arrived, so that it can count the
// agent's events and misbehave between them. A trailing incomplete block is
// relayed as it is, uncounted, as copyStream would.
func (s *Server) relayEvents(ctx context.Context, w http.ResponseWriter, body io.Reader, x *exchange, rt *runtime, f Fault) error {
	out := newStreamWriter(w, &x.bytes)
	blocks := sse.NewReader(body, sse.Options{MaxLineBytes: relayLimit, MaxEventBytes: relayLimit})
	for {
		ev, err := blocks.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read from agent: %w", err)
		}
		event := ev.HasData && !ev.Incomplete
		if event && f.DelayEach > 0 {
			if err := s.pause(ctx, f.DelayEach); err != nil {
				return err
			}
		}
		if err := out.write(ev.Raw); err != nil {
			return err
		}
		if !event {
			continue
		}
		x.events++
		if end, err := s.afterEvent(out, x, rt, f); end {
			return err
		}
	}
}

// afterEvent does what f asks for after the agent's event number x.events,
// in stream order, and reports whether the stream ends there. It ends with
// an error wrapping ErrFault when the stream is to be aborted, and with
// nil, its body complete, after a mid-stream error event.
func (s *Server) afterEvent(out streamWriter, x *exchange, rt *runtime, f Fault) (end bool, err error) {
	n := x.events
	if n == f.MalformedAfter {
		if err := out.write(malformedEvent); err != nil {
			return true, err
		}
	}
	if n == f.OversizedAfter {
		if err := out.write(oversizedEvent()); err != nil {
			return true, err
		}
	}
	if n != f.DropAfter {
		return false, nil
	}
	if f.MidStreamError == "" {
		return true, fmt.Errorf("%w: stream dropped after %d events", ErrFault, n)
	}
	// The body ends cleanly, so the error is only the report's to tell.
	x.err = fmt.Errorf("%w: %s after %d events", ErrFault, f.MidStreamError, n)
	return true, out.write(midStreamErrorEvent(f.MidStreamError, rt.arn, s.region))
}

// malformedEvent is an event whose data is not JSON, as a broken agent
// might write.
var malformedEvent = []byte("data: {\"event\": {not json\n\n")

// oversizedValueBytes is the length of the value of oversizedEvent's data
// line: twice the line limit of internal/sse's reader by default.
const oversizedValueBytes = 2 << 20

// oversizedEvent is an event of one data line whose value, a JSON string,
// is oversizedValueBytes long. It is built once, when first needed.
var oversizedEvent = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.Grow(len("data: ") + oversizedValueBytes + len("\n\n"))
	b.WriteString(`data: "`)
	b.Write(bytes.Repeat([]byte("x"), oversizedValueBytes-2))
	b.WriteString("\"\n\n")
	return b.Bytes()
})

// midStreamErrorEvent is what a caller of AgentCore sees when an agent
// fails mid-stream. InvokeAgentRuntime's response is a plain byte stream,
// with no modeled error events (unlike InvokeAgentRuntimeCommand's event
// stream), so AgentCore writes nothing of its own: the caller gets what the
// agent's framework writes. AgentCore's Python SDK, whose
// BedrockAgentCoreApp serves most agents, catches the exception of a
// streaming handler and writes one more event,
//
//	data: {"error": str(e), "error_type": type(e).__name__, "message": "An error occurred during streaming"}
//
// in json.dumps's spacing, then ends the body cleanly
// (bedrock_agentcore/runtime/app.py, _stream_with_error_handling). Here
// str(e) is a message naming the runtime's ARN and region.
func midStreamErrorEvent(errorType, arn, region string) []byte {
	message := fmt.Sprintf("Agent runtime %s in region %s failed while streaming its response", arn, region)
	var b bytes.Buffer
	b.WriteString(`data: {"error": `)
	b.Write(jsonString(message))
	b.WriteString(`, "error_type": `)
	b.Write(jsonString(errorType))
	b.WriteString(`, "message": "An error occurred during streaming"}` + "\n\n")
	return b.Bytes()
}

// jsonString encodes s as a JSON string.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}
