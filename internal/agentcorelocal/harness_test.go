package agentcorelocal

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/sdkhttp"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testRegion = "us-east-1"
	testKeyID  = "AKIDAGENTCORELOCAL01"
	testSecret = "c2VjcmV0LWtleS1mb3ItYWdlbnRjb3JlLWxvY2Fs"
	testARN    = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/demo-abc"
	otherARN   = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/other-xyz"
)

// wait bounds every wait of a test on another goroutine.
const wait = 10 * time.Second

// startAgent starts a fake agent container on loopback whose POST
// /invocations runs h, and returns its base URL.
func startAgent(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /invocations", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// deadAgentURL returns the URL of a loopback port nothing listens on.
func deadAgentURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// emulator is a running Server on loopback.
type emulator struct {
	srv     *Server
	url     string
	logs    chan slog.Record
	reports chan InvocationReport
}

// startEmulator serves rts (agent URLs by ARN) from a Server on loopback.
func startEmulator(t *testing.T, rts ...Runtime) *emulator {
	t.Helper()
	return startEmulatorWith(t, nil, rts...)
}

// startEmulatorWith is startEmulator with a chance to change the Server
// before it serves.
func startEmulatorWith(t *testing.T, change func(*Server), rts ...Runtime) *emulator {
	t.Helper()
	return startEmulatorConfig(t, nil, change, rts...)
}

// startEmulatorConfig is startEmulatorWith with a chance to change the
// Config first. The Server's Run runs beside it until the test ends.
func startEmulatorConfig(t *testing.T, configure func(*Config), change func(*Server), rts ...Runtime) *emulator {
	t.Helper()
	logs := make(chan slog.Record, 64)
	reports := make(chan InvocationReport, 64)
	agents := &http.Transport{}
	t.Cleanup(agents.CloseIdleConnections)
	cfg := Config{
		Region:          testRegion,
		AccessKeyID:     testKeyID,
		SecretAccessKey: testSecret,
		Runtimes:        rts,
		HTTPClient:      &http.Client{Transport: agents},
		Logger:          slog.New(recordHandler{logs}),
		OnInvocation: func(r InvocationReport) {
			select {
			case reports <- r:
			default: // a test that does not read its reports must not block the server
			}
		},
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(srv)
	}
	url := startServer(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Run(ctx)
	}()
	// Registered after the server's Close, so it runs before it.
	t.Cleanup(func() { cancel(); <-done })
	return &emulator{srv: srv, url: url, logs: logs, reports: reports}
}

// nextReport waits for the emulator's next invocation report.
func (em *emulator) nextReport(t *testing.T) InvocationReport {
	t.Helper()
	select {
	case r := <-em.reports:
		return r
	case <-time.After(wait):
		t.Fatal("no invocation report")
		return InvocationReport{}
	}
}

// noMoreReports fails the test if a report is waiting: each invocation is
// reported once, before its caller can see the end of its answer.
func (em *emulator) noMoreReports(t *testing.T) {
	t.Helper()
	select {
	case r := <-em.reports:
		t.Errorf("one report too many: %+v", r)
	default:
	}
}

// startServer serves srv on loopback and returns its URL.
func startServer(t *testing.T, srv *Server) string {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL
}

// newClient returns the real SDK client pointed at endpoint, signing with
// the test key pair unless opts change it.
func newClient(t *testing.T, endpoint string, opts ...func(*bedrockagentcore.Options)) *bedrockagentcore.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
	}
	opts = append([]func(*bedrockagentcore.Options){func(o *bedrockagentcore.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.HTTPClient = sdkhttp.Guard(&http.Client{Transport: tr})
	}}, opts...)
	return bedrockagentcore.NewFromConfig(cfg, opts...)
}

// rawClient sends hand-made requests to the emulator.
func rawClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// invocationsURL is the InvokeAgentRuntime URL of arn on endpoint.
func invocationsURL(endpoint, arn string) string {
	return endpoint + "/runtimes/" + url.PathEscape(arn) + "/invocations?qualifier=DEFAULT"
}

// signedRequest builds a POST of body to u with the given header name and
// value pairs, signed by the test key pair for the SigV4 payload hash of
// signedBody at signedAt.
func signedRequest(t *testing.T, u string, body, signedBody []byte, signedAt time.Time, header ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	sum := sha256.Sum256(signedBody)
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), signingService, testRegion, signedAt); err != nil {
		t.Fatal(err)
	}
	return req
}

// doRaw sends req and returns the response with its whole body.
func doRaw(t *testing.T, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// checkErrorShape asserts a restJson1 error as AWS sends it and returns its
// message.
func checkErrorShape(t *testing.T, resp *http.Response, body []byte, status int, errorType string) string {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if got := resp.Header.Get("X-Amzn-ErrorType"); got != errorType {
		t.Errorf("X-Amzn-ErrorType = %q, want %q", got, errorType)
	}
	if got := resp.Header.Get("X-Amzn-RequestId"); len(got) != 36 {
		t.Errorf("X-Amzn-RequestId = %q, want a UUID", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("body %q is not JSON: %v", body, err)
	}
	msg, ok := doc["message"].(string)
	if !ok || len(doc) != 1 {
		t.Errorf("body = %s, want exactly {\"message\": \"...\"}", body)
	}
	return msg
}

// readEvent reads one SSE event (its lines up to the blank line) from r.
func readEvent(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\n" {
			return b.String(), nil
		}
	}
}

// writeEvent writes one SSE event and flushes it to the emulator.
func writeEvent(w http.ResponseWriter, data string) {
	_, _ = io.WriteString(w, "data: "+data+"\n\n")
	_ = http.NewResponseController(w).Flush()
}

// httpStatus is the status code of the response behind an SDK error.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// recordHandler sends each log record to a channel, so tests can wait for
// the line a request logs after its response is out.
type recordHandler struct{ ch chan<- slog.Record }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h recordHandler) WithGroup(string) slog.Handler            { return h }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- r.Clone():
	default: // a test that does not read its logs must not block the server
	}
	return nil
}

// attrs flattens a record's attributes.
func attrs(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}
