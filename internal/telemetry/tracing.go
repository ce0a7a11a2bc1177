package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TracingOptions configures NewTracerProvider.
type TracingOptions struct {
	// Endpoint is the OTLP/HTTP collector: a base URL (http://host:4318,
	// to which /v1/traces is added) or the full traces URL. Empty leaves
	// it to the OTEL_EXPORTER_OTLP_* variables and the exporter's default.
	Endpoint string
	// SampleRatio is the share of new traces recorded; a caller's sampled
	// traceparent is always followed.
	SampleRatio float64
	// ServiceName and Version describe this process in every span.
	ServiceName, Version string
	// Sync exports each span when it ends instead of in batches. Lambda
	// freezes a function between invocations, where a batch would wait.
	Sync bool
}

// NewTracerProvider returns a tracer provider exporting over OTLP/HTTP.
// Call its Shutdown to flush what is left when the process ends.
func NewTracerProvider(ctx context.Context, o TracingOptions) (*sdktrace.TracerProvider, error) {
	var opts []otlptracehttp.Option
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("tracing.endpoint: %w", err)
		}
		if strings.Trim(u.Path, "/") == "" {
			u.Path = "/v1/traces"
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	return NewTracerProviderWith(exp, o), nil
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
