package agentcorelocal

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
)

const session40 = "session-0123456789-0123456789-0123456789"

func TestInvokeStreamsEachEventAsTheAgentWritesIt(t *testing.T) {
	events := []string{
		`{"event":{"messageStart":{"role":"assistant"}}}`,
		`{"event":{"contentBlockDelta":{"delta":{"text":"Hel"},"contentBlockIndex":0}}}`,
		`{"event":{"contentBlockDelta":{"delta":{"text":"lo"},"contentBlockIndex":0}}}`,
		`{"event":{"messageStop":{"stopReason":"end_turn"}}}`,
	}
	next := make(chan struct{})
	agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		for _, e := range events {
			select {
			case <-next: // the test has read the previous event, or the headers
			case <-r.Context().Done():
				return
			}
			writeEvent(w, e)
		}
	})
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := newClient(t, em.url)

	// The deadline bounds every wait: an emulator that held the headers or
	// an event back would fail the test here instead of hanging it. The
	// agent has written nothing but its headers when the call returns.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	out, err := client.InvokeAgentRuntime(ctx, &bedrockagentcore.InvokeAgentRuntimeInput{
		AgentRuntimeArn:  aws.String(testARN),
		Payload:          []byte(`{"prompt":"hi"}`),
		ContentType:      aws.String("application/json"),
		RuntimeSessionId: aws.String(session40),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Response.Close()

	t.Run("the call returns with the headers: the agent's content type, the session id and status 200", func(t *testing.T) {
		if got := aws.ToString(out.ContentType); got != "text/event-stream" {
			t.Errorf("ContentType = %q", got)
		}
		if got := aws.ToString(out.RuntimeSessionId); got != session40 {
			t.Errorf("RuntimeSessionId = %q", got)
		}
		if got := aws.ToInt32(out.StatusCode); got != http.StatusOK {
			t.Errorf("StatusCode = %d", got)
		}
		if got := aws.ToString(out.TraceParent); !strings.HasPrefix(got, "00-0af7") {
			t.Errorf("TraceParent = %q, want the agent's", got)
		}
		if id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); len(id) != 36 {
			t.Errorf("request id = %q, want a UUID", id)
		}
	})

	t.Run("each event is readable before the agent writes the next", func(t *testing.T) {
		br := bufio.NewReader(out.Response)
		for i, want := range events {
			select {
			case next <- struct{}{}:
			case <-ctx.Done():
				t.Fatalf("the agent stopped waiting to write event %d", i)
			}
			got, err := readEvent(br)
			if err != nil {
				t.Fatalf("event %d: %v (read %q)", i, err, got)
			}
			if got != "data: "+want+"\n\n" {
				t.Fatalf("event %d = %q, want %q", i, got, want)
			}
		}
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Errorf("after the last event: %q, %v; want a clean EOF", rest, err)
		}
	})

	t.Run("the request is logged with its operation, runtime, session and status", func(t *testing.T) {
		select {
		case rec := <-em.logs:
			a := attrs(rec)
			want := map[string]string{"method": "POST", "op": "InvokeAgentRuntime", "arn": testARN, "session": session40, "status": "200"}
			for k, v := range want {
				if a[k] != v {
					t.Errorf("log %s = %q, want %q (line %v)", k, a[k], v, a)
				}
			}
			if rec.Level != slog.LevelInfo {
				t.Errorf("level = %v", rec.Level)
			}
		case <-time.After(wait):
			t.Fatal("no log line")
		}
	})
}

