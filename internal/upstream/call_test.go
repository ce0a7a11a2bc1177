package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// seenRequest is what a recording data plane saw of one request.
type seenRequest struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// recorder is a data plane that records each request and answers with
// answer.
func recorder(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) (*httptest.Server, func() []seenRequest) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []seenRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, seenRequest{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), body})
		n := len(seen)
		mu.Unlock()
		answer(w, r, n)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seenRequest {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

func newTestInvoker(t *testing.T, endpoint string, attempts int) *AgentCore {
	t.Helper()
	a, err := NewAgentCore(context.Background(), AgentCoreConfig{ARN: testARN, Qualifier: "live", Region: "us-east-1", Endpoint: endpoint,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "token"),
		MaxAttempts: attempts, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// signedHeaders returns the SignedHeaders list of a SigV4 Authorization.
func signedHeaders(auth string) string {
	_, list, _ := strings.Cut(auth, "SignedHeaders=")
	list, _, _ = strings.Cut(list, ",")
	return list
}

// TestTheRequestIsTheSDKs: the invoker builds InvokeAgentRuntime and
// StopRuntimeSession itself; each must leave on the wire as the SDK's own
// client sends it: the same method, escaped path, query, headers and
// body, and the same headers under the signature.
func TestTheRequestIsTheSDKs(t *testing.T) {
	srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set(headerSessionID, r.Header.Get(headerSessionID))
		if strings.HasSuffix(r.URL.Path, "/stopruntimesession") {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"runtimeSessionId":"`+r.Header.Get(headerSessionID)+`","statusCode":200}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: \"hi\"\n\n")
	})
	const custom = "X-Amzn-Bedrock-Agentcore-Runtime-Custom-Email"
	session := strings.Repeat("s", 40)
	payload := []byte(`{"prompt":"hi"}`)

	sdk := bedrockagentcore.New(bedrockagentcore.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: NewHTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "token")})
	out, err := sdk.InvokeAgentRuntime(context.Background(), &bedrockagentcore.InvokeAgentRuntimeInput{
		AgentRuntimeArn: aws.String(testARN), Qualifier: aws.String("live"), Payload: payload, RuntimeSessionId: aws.String(session),
		ContentType: aws.String("application/json"), Accept: aws.String("text/event-stream, application/json"),
		RuntimeUserId: aws.String("ada"), TraceParent: aws.String("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
		TraceState: aws.String("k=v"), Baggage: aws.String("b=1"),
	}, func(o *bedrockagentcore.Options) {
		o.APIOptions = append(o.APIOptions, smithyhttp.AddHeaderValue(custom, "ada@example.com"))
	})
	if err != nil {
		t.Fatalf("the SDK's InvokeAgentRuntime: %v", err)
	}
	io.Copy(io.Discard, out.Response)
	out.Response.Close()
	if _, err := sdk.StopRuntimeSession(context.Background(), &bedrockagentcore.StopRuntimeSessionInput{
		AgentRuntimeArn: aws.String(testARN), Qualifier: aws.String("live"), RuntimeSessionId: aws.String(session)}); err != nil {
		t.Fatalf("the SDK's StopRuntimeSession: %v", err)
	}

	a := newTestInvoker(t, srv.URL, 0)
	resp, err := a.Invoke(context.Background(), Request{Payload: payload, SessionID: session, UserID: "ada",
		TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", TraceState: "k=v", Baggage: "b=1",
		Headers: http.Header{custom: {"ada@example.com"}}})
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if body, _ := io.ReadAll(resp.Body); string(body) != "data: \"hi\"\n\n" || resp.ContentType != "text/event-stream" || resp.SessionID != session {
		t.Errorf("Invoke answered %q, %q, session %q", body, resp.ContentType, resp.SessionID)
	}
	resp.Body.Close()
	if err := a.StopSession(context.Background(), session); err != nil {
		t.Fatalf("StopSession: %v", err)
	}

	reqs := seen()
	if len(reqs) != 4 {
		t.Fatalf("the data plane saw %d requests, want 4", len(reqs))
	}
	// Set per call or per moment: compared for presence only.
	varying := []string{"Authorization", "X-Amz-Date", "Amz-Sdk-Invocation-Id", "User-Agent"}
	for i, op := range []string{"InvokeAgentRuntime", "StopRuntimeSession"} {
		want, got := reqs[i], reqs[i+2]
		if got.method != want.method || got.path != want.path || got.query != want.query {
			t.Errorf("%s: %s %s?%s, the SDK's %s %s?%s", op, got.method, got.path, got.query, want.method, want.path, want.query)
		}
		if sh, wsh := signedHeaders(got.header.Get("Authorization")), signedHeaders(want.header.Get("Authorization")); sh != wsh {
			t.Errorf("%s: SignedHeaders=%s, the SDK's %s", op, sh, wsh)
		}
		for _, name := range slices.Sorted(maps.Keys(want.header)) {
			if slices.Contains(varying, name) {
				if got.header.Get(name) == "" {
					t.Errorf("%s: no %s", op, name)
				}
				continue
			}
			if g, w := got.header.Values(name), want.header.Values(name); !slices.Equal(g, w) {
				t.Errorf("%s: %s is %q, the SDK's %q", op, name, g, w)
			}
		}
		for name := range got.header {
			if _, ok := want.header[name]; !ok {
				t.Errorf("%s: sends %s, which the SDK does not", op, name)
			}
		}
		if op == "InvokeAgentRuntime" {
			if string(got.body) != string(want.body) {
				t.Errorf("%s: body %q, the SDK's %q", op, got.body, want.body)
			}
			continue
		}
		var g, w map[string]string
		if json.Unmarshal(got.body, &g) != nil || json.Unmarshal(want.body, &w) != nil || !slices.Equal(slices.Sorted(maps.Keys(g)), slices.Sorted(maps.Keys(w))) || len(g["clientToken"]) != 36 {
			t.Errorf("%s: body %s, the SDK's %s", op, got.body, want.body)
		}
	}
}

