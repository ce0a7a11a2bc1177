package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// streamSpec is what one invocation asks the synthetic agent for. It
// travels in the prompt, the one field every route (POST /, the OpenAI
// chat completion, the direct InvokeAgentRuntime payload) delivers to the
// agent unchanged.
type streamSpec struct {
	// Events is how many text deltas to send; the first goes at once.
	Events int
	// Size is each event's size on the wire, SSE framing included.
	Size int
	// Pace is the pause between two events.
	Pace time.Duration
	// Batch is how many events go in one write and flush when flooding.
	Batch int
	// Flood sends events as fast as the stream takes them until the
	// caller leaves.
	Flood bool
	// Hold sends the response header and then nothing until the caller
	// leaves: an idle stream.
	Hold bool
}

const specPrefix = "bench"

// prompt encodes s, e.g. "bench events=13 size=64 pace=20ms".
func (s streamSpec) prompt() string {
	var b strings.Builder
	b.WriteString(specPrefix)
	fmt.Fprintf(&b, " events=%d size=%d pace=%s batch=%d", s.Events, s.Size, s.Pace, s.Batch)
	if s.Flood {
		b.WriteString(" flood")
	}
	if s.Hold {
		b.WriteString(" hold")
	}
	return b.String()
}

// parseSpec reads what prompt encodes.
func parseSpec(prompt string) (streamSpec, error) {
	fields := strings.Fields(prompt)
	if len(fields) == 0 || fields[0] != specPrefix {
		return streamSpec{}, errors.New("not a bench prompt")
	}
	var s streamSpec
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		var err error
		switch k {
		case "events":
			s.Events, err = strconv.Atoi(v)
		case "size":
			s.Size, err = strconv.Atoi(v)
		case "pace":
			s.Pace, err = time.ParseDuration(v)
		case "batch":
			s.Batch, err = strconv.Atoi(v)
		case "flood":
			s.Flood = true
		case "hold":
			s.Hold = true
		default:
			err = errors.New("unknown field")
		}
		if err != nil {
			return streamSpec{}, fmt.Errorf("%s: %w", f, err)
		}
	}
	if s.Size < minEventSize {
		return streamSpec{}, fmt.Errorf("size=%d: at least %d", s.Size, minEventSize)
	}
	return s, nil
}

// An event is one ConverseStream text delta, as a Strands agent streams it
// without the "event" wrapper (which the gateway's auto dialect reads the
// same way), padded to its size. Its text starts with a marker: '~' and the
// emit time as 12 hex digits of nanoseconds since the harness started, on
// the clock the clients read too, so the event's latency can be read
// wherever its text shows up: in the original SSE, in transformed plain
// text, in an OpenAI chunk. '~' appears nowhere else in any format.
const (
	eventHead    = `data: {"contentBlockDelta":{"delta":{"text":"`
	eventTail    = `"}}}` + "\n\n"
	marker       = '~'
	markerLen    = 1 + 12
	minEventSize = len(eventHead) + markerLen + len(eventTail)
)

// streamEnd closes every answer as a model's would: a stop, then usage.
var streamEnd = []byte(`data: {"messageStop":{"stopReason":"end_turn"}}` + "\n\n" +
	`data: {"metadata":{"usage":{"inputTokens":8,"outputTokens":64,"totalTokens":72},"metrics":{"latencyMs":1}}}` + "\n\n")

// appendEvent appends an event of size bytes stamped ts.
func appendEvent(dst []byte, size int, ts int64) []byte {
	dst = append(dst, eventHead...)
	dst = append(dst, marker)
	for shift := 44; shift >= 0; shift -= 4 {
		dst = append(dst, "0123456789abcdef"[ts>>shift&0xf])
	}
	for range size - minEventSize {
		dst = append(dst, 'x')
	}
	return append(dst, eventTail...)
}

// clock is the harness's one monotonic clock: nanoseconds since it started.
// The agent stamps events with it and the clients read it when bytes
// arrive; both live in this process, so the difference is the latency.
type clock struct{ base time.Time }

func (c clock) now() int64 { return int64(time.Since(c.base)) }

// agent is the synthetic agent: an AgentCore-contract server (POST
// /invocations streaming Server-Sent Events, GET /ping) with no model. It
// streams what the prompt's streamSpec asks for.
//
// It answers on AgentCore's data-plane path too, POST
// /runtimes/{arn}/invocations, as InvokeAgentRuntime calls it, without
// checking the signature: so the gateway can call it straight, and the peer
// phase puts every relay one hop from it.
type agent struct{ clock clock }

func (a *agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/ping":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"Healthy"}`))
		return
	case r.Method != http.MethodPost || !isInvocation(r.URL.Path):
		http.NotFound(w, r)
		return
	}
	var payload struct {
		Prompt string `json:"prompt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&payload); err != nil {
		http.Error(w, "payload: "+err.Error(), http.StatusBadRequest)
		return
	}
	spec, err := parseSpec(payload.Prompt)
	if err != nil {
		http.Error(w, "prompt: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	ctx := r.Context()
	switch {
	case spec.Hold:
		<-ctx.Done()
	case spec.Flood:
		a.flood(ctx, w, rc, spec)
	default:
		a.paced(ctx, w, rc, spec)
	}
}

// isInvocation reports whether path is the container's /invocations or
// the data plane's /runtimes/{arn}/invocations (the ARN, unescaped, holds
// a slash).
func isInvocation(path string) bool {
	if path == "/invocations" {
		return true
	}
	arn, ok := strings.CutPrefix(path, "/runtimes/")
	return ok && strings.HasSuffix(arn, "/invocations") && len(arn) > len("/invocations")
}

// paced sends spec.Events events spec.Pace apart, each stamped just before
// it is written, then the end of the answer.
func (a *agent) paced(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, spec streamSpec) {
	buf := make([]byte, 0, spec.Size)
	var timer *time.Timer
	for i := range spec.Events {
		if i > 0 && spec.Pace > 0 {
			if timer == nil {
				timer = time.NewTimer(spec.Pace)
				defer timer.Stop()
			} else {
				timer.Reset(spec.Pace)
			}
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		buf = appendEvent(buf[:0], spec.Size, a.clock.now())
		if _, err := w.Write(buf); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
	_, _ = w.Write(streamEnd)
}

// flood writes spec.Batch events at a time, as fast as the stream takes
// them, until the caller leaves. Their stamps are 0: throughput runs count
// events, they do not time them, and the agent should cost as little CPU
// as it can.
func (a *agent) flood(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, spec streamSpec) {
	var batch []byte
	for range max(spec.Batch, 1) {
		batch = appendEvent(batch, spec.Size, 0)
	}
	for ctx.Err() == nil {
		if _, err := w.Write(batch); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}
