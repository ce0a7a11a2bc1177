package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/telemetry"
)

// requestState is everything the gateway learns about a request as it
// goes: its id, and what its answer, its access log line, its metrics and
// its span report. ServeHTTP makes it, first of all, so every handler and
// middleware finds it on the request's context, under the one key there
// is.
type requestState struct {
	id        string
	route     string
	clientIP  string
	principal auth.Principal
	agent     string
	format    string
	session   string
	outcome   string
	// openAIShape: errors take OpenAI's shape (the /v1 routes).
	openAIShape bool
	// passedLock: the request carried the origin lock's secret, so it came
	// through the edge.
	passedLock bool
	// body is the request body as withRequestBounds tracks it (nil when
	// there is none, or no connection to close); chunked says it came
	// chunked; closing that the answer closes the connection.
	body             *boundedBody
	chunked, closing bool
	// events, skipped and heartbeats count the stream; tokensIn and
	// tokensOut its usage.
	events, skipped, heartbeats int
	tokensIn, tokensOut         int64
}

type stateKey struct{}

// state is the request's state. Every request that reaches a handler
// through ServeHTTP has one.
func state(ctx context.Context) *requestState {
	return ctx.Value(stateKey{}).(*requestState)
}

func withState(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), stateKey{}, &requestState{}))
}

func requestID(ctx context.Context) string { return state(ctx).id }

func setOutcome(ctx context.Context, outcome string) { state(ctx).outcome = outcome }

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// validRequestID reports whether id, from a proxy, may stand as ours: short,
// and of characters that need no escaping in a header, a log or JSON.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.:=+/", c) >= 0) {
			return false
		}
	}
	return true
}

// withRequestID gives every request an id, on its context and response.
// A trusted proxy's X-Request-Id is kept, so one id follows the request
// through the edge and the gateway; anyone else's is replaced.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) || !contains(s.opts.Network.TrustedProxies, peerAddr(r)) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		state(r.Context()).id = id
		next.ServeHTTP(w, r)
	})
}

// recorder notes the status, the first byte's time and the bytes written,
// and at the answer's start has the connection closed after it when the
// request body is unread (closeIfUnread). Unwrap lets
// http.ResponseController reach the real writer's Flush.
type recorder struct {
	http.ResponseWriter
	st     *requestState
	status int
	bytes  int64
	first  time.Time
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 && code >= 200 {
		rec.status = code
		closeIfUnread(rec.st, rec.Header())
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
		closeIfUnread(rec.st, rec.Header())
	}
	if rec.first.IsZero() {
		rec.first = time.Now()
	}
	n, err := rec.ResponseWriter.Write(p)
	rec.bytes += int64(n)
	return n, err
}

func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// withObserve reports every request three ways once it ends: one access
// log line, the metrics, and a server span whose parent is the caller's
// traceparent. It never logs prompts, credentials or upstream identifiers.
func (s *Server) withObserve(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		li := state(r.Context())
		rec := &recorder{ResponseWriter: w, st: li}
		ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithTimestamp(start),
			trace.WithAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("agentgate.request_id", requestID(ctx))))
		next.ServeHTTP(rec, r.WithContext(ctx))
		end := time.Now()
		var ttfb time.Duration
		if !rec.first.IsZero() {
			ttfb = rec.first.Sub(start)
		}
		fig := telemetry.Request{Agent: li.agent, Format: li.format, Status: rec.status, Outcome: li.outcome,
			TTFB: ttfb, Duration: end.Sub(start), Bytes: rec.bytes,
			Events: li.events, Skipped: li.skipped, Heartbeats: li.heartbeats,
			InputTokens: li.tokensIn, OutputTokens: li.tokensOut}
		if fig.Status == 0 {
			fig.Status = http.StatusOK // a handler that wrote nothing sent 200
		}
		if fig.Outcome == "" && li.agent != "" {
			fig.Outcome = "completed"
		}
		s.opts.Metrics.Request(fig)
		s.endSpan(span, li, fig, end)
		s.log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("id", requestID(ctx)),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", li.route),
			slog.String("client", li.clientIP),
			slog.String("principal", li.principal.ID),
			slog.String("agent", li.agent),
			slog.String("format", li.format),
			slog.String("session", li.session),
			slog.Int("status", fig.Status),
			slog.String("outcome", fig.Outcome),
			slog.Duration("ttfb", ttfb),
			slog.Duration("duration", fig.Duration),
			slog.Int64("bytes", rec.bytes),
			slog.Int("events", li.events),
			slog.Int("skipped", li.skipped),
			slog.Int("heartbeats", li.heartbeats),
			slog.Int64("tokens_in", li.tokensIn),
			slog.Int64("tokens_out", li.tokensOut),
			slog.String("trace_id", traceID(span)),
		)
	})
}

// endSpan names the request's span after its route and closes it with
// what the request did.
func (s *Server) endSpan(span trace.Span, li *requestState, fig telemetry.Request, end time.Time) {
	if !span.IsRecording() {
		return
	}
	if li.route != "" {
		span.SetName(li.route)
		span.SetAttributes(attribute.String("http.route", li.route))
	}
	span.SetAttributes(
		attribute.Int("http.response.status_code", fig.Status),
		attribute.String("agentgate.agent", li.agent),
		attribute.String("agentgate.format", li.format),
		attribute.String("agentgate.outcome", fig.Outcome),
		attribute.Int("agentgate.events", li.events),
		attribute.Int64("agentgate.response_bytes", fig.Bytes),
		attribute.Int64("gen_ai.usage.input_tokens", li.tokensIn),
		attribute.Int64("gen_ai.usage.output_tokens", li.tokensOut),
	)
	if fig.Failed() {
		span.SetStatus(codes.Error, fig.Outcome)
	}
	span.End(trace.WithTimestamp(end))
}

// traceID is the span's trace id for the log, "" when there is none.
func traceID(span trace.Span) string {
	if sc := span.SpanContext(); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// route marks the request with the route pattern that serves it, for the
// access log and the span's name.
func route(pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		state(r.Context()).route = pattern
		next.ServeHTTP(w, r)
	})
}
