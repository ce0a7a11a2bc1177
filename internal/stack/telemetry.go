package stack

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/telemetry"
)

// Telemetry is what a gateway reports to besides its log. The zero value
// reports nothing.
type Telemetry struct {
	// Metrics records every request's figures.
	Metrics telemetry.Recorder
	// Scrape serves the Prometheus metrics; nil when there are none to
	// scrape (metrics off, or EMF lines in Lambda).
	Scrape http.Handler
	// Tracer starts a span per request; nil when tracing is off.
	Tracer trace.Tracer

	shutdown func(context.Context) error
}

// Shutdown exports the spans not yet sent, within ctx.
func (t Telemetry) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// TelemetryOptions says where the gateway runs.
type TelemetryOptions struct {
	// EMF, when set, receives the metrics as CloudWatch embedded metric
	// format lines instead of Prometheus collectors: Lambda mode, where
	// nothing can scrape.
	EMF io.Writer
	// Version is the program's, for traces.
	Version string
	// Getenv reads the OTEL_EXPORTER_OTLP_* variables; default os.Getenv.
	Getenv func(string) string
	// Logger is told of tracing settings ignored and spans a collector
	// rejected; default slog.Default().
	Logger *slog.Logger
}

// NewTelemetry builds the gateway's metrics and tracer from cfg.
func NewTelemetry(ctx context.Context, cfg config.Config, o TelemetryOptions) (Telemetry, error) {
	var t Telemetry
	switch {
	case o.EMF != nil:
		t.Metrics = telemetry.NewEMF(o.EMF, "agentgate")
	case cfg.Metrics.Enabled:
		m := telemetry.NewGateway()
		t.Metrics, t.Scrape = m, m.Handler()
	}
	if cfg.Tracing.Enabled {
		tp, err := telemetry.NewTracerProvider(ctx, telemetry.TracingOptions{
			Endpoint:    cfg.Tracing.Endpoint,
			SampleRatio: cfg.Tracing.SampleRatio,
			ServiceName: cfg.Tracing.ServiceName,
			Version:     o.Version,
			Sync:        o.EMF != nil,
			Getenv:      o.Getenv,
			Logger:      o.Logger,
		})
		if err != nil {
			return Telemetry{}, err
		}
		t.Tracer, t.shutdown = tp.Tracer("agentgate"), tp.Shutdown
	}
	return t, nil
}
