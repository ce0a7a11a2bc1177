package telemetry

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// emfLine is one embedded metric format object, as CloudWatch reads it.
type emfLine struct {
	AWS struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
	fields map[string]any
}

func parseEMF(t *testing.T, out string) []emfLine {
	t.Helper()
	var lines []emfLine
	for _, raw := range strings.Split(strings.TrimSpace(out), "\n") {
		var l emfLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("not JSON: %q", raw)
		}
		_ = json.Unmarshal([]byte(raw), &l.fields)
		if len(l.AWS.CloudWatchMetrics) != 1 {
			t.Fatalf("want one metric directive: %q", raw)
		}
		// Every dimension is a top-level string, every metric a top-level
		// number: otherwise CloudWatch drops the line's metrics.
		d := l.AWS.CloudWatchMetrics[0]
		for _, set := range d.Dimensions {
			for _, k := range set {
				if v, ok := l.fields[k].(string); !ok || v == "" {
					t.Errorf("dimension %s = %#v, want a non-empty string: %q", k, l.fields[k], raw)
				}
			}
		}
		for _, m := range d.Metrics {
			if _, ok := l.fields[m.Name].(float64); !ok {
				t.Errorf("metric %s = %#v, want a number: %q", m.Name, l.fields[m.Name], raw)
			}
		}
		lines = append(lines, l)
	}
	return lines
}

func TestEMFLinesCarryEachRequestsFigures(t *testing.T) {
	var out bytes.Buffer
	e := NewEMF(&out, "agentgate")
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	e.Now = func() time.Time { return at }

	e.Request(Request{Agent: "demo", Format: "ndjson", Status: 200, Outcome: "completed", TTFB: 1500 * time.Microsecond,
		Duration: 2 * time.Second, Bytes: 900, Events: 12, Skipped: 1, Heartbeats: 2, InputTokens: 30, OutputTokens: 40})
	e.Request(Request{Agent: "demo", Format: "original", Status: 200, Outcome: "upstream_timeout", TTFB: time.Millisecond, Duration: time.Minute})
	e.Request(Request{Status: 404, Outcome: "not_found", Duration: time.Millisecond})
	e.UpstreamError("demo", "throttled")
	e.LimitRefused("rate:principal")

	lines := parseEMF(t, out.String())
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want 5:\n%s", len(lines), out.String())
	}
	tests := []struct {
		name string
		line emfLine
		dims []string
		want map[string]any
	}{
		{"a completed stream", lines[0], []string{"agent", "format"}, map[string]any{
			"agent": "demo", "format": "ndjson", "status": "200", "Requests": 1.0, "Errors": 0.0, "TimeToFirstByte": 1.5,
			"Duration": 2000.0, "ResponseBytes": 900.0, "Events": 12.0, "SkippedEvents": 1.0, "Heartbeats": 2.0,
			"InputTokens": 30.0, "OutputTokens": 40.0}},
		{"a stream ended by a terminal error counts as an error", lines[1], []string{"agent", "format"}, map[string]any{
			"outcome": "upstream_timeout", "Errors": 1.0, "Duration": 60000.0}},
		{"a request without agent or format gets placeholder dimensions", lines[2], []string{"agent", "format"}, map[string]any{
			"agent": "none", "format": "none", "status": "404", "Errors": 0.0}},
		{"an upstream error", lines[3], []string{"agent", "kind"}, map[string]any{"kind": "throttled", "UpstreamErrors": 1.0}},
		{"a limiter refusal", lines[4], []string{"limit"}, map[string]any{"limit": "rate:principal", "LimitRefusals": 1.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.line.AWS.CloudWatchMetrics[0]
			if d.Namespace != "agentgate" || tt.line.AWS.Timestamp != at.UnixMilli() || !slices.Equal(d.Dimensions[0], tt.dims) {
				t.Errorf("directive %+v at %d, want namespace agentgate, dimensions %v at %d", d, tt.line.AWS.Timestamp, tt.dims, at.UnixMilli())
			}
			for k, v := range tt.want {
				if tt.line.fields[k] != v {
					t.Errorf("%s = %#v, want %#v", k, tt.line.fields[k], v)
				}
			}
		})
	}
	if _, ok := lines[2].fields["ResponseBytes"]; ok {
		t.Error("a request that named no agent reports stream figures")
	}
}
