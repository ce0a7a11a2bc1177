package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/slim/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The limits the OTLP specification recommends (opentelemetry-proto
// docs/specification.md, OTLP/HTTP Request and Response).
const (
	maxOTLPRequest  = 64 << 20
	maxOTLPResponse = 4 << 20
	// maxOTLPErrorBody is what is read of a failure's body for its message.
	maxOTLPErrorBody = 4 << 10
	// maxOTLPMessage is the most of a collector's message an error or a
	// log line repeats.
	maxOTLPMessage = 256
)

var errOTLPShutdown = errors.New("tracing: the OTLP exporter is shut down")

// otlpExporter sends spans to a collector over OTLP/HTTP as binary
// protobuf, an ExportTraceServiceRequest per export, retrying what the
// protocol calls transient within the export's timeout. It is safe for
// concurrent use.
type otlpExporter struct {
	cfg       otlpConfig
	client    *http.Client
	where     string // the URL, its password redacted, for errors
	userAgent string
	log       *slog.Logger
	// retryBase is the wait before the first retry; each next one doubles,
	// up to retryMax, and is spread ±50% so that exporters do not retry
	// in step.
	retryBase, retryMax time.Duration

	mu       sync.RWMutex
	shut     bool
	inflight sync.WaitGroup
	// stop is done once Shutdown returns: an export still under way then
	// (Shutdown's ctx ended first) is cancelled.
	stop    context.Context
	stopNow context.CancelFunc
}

var _ sdktrace.SpanExporter = (*otlpExporter)(nil)

func newOTLPExporter(cfg otlpConfig, userAgent string, log *slog.Logger) *otlpExporter {
	// A transport of our own, as http.DefaultTransport's defaults, so that
	// a program changing the default one does not change this.
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       cfg.TLS,
	}
	where := cfg.URL
	if u, err := url.Parse(cfg.URL); err == nil {
		where = u.Redacted()
	}
	stop, stopNow := context.WithCancel(context.Background())
	return &otlpExporter{
		cfg:       cfg,
		client:    &http.Client{Transport: transport},
		where:     where,
		userAgent: userAgent,
		log:       log,
		retryBase: time.Second,
		retryMax:  30 * time.Second,
		stop:      stop,
		stopNow:   stopNow,
	}
}

// ExportSpans sends spans in one request, retried while the export's
// timeout and ctx allow. After Shutdown it fails.
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.RLock()
	if e.shut {
		e.mu.RUnlock()
		return errOTLPShutdown
	}
	e.inflight.Add(1)
	e.mu.RUnlock()
	defer e.inflight.Done()

	rs := otlpResourceSpans(spans)
	if len(rs) == 0 {
		return nil
	}
	body, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rs})
	if err != nil {
		return fmt.Errorf("tracing: encode %d spans: %w", len(spans), err)
	}
	if len(body) > maxOTLPRequest {
		return fmt.Errorf("tracing: %d spans dropped: they make %d bytes, over the %d one export may carry", len(spans), len(body), maxOTLPRequest)
	}
	if e.cfg.Gzip {
		if body, err = gzipBytes(body); err != nil {
			return fmt.Errorf("tracing: compress spans: %w", err)
		}
	}
	if e.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.Timeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.stop, cancel)()
	return e.send(ctx, body)
}

// Shutdown makes later exports fail and waits for those under way; when
// ctx ends first, it cancels them and returns ctx's error.
func (e *otlpExporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.shut = true
	e.mu.Unlock()
	done := make(chan struct{})
	go func() {
		e.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		e.stopNow()
		e.client.CloseIdleConnections()
		return nil
	case <-ctx.Done():
		e.stopNow()
		return ctx.Err()
	}
}

