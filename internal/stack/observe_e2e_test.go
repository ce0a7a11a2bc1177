package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
)

// scrape reads the gateway's /metrics in the text exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, b := do(t, "GET", url+"/metrics", "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, b)
	}
	return families
}

// sample returns the value of the series of family name whose labels
// include want: a counter's or gauge's value, a histogram's count. It is
// 0 when no series matches.
func sample(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := families[name]
	if f == nil {
		return 0
	}
	var sum float64
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// jsonLog collects a server's JSON log lines.
type jsonLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (j *jsonLog) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.buf.Write(p)
}

// requests returns the gateway's access log lines.
func (j *jsonLog) requests(t *testing.T) []map[string]any {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(j.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if m["msg"] == "request" && m["server"] == "gateway" {
			out = append(out, m)
		}
	}
	return out
}

func (j *jsonLog) String() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.buf.String()
}

func TestMetricsCountStreamsTokensErrorsAndRefusals(t *testing.T) {
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Retry.MaxAttempts = 1
	cfg.Limits.Rate.Global = config.Rate{Requests: 6, Per: time.Hour, Burst: 6}
	l := startWithConfig(t, cfg, LocalOptions{})

	// Three completed streams, one per format, with their bodies.
	bodies := map[string][]byte{}
	for _, mode := range []string{"original", "transformed", "ndjson"} {
		resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hello","response":"`+mode+`"}`)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", mode, resp.StatusCode, b)
		}
		bodies[mode] = b
	}
	// An upstream failure, a limiter refusal, and a request that names no
	// agent the caller may use.
	if err := l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{Error: "ThrottlingException", Times: 1}); err != nil {
		t.Fatal(err)
	}
	if resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hello","response":"openai"}`); resp.StatusCode != 429 {
		t.Fatalf("throttled upstream: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", l.URL+"/agents/nobody/invocations", `{"prompt":"hello"}`); resp.StatusCode != 404 {
		t.Fatalf("unknown agent: %d %s", resp.StatusCode, b)
	}
	// The limit admits 6 in the hour (and its burst): the last of these
	// is refused, or more.
	statuses := map[int]float64{}
	for range 3 {
		resp, _ := do(t, "POST", l.URL+"/", `{"prompt":"hello","response":"ndjson"}`)
		statuses[resp.StatusCode]++
	}
	if statuses[429] == 0 {
		t.Fatalf("the rate limit refused nothing: %v", statuses)
	}
	m := scrape(t, l.URL)

	t.Run("requests are counted by agent, format, status and outcome", func(t *testing.T) {
		for _, mode := range []string{"original", "transformed"} {
			if got := sample(m, "agentgate_requests_total", map[string]string{"agent": "demo", "format": mode, "status": "200", "outcome": "completed"}); got != 1 {
				t.Errorf("%s completed = %v, want 1", mode, got)
			}
		}
		if got, want := sample(m, "agentgate_requests_total", map[string]string{"agent": "demo", "format": "ndjson", "status": "200"}), 1+statuses[200]; got != want {
			t.Errorf("ndjson 200 = %v, want %v", got, want)
		}
		if got, want := sample(m, "agentgate_requests_total", map[string]string{"agent": "demo", "format": "ndjson", "status": "429", "outcome": "rate_limited"}), statuses[429]; got != want {
			t.Errorf("ndjson refused = %v, want %v", got, want)
		}
		if got := sample(m, "agentgate_requests_total", map[string]string{"agent": "demo", "format": "openai", "status": "429", "outcome": "rate_limited"}); got != 1 {
			t.Errorf("throttled upstream = %v, want 1", got)
		}
		if got := sample(m, "agentgate_requests_total", map[string]string{"agent": "", "status": "404", "outcome": "agent_not_found"}); got != 1 {
			t.Errorf("unknown agent = %v, want 1 with an empty agent label", got)
		}
	})
	t.Run("time to first byte and duration are observed once per stream", func(t *testing.T) {
		for _, mode := range []string{"original", "transformed"} {
			for _, h := range []string{"agentgate_ttfb_seconds", "agentgate_request_duration_seconds"} {
				if got := sample(m, h, map[string]string{"agent": "demo", "format": mode}); got != 1 {
					t.Errorf("%s{%s} count = %v, want 1", h, mode, got)
				}
			}
		}
	})
	t.Run("bytes and events relayed match what the client received", func(t *testing.T) {
		orig := bodies["original"]
		if got := sample(m, "agentgate_response_bytes_total", map[string]string{"agent": "demo", "format": "original"}); got != float64(len(orig)) {
			t.Errorf("original bytes = %v, want %d", got, len(orig))
		}
		if got, want := sample(m, "agentgate_events_total", map[string]string{"agent": "demo", "format": "original"}), float64(bytes.Count(orig, []byte("data: "))); got != want || want < 3 {
			t.Errorf("original events = %v, want %v (data lines in the body)", got, want)
		}
	})
	t.Run("tokens match the usage the agent reported", func(t *testing.T) {
		var usage struct {
			Usage struct{ InputTokens, OutputTokens float64 }
		}
		tr := string(bodies["transformed"])
		meta := strings.Split(tr[strings.Index(tr, "\n----------\n")+12:], "\n")[0]
		if err := json.Unmarshal([]byte(meta), &usage); err != nil || usage.Usage.OutputTokens == 0 {
			t.Fatalf("no usage in the transformed answer: %q", tr)
		}
		// Every completed stream had the same prompt, and the builtin model
		// reports the same usage for it.
		completed := 3 + statuses[200]
		if got := sample(m, "agentgate_tokens_total", map[string]string{"agent": "demo", "direction": "output"}); got != completed*usage.Usage.OutputTokens {
			t.Errorf("output tokens = %v, want %v", got, completed*usage.Usage.OutputTokens)
		}
		if got := sample(m, "agentgate_tokens_total", map[string]string{"agent": "demo", "direction": "input"}); got == 0 {
			t.Errorf("input tokens not counted")
		}
	})
	t.Run("upstream errors are counted by kind and refusals by limit", func(t *testing.T) {
		if got := sample(m, "agentgate_upstream_errors_total", map[string]string{"agent": "demo", "kind": "throttled"}); got != 1 {
			t.Errorf("throttled upstream errors = %v, want 1", got)
		}
		if got := sample(m, "agentgate_limit_refusals_total", map[string]string{"limit": "rate:global"}); got != statuses[429] {
			t.Errorf("rate:global refusals = %v, want %v", got, statuses[429])
		}
	})
	t.Run("no stream is open once all have ended", func(t *testing.T) {
		if got := sample(m, "agentgate_open_streams", map[string]string{"agent": "demo"}); got != 0 {
			t.Errorf("open streams = %v, want 0", got)
		}
	})
	t.Run("the agent server exposes its own figures", func(t *testing.T) {
		am := scrape(t, l.AgentURL)
		completed := 3 + statuses[200]
		if got := sample(am, "agentgate_agent_invocations_total", map[string]string{"outcome": "ok", "status": "200"}); got != completed {
			t.Errorf("agent ok invocations = %v, want %v", got, completed)
		}
		if got := sample(am, "agentgate_agent_tokens_total", map[string]string{"direction": "output"}); got != sample(m, "agentgate_tokens_total", map[string]string{"direction": "output"}) {
			t.Errorf("agent output tokens = %v, want what the gateway relayed", got)
		}
		if got := sample(am, "agentgate_agent_first_delta_seconds", nil); got != completed {
			t.Errorf("first-delta observations = %v, want %v", got, completed)
		}
	})
}