// TestErrorsAreClassifiedAndRetriedAsTheSDKDoes: each error answer of the
// data plane gets its kind from the code restJson1 carries (header first,
// then the body's __type or code), and only what the SDK's standard
// retryer retries is sent again.
func TestErrorsAreClassifiedAndRetriedAsTheSDKDoes(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		header  string // X-Amzn-ErrorType
		body    string
		kind    Kind
		retried bool
	}{
		{"validation by header", 400, "ValidationException:http://internal.amazon.com/coral/", `{"message":"bad arn:aws:x"}`, KindValidation, false},
		{"access denied by __type", 403, "", `{"__type":"com.amazonaws.bedrockagentcore#AccessDeniedException","message":"no"}`, KindAccessDenied, false},
		{"not found by code", 404, "", `{"code":"ResourceNotFoundException"}`, KindNotFound, false},
		{"throttling", 429, "ThrottlingException", `{}`, KindThrottled, true},
		{"quota", 402, "ServiceQuotaExceededException", `{}`, KindQuotaExceeded, false},
		{"agent failed", 424, "RuntimeClientError", `{"message":"container exited"}`, KindAgentFailed, false},
		{"internal", 500, "InternalServerException", `{}`, KindInternal, true},
		{"unavailable", 503, "ServiceUnavailableException", ``, KindUnavailable, true},
		{"session starting", 409, "RetryableConflictException", `{}`, KindConflict, true},
		{"conflict", 409, "ConflictException", `{}`, KindConflict, false},
		{"unrecognized client", 403, "UnrecognizedClientException", `{}`, KindAccessDenied, false},
		{"a bare 502 that is not JSON", 502, "", `<html>bad gateway</html>`, KindInternal, true},
		{"a bare 401", 401, "", ``, KindAccessDenied, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				if c.header != "" {
					w.Header().Set("X-Amzn-ErrorType", c.header)
				}
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(c.status)
				io.WriteString(w, c.body)
			})
			_, err := newTestInvoker(t, srv.URL, 3).Invoke(context.Background(), Request{Payload: []byte(`{}`), SessionID: strings.Repeat("s", 40)})
			var ue *Error
			if !errors.As(err, &ue) {
				t.Fatalf("Invoke: %v, want an *Error", err)
			}
			if ue.Kind != c.kind || ue.Status != c.status || ue.RetryAfter != 7*time.Second {
				t.Errorf("got kind %v status %d retry-after %v, want %v %d 7s (%v)", ue.Kind, ue.Status, ue.RetryAfter, c.kind, c.status, err)
			}
			want := 1
			if c.retried {
				want = 3
			}
			if n := len(seen()); n != want {
				t.Errorf("the data plane saw %d attempts, want %d", n, want)
			}
			for i, r := range seen() {
				if got, w := r.header.Get("Amz-Sdk-Request"), "attempt="+string(rune('1'+i))+"; max=3"; got != w {
					t.Errorf("attempt %d: Amz-Sdk-Request %q, want %q", i+1, got, w)
				}
			}
		})
	}
}

// TestARetriedCallSucceedsOnceTheDataPlaneRecovers: a session still starting
// twice, then the stream; one invocation id over the three attempts.
func TestARetriedCallSucceedsOnceTheDataPlaneRecovers(t *testing.T) {
	srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n < 3 {
			w.Header().Set("X-Amzn-ErrorType", "RetryableConflictException")
			w.WriteHeader(http.StatusConflict)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: 1\n\n")
	})
	resp, err := newTestInvoker(t, srv.URL, 3).Invoke(context.Background(), Request{Payload: []byte(`{}`), SessionID: strings.Repeat("s", 40)})
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	resp.Body.Close()
	reqs := seen()
	if len(reqs) != 3 {
		t.Fatalf("%d attempts, want 3", len(reqs))
	}
	for _, r := range reqs[1:] {
		if r.header.Get("Amz-Sdk-Invocation-Id") != reqs[0].header.Get("Amz-Sdk-Invocation-Id") || string(r.body) != "{}" {
			t.Errorf("a retry changed the invocation id or lost the body: %q %q", r.header.Get("Amz-Sdk-Invocation-Id"), r.body)
		}
	}
}

// TestACancelledCallIsNotRetried: the caller leaving ends the call at once
// with the context's error, whatever the data plane was doing.
func TestACancelledCallIsNotRetried(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		cancel()
		<-r.Context().Done()
	})
	_, err := newTestInvoker(t, srv.URL, 3).Invoke(ctx, Request{Payload: []byte(`{}`), SessionID: strings.Repeat("s", 40)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Invoke: %v, want context.Canceled", err)
	}
	if n := len(seen()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// TestLambdasTraceTravels: inside Lambda, the invocation's X-Ray trace id
// goes upstream as X-Amzn-Trace-Id, encoded as the SDK encodes it.
func TestLambdasTraceTravels(t *testing.T) {
	srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {})
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "gateway")
	t.Setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1 x\n")
	resp, err := newTestInvoker(t, srv.URL, 1).Invoke(context.Background(), Request{Payload: []byte(`{}`), SessionID: strings.Repeat("s", 40)})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := seen()[0].header.Get("X-Amzn-Trace-Id"), "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1%20x%0A"; got != want {
		t.Errorf("X-Amzn-Trace-Id %q, want %q", got, want)
	}
}
