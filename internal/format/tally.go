package format

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/agentgate/agentgate/internal/event"
)

// tally gathers what the derived formats report at the end of a stream. A
// tool loop has one message and one metadata report per model call and
// reads as one answer: its usage and latency are the sums of every report,
// and its stop reason is the last message's.
type tally struct {
	usage      event.Usage
	hasUsage   bool
	latencyMs  int64
	hasLatency bool
	// reports counts metadata events; first is the first one's object as
	// the agent sent it (compacted by the decoder), copied because the
	// event's bytes are not ours.
	reports    int
	first      []byte
	stopReason string
}

// add takes in e if it is a message stop or a metadata report.
func (t *tally) add(e event.Event) {
	switch e.Kind {
	case event.KindMessageStop:
		t.stopReason = e.StopReason
	case event.KindMetadata:
		t.reports++
		if t.reports == 1 {
			t.first = append(t.first[:0], e.Metadata...)
		}
		if u := e.Usage; u != nil {
			t.usage.InputTokens += u.InputTokens
			t.usage.OutputTokens += u.OutputTokens
			t.usage.TotalTokens += u.TotalTokens
			t.hasUsage = true
		}
		if ms, ok := latencyMs(e.Metadata); ok {
			t.latencyMs += ms
			t.hasLatency = true
		}
	}
}

// Usage returns the summed usage, or nil when no report carried any.
func (t *tally) Usage() *event.Usage {
	if !t.hasUsage {
		return nil
	}
	return &t.usage
}

// latencyMs reads metrics.latencyMs from a metadata object. Metadata comes
// once per model call, so decoding it here costs nothing that matters.
func latencyMs(raw json.RawMessage) (int64, bool) {
	var m struct {
		Metrics struct {
			LatencyMs json.Number `json:"latencyMs"`
		} `json:"metrics"`
	}
	if json.Unmarshal(raw, &m) != nil || m.Metrics.LatencyMs == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(string(m.Metrics.LatencyMs), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(m.Metrics.LatencyMs), 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > math.MaxInt64/2 {
		return 0, false
	}
	return int64(math.Round(f)), true
}