// send posts body until the collector takes it, refuses it for good, or
// the time for the export runs out. It waits between tries with
// exponential backoff and jitter, and at least as long as a Retry-After
// asks; a wait that would outlast ctx is not begun.
func (e *otlpExporter) send(ctx context.Context, body []byte) error {
	backoff := e.retryBase
	for {
		retry, after, err := e.post(ctx, body)
		if err == nil || !retry {
			return err
		}
		wait := max(jitter(backoff), after)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return fmt.Errorf("%w (no time left to retry within the export's timeout)", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (retry abandoned: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
		backoff = min(2*backoff, e.retryMax)
	}
}

// post makes one try. retry says whether the failure is transient (OTLP/
// HTTP Retryable Response Codes, All Other Responses, Connection), after
// how long the collector asked to wait.
func (e *otlpExporter) post(ctx context.Context, body []byte) (retry bool, after time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, 0, fmt.Errorf("tracing: %w", err)
	}
	req.Header.Set("User-Agent", e.userAgent)
	for k, v := range e.cfg.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if e.cfg.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return ctx.Err() == nil && transient(err), 0, fmt.Errorf("tracing: export: %w", err)
	}
	defer drainClose(resp.Body)
	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		return false, 0, e.accepted(resp)
	case code == http.StatusTooManyRequests, code == http.StatusBadGateway,
		code == http.StatusServiceUnavailable, code == http.StatusGatewayTimeout:
		return true, retryAfter(resp.Header.Get("Retry-After"), time.Now()), e.refused(resp)
	default:
		return false, 0, e.refused(resp)
	}
}

// accepted reads a success's ExportTraceServiceResponse and logs the spans
// its partial_success says were rejected. Such an answer is not retried.
func (e *otlpExporter) accepted(resp *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxOTLPResponse+1))
	if err != nil {
		return fmt.Errorf("tracing: read %s's answer: %w", e.where, err)
	}
	if len(b) > maxOTLPResponse {
		return fmt.Errorf("tracing: %s's answer is over %d bytes; discarded", e.where, maxOTLPResponse)
	}
	if len(b) == 0 || mediaType(resp.Header) != "application/x-protobuf" {
		return nil
	}
	var r coltracepb.ExportTraceServiceResponse
	if err := proto.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("tracing: %s's answer is not an ExportTraceServiceResponse: %w", e.where, err)
	}
	if ps := r.GetPartialSuccess(); ps.GetRejectedSpans() != 0 || ps.GetErrorMessage() != "" {
		e.log.Warn("tracing: the collector rejected spans",
			"collector", e.where, "rejected", ps.GetRejectedSpans(), "message", clip(ps.GetErrorMessage()))
	}
	return nil
}

// refused describes a failure by its status and, when the body says it
// (a google.rpc.Status in protobuf, or plain text), the collector's
// message, clipped. No more than maxOTLPErrorBody is read.
func (e *otlpExporter) refused(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxOTLPErrorBody))
	var msg string
	switch mediaType(resp.Header) {
	case "application/x-protobuf":
		msg = rpcStatusMessage(b)
	case "text/plain":
		msg = string(b)
	}
	if msg = clip(msg); msg != "" {
		return fmt.Errorf("tracing: %s answered %s: %s", e.where, resp.Status, msg)
	}
	return fmt.Errorf("tracing: %s answered %s", e.where, resp.Status)
}

// transient reports whether err is a collector that could not be reached
// or hung up without an answer, which is worth another try. A failure of
// TLS or of the URL is not.
func transient(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTemporary || dns.IsTimeout
	}
	for _, t := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return time.Duration(min(s, int64(time.Duration(1<<63-1)/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// jitter spreads d over [d/2, 3d/2).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d)
}

// rpcStatusMessage returns the message (field 2) of a google.rpc.Status,
// the body the protocol gives a failure, or "" when b holds none. A
// truncated body still yields a message that comes before the cut.
func rpcStatusMessage(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 2 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return ""
			}
			return string(v)
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return ""
		}
		b = b[n:]
	}
	return ""
}

// clip makes a collector's message fit for a log line: valid UTF-8, no
// control characters, at most maxOTLPMessage bytes.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= maxOTLPMessage {
		return s
	}
	cut := maxOTLPMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func mediaType(h http.Header) string {
	t, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(t))
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// drainClose reads what is left of a small body, so that the connection
// can carry the next export, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}
