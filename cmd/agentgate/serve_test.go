package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/stack"
)

// getStatus GETs url and returns the status and body; 0 when nothing answers.
func getStatus(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeKeepsMetricsOffThePublicAddressWhenGivenOneOfTheirOwn(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l, err := stack.StartLocal(ctx, config.Default(), stack.LocalOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	public, metrics := freeAddr(t), freeAddr(t)
	// The upstream credentials from the file: the SDK reads its own
	// variables from the process, not from run's getenv.
	file := filepath.Join(t.TempDir(), "agentgate.yaml")
	if err := os.WriteFile(file, []byte("aws:\n  accessKeyId: "+l.Config.AWS.AccessKeyID+"\n  secretAccessKey: "+l.Config.AWS.SecretAccessKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", file}, env(map[string]string{
			"AGENTGATE_LISTEN":             public,
			"AGENTGATE_METRICS_LISTEN":     metrics,
			"AGENTGATE_UPSTREAM_ARN":       l.ARN,
			"AGENTGATE_UPSTREAM_ENDPOINT":  l.EmulatorURL,
			"AGENTGATE_AUTH_NONE":          "true",
			"AGENTGATE_SESSION_KEY":        strings.Repeat("k", 32),
			"AGENTGATE_LOG_FORMAT":         "json",
			"AGENTGATE_SHUTDOWN_GRACE":     "1s",
			"AGENTGATE_TIMEOUT_FIRST_BYTE": "10s",
		}), nil, io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, stderr.String())
		}
		if err := l.Wait(); err != nil {
			t.Errorf("local servers: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		a, _ := getStatus("http://" + public + "/healthz")
		b, _ := getStatus("http://" + metrics + "/metrics")
		if a == 200 && b == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up on %s and %s:\n%s", public, metrics, stderr.String())
		}
	}
	if status, _ := getStatus("http://" + public + "/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the public address: %d, want 404", status)
	}
	if status, _ := getStatus("http://" + public + "/readyz"); status != http.StatusOK {
		t.Errorf("GET /readyz: %d, want 200", status)
	}
	_, body := getStatus("http://" + metrics + "/metrics")
	if !strings.Contains(body, `agentgate_requests_total{agent="",format="",outcome="",status="200"}`) {
		t.Errorf("the metrics address does not count the requests on the public one:\n%s", body)
	}
}
