package telemetry

import (
	"context"
	"log/slog"
	"os"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TracingOptions configures NewTracerProvider.
type TracingOptions struct {
	// Endpoint is the OTLP/HTTP collector: a base URL (http://host:4318,
	// to which /v1/traces is added) or the full traces URL. Empty leaves
	// it to the OTEL_EXPORTER_OTLP_* variables, then to the protocol's
	// default, http://localhost:4318/v1/traces.
	Endpoint string
	// SampleRatio is the share of new traces recorded; a caller's sampled
	// traceparent is always followed.
	SampleRatio float64
	// ServiceName and Version describe this process in every span.
	ServiceName, Version string
	// Sync exports each span when it ends instead of in batches. Lambda
	// freezes a function between invocations, where a batch would wait.
	Sync bool
	// Getenv reads the OTEL_EXPORTER_OTLP_* variables: endpoint, headers,
	// timeout, compression and TLS files. Default os.Getenv.
	Getenv func(string) string
	// Logger is told of variables ignored and of spans a collector
	// rejected. Default slog.Default().
	Logger *slog.Logger
}

// NewTracerProvider returns a tracer provider exporting over OTLP/HTTP.
// Call its Shutdown to flush what is left when the process ends. It fails
// when the endpoint, or a certificate or key the variables name, cannot be
// used.
func NewTracerProvider(_ context.Context, o TracingOptions) (*sdktrace.TracerProvider, error) {
	getenv, log := o.Getenv, o.Logger
	if getenv == nil {
		getenv = os.Getenv
	}
	if log == nil {
		log = slog.Default()
	}
	cfg, err := otlpConfigFromEnv(o.Endpoint, getenv, os.ReadFile, log)
	if err != nil {
		return nil, err
	}
	ua := "agentgate"
	if o.Version != "" {
		ua += "/" + o.Version
	}
	return NewTracerProviderWith(newOTLPExporter(cfg, ua, log), o), nil
}

// NewTracerProviderWith returns a tracer provider exporting to exp, with
// the sampler and resource o describes.
func NewTracerProviderWith(exp sdktrace.SpanExporter, o TracingOptions) *sdktrace.TracerProvider {
	res := resource.NewSchemaless(
		attribute.String("service.name", o.ServiceName),
		attribute.String("service.version", o.Version),
	)
	export := sdktrace.WithBatcher(exp)
	if o.Sync {
		export = sdktrace.WithSyncer(exp)
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio))),
		export,
	)
}
