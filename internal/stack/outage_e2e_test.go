package stack

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/limit/limittest"
)

// TestLimitsStoreOutage: when the limits store cannot be reached, does not
// answer, or throttles (a DynamoDB table past its capacity), a request is
// answered 503 limits_unavailable with Retry-After and a request id, in
// bounded time, and leaks nothing of the store; with failOpen it is
// admitted instead.
func TestLimitsStoreOutage(t *testing.T) {
	limittest.SetAWSEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there now

	// DynamoDB's answer to a request over a table's capacity, on every call.
	var throttled atomic.Int64
	throttling := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		throttled.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-RequestId", "THROTTLED")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}`))
	}))
	t.Cleanup(throttling.Close)

	stores := []struct {
		name  string
		store func(*config.Limits)
	}{
		{"redis unreachable", func(l *config.Limits) { l.Store, l.Redis.Addr = "redis", closed }},
		{"dynamodb unreachable", func(l *config.Limits) {
			l.Store, l.DynamoDB.Table, l.DynamoDB.Endpoint = "dynamodb", "limits", "http://"+closed
		}},
		{"dynamodb throttled", func(l *config.Limits) {
			l.Store, l.DynamoDB.Table, l.DynamoDB.Endpoint = "dynamodb", "limits", throttling.URL
		}},
	}
	l := startLocal(t, LocalOptions{})
	prompt := `{"prompt":"hi","response":"transformed"}`
	for _, st := range stores {
		for _, failOpen := range []bool{false, true} {
			name := st.name
			if failOpen {
				name += ", failOpen"
			}
			t.Run(name, func(t *testing.T) {
				gw := gatewayWith(t, l, func(c *config.Config) {
					c.Limits.Concurrency.Global = 10
					c.Limits.FailOpen = failOpen
					c.Limits.DynamoDB.Timeout = 500 * time.Millisecond
					st.store(&c.Limits)
				})
				began := time.Now()
				resp, body := do(t, "POST", gw+"/", prompt)
				took := time.Since(began)
				if failOpen {
					if resp.StatusCode != 200 {
						t.Fatalf("status %d %s, want 200 with failOpen", resp.StatusCode, body)
					}
					return
				}
				if resp.StatusCode != 503 || errorCode(t, body) != "limits_unavailable" ||
					resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-Request-Id") == "" {
					t.Fatalf("status %d, Retry-After %q, %s; want 503 limits_unavailable with Retry-After and a request id",
						resp.StatusCode, resp.Header.Get("Retry-After"), body)
				}
				for _, secret := range []string{closed, throttling.URL, "THROTTLED", "Throughput", "limits"} {
					if strings.Contains(string(body), secret) && !strings.Contains(`"limits_unavailable"`, secret) {
						t.Errorf("the answer names the store (%q): %s", secret, body)
					}
				}
				// Two tries of at most the timeout each, with the SDK's backoff between.
				if took > 5*time.Second {
					t.Errorf("the answer took %v", took)
				}
			})
		}
	}
	if throttled.Load() == 0 {
		t.Error("the throttling table was never called")
	}
}