func TestMetricsTrackOpenStreamsHeartbeatsAndSkippedEvents(t *testing.T) {
	cfg := config.Default()
	cfg.Stream.Heartbeat = 20 * time.Millisecond
	gm := &gatedModel{deltas: []string{"a", "b"}, next: make(chan struct{})}
	l := startWithConfig(t, cfg, LocalOptions{Provider: gm})

	resp := post(t, l.URL+"/", `{"prompt":"hi","response":"ndjson"}`)
	s := newStream(t, resp.Body)
	at := s.waitFor(`{"type":"ping"}`, 0) // the agent is silent: heartbeats flow
	if got := sample(scrape(t, l.URL), "agentgate_open_streams", map[string]string{"agent": "demo"}); got != 1 {
		t.Fatalf("open streams during a stream = %v, want 1", got)
	}
	gm.next <- struct{}{}
	gm.next <- struct{}{}
	s.waitFor(`"type":"session"`, at)
	s.rest()
	pings := strings.Count(string(s.got), `{"type":"ping"}`)
	// Events that carry nothing for the formats (contentBlockStop) are
	// skipped too: the same stream shape again, plus one malformed event,
	// must add exactly one more.
	base := sample(scrape(t, l.URL), "agentgate_skipped_events_total", map[string]string{"agent": "demo"})

	if err := l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{MalformedAfter: 1}); err != nil {
		t.Fatal(err)
	}
	go func() { gm.next <- struct{}{}; gm.next <- struct{}{} }()
	if resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi","response":"transformed"}`); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}

	m := scrape(t, l.URL)
	if got := sample(m, "agentgate_open_streams", map[string]string{"agent": "demo"}); got != 0 {
		t.Errorf("open streams after = %v, want 0", got)
	}
	if got := sample(m, "agentgate_heartbeats_total", map[string]string{"agent": "demo", "format": "ndjson"}); got != float64(pings) || pings == 0 {
		t.Errorf("heartbeats = %v, want %d (the pings the client got)", got, pings)
	}
	if got := sample(m, "agentgate_skipped_events_total", map[string]string{"agent": "demo"}); got != 2*base+1 {
		t.Errorf("skipped events = %v, want %v (twice the %v of one stream, plus the malformed one)", got, 2*base+1, base)
	}
}

