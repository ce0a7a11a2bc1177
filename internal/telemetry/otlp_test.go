package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/slim/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/slim/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/slim/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// export is one request a test collector received, its body decoded.
type export struct {
	path   string
	header http.Header
	req    *coltracepb.ExportTraceServiceRequest
}

// collector is an OTLP/HTTP receiver on loopback. answer writes the reply
// to the n-th request (from 1); nil answers 200 with an empty
// ExportTraceServiceResponse.
type collector struct {
	*httptest.Server
	t      *testing.T
	answer func(w http.ResponseWriter, r *http.Request, n int)

	mu  sync.Mutex
	got []export
}

func newCollector(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *collector {
	c := &collector{t: t, answer: answer}
	c.Server = httptest.NewServer(c)
	t.Cleanup(c.Close)
	return c
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			c.t.Errorf("the body is not gzip: %v", err)
			http.Error(w, "not gzip", http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		c.t.Errorf("read the export: %v", err)
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		c.t.Errorf("the body is not an ExportTraceServiceRequest: %v", err)
	}
	c.mu.Lock()
	c.got = append(c.got, export{r.URL.Path, r.Header.Clone(), &req})
	n := len(c.got)
	c.mu.Unlock()
	if c.answer != nil {
		c.answer(w, r, n)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func (c *collector) exports() []export {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]export(nil), c.got...)
}

// noEnv is a Getenv that finds no variable set.
func noEnv(string) string { return "" }

// envMap is a Getenv reading m.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// stubSpans are finished spans to hand an exporter directly.
func stubSpans(names ...string) []sdktrace.ReadOnlySpan {
	var stubs tracetest.SpanStubs
	for i, n := range names {
		stubs = append(stubs, tracetest.SpanStub{
			Name: n,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{1}, SpanID: trace.SpanID{byte(i + 1)}, TraceFlags: trace.FlagsSampled,
			}),
			StartTime: time.Unix(1, 0), EndTime: time.Unix(2, 0),
		})
	}
	return stubs.Snapshots()
}

func testExporter(t *testing.T, cfg otlpConfig, log *slog.Logger) *otlpExporter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := newOTLPExporter(cfg, "agentgate/test", log)
	e.retryBase = 10 * time.Millisecond
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e
}

