package agentcorelocal

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
)

func TestThrottlingAnswersPastTheQuotaPerEndpoint(t *testing.T) {
	var calls atomic.Int32
	agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.WriteString(w, `{}`)
	})
	var mu sync.Mutex
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	em := startEmulatorConfig(t, func(c *Config) { c.Throttle = true },
		func(s *Server) { s.now = clock }, Runtime{ARN: testARN, URL: agentURL})
	// The SDK retries a ThrottlingException by itself; this test counts
	// single calls.
	client := newClient(t, em.url, func(o *bedrockagentcore.Options) { o.Retryer = aws.NopRetryer{} })
	invoke := func(qualifier string) error {
		out, err := client.InvokeAgentRuntime(context.Background(), &bedrockagentcore.InvokeAgentRuntimeInput{
			AgentRuntimeArn: aws.String(testARN), Payload: []byte(`{}`), Qualifier: aws.String(qualifier),
		})
		if err == nil {
			out.Response.Close()
		}
		return err
	}
	wantThrottled := func(t *testing.T, err error) {
		t.Helper()
		var te *types.ThrottlingException
		if !errors.As(err, &te) {
			t.Fatalf("err = %v, want *types.ThrottlingException", err)
		}
		if httpStatus(err) != http.StatusTooManyRequests || te.ErrorMessage() != "Rate exceeded" {
			t.Errorf("status %d, message %q", httpStatus(err), te.ErrorMessage())
		}
	}

	t.Run("the documented 25 invocations in one second pass, and the 26th is a ThrottlingException", func(t *testing.T) {
		for i := range DefaultInvocationsPerSecond {
			if err := invoke("DEFAULT"); err != nil {
				t.Fatalf("invocation %d: %v", i+1, err)
			}
		}
		wantThrottled(t, invoke("DEFAULT"))
	})
	t.Run("another endpoint of the runtime has a quota of its own", func(t *testing.T) {
		if err := invoke("prod"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the quota refills at its rate: one invocation per 40 ms", func(t *testing.T) {
		advance(40 * time.Millisecond)
		if err := invoke("DEFAULT"); err != nil {
			t.Fatal(err)
		}
		wantThrottled(t, invoke("DEFAULT"))
	})
	t.Run("a throttled call never reaches the agent and is reported", func(t *testing.T) {
		if got, want := calls.Load(), int32(DefaultInvocationsPerSecond+2); got != want {
			t.Errorf("the agent was called %d times, want %d", got, want)
		}
		var last InvocationReport
		for len(em.reports) > 0 {
			last = <-em.reports
		}
		if last.ErrorType != codeThrottling || last.Status != http.StatusTooManyRequests {
			t.Errorf("last report %+v", last)
		}
	})
}
