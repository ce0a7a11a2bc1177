package agentcorelocal

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
)

const testTraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

func TestOnInvocationReportsAStreamOnce(t *testing.T) {
	agentURL, _ := streamingAgent(t, fourEvents...)
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := newClient(t, em.url)

	before := time.Now()
	out, err := client.InvokeAgentRuntime(context.Background(), &bedrockagentcore.InvokeAgentRuntimeInput{
		AgentRuntimeArn:  aws.String(testARN),
		Payload:          []byte(`{}`),
		RuntimeSessionId: aws.String(session40),
		RuntimeUserId:    aws.String("user-42"),
		TraceParent:      aws.String(testTraceParent),
	}, noRetries)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(out.Response)
	out.Response.Close()
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()

	rep := em.nextReport(t)
	t.Run("the report holds the runtime, session, user, trace, status and bytes of the call", func(t *testing.T) {
		want := InvocationReport{
			ARN: testARN, SessionID: session40, UserID: "user-42", TraceParent: testTraceParent,
			Status: http.StatusOK, Bytes: int64(len(body)),
		}
		got := rep
		got.Started, got.Ended = time.Time{}, time.Time{}
		if got != want {
			t.Errorf("report = %+v\nwant %+v", got, want)
		}
	})
	t.Run("the report's times bound the call, and events are not counted without a per-event fault", func(t *testing.T) {
		if rep.Started.Before(before) || rep.Ended.Before(rep.Started) || rep.Ended.After(after) {
			t.Errorf("Started %v, Ended %v; want within [%v, %v]", rep.Started, rep.Ended, before, after)
		}
		if rep.Events != 0 {
			t.Errorf("Events = %d", rep.Events)
		}
	})
	t.Run("the call is reported once", func(t *testing.T) {
		em.noMoreReports(t)
	})
}

func TestOnInvocationReportsRefusedRequests(t *testing.T) {
	agentURL, calls := countingAgent(t)
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := newClient(t, em.url)
	wrongKey := newClient(t, em.url, func(o *bedrockagentcore.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(testKeyID, "not-the-secret", "")
	})

	tests := []struct {
		name      string
		client    *bedrockagentcore.Client
		arn       string
		session   string
		fault     Fault
		wantARN   string
		status    int
		errorType string
		wantErr   error // what the report's Err must wrap; nil for none
	}{
		{
			name: "a bad signature is reported with its status and the ARN the path named", client: wrongKey, arn: testARN, session: session40,
			wantARN: testARN, status: http.StatusForbidden, errorType: codeAccessDenied,
		},
		{
			name: "an unknown ARN is reported with its status and that ARN", client: client, arn: otherARN, session: session40,
			wantARN: otherARN, status: http.StatusNotFound, errorType: codeResourceNotFound,
		},
		{
			name: "a session id too short is reported with the caller's session id", client: client, arn: testARN, session: "short",
			wantARN: testARN, status: http.StatusBadRequest, errorType: codeValidation,
		},
		{
			name: "an injected error is reported as a fault", client: client, arn: testARN, session: session40, fault: Fault{Error: codeThrottling},
			wantARN: testARN, status: http.StatusTooManyRequests, errorType: codeThrottling, wantErr: ErrFault,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := em.srv.SetFault(testARN, tt.fault); err != nil {
				t.Fatal(err)
			}
			_, err := tt.client.InvokeAgentRuntime(context.Background(), &bedrockagentcore.InvokeAgentRuntimeInput{
				AgentRuntimeArn: aws.String(tt.arn), Payload: []byte(`{}`), RuntimeSessionId: aws.String(tt.session),
			}, noRetries)
			if err == nil {
				t.Fatal("the call succeeded")
			}
			rep := em.nextReport(t)
			if rep.ARN != tt.wantARN || rep.SessionID != tt.session || rep.Status != tt.status || rep.ErrorType != tt.errorType {
				t.Errorf("report = %+v, want ARN %s, session %s, status %d, %s", rep, tt.wantARN, tt.session, tt.status, tt.errorType)
			}
			if (tt.wantErr == nil) != (rep.Err == nil) || (tt.wantErr != nil && !errors.Is(rep.Err, tt.wantErr)) {
				t.Errorf("report Err = %v, want %v", rep.Err, tt.wantErr)
			}
			if rep.Bytes != 0 || rep.Events != 0 {
				t.Errorf("report: %d bytes, %d events of stream; want none", rep.Bytes, rep.Events)
			}
			em.noMoreReports(t)
		})
	}
	t.Run("an agent that is down is reported as a RuntimeClientError with why", func(t *testing.T) {
		em := startEmulator(t, Runtime{ARN: testARN, URL: deadAgentURL(t)})
		_, err := invokeTestRuntime(context.Background(), newClient(t, em.url))
		if err == nil {
			t.Fatal("the call succeeded")
		}
		rep := em.nextReport(t)
		if rep.Status != http.StatusFailedDependency || rep.ErrorType != codeRuntimeClient || rep.Err == nil || !strings.Contains(rep.Err.Error(), "call agent") {
			t.Errorf("report = %+v", rep)
		}
	})
	t.Run("StopRuntimeSession is no invocation and is not reported", func(t *testing.T) {
		_, err := client.StopRuntimeSession(context.Background(), &bedrockagentcore.StopRuntimeSessionInput{
			AgentRuntimeArn: aws.String(testARN), RuntimeSessionId: aws.String(session40),
		}, noRetries)
		if err == nil {
			t.Fatal("stopping a session never started succeeded")
		}
		em.noMoreReports(t)
	})
	if n := calls.Load(); n != 0 {
		t.Errorf("the agent was called %d times", n)
	}
}

func TestOnInvocationReportsACallerThatCancelsMidStream(t *testing.T) {
	tests := []struct {
		name       string
		fault      Fault
		wantEvents int
	}{
		{name: "without faults the stream is copied byte by byte", fault: Fault{}},
		{name: "with a per-event fault the stream is relayed event by event", fault: Fault{DelayEach: time.Millisecond}, wantEvents: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name+", and a caller cancelling ends the invocation and the agent's request at once", func(t *testing.T) {
			agentCancelled := make(chan struct{})
			agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				writeEvent(w, `{"n":1}`)
				<-r.Context().Done()
				close(agentCancelled)
			})
			em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL, Fault: tt.fault})

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out, err := invokeTestRuntime(ctx, newClient(t, em.url))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Response.Close()
			if ev, err := readEvent(bufio.NewReader(out.Response)); err != nil {
				t.Fatalf("first event = %q, %v", ev, err)
			}
			cancelled := time.Now()
			cancel()

			rep := em.nextReport(t)
			if rep.Err != context.Canceled {
				t.Errorf("report Err = %v, want context.Canceled", rep.Err)
			}
			if d := rep.Ended.Sub(cancelled); d > 2*time.Second {
				t.Errorf("the invocation ended %v after the cancel", d)
			}
			if rep.Status != http.StatusOK || rep.Events != tt.wantEvents || rep.Bytes != int64(len(sseData(`{"n":1}`))) {
				t.Errorf("report = %+v, want status 200, %d events and the first event's bytes", rep, tt.wantEvents)
			}
			select {
			case <-agentCancelled:
			case <-time.After(wait):
				t.Fatal("the agent's request was not cancelled")
			}
		})
	}
}