func TestTracerProviderSendsEachFieldOfASpan(t *testing.T) {
	c := newCollector(t, nil)
	tp, err := NewTracerProvider(context.Background(), TracingOptions{
		Endpoint: c.URL, SampleRatio: 1, ServiceName: "agentgate-test", Version: "v9", Sync: true, Getenv: noEnv,
	})
	if err != nil {
		t.Fatal(err)
	}
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	linked := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{8}})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)
	tracer := tp.Tracer("agentgate", trace.WithInstrumentationVersion("1.2.3"), trace.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0"))
	_, span := tracer.Start(ctx, "POST /v1/chat", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithLinks(trace.Link{SpanContext: linked, Attributes: []attribute.KeyValue{attribute.String("why", "retry")}}))
	attrs := []attribute.KeyValue{
		attribute.String("agentgate.agent", "support"),
		attribute.Int64("http.response.status_code", 502),
		attribute.Float64("ratio", 0.25),
		attribute.Bool("resumed", true),
		attribute.StringSlice("formats", []string{"ai-sdk", "openai"}),
		attribute.Int64Slice("sizes", []int64{1, 2}),
		attribute.BoolSlice("flags", []bool{true, false}),
		attribute.Float64Slice("weights", []float64{0.5}),
	}
	span.SetAttributes(attrs...)
	span.AddEvent("first delta", trace.WithAttributes(attribute.Int("bytes", 42)))
	span.SetStatus(codes.Error, "upstream failed")
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	got := c.exports()
	if len(got) != 1 {
		t.Fatalf("the collector got %d exports, want 1", len(got))
	}
	e := got[0]
	if e.path != "/v1/traces" || e.header.Get("Content-Type") != "application/x-protobuf" || e.header.Get("User-Agent") != "agentgate/v9" {
		t.Errorf("export to %s as %q by %q, want /v1/traces as application/x-protobuf by agentgate/v9",
			e.path, e.header.Get("Content-Type"), e.header.Get("User-Agent"))
	}
	if len(e.req.ResourceSpans) != 1 || len(e.req.ResourceSpans[0].ScopeSpans) != 1 || len(e.req.ResourceSpans[0].ScopeSpans[0].Spans) != 1 {
		t.Fatalf("want one resource, scope and span, got %v", e.req)
	}
	rs := e.req.ResourceSpans[0]
	wantRes := []*commonpb.KeyValue{strKV("service.name", "agentgate-test"), strKV("service.version", "v9")}
	if !equalKVs(rs.Resource.GetAttributes(), wantRes) {
		t.Errorf("resource %v, want %v", rs.Resource.GetAttributes(), wantRes)
	}
	ss := rs.ScopeSpans[0]
	if ss.Scope.GetName() != "agentgate" || ss.Scope.GetVersion() != "1.2.3" || ss.SchemaUrl != "https://opentelemetry.io/schemas/1.26.0" {
		t.Errorf("scope %v, schema %q", ss.Scope, ss.SchemaUrl)
	}
	s := ss.Spans[0]
	sc := span.SpanContext()
	tid, sid, psid := sc.TraceID(), sc.SpanID(), remote.SpanID()
	if !bytes.Equal(s.TraceId, tid[:]) || tid != remote.TraceID() || !bytes.Equal(s.SpanId, sid[:]) || !bytes.Equal(s.ParentSpanId, psid[:]) {
		t.Errorf("ids trace %x span %x parent %x, want %x %x %x", s.TraceId, s.SpanId, s.ParentSpanId, tid, sid, psid)
	}
	// Sampled, and a parent known to be remote.
	if want := uint32(0x01 | 0x100 | 0x200); s.Flags != want {
		t.Errorf("flags %#x, want %#x", s.Flags, want)
	}
	if s.Name != "POST /v1/chat" || s.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("name %q kind %v", s.Name, s.Kind)
	}
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || s.Status.GetMessage() != "upstream failed" {
		t.Errorf("status %v", s.Status)
	}
	if s.StartTimeUnixNano == 0 || s.EndTimeUnixNano < s.StartTimeUnixNano {
		t.Errorf("times %d..%d", s.StartTimeUnixNano, s.EndTimeUnixNano)
	}
	intAV := func(n int64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}
	}
	boolAV := func(b bool) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
	}
	floatAV := func(f float64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
	}
	wantAttrs := []*commonpb.KeyValue{
		strKV("agentgate.agent", "support"),
		{Key: "http.response.status_code", Value: intAV(502)},
		{Key: "ratio", Value: floatAV(0.25)},
		{Key: "resumed", Value: boolAV(true)},
		{Key: "formats", Value: arrayOf(strAV("ai-sdk"), strAV("openai"))},
		{Key: "sizes", Value: arrayOf(intAV(1), intAV(2))},
		{Key: "flags", Value: arrayOf(boolAV(true), boolAV(false))},
		{Key: "weights", Value: arrayOf(floatAV(0.5))},
	}
	if !equalKVs(s.Attributes, wantAttrs) {
		t.Errorf("attributes %v, want %v", s.Attributes, wantAttrs)
	}
	if len(s.Events) != 1 || s.Events[0].Name != "first delta" || s.Events[0].TimeUnixNano == 0 ||
		!equalKVs(s.Events[0].Attributes, []*commonpb.KeyValue{{Key: "bytes", Value: intAV(42)}}) {
		t.Errorf("events %v", s.Events)
	}
	ltid, lsid := linked.TraceID(), linked.SpanID()
	if len(s.Links) != 1 || !bytes.Equal(s.Links[0].TraceId, ltid[:]) || !bytes.Equal(s.Links[0].SpanId, lsid[:]) ||
		s.Links[0].Flags != 0x100 || !equalKVs(s.Links[0].Attributes, []*commonpb.KeyValue{strKV("why", "retry")}) {
		t.Errorf("links %v", s.Links)
	}
}

func TestExporterHeadersAndGzipComeFromTheEnvironment(t *testing.T) {
	c := newCollector(t, nil)
	tp, err := NewTracerProvider(context.Background(), TracingOptions{SampleRatio: 1, ServiceName: "x", Sync: true, Getenv: envMap(map[string]string{
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":    c.URL + "/custom",
		"OTEL_EXPORTER_OTLP_HEADERS":            "x-generic=1",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS":     "Authorization=Bearer%20t0k, x-tenant = acme ",
		"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
	})})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "s")
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := c.exports()
	if len(got) != 1 {
		t.Fatalf("the collector got %d exports, want 1", len(got))
	}
	h := got[0].header
	if got[0].path != "/custom" {
		t.Errorf("path %s, want the traces endpoint's /custom as it is", got[0].path)
	}
	if h.Get("Authorization") != "Bearer t0k" || h.Get("X-Tenant") != "acme" {
		t.Errorf("headers %v, want the traces variable's, decoded and trimmed", h)
	}
	if h.Get("X-Generic") != "" {
		t.Error("the generic headers were sent beside the traces-specific ones, which replace them")
	}
	if h.Get("Content-Encoding") != "gzip" || len(got[0].req.GetResourceSpans()) != 1 {
		t.Errorf("Content-Encoding %q and %d resources, want a gzipped export of one", h.Get("Content-Encoding"), len(got[0].req.GetResourceSpans()))
	}
}

