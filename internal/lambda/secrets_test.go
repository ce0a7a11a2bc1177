package lambda

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/secretslocal/secretstest"
	"github.com/agentgate/agentgate/internal/stack"
)

// syncLog is a log the function and the test share.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// startWithSecret serves, through a Runtime API stub, the gateway a Lambda
// function runs with its secret in Secrets Manager (the stand-in) and its
// origin lock's header in the environment, as the CDK stack deploys it.
func startWithSecret(t *testing.T, sm *secretstest.Fixture, refresh time.Duration) (*runtimeAPI, *syncLog) {
	t.Helper()
	cfg := config.Default()
	cfg.Agents = map[string]config.Agent{"default": {ARN: "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/demo-0001"}}
	cfg.Auth.None = true
	cfg.OriginLock.Header = "X-Origin-Verify"
	cfg.Secrets = sm.Config(refresh)
	Configure(&cfg)
	logs := &syncLog{}
	log := stack.NewLogger(cfg.Log, logs)
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := stack.OpenGateway(ctx, cfg, log, stack.Telemetry{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	api := newRuntimeAPI(t)
	srv := &Server{API: api.addr, Handler: gw, Abort: gw.Abort, Prepare: gw.RefreshIfStale, Logger: log}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return api, logs
}

// agentsStatus invokes the function with GET /agents carrying origin as
// the origin lock's header, and returns the status it answered.
func agentsStatus(t *testing.T, api *runtimeAPI, origin string) int {
	t.Helper()
	resp := api.invoke(signedEvent("/agents", false, map[string]string{"x-origin-verify": origin}), "")
	p, _ := resp.prelude(t)
	resp.wait(t)
	return p.StatusCode
}

func TestAFunctionReadsItsRotatedSecretAsAnInvocationStarts(t *testing.T) {
	// Long enough that a few invocations on a busy machine fit in one interval.
	const refresh = 400 * time.Millisecond
	origin1, origin2, origin3 := "origin-secret-one-0001", "origin-secret-two-0002", "origin-secret-three-0003"
	sm := secretstest.Start(t, config.SecretValues{OriginSecret: origin1})
	api, logs := startWithSecret(t, sm, refresh)
	if n := sm.Calls(); n != 1 {
		t.Fatalf("the cold start read the secret %d times, want 1", n)
	}

	t.Run("the secret's origin secret locks the function from the cold start", func(t *testing.T) {
		if got := agentsStatus(t, api, origin1); got != http.StatusOK {
			t.Fatalf("with the secret's origin secret: %d", got)
		}
		if got := agentsStatus(t, api, "not-the-origin-secret"); got != http.StatusForbidden {
			t.Fatalf("with another: %d, want 403", got)
		}
		if n := sm.Calls(); n != 1 {
			t.Fatalf("invocations within the refresh interval read the secret again (%d reads)", n)
		}
	})

	t.Run("a frozen function reads nothing; the first invocation after the interval reads the rotated value", func(t *testing.T) {
		sm.Put(t, config.SecretValues{OriginSecret: origin2})
		time.Sleep(3 * refresh)
		if n := sm.Calls(); n != 1 {
			t.Fatalf("the secret was read %d times between invocations: something runs while the function is frozen", n)
		}
		if got := agentsStatus(t, api, origin2); got != http.StatusOK {
			t.Fatalf("the first invocation after the interval, with the rotated origin secret: %d", got)
		}
		if got := agentsStatus(t, api, origin1); got != http.StatusForbidden {
			t.Fatalf("the old origin secret after the rotation: %d, want 403", got)
		}
		if n := sm.Calls(); n != 2 {
			t.Fatalf("%d reads, want 2: one at the cold start, one when stale", n)
		}
	})

	t.Run("a refresh that fails keeps the last values", func(t *testing.T) {
		sm.SetDenied(sm.ARN, true)
		sm.Put(t, config.SecretValues{OriginSecret: origin3})
		time.Sleep(2 * refresh)
		if got := agentsStatus(t, api, origin2); got != http.StatusOK {
			t.Fatalf("the last good origin secret while the secret cannot be read: %d", got)
		}
		if got := agentsStatus(t, api, origin3); got != http.StatusForbidden {
			t.Fatalf("a value the function could not read: %d, want 403", got)
		}
		if !strings.Contains(logs.String(), "secrets: refresh failed; the last values stay in effect") {
			t.Fatal("the failed refresh is not logged")
		}
	})

	for _, v := range []string{origin1, origin2, origin3} {
		if strings.Contains(logs.String(), v) {
			t.Errorf("the log holds an origin secret (%.6s...)", v)
		}
	}
}

func TestAFunctionWhoseSecretCannotBeReadFailsItsColdStart(t *testing.T) {
	sm := secretstest.Start(t, config.SecretValues{OriginSecret: "origin-secret-one-0001"})
	sm.SetDenied(sm.ARN, true)
	cfg := config.Default()
	cfg.Agents = map[string]config.Agent{"default": {ARN: "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/demo-0001"}}
	cfg.Auth.None = true
	cfg.OriginLock.Header = "X-Origin-Verify"
	cfg.Secrets = sm.Config(time.Minute)
	_, err := stack.OpenGateway(context.Background(), cfg, slog.New(slog.DiscardHandler), stack.Telemetry{})
	if err == nil || !strings.Contains(err.Error(), "cannot start without its secret") || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Fatalf("err = %v", err)
	}
}