func TestInvokeForwardsThePayloadAndHeadersUnchanged(t *testing.T) {
	type seen struct {
		body   string
		header http.Header
	}
	got := make(chan seen, 1)
	agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{string(body), r.Header.Clone()}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := newClient(t, em.url)

	payload := "{\"prompt\":\"h\u00e9llo\"}\n\x00\xff raw bytes"
	tests := []struct {
		name  string
		in    bedrockagentcore.InvokeAgentRuntimeInput
		wantH map[string]string
	}{
		{
			name: "payload bytes, session, user id and trace headers reach the agent as sent",
			in: bedrockagentcore.InvokeAgentRuntimeInput{
				ContentType:      aws.String("application/json"),
				Accept:           aws.String("text/event-stream"),
				RuntimeSessionId: aws.String(session40),
				RuntimeUserId:    aws.String("user-42"),
				TraceParent:      aws.String("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
				TraceState:       aws.String("vendor=1"),
				Baggage:          aws.String("k=v"),
			},
			wantH: map[string]string{
				"Content-Type": "application/json",
				"Accept":       "text/event-stream",
				sessionHeader:  session40,
				userHeader:     "user-42",
				"Traceparent":  "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
				"Tracestate":   "vendor=1",
				"Baggage":      "k=v",
			},
		},
		{
			name: "a payload without a content type arrives as the SDK's application/octet-stream, without signing headers",
			in:   bedrockagentcore.InvokeAgentRuntimeInput{RuntimeSessionId: aws.String(session40)},
			wantH: map[string]string{
				"Content-Type":  "application/octet-stream",
				sessionHeader:   session40,
				userHeader:      "",
				"Traceparent":   "",
				"Authorization": "",
				"X-Amz-Date":    "",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.AgentRuntimeArn = aws.String(testARN)
			in.Payload = []byte(payload)
			out, err := client.InvokeAgentRuntime(context.Background(), &in)
			if err != nil {
				t.Fatal(err)
			}
			reply, err := io.ReadAll(out.Response)
			out.Response.Close()
			if err != nil || string(reply) != `{"ok":true}` {
				t.Errorf("reply = %q, %v", reply, err)
			}
			var s seen
			select {
			case s = <-got:
			case <-time.After(wait):
				t.Fatal("the agent was not called")
			}
			if s.body != payload {
				t.Errorf("agent got payload %q, want %q", s.body, payload)
			}
			for k, v := range tt.wantH {
				if g := s.header.Get(k); g != v {
					t.Errorf("agent got %s = %q, want %q", k, g, v)
				}
			}
		})
	}
}

func TestInvokeSessionIDs(t *testing.T) {
	sessions := make(chan string, 1)
	agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		sessions <- r.Header.Get(sessionHeader)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	})
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := newClient(t, em.url)
	noSDKSession := func(o *bedrockagentcore.Options) { o.IdempotencyTokenProvider = nil }

	tests := []struct {
		name    string
		session *string
		wantErr bool
	}{
		{name: "an absent session id is generated and returned", session: nil},
		{name: "a 33-character session id is accepted", session: aws.String(strings.Repeat("a", 33))},
		{name: "a 256-character session id is accepted", session: aws.String(strings.Repeat("b", 256))},
		{name: "a 32-character session id is a ValidationException", session: aws.String(strings.Repeat("c", 32)), wantErr: true},
		{name: "a 257-character session id is a ValidationException", session: aws.String(strings.Repeat("d", 257)), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := client.InvokeAgentRuntime(context.Background(), &bedrockagentcore.InvokeAgentRuntimeInput{
				AgentRuntimeArn:  aws.String(testARN),
				Payload:          []byte(`{}`),
				RuntimeSessionId: tt.session,
			}, noSDKSession)
			if tt.wantErr {
				var ve *types.ValidationException
				if !errors.As(err, &ve) {
					t.Fatalf("err = %v, want *types.ValidationException", err)
				}
				if !strings.Contains(ve.ErrorMessage(), "runtimeSessionId") || httpStatus(err) != http.StatusBadRequest {
					t.Errorf("message %q, status %d", ve.ErrorMessage(), httpStatus(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out.Response.Close()
			got := aws.ToString(out.RuntimeSessionId)
			if tt.session == nil && len(got) != 36 {
				t.Errorf("generated session id %q, want 36 characters", got)
			}
			if tt.session != nil && got != *tt.session {
				t.Errorf("RuntimeSessionId = %q, want %q", got, *tt.session)
			}
			select {
			case agentSaw := <-sessions:
				if agentSaw != got {
					t.Errorf("agent saw session %q, caller got %q", agentSaw, got)
				}
			case <-time.After(wait):
				t.Fatal("the agent was not called")
			}
		})
	}
}

func TestInvokeValidatesThePayload(t *testing.T) {
	agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		t.Error("the agent must not be called")
	})
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := newClient(t, em.url)

	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{name: "an empty payload is a ValidationException", payload: []byte{}, want: "greater than or equal to 1"},
		{name: "a payload over 100 MB is a ValidationException", payload: make([]byte, maxPayloadBytes+1), want: "less than or equal to 104857600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.InvokeAgentRuntime(context.Background(), &bedrockagentcore.InvokeAgentRuntimeInput{
				AgentRuntimeArn: aws.String(testARN),
				Payload:         tt.payload,
			})
			var ve *types.ValidationException
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *types.ValidationException", err)
			}
			if !strings.Contains(ve.ErrorMessage(), tt.want) {
				t.Errorf("message %q does not say %q", ve.ErrorMessage(), tt.want)
			}
		})
	}
}