func TestExporterReadsTheProcessEnvironmentByDefault(t *testing.T) {
	c := newCollector(t, nil)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.URL+"/base/")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-from-env=yes")
	tp, err := NewTracerProvider(context.Background(), TracingOptions{SampleRatio: 1, ServiceName: "x", Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "s")
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.exports(); len(got) != 1 || got[0].path != "/base/v1/traces" || got[0].header.Get("X-From-Env") != "yes" {
		t.Fatalf("exports %+v, want one to /base/v1/traces with X-From-Env", got)
	}
}

func TestExporterRetriesTransientFailures(t *testing.T) {
	t.Run("a 503 with Retry-After is retried after the wait it asks", func(t *testing.T) {
		c := newCollector(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		e := testExporter(t, otlpConfig{URL: c.URL + "/v1/traces", Timeout: 5 * time.Second}, nil)
		start := time.Now()
		if err := e.ExportSpans(context.Background(), stubSpans("a", "b")); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < time.Second {
			t.Errorf("retried after %v, before the second Retry-After asked", waited)
		}
		got := c.exports()
		if len(got) != 2 {
			t.Fatalf("%d tries, want 2", len(got))
		}
		if !proto.Equal(got[0].req, got[1].req) {
			t.Error("the retry carried other spans than the first try")
		}
	})
	t.Run("a collector that hangs up without an answer is tried again", func(t *testing.T) {
		c := newCollector(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				_ = conn.Close()
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		e := testExporter(t, otlpConfig{URL: c.URL + "/v1/traces", Timeout: 5 * time.Second}, nil)
		if err := e.ExportSpans(context.Background(), stubSpans("a")); err != nil {
			t.Fatal(err)
		}
		if n := len(c.exports()); n != 2 {
			t.Fatalf("%d tries, want 2", n)
		}
	})
	t.Run("a Retry-After beyond the export's timeout ends the export at once", func(t *testing.T) {
		c := newCollector(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		e := testExporter(t, otlpConfig{URL: c.URL + "/v1/traces", Timeout: 2 * time.Second}, nil)
		start := time.Now()
		err := e.ExportSpans(context.Background(), stubSpans("a"))
		if err == nil || !strings.Contains(err.Error(), "429") {
			t.Fatalf("err %v, want one naming the 429", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("the export took %v, waiting for a retry it could not make", d)
		}
		if n := len(c.exports()); n != 1 {
			t.Errorf("%d tries, want 1", n)
		}
	})
	t.Run("retries stop when the export's timeout ends", func(t *testing.T) {
		c := newCollector(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.WriteHeader(http.StatusBadGateway)
		})
		e := testExporter(t, otlpConfig{URL: c.URL + "/v1/traces", Timeout: 300 * time.Millisecond}, nil)
		start := time.Now()
		err := e.ExportSpans(context.Background(), stubSpans("a"))
		if err == nil || !strings.Contains(err.Error(), "502") {
			t.Fatalf("err %v, want one naming the 502", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the export took %v, past its 300ms timeout", d)
		}
		if n := len(c.exports()); n < 2 {
			t.Errorf("%d tries, want retries within the timeout", n)
		}
	})
}

func TestExporterFailsAtOnceOnPermanentFailures(t *testing.T) {
	status := protowire.AppendTag(nil, 1, protowire.VarintType)
	status = protowire.AppendVarint(status, 3)
	status = protowire.AppendTag(status, 2, protowire.BytesType)
	status = protowire.AppendString(status, "span 3: trace_id is 15 bytes\n")
	long := strings.Repeat("x", 100<<10)
	for _, tc := range []struct {
		name        string
		contentType string
		code        int
		body        string
		want, never string
	}{
		{"a 400 names its status and the Status message", "application/x-protobuf", 400, string(status), "400 Bad Request: span 3: trace_id is 15 bytes", ""},
		{"a 401 in plain text says its text", "text/plain; charset=utf-8", 401, "no token", "401 Unauthorized: no token", ""},
		{"a 500 with a long HTML body names its status only", "text/html", 500, long, "500 Internal Server Error", "xxx"},
		{"a long plain text message is clipped", "text/plain", 404, long, "404 Not Found: xxx", strings.Repeat("x", maxOTLPMessage+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.code)
				_, _ = io.WriteString(w, tc.body)
			})
			e := testExporter(t, otlpConfig{URL: c.URL + "/v1/traces", Timeout: 5 * time.Second}, nil)
			err := e.ExportSpans(context.Background(), stubSpans("a"))
			if err == nil || !strings.Contains(err.Error(), tc.want) || tc.never != "" && strings.Contains(err.Error(), tc.never) {
				t.Fatalf("err %v, want one with %q", err, tc.want)
			}
			if n := len(c.exports()); n != 1 {
				t.Errorf("%d tries, want 1: a permanent failure is not retried", n)
			}
		})
	}
}

func TestExporterLogsSpansACollectorRejected(t *testing.T) {
	c := newCollector(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{PartialSuccess: &coltracepb.ExportTracePartialSuccess{
			RejectedSpans: 2, ErrorMessage: "spans too old",
		}})
		_, _ = w.Write(b)
	})
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	e := testExporter(t, otlpConfig{URL: c.URL + "/v1/traces"}, log)
	if err := e.ExportSpans(context.Background(), stubSpans("a", "b", "c")); err != nil {
		t.Fatalf("a partial success failed the export: %v", err)
	}
	if n := len(c.exports()); n != 1 {
		t.Errorf("%d tries, want 1: a partial success is not retried", n)
	}
	if l := logged.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "rejected=2") || !strings.Contains(l, `message="spans too old"`) {
		t.Errorf("logged %q, want a warning with the rejected count and message", l)
	}
}

