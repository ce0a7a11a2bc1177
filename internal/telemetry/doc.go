// Package telemetry owns what agentgate tells its operators besides the
// access log: the figures each finished request adds to (Prometheus
// collectors on a server, CloudWatch embedded metric format lines in
// Lambda, where nothing can scrape) and the OpenTelemetry tracer provider,
// with the OTLP/HTTP exporter of its own that sends the spans.
//
// Labels are bounded on purpose: public agent names (configured, never
// taken from a request path that named no agent), formats, status codes,
// outcome codes and error kinds. Principals and session ids belong in the
// access log, never in a label.
package telemetry
