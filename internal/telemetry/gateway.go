package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Request is what one finished gateway request did.
type Request struct {
	// Agent is the public agent name, "" when the request named none the
	// caller may use.
	Agent string
	// Format is the response format of an invocation, "" for other routes.
	Format string
	// Status is the HTTP status sent.
	Status int
	// Outcome is how the request ended: completed, client_gone, or the
	// public error code (upstream_timeout, rate_limited...).
	Outcome string
	// TTFB is the time to the first body byte; 0 when none was written.
	TTFB, Duration time.Duration
	// Bytes is the body bytes sent to the client.
	Bytes int64
	// Events are the upstream events relayed, Skipped those left out of
	// the answer as carrying nothing its format uses (none in original),
	// Heartbeats the keep-alives sent during silences.
	Events, Skipped, Heartbeats int
	// InputTokens and OutputTokens are the agent's reported usage.
	InputTokens, OutputTokens int64
}

// Failed reports whether the request failed: a 5xx answer, or a stream
// that started and ended with a terminal error. Refusals (4xx) and callers
// that went away are not failures of the gateway.
func (r Request) Failed() bool {
	if r.Status >= 500 {
		return true
	}
	return r.Status < 400 && r.Outcome != "" && r.Outcome != "completed" && r.Outcome != "client_gone"
}

// Recorder receives the gateway's figures. Its methods must be safe for
// concurrent use and cheap: they run on the request path.
type Recorder interface {
	// Request records a finished request.
	Request(Request)
	// StreamOpened and StreamClosed bracket a relayed stream.
	StreamOpened(agent string)
	StreamClosed(agent string)
	// UpstreamError records a failed upstream call or stream by kind.
	UpstreamError(agent, kind string)
	// LimitRefused records a request the limiter refused, by limit.
	LimitRefused(limit string)
}

// Discard is a Recorder that records nothing.
type Discard struct{}

func (Discard) Request(Request)              {}
func (Discard) StreamOpened(string)          {}
func (Discard) StreamClosed(string)          {}
func (Discard) UpstreamError(string, string) {}
func (Discard) LimitRefused(string)          {}

// Buckets for stream timings: a first byte takes milliseconds to seconds,
// a whole answer seconds to many minutes.
var (
	ttfbBuckets     = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	durationBuckets = []float64{.005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
)

// Gateway is the gateway's Recorder for Prometheus.
type Gateway struct {
	reg *prometheus.Registry

	requests    *prometheus.CounterVec
	ttfb        *prometheus.HistogramVec
	duration    *prometheus.HistogramVec
	open        *prometheus.GaugeVec
	events      *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	tokens      *prometheus.CounterVec
	skipped     *prometheus.CounterVec
	heartbeats  *prometheus.CounterVec
	upstreamErr *prometheus.CounterVec
	refusals    *prometheus.CounterVec
}

// NewGateway returns the gateway's collectors on a registry of their own,
// with the Go runtime's and the process's collectors beside them.
func NewGateway() *Gateway {
	reg := newRegistry()
	f := promauto.With(reg)
	af := []string{"agent", "format"}
	return &Gateway{
		reg: reg,
		requests: f.NewCounterVec(prometheus.CounterOpts{Name: "agentgate_requests_total",
			Help: "Requests answered, by agent, format, status code and outcome (completed, client_gone or the public error code)."},
			[]string{"agent", "format", "status", "outcome"}),
		ttfb: f.NewHistogramVec(prometheus.HistogramOpts{Name: "agentgate_ttfb_seconds",
			Help: "Time from a request's arrival to the first byte of its answer.", Buckets: ttfbBuckets}, af),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "agentgate_request_duration_seconds",
			Help: "Time from a request's arrival to the end of its answer.", Buckets: durationBuckets}, af),
		open: f.NewGaugeVec(prometheus.GaugeOpts{Name: "agentgate_open_streams",
			Help: "Streams being relayed now."}, []string{"agent"}),
		events: f.NewCounterVec(prometheus.CounterOpts{Name: "agentgate_events_total",
			Help: "Upstream events relayed to clients."}, af),
		bytes: f.NewCounterVec(prometheus.CounterOpts{Name: "agentgate_response_bytes_total",
			Help: "Response body bytes sent to clients."}, af),
		tokens: f.NewCounterVec(prometheus.CounterOpts{Name: "agentgate_tokens_total",
			Help: "Tokens the agents reported using, by direction (input, output)."}, []string{"agent", "direction"}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{Name: "agentgate_skipped_events_total",
			Help: "Upstream events left out of an answer because they carried nothing its format uses (unknown, malformed or lifecycle-only); original mode passes every event and skips none."}, []string{"agent"}),
		heartbeats: f.NewCounterVec(prometheus.CounterOpts{Name: "agentgate_heartbeats_total",
			Help: "Keep-alives sent to clients while an agent was silent."}, af),
		upstreamErr: f.NewCounterVec(prometheus.CounterOpts{Name: "agentgate_upstream_errors_total",
			Help: "Failed upstream calls and broken upstream streams, by kind."}, []string{"agent", "kind"}),
		refusals: f.NewCounterVec(prometheus.CounterOpts{Name: "agentgate_limit_refusals_total",
			Help: "Requests the limiter refused, by limit (rate:global, concurrency:principal, budget:principal...)."}, []string{"limit"}),
	}
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the collectors in the Prometheus exposition format.
func (g *Gateway) Handler() http.Handler { return handler(g.reg) }

func handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, MaxRequestsInFlight: 4})
}

// Request implements Recorder.
func (g *Gateway) Request(r Request) {
	g.requests.WithLabelValues(r.Agent, r.Format, strconv.Itoa(r.Status), r.Outcome).Inc()
	if r.TTFB > 0 {
		g.ttfb.WithLabelValues(r.Agent, r.Format).Observe(r.TTFB.Seconds())
	}
	g.duration.WithLabelValues(r.Agent, r.Format).Observe(r.Duration.Seconds())
	if r.Agent == "" {
		return // not an invocation: nothing was relayed
	}
	g.bytes.WithLabelValues(r.Agent, r.Format).Add(float64(r.Bytes))
	g.events.WithLabelValues(r.Agent, r.Format).Add(float64(r.Events))
	if r.Skipped > 0 {
		g.skipped.WithLabelValues(r.Agent).Add(float64(r.Skipped))
	}
	if r.Heartbeats > 0 {
		g.heartbeats.WithLabelValues(r.Agent, r.Format).Add(float64(r.Heartbeats))
	}
	if r.InputTokens > 0 {
		g.tokens.WithLabelValues(r.Agent, "input").Add(float64(r.InputTokens))
	}
	if r.OutputTokens > 0 {
		g.tokens.WithLabelValues(r.Agent, "output").Add(float64(r.OutputTokens))
	}
}

// StreamOpened implements Recorder.
func (g *Gateway) StreamOpened(agent string) { g.open.WithLabelValues(agent).Inc() }

// StreamClosed implements Recorder.
func (g *Gateway) StreamClosed(agent string) { g.open.WithLabelValues(agent).Dec() }

// UpstreamError implements Recorder.
func (g *Gateway) UpstreamError(agent, kind string) {
	g.upstreamErr.WithLabelValues(agent, kind).Inc()
}

// LimitRefused implements Recorder.
func (g *Gateway) LimitRefused(limit string) { g.refusals.WithLabelValues(limit).Inc() }

// Masked is a Recorder that records the agents in Hide under the one name
// "restricted": for metrics served where anyone may read them, so that
// agents kept to certain principals are not named to everyone else.
type Masked struct {
	Recorder
	Hide map[string]bool
}

func (m Masked) agent(name string) string {
	if m.Hide[name] {
		return "restricted"
	}
	return name
}

// Request implements Recorder.
func (m Masked) Request(r Request) {
	r.Agent = m.agent(r.Agent)
	m.Recorder.Request(r)
}

// StreamOpened implements Recorder.
func (m Masked) StreamOpened(agent string) { m.Recorder.StreamOpened(m.agent(agent)) }

// StreamClosed implements Recorder.
func (m Masked) StreamClosed(agent string) { m.Recorder.StreamClosed(m.agent(agent)) }

// UpstreamError implements Recorder.
func (m Masked) UpstreamError(agent, kind string) { m.Recorder.UpstreamError(m.agent(agent), kind) }
