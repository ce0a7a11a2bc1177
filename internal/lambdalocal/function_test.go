package lambdalocal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/stack"
	"github.com/agentgate/agentgate/internal/testenv"
)

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// bootstrap builds agentgate as a Lambda function's bootstrap, once.
func bootstrap(t *testing.T) string {
	t.Helper()
	testenv.Slow(t)
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "lambdalocal-bootstrap-")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "bootstrap")
		cmd := exec.Command("go", "build", "-o", built, "./cmd/agentgate")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building the bootstrap: %v", buildErr)
	}
	return built
}

// chain is the local stack's emulator and agent, with a function URL of
// the gateway in Lambda mode in front of them.
type chain struct {
	fn      *Function
	reports chan agentcorelocal.InvocationReport
}

func startChain(t *testing.T, delay time.Duration, edit func(*Config)) *chain {
	t.Helper()
	bin := bootstrap(t)
	c := &chain{reports: make(chan agentcorelocal.InvocationReport, 16)}
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = delay
	ctx, cancel := context.WithCancel(context.Background())
	l, err := stack.StartLocal(ctx, cfg, stack.LocalOptions{Listen: "127.0.0.1:0", OnInvocation: func(r agentcorelocal.InvocationReport) {
		select {
		case c.reports <- r:
		default:
		}
	}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		l.Wait()
	})
	var logs bytes.Buffer
	fc := Config{
		Bootstrap: bin,
		Name:      "agentgate",
		Env: []string{
			"AWS_ACCESS_KEY_ID=" + l.Config.AWS.AccessKeyID,
			"AWS_SECRET_ACCESS_KEY=" + l.Config.AWS.SecretAccessKey,
			"AWS_EC2_METADATA_DISABLED=true",
			"AGENTGATE_UPSTREAM_ARN=" + l.ARN,
			"AGENTGATE_UPSTREAM_ENDPOINT=" + l.EmulatorURL,
			"AGENTGATE_AUTH_NONE=true",
			"AGENTGATE_SESSION_KEY=" + strings.Repeat("k", 32),
		},
		Output: &syncWriter{w: &logs},
	}
	if edit != nil {
		edit(&fc)
	}
	fn, err := Start(fc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		fn.Close()
		if t.Failed() {
			t.Logf("function output:\n%s", logs.String())
		}
	})
	c.fn = fn
	return c
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func post(t *testing.T, url, body string, sign *aws.Credentials) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if sign != nil {
		sum := sha256.Sum256([]byte(body))
		hash := hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", hash)
		if err := v4.NewSigner().SignHTTP(context.Background(), *sign, req, hash, "lambda", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestTheAnswerStreamsThroughTheFunctionURL: the real bootstrap's answer
// reaches the caller while the agent is still writing it, not at its end.
func TestTheAnswerStreamsThroughTheFunctionURL(t *testing.T) {
	const delay = 150 * time.Millisecond
	c := startChain(t, delay, nil)
	resp := post(t, c.fn.URL(), `{"prompt":"hello there","response":"ndjson"}`, nil)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, content type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	buf := make([]byte, 64<<10)
	var body []byte
	var first, last time.Time
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if first.IsZero() {
				first = time.Now()
			}
			last = time.Now()
			body = append(body, buf[:n]...)
		}
		if err != nil {
			break
		}
	}
	if !bytes.Contains(body, []byte(`"type":"done"`)) && !bytes.Contains(body, []byte(`"type":"usage"`)) {
		t.Fatalf("no complete answer: %s", body)
	}
	// The built-in agent writes several deltas delay apart: a buffered
	// answer would arrive in one piece.
	if spread := last.Sub(first); spread < 2*delay {
		t.Errorf("the answer arrived within %v of its first byte; streamed, it spans at least %v", spread, 2*delay)
	}
}

// TestTheURLTakesOnlySignedRequests: with AWS_IAM auth the URL refuses an
// unsigned request and one signed with another key, and serves one signed
// with the configured key.
func TestTheURLTakesOnlySignedRequests(t *testing.T) {
	key := aws.Credentials{AccessKeyID: "AKIDEDGE", SecretAccessKey: "edge-secret"}
	c := startChain(t, 0, func(fc *Config) { fc.IAM = &key })
	body := `{"prompt":"hi","response":"transformed"}`
	for _, tc := range []struct {
		name string
		sign *aws.Credentials
		want int
	}{
		{"unsigned", nil, http.StatusForbidden},
		{"another key", &aws.Credentials{AccessKeyID: "AKIDEDGE", SecretAccessKey: "wrong"}, http.StatusForbidden},
		{"the key", &key, http.StatusOK},
	} {
		resp := post(t, c.fn.URL(), body, tc.sign)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d %s, want %d", tc.name, resp.StatusCode, b, tc.want)
		}
		if tc.want == http.StatusForbidden && string(b) != `{"Message":"Forbidden"}` {
			t.Errorf("%s: body %s", tc.name, b)
		}
	}
}

// TestACallerWhoLeavesEndsTheAgentsWork: the caller closes the stream
// after its first bytes; the hang-up reaches the function, which cancels
// its call to the agent.
func TestACallerWhoLeavesEndsTheAgentsWork(t *testing.T) {
	c := startChain(t, 200*time.Millisecond, nil)
	resp := post(t, c.fn.URL(), `{"prompt":"a long answer please","response":"ndjson"}`, nil)
	if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	left := time.Now()
	resp.Body.Close()
	select {
	case r := <-c.reports:
		if !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("the agent's call ended with %v, want it cancelled", r.Err)
		}
		if took := r.Ended.Sub(left); took > 2*time.Second {
			t.Errorf("the agent's call ended %v after the caller left", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent's call never ended")
	}
}

// TestABusyFunctionThrottles: with one instance, a request that comes while
// it streams is refused with 429, and served once the instance is free.
func TestABusyFunctionThrottles(t *testing.T) {
	c := startChain(t, 100*time.Millisecond, func(fc *Config) { fc.Instances = 1 })
	first := post(t, c.fn.URL(), `{"prompt":"one","response":"ndjson"}`, nil)
	if _, err := first.Body.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	second := post(t, c.fn.URL(), `{"prompt":"two","response":"ndjson"}`, nil)
	b, _ := io.ReadAll(second.Body)
	second.Body.Close()
	if second.StatusCode != http.StatusTooManyRequests {
		t.Errorf("while the only instance streams: %d %s, want 429", second.StatusCode, b)
	}
	io.Copy(io.Discard, first.Body)
	first.Body.Close()
	// The instance frees itself when the function asks for its next event.
	deadline := time.Now().Add(5 * time.Second)
	for {
		third := post(t, c.fn.URL(), `{"prompt":"three","response":"transformed"}`, nil)
		io.Copy(io.Discard, third.Body)
		third.Body.Close()
		if third.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the first answer: %d, want 200", third.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
