package upstream

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
)

const testARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-x"

func TestCheckReachesTheDataPlaneWithoutInvoking(t *testing.T) {
	var pings atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/ping" {
			pings.Add(1)
		}
		// AWS answers an unknown route with an error: still reachable.
		http.Error(w, `{"message":"UnknownOperationException"}`, http.StatusNotFound)
	}))
	defer srv.Close()
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	newInvoker := func(t *testing.T, endpoint string, creds *credentials.StaticCredentialsProvider) *AgentCore {
		t.Helper()
		cfg := AgentCoreConfig{ARN: testARN, Region: "us-east-1", Endpoint: endpoint}
		if creds != nil {
			cfg.Credentials = creds
		}
		a, err := NewAgentCore(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	t.Run("an endpoint that answers at all is reachable", func(t *testing.T) {
		if err := newInvoker(t, srv.URL, &creds).Check(context.Background()); err != nil {
			t.Fatalf("Check: %v", err)
		}
		if pings.Load() != 1 {
			t.Fatalf("the endpoint saw %d GET /ping, want 1", pings.Load())
		}
	})
	t.Run("an endpoint that is down is a connection failure", func(t *testing.T) {
		down := httptest.NewServer(http.NotFoundHandler())
		down.Close()
		err := newInvoker(t, down.URL, &creds).Check(context.Background())
		if KindOf(err) != KindConnection {
			t.Fatalf("Check: %v, want a connection failure", err)
		}
	})
	t.Run("credentials that do not resolve are refused access", func(t *testing.T) {
		dir := t.TempDir()
		for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "",
			"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
			"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials")} {
			t.Setenv(k, v)
		}
		before := pings.Load()
		err := newInvoker(t, srv.URL, nil).Check(context.Background())
		if KindOf(err) != KindAccessDenied {
			t.Fatalf("Check: %v, want access denied", err)
		}
		if pings.Load() != before {
			t.Fatal("Check called the endpoint without credentials")
		}
	})
}

// TestTheEnvironmentsEndpointIsHonoured: AWS_ENDPOINT_URL_BEDROCK_AGENTCORE,
// the SDK's own setting, points the data plane elsewhere (a local replica
// of the deployment does this) when the configuration names no endpoint.
func TestTheEnvironmentsEndpointIsHonoured(t *testing.T) {
	var pings atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			pings.Add(1)
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", srv.URL)
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	a, err := NewAgentCore(context.Background(), AgentCoreConfig{ARN: testARN, Region: "us-east-1", Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(context.Background()); err != nil || pings.Load() != 1 {
		t.Fatalf("Check: %v, %d pings at the environment's endpoint; want it reached once", err, pings.Load())
	}
}

// TestHeadersReachTheAgentSignedThroughTheEmulator: the extra headers of a
// Request travel with the SDK's InvokeAgentRuntime, inside its SigV4
// signature, which the emulator verifies, and an allow-listing runtime
// passes them on.
func TestHeadersReachTheAgentSignedThroughTheEmulator(t *testing.T) {
	const (
		email  = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Email"
		keyID  = "AKIDUPSTREAMTEST0001"
		secret = "c2VjcmV0LWZvci10aGUtdXBzdHJlYW0tdGVzdA"
	)
	seen := make(chan http.Header, 1)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: \"hi\"\n\n")
	}))
	defer agent.Close()
	em, err := agentcorelocal.New(agentcorelocal.Config{Region: "us-east-1", AccessKeyID: keyID, SecretAccessKey: secret,
		Runtimes: []agentcorelocal.Runtime{{ARN: testARN, URL: agent.URL, HeaderAllowlist: []string{email}}}})
	if err != nil {
		t.Fatal(err)
	}
	signed := make(chan string, 1)
	emSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, list, _ := strings.Cut(r.Header.Get("Authorization"), "SignedHeaders=")
		list, _, _ = strings.Cut(list, ",")
		signed <- list
		em.ServeHTTP(w, r)
	}))
	defer emSrv.Close()
	defer emSrv.CloseClientConnections()

	a, err := NewAgentCore(context.Background(), AgentCoreConfig{ARN: testARN, Region: "us-east-1", Endpoint: emSrv.URL,
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Invoke(context.Background(), Request{Payload: []byte(`{"prompt":"hi"}`), SessionID: strings.Repeat("s", 40),
		Headers: http.Header{email: {"ada@example.com"}, "X-Amzn-Bedrock-Agentcore-Runtime-Custom-Unlisted": {"no"}}})
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if list := <-signed; !slices.Contains(strings.Split(list, ";"), strings.ToLower(email)) {
		t.Errorf("SignedHeaders=%s leaves out %s", list, email)
	}
	h := <-seen
	if got := h.Get(email); got != "ada@example.com" {
		t.Errorf("the agent got %s %q, want the request's", email, got)
	}
	if got := h.Get("X-Amzn-Bedrock-Agentcore-Runtime-Custom-Unlisted"); got != "" {
		t.Errorf("a header the runtime does not allow-list reached the agent: %q", got)
	}
}

// TestTheCABundleIsHonoured: AWS_CA_BUNDLE, the SDK's setting for a
// private certificate authority (a TLS-inspecting proxy, an endpoint with a
// private certificate), is trusted by the invocation as it is by the SDK's
// own clients, and the data plane is reached over HTTP/2, as AgentCore's
// TLS endpoints are.
func TestTheCABundleIsHonoured(t *testing.T) {
	var proto atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: \"hi\"\n\n")
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	invoke := func(t *testing.T) error {
		t.Helper()
		a, err := NewAgentCore(context.Background(), AgentCoreConfig{ARN: testARN, Region: "us-east-1", Endpoint: srv.URL, Credentials: creds, MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Invoke(context.Background(), Request{Payload: []byte(`{"prompt":"hi"}`), SessionID: strings.Repeat("s", 33)})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "data: \"hi\"\n\n" {
			t.Fatalf("body %q, %v", body, err)
		}
		return nil
	}

	t.Run("an unknown authority is refused", func(t *testing.T) {
		t.Setenv("AWS_CA_BUNDLE", "")
		if err := invoke(t); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Invoke: %v, want a certificate error", err)
		}
	})
	t.Run("the bundle's authority is trusted", func(t *testing.T) {
		bundle := filepath.Join(t.TempDir(), "ca.pem")
		pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(bundle, pemCert, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AWS_CA_BUNDLE", bundle)
		if err := invoke(t); err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		if p, _ := proto.Load().(string); p != "HTTP/2.0" {
			t.Fatalf("the data plane was reached over %q, want HTTP/2.0", p)
		}
	})
}