func TestMetricLabelsStayBounded(t *testing.T) {
	l := startLocal(t, LocalOptions{})
	for i := range 40 {
		do(t, "POST", fmt.Sprintf("%s/agents/probe-%d/invocations", l.URL, i), `{"prompt":"x"}`)
		do(t, "GET", fmt.Sprintf("%s/nothing/%d", l.URL, i), "")
		do(t, "POST", l.URL+"/", fmt.Sprintf(`{"prompt":"x","response":"shape-%d"}`, i))
	}
	m := scrape(t, l.URL)
	for name, f := range m {
		if !strings.HasPrefix(name, "agentgate_") {
			continue
		}
		if n := len(f.GetMetric()); n > 10 {
			t.Errorf("%s has %d series after 120 requests with made-up names: a label takes values from requests", name, n)
		}
		for _, metric := range f.GetMetric() {
			for _, lp := range metric.GetLabel() {
				if strings.Contains(lp.GetValue(), "probe-") || strings.Contains(lp.GetValue(), "shape-") {
					t.Errorf("%s has label %s=%q from a request", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

func TestAccessLogLineHoldsEveryField(t *testing.T) {
	key, hash, err := auth.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Auth.APIKeys = []config.APIKey{{Name: "ci-bot", Hash: hash}}
	logs := &jsonLog{}
	cfg.Log.Format = "json"
	l := startWithConfig(t, cfg, LocalOptions{Logger: NewLogger(cfg.Log, logs)})

	const prompt = "a-prompt-that-must-never-be-logged"
	resp, body := do(t, "POST", l.URL+"/agents/demo/invocations", `{"prompt":"`+prompt+`","response":"original"}`, "X-Api-Key", key)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// The original body holds every upstream event: count them and read
	// the usage. Original mode leaves none out, so skips none.
	var usage struct {
		Event struct {
			Metadata struct {
				Usage struct{ InputTokens, OutputTokens float64 }
			}
		}
	}
	events := 0
	for _, line := range strings.Split(string(body), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		events++
		if strings.Contains(data, `"metadata"`) {
			_ = json.Unmarshal([]byte(data), &usage)
		}
	}
	lines := logs.requests(t)
	if len(lines) != 1 {
		t.Fatalf("got %d access log lines, want 1:\n%s", len(lines), logs)
	}
	got := lines[0]
	want := map[string]any{
		"level": "INFO", "id": resp.Header.Get("X-Request-Id"), "method": "POST", "path": "/agents/demo/invocations",
		"route": "POST /agents/{name}/invocations", "client": "127.0.0.1", "principal": "key:ci-bot", "agent": "demo",
		"format": "original", "session": resp.Header.Get("X-Agentgate-Session-Id"), "status": 200.0, "outcome": "completed",
		"bytes": float64(len(body)), "events": float64(events), "skipped": 0.0, "heartbeats": 0.0,
		"tokens_in": usage.Event.Metadata.Usage.InputTokens, "tokens_out": usage.Event.Metadata.Usage.OutputTokens,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if events < 3 {
		t.Errorf("the answer has %d events: %s", events, body)
	}
	ttfb, _ := got["ttfb"].(float64)
	dur, _ := got["duration"].(float64)
	if ttfb <= 0 || dur < ttfb {
		t.Errorf("ttfb %v and duration %v: want 0 < ttfb <= duration", ttfb, dur)
	}
	if usage.Event.Metadata.Usage.OutputTokens == 0 {
		t.Errorf("the answer carried no usage: %s", body)
	}
	if all := logs.String(); strings.Contains(all, prompt) || strings.Contains(all, key) {
		t.Errorf("the log holds the prompt or the API key:\n%s", all)
	}
	line, _ := json.Marshal(got)
	for _, secret := range []string{l.ARN, l.AccountID, strings.TrimPrefix(l.EmulatorURL, "http://")} {
		if strings.Contains(string(line), secret) {
			t.Errorf("the access log line holds %q: %s", secret, line)
		}
	}
}

func TestTraceSpansJoinUpstreamThroughTraceparent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	reports := make(chan agentcorelocal.InvocationReport, 8)
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	l := startWithConfig(t, cfg, LocalOptions{Tracer: tp.Tracer("test"),
		OnInvocation: func(r agentcorelocal.InvocationReport) { reports <- r }})

	// invoke sends one request and returns the gateway's span of it and
	// the traceparent the emulator received.
	invoke := func(t *testing.T, header ...string) (tracetest.SpanStub, string) {
		t.Helper()
		exp.Reset()
		resp, b := do(t, "POST", l.URL+"/", `{"prompt":"hi","response":"transformed"}`, header...)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		var traceparent string
		select {
		case r := <-reports:
			traceparent = r.TraceParent
		case <-time.After(5 * time.Second):
			t.Fatal("the emulator reported no invocation")
		}
		// The span ends once the handler returns, just after the body.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if spans := exp.GetSpans(); len(spans) > 0 {
				return spans[0], traceparent
			}
		}
		t.Fatal("no span was exported")
		return tracetest.SpanStub{}, ""
	}

	t.Run("a caller's trace continues through the gateway to AgentCore", func(t *testing.T) {
		const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		span, upstream := invoke(t, "Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
		if got := span.SpanContext.TraceID().String(); got != callerTrace {
			t.Errorf("span trace id %s, want the caller's %s", got, callerTrace)
		}
		if got := span.Parent.SpanID().String(); got != callerSpan {
			t.Errorf("span parent %s, want the caller's span %s", got, callerSpan)
		}
		if want := "00-" + callerTrace + "-" + span.SpanContext.SpanID().String() + "-01"; upstream != want {
			t.Errorf("traceparent at the emulator %q, want %q (the gateway's span as parent)", upstream, want)
		}
		attrs := map[string]string{}
		for _, a := range span.Attributes {
			attrs[string(a.Key)] = a.Value.String()
		}
		for k, v := range map[string]string{"http.route": "POST /{$}", "http.response.status_code": "200",
			"agentgate.agent": "demo", "agentgate.format": "transformed", "agentgate.outcome": "completed"} {
			if attrs[k] != v {
				t.Errorf("span attribute %s = %q, want %q", k, attrs[k], v)
			}
		}
		if span.Name != "POST /{$}" || span.SpanKind.String() != "server" {
			t.Errorf("span %q of kind %s, want POST /{$}, server", span.Name, span.SpanKind)
		}
	})
	t.Run("a request without trace context starts a trace the emulator joins", func(t *testing.T) {
		span, upstream := invoke(t)
		if span.Parent.IsValid() {
			t.Errorf("span has parent %s, want a root span", span.Parent.SpanID())
		}
		if want := "00-" + span.SpanContext.TraceID().String() + "-" + span.SpanContext.SpanID().String() + "-01"; upstream != want {
			t.Errorf("traceparent at the emulator %q, want %q", upstream, want)
		}
	})
}

func TestReadyzSaysWhetherTheUpstreamAnswers(t *testing.T) {
	l := startLocal(t, LocalOptions{})
	if resp, b := do(t, "GET", l.URL+"/readyz", ""); resp.StatusCode != 200 {
		t.Fatalf("readyz with the emulator up: %d %s", resp.StatusCode, b)
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	url := gatewayWith(t, l, func(c *config.Config) {
		c.Agents["gone"] = config.Agent{ARN: l.ARN, Region: "us-east-1", Endpoint: down.URL}
	})
	resp, b := do(t, "GET", url+"/readyz", "")
	if resp.StatusCode != 503 || errorCode(t, b) != "not_ready" {
		t.Fatalf("readyz with one upstream down: %d %s, want 503 not_ready", resp.StatusCode, b)
	}
	assertNoLeak(t, l, resp, b)
	if strings.Contains(string(b), strings.TrimPrefix(down.URL, "http://")) {
		t.Fatalf("readyz names the unreachable endpoint: %s", b)
	}
}
