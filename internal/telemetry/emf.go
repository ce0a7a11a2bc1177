package telemetry

import (
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"time"
)

// EMF is a Recorder that writes each figure as a CloudWatch embedded metric
// format line: a JSON object CloudWatch Logs turns into metrics on its own.
// It stands in for the scrape endpoint in Lambda, where nothing can scrape
// a function. Gauges (open streams) have no meaning there, one invocation
// per instance, and are not written.
type EMF struct {
	// Namespace is the CloudWatch metric namespace.
	Namespace string
	// Now is the clock of the lines' timestamps; nil is time.Now.
	Now func() time.Time

	mu sync.Mutex
	w  io.Writer
}

// NewEMF returns an EMF recorder writing lines to w under namespace.
func NewEMF(w io.Writer, namespace string) *EMF {
	return &EMF{Namespace: namespace, w: w}
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// line writes one EMF object: dimensions and properties are strings,
// metrics numbers, all at the top level beside _aws.
func (e *EMF) line(dims []string, props map[string]any, metrics []emfMetric) {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	props["_aws"] = emfMeta{
		Timestamp:         now().UnixMilli(),
		CloudWatchMetrics: []emfDirective{{Namespace: e.Namespace, Dimensions: [][]string{dims}, Metrics: metrics}},
	}
	b, err := json.Marshal(props)
	if err != nil {
		return // only strings and numbers go in
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(append(b, '\n'))
}

// dimension returns v, or "none": CloudWatch refuses empty dimension values.
func dimension(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Request implements Recorder.
func (e *EMF) Request(r Request) {
	props := map[string]any{
		"agent":    dimension(r.Agent),
		"format":   dimension(r.Format),
		"status":   strconv.Itoa(r.Status),
		"outcome":  r.Outcome,
		"Requests": 1,
		"Duration": millis(r.Duration),
	}
	metrics := []emfMetric{{"Requests", "Count"}, {"Duration", "Milliseconds"}}
	errs := 0
	if r.Failed() {
		errs = 1
	}
	props["Errors"] = errs
	metrics = append(metrics, emfMetric{"Errors", "Count"})
	if r.TTFB > 0 {
		props["TimeToFirstByte"] = millis(r.TTFB)
		metrics = append(metrics, emfMetric{"TimeToFirstByte", "Milliseconds"})
	}
	if r.Agent != "" {
		for _, m := range []struct {
			name, unit string
			v          int64
		}{
			{"ResponseBytes", "Bytes", r.Bytes},
			{"Events", "Count", int64(r.Events)},
			{"SkippedEvents", "Count", int64(r.Skipped)},
			{"Heartbeats", "Count", int64(r.Heartbeats)},
			{"InputTokens", "Count", r.InputTokens},
			{"OutputTokens", "Count", r.OutputTokens},
		} {
			props[m.name] = m.v
			metrics = append(metrics, emfMetric{m.name, m.unit})
		}
	}
	e.line([]string{"agent", "format"}, props, metrics)
}

// StreamOpened implements Recorder; EMF has no gauges.
func (e *EMF) StreamOpened(string) {}

// StreamClosed implements Recorder; EMF has no gauges.
func (e *EMF) StreamClosed(string) {}

// UpstreamError implements Recorder.
func (e *EMF) UpstreamError(agent, kind string) {
	e.line([]string{"agent", "kind"},
		map[string]any{"agent": dimension(agent), "kind": dimension(kind), "UpstreamErrors": 1},
		[]emfMetric{{"UpstreamErrors", "Count"}})
}

// LimitRefused implements Recorder.
func (e *EMF) LimitRefused(limit string) {
	e.line([]string{"limit"},
		map[string]any{"limit": dimension(limit), "LimitRefusals": 1},
		[]emfMetric{{"LimitRefusals", "Count"}})
}
