package agentcorelocal

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
)

func TestTheFaultHeaderInjectsAFaultIntoOneCall(t *testing.T) {
	agentURL, calls := streamingAgent(t, fourEvents...)
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL, Fault: Fault{Error: codeInternalServer, Times: 1}})
	client := newClient(t, em.url)
	ctx := context.Background()

	t.Run("an error in the header answers that error, and the agent is not called", func(t *testing.T) {
		_, err := client.InvokeAgentRuntime(ctx, invokeInput(), noRetries, withHeader(FaultHeader, "error=ThrottlingException; retryAfter=2s"))
		if _, ok := errorMessage[*types.ThrottlingException](err); !ok {
			t.Fatalf("err = %v, want a ThrottlingException", err)
		}
		if got := responseHeader(err, "Retry-After"); got != "2" {
			t.Errorf("Retry-After = %q, want 2", got)
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("the agent was called %d times", n)
		}
	})
	t.Run("the call with the header neither took the runtime's fault nor counted toward its times", func(t *testing.T) {
		_, err := invokeTestRuntime(ctx, client)
		if _, ok := errorMessage[*types.InternalServerException](err); !ok {
			t.Fatalf("err = %v, want the runtime's InternalServerException", err)
		}
		out, err := invokeTestRuntime(ctx, client)
		if err != nil {
			t.Fatalf("the runtime's fault was for one call: %v", err)
		}
		out.Response.Close()
	})
	t.Run("a stream fault in the header breaks that stream after its events", func(t *testing.T) {
		out, err := client.InvokeAgentRuntime(ctx, invokeInput(), noRetries, withHeader(FaultHeader, "dropAfter=2"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Response.Close()
		body, err := io.ReadAll(out.Response)
		if err == nil || string(body) != fourEvents[0]+fourEvents[1] {
			t.Errorf("read %q, %v; want two events, then an error", body, err)
		}
	})
	t.Run("a header the emulator cannot read is a ValidationException naming it", func(t *testing.T) {
		for _, v := range []string{"times=2", "error=Nope", "dropAfter=x", "loud"} {
			_, err := client.InvokeAgentRuntime(ctx, invokeInput(), noRetries, withHeader(FaultHeader, v))
			msg, ok := errorMessage[*types.ValidationException](err)
			if !ok || !strings.HasPrefix(msg, FaultHeader+": ") {
				t.Errorf("%s: %q: err = %v", FaultHeader, v, err)
			}
		}
	})
	t.Run("from an address other than loopback the header is ignored", func(t *testing.T) {
		before := calls.Load()
		body := []byte(`{"prompt":"hi"}`)
		req := signedRequest(t, invocationsURL(em.url, testARN), body, body, time.Now(), FaultHeader, "error=ThrottlingException")
		req.RemoteAddr = "192.0.2.9:40000"
		rec := httptest.NewRecorder()
		em.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || calls.Load() != before+1 {
			t.Errorf("status %d, agent calls %d; want the call served", rec.Code, calls.Load()-before)
		}
	})
}

// invokeInput is an invocation of testARN in session40.
func invokeInput() *bedrockagentcore.InvokeAgentRuntimeInput {
	return &bedrockagentcore.InvokeAgentRuntimeInput{
		AgentRuntimeArn:  aws.String(testARN),
		Payload:          []byte(`{"prompt":"hi"}`),
		RuntimeSessionId: aws.String(session40),
	}
}
