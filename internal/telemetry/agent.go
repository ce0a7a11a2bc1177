package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Invocation is what one finished invocation of the agent server did.
type Invocation struct {
	// Provider names the model provider (builtin, bedrock, openai).
	Provider string
	// Status is the HTTP status sent (499 for a caller gone before it).
	Status int
	// Outcome is ok, rejected, provider_error or client_gone.
	Outcome string
	// FirstDelta is the time to the model's first text delta; 0 when none
	// came. Duration is the whole invocation.
	FirstDelta, Duration time.Duration
	// Deltas is how many text deltas were streamed.
	Deltas int
	// InputTokens and OutputTokens are the model's reported usage.
	InputTokens, OutputTokens int
}

// Agent holds the agent server's Prometheus collectors.
type Agent struct {
	reg *prometheus.Registry

	invocations *prometheus.CounterVec
	firstDelta  *prometheus.HistogramVec
	duration    *prometheus.HistogramVec
	active      prometheus.Gauge
	deltas      *prometheus.CounterVec
	tokens      *prometheus.CounterVec
}

// NewAgent returns the agent server's collectors on a registry of their
// own, with the Go runtime's and the process's collectors beside them.
func NewAgent() *Agent {
	reg := newRegistry()
	f := promauto.With(reg)
	p := []string{"provider"}
	return &Agent{
		reg: reg,
		invocations: f.NewCounterVec(prometheus.CounterOpts{Name: "agentgate_agent_invocations_total",
			Help: "Invocations answered, by provider, status code and outcome (ok, rejected, provider_error, client_gone)."},
			[]string{"provider", "status", "outcome"}),
		firstDelta: f.NewHistogramVec(prometheus.HistogramOpts{Name: "agentgate_agent_first_delta_seconds",
			Help: "Time from an invocation's arrival to the model's first text delta.", Buckets: ttfbBuckets}, p),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "agentgate_agent_invocation_duration_seconds",
			Help: "Time from an invocation's arrival to the end of its stream.", Buckets: durationBuckets}, p),
		active: f.NewGauge(prometheus.GaugeOpts{Name: "agentgate_agent_active_invocations",
			Help: "Invocations in progress (the /ping status is HealthyBusy while above 0)."}),
		deltas: f.NewCounterVec(prometheus.CounterOpts{Name: "agentgate_agent_deltas_total",
			Help: "Text deltas streamed."}, p),
		tokens: f.NewCounterVec(prometheus.CounterOpts{Name: "agentgate_agent_tokens_total",
			Help: "Tokens the model reported using, by direction (input, output)."}, []string{"provider", "direction"}),
	}
}

// Handler serves the collectors in the Prometheus exposition format.
func (a *Agent) Handler() http.Handler { return handler(a.reg) }

// Started counts an invocation in progress until the returned func runs.
func (a *Agent) Started() (done func()) {
	a.active.Inc()
	return a.active.Dec
}

// Invocation records a finished invocation.
func (a *Agent) Invocation(in Invocation) {
	a.invocations.WithLabelValues(in.Provider, strconv.Itoa(in.Status), in.Outcome).Inc()
	a.duration.WithLabelValues(in.Provider).Observe(in.Duration.Seconds())
	if in.FirstDelta > 0 {
		a.firstDelta.WithLabelValues(in.Provider).Observe(in.FirstDelta.Seconds())
	}
	if in.Deltas > 0 {
		a.deltas.WithLabelValues(in.Provider).Add(float64(in.Deltas))
	}
	if in.InputTokens > 0 {
		a.tokens.WithLabelValues(in.Provider, "input").Add(float64(in.InputTokens))
	}
	if in.OutputTokens > 0 {
		a.tokens.WithLabelValues(in.Provider, "output").Add(float64(in.OutputTokens))
	}
}