func TestExporterRefusesAnAnswerOverTheLimit(t *testing.T) {
	c := newCollector(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(make([]byte, maxOTLPResponse+1))
	})
	e := testExporter(t, otlpConfig{URL: c.URL + "/v1/traces"}, nil)
	if err := e.ExportSpans(context.Background(), stubSpans("a")); err == nil || !strings.Contains(err.Error(), "over") {
		t.Fatalf("err %v, want the oversized answer refused", err)
	}
	if n := len(c.exports()); n != 1 {
		t.Errorf("%d tries, want 1", n)
	}
}

func TestExporterShutdown(t *testing.T) {
	t.Run("exports after Shutdown fail", func(t *testing.T) {
		c := newCollector(t, nil)
		e := testExporter(t, otlpConfig{URL: c.URL + "/v1/traces"}, nil)
		if err := e.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := e.ExportSpans(context.Background(), stubSpans("a")); !errors.Is(err, errOTLPShutdown) {
			t.Fatalf("err %v, want errOTLPShutdown", err)
		}
		if n := len(c.exports()); n != 0 {
			t.Errorf("%d exports reached the collector after Shutdown", n)
		}
	})
	t.Run("Shutdown waits for an export under way until its ctx ends, then cancels it", func(t *testing.T) {
		arrived, release := make(chan struct{}), make(chan struct{})
		c := newCollector(t, func(w http.ResponseWriter, r *http.Request, n int) {
			close(arrived)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		e := testExporter(t, otlpConfig{URL: c.URL + "/v1/traces"}, nil)
		exported := make(chan error, 1)
		go func() { exported <- e.ExportSpans(context.Background(), stubSpans("a")) }()
		<-arrived
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := e.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want its ctx's deadline", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Shutdown took %v past its 100ms ctx", d)
		}
		select {
		case err := <-exported:
			if err == nil {
				t.Error("the cancelled export reported success")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the export under way was not cancelled")
		}
	})
	t.Run("concurrent exports and Shutdown are safe", func(t *testing.T) {
		c := newCollector(t, nil)
		e := testExporter(t, otlpConfig{URL: c.URL + "/v1/traces"}, nil)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 5 {
					if err := e.ExportSpans(context.Background(), stubSpans("a")); err != nil && !errors.Is(err, errOTLPShutdown) {
						t.Error(err)
					}
				}
			})
		}
		wg.Go(func() {
			if err := e.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
	})
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999999999999999", 0},
	} {
		if got := retryAfter(tc.v, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestRPCStatusMessage(t *testing.T) {
	full := protowire.AppendTag(nil, 1, protowire.VarintType)
	full = protowire.AppendVarint(full, 3)
	full = protowire.AppendTag(full, 2, protowire.BytesType)
	full = protowire.AppendString(full, "bad span")
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"code then message", full, "bad span"},
		{"empty", nil, ""},
		{"truncated inside the message", full[:len(full)-2], ""},
		{"not protobuf", []byte("<html>"), ""},
	} {
		if got := rpcStatusMessage(tc.b); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func FuzzRPCStatusMessage(f *testing.F) {
	f.Add(protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), "m"))
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if m := rpcStatusMessage(b); len(m) > len(b) {
			t.Fatalf("a %d-byte message out of %d bytes", len(m), len(b))
		}
	})
}

func strAV(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

func strKV(k, v string) *commonpb.KeyValue { return &commonpb.KeyValue{Key: k, Value: strAV(v)} }

func arrayOf(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
}

// equalKVs compares key-values in any order: the SDK sorts some.
func equalKVs(got, want []*commonpb.KeyValue) bool {
	if len(got) != len(want) {
		return false
	}
	byKey := make(map[string]*commonpb.KeyValue, len(got))
	for _, kv := range got {
		byKey[kv.Key] = kv
	}
	for _, kv := range want {
		if !proto.Equal(byKey[kv.Key], kv) {
			return false
		}
	}
	return true
}