func TestInvokeFindsTheRuntime(t *testing.T) {
	agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{}`)
	})
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := newClient(t, em.url)

	tests := []struct {
		name      string
		arn       string
		accountID string
		wantFound bool
	}{
		{name: "an unknown runtime ARN is a ResourceNotFoundException naming it", arn: otherARN},
		{name: "a malformed ARN is a ResourceNotFoundException naming it", arn: "arn:aws:bedrock-agentcore:us-east-1:123456789012:agent/x"},
		{name: "a runtime of another account is a ResourceNotFoundException", arn: "arn:aws:bedrock-agentcore:us-east-1:999999999999:runtime/demo-abc"},
		{name: "a runtime id with its account id finds the runtime", arn: "demo-abc", accountID: "123456789012", wantFound: true},
		{name: "a runtime id with another account id is a ResourceNotFoundException", arn: "demo-abc", accountID: "999999999999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &bedrockagentcore.InvokeAgentRuntimeInput{AgentRuntimeArn: aws.String(tt.arn), Payload: []byte(`{}`)}
			if tt.accountID != "" {
				in.AccountId = aws.String(tt.accountID)
			}
			out, err := client.InvokeAgentRuntime(context.Background(), in)
			if tt.wantFound {
				if err != nil {
					t.Fatal(err)
				}
				out.Response.Close()
				return
			}
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) {
				t.Fatalf("err = %v, want *types.ResourceNotFoundException", err)
			}
			if !strings.Contains(nf.ErrorMessage(), tt.arn) || httpStatus(err) != http.StatusNotFound {
				t.Errorf("message %q (status %d) does not name %s", nf.ErrorMessage(), httpStatus(err), tt.arn)
			}
		})
	}
}

func TestInvokeReportsAgentFailuresAsRuntimeClientError(t *testing.T) {
	failing := func(status int) string {
		return startAgent(t, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"boom"}`, status)
		})
	}
	tests := []struct {
		name     string
		agentURL string
		want     string
	}{
		{name: "an agent that is down", agentURL: deadAgentURL(t), want: "did not answer"},
		{name: "an agent answering 500", agentURL: failing(http.StatusInternalServerError), want: "Received error (500)"},
		{name: "an agent answering 404", agentURL: failing(http.StatusNotFound), want: "Received error (404)"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is a RuntimeClientError naming the runtime", func(t *testing.T) {
			em := startEmulator(t, Runtime{ARN: testARN, URL: tt.agentURL})
			client := newClient(t, em.url)
			_, err := client.InvokeAgentRuntime(context.Background(), &bedrockagentcore.InvokeAgentRuntimeInput{
				AgentRuntimeArn: aws.String(testARN),
				Payload:         []byte(`{}`),
			})
			var rce *types.RuntimeClientError
			if !errors.As(err, &rce) {
				t.Fatalf("err = %v, want *types.RuntimeClientError", err)
			}
			if msg := rce.ErrorMessage(); !strings.Contains(msg, tt.want) || !strings.Contains(msg, testARN) {
				t.Errorf("message %q, want %q and the ARN", msg, tt.want)
			}
			if got := httpStatus(err); got != http.StatusFailedDependency {
				t.Errorf("status = %d, want 424", got)
			}
		})
	}
}

func TestInvokeBreaksTheStreamWhenTheAgentFailsMidStream(t *testing.T) {
	agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		writeEvent(w, `{"n":1}`)
		panic(http.ErrAbortHandler) // the agent's connection breaks mid-stream
	})
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := newClient(t, em.url)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	out, err := client.InvokeAgentRuntime(ctx, &bedrockagentcore.InvokeAgentRuntimeInput{
		AgentRuntimeArn: aws.String(testARN),
		Payload:         []byte(`{}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Response.Close()
	br := bufio.NewReader(out.Response)
	if ev, err := readEvent(br); err != nil || ev != "data: {\"n\":1}\n\n" {
		t.Fatalf("first event = %q, %v", ev, err)
	}
	_, err = io.ReadAll(br)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading on = %v, want io.ErrUnexpectedEOF: the caller must not see a clean end", err)
	}
}

func TestInvokeCallerGoingAwayCancelsTheAgent(t *testing.T) {
	tests := []struct {
		name  string
		leave func(cancel context.CancelFunc, body io.Closer)
	}{
		{name: "cancelling the context cancels the agent's request", leave: func(cancel context.CancelFunc, _ io.Closer) { cancel() }},
		{name: "closing the stream early cancels the agent's request", leave: func(_ context.CancelFunc, body io.Closer) { body.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cancelled := make(chan struct{})
			agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				writeEvent(w, `{"n":1}`)
				<-r.Context().Done()
				close(cancelled)
			})
			em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
			client := newClient(t, em.url)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out, err := client.InvokeAgentRuntime(ctx, &bedrockagentcore.InvokeAgentRuntimeInput{
				AgentRuntimeArn: aws.String(testARN),
				Payload:         []byte(`{}`),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer out.Response.Close()
			if ev, err := readEvent(bufio.NewReader(out.Response)); err != nil {
				t.Fatalf("first event = %q, %v", ev, err)
			}
			tt.leave(cancel, out.Response)
			select {
			case <-cancelled:
			case <-time.After(wait):
				t.Fatal("the agent's request was not cancelled")
			}
		})
	}
}

func TestInvokeWithTheDefaultHTTPClientReachesTheAgent(t *testing.T) {
	agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		writeEvent(w, `"done"`)
	})
	srv, err := New(Config{
		Region: testRegion, AccessKeyID: testKeyID, SecretAccessKey: testSecret,
		Runtimes: []Runtime{{ARN: testARN, URL: agentURL + "/"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.client.CloseIdleConnections)
	em := startServer(t, srv)
	out, err := newClient(t, em).InvokeAgentRuntime(context.Background(), &bedrockagentcore.InvokeAgentRuntimeInput{
		AgentRuntimeArn: aws.String(testARN),
		Payload:         []byte(`{}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Response.Close()
	body, err := io.ReadAll(out.Response)
	if err != nil || string(body) != "data: \"done\"\n\n" {
		t.Errorf("stream = %q, %v", body, err)
	}
}
