package agentcorelocal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
)

// noRetries makes each SDK call one request, so that a test counts
// invocations as the emulator does.
func noRetries(o *bedrockagentcore.Options) { o.Retryer = aws.NopRetryer{} }

// invokeTestRuntime invokes testARN once, without retries.
func invokeTestRuntime(ctx context.Context, c *bedrockagentcore.Client) (*bedrockagentcore.InvokeAgentRuntimeOutput, error) {
	return c.InvokeAgentRuntime(ctx, &bedrockagentcore.InvokeAgentRuntimeInput{
		AgentRuntimeArn:  aws.String(testARN),
		Payload:          []byte(`{"prompt":"hi"}`),
		RuntimeSessionId: aws.String(session40),
	}, noRetries)
}

// streamingAgent starts an agent that answers text/event-stream with
// writes, flushing after each, and counts its calls.
func streamingAgent(t *testing.T, writes ...string) (string, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	u := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, s := range writes {
			_, _ = io.WriteString(w, s)
			_ = http.NewResponseController(w).Flush()
		}
	})
	return u, &calls
}

// sseData is the SSE event of one data line.
func sseData(data string) string { return "data: " + data + "\n\n" }

// fourEvents is the stream most fault tests relay.
var fourEvents = []string{sseData(`{"n":1}`), sseData(`{"n":2}`), sseData(`{"n":3}`), sseData(`{"n":4}`)}

// errorMessage returns the message of err if it is, or wraps, a T.
func errorMessage[T interface {
	error
	ErrorMessage() string
}](err error) (string, bool) {
	var target T
	if !errors.As(err, &target) {
		return "", false
	}
	return target.ErrorMessage(), true
}

// responseHeader is a header of the response behind an SDK error.
func responseHeader(err error, name string) string {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		return ""
	}
	return re.Response.Header.Get(name)
}

// diffBody describes how got differs from want without printing megabytes.
func diffBody(got, want string) string {
	if got == want {
		return ""
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	clip := func(s string) string { return s[i:min(len(s), i+80)] }
	return fmt.Sprintf("body differs at byte %d of %d (want %d bytes): got %q, want %q", i, len(got), len(want), clip(got), clip(want))
}

func TestFaultErrorAnswersAsTheSDKsTypedError(t *testing.T) {
	agentURL, calls := countingAgent(t)
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := newClient(t, em.url)

	tests := []struct {
		code    string
		status  int
		message func(error) (string, bool)
	}{
		{codeValidation, http.StatusBadRequest, errorMessage[*types.ValidationException]},
		{codeAccessDenied, http.StatusForbidden, errorMessage[*types.AccessDeniedException]},
		{codeResourceNotFound, http.StatusNotFound, errorMessage[*types.ResourceNotFoundException]},
		{codeThrottling, http.StatusTooManyRequests, errorMessage[*types.ThrottlingException]},
		{codeQuotaExceeded, http.StatusPaymentRequired, errorMessage[*types.ServiceQuotaExceededException]},
		{codeRuntimeClient, http.StatusFailedDependency, errorMessage[*types.RuntimeClientError]},
		{codeInternalServer, http.StatusInternalServerError, errorMessage[*types.InternalServerException]},
		{codeRetryableConflict, http.StatusConflict, errorMessage[*types.RetryableConflictException]},
		{codeServiceUnavailable, http.StatusServiceUnavailable, errorMessage[*types.ServiceUnavailableException]},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("an injected %s answers %d, the SDK's typed error and a message with the ARN and region", tt.code, tt.status), func(t *testing.T) {
			if err := em.srv.SetFault(testARN, Fault{Error: tt.code}); err != nil {
				t.Fatal(err)
			}
			_, err := invokeTestRuntime(context.Background(), client)
			msg, ok := tt.message(err)
			if !ok {
				t.Fatalf("err = %v, want *types.%s", err, tt.code)
			}
			if got := httpStatus(err); got != tt.status {
				t.Errorf("status = %d, want %d", got, tt.status)
			}
			if got := responseHeader(err, "X-Amzn-ErrorType"); got != tt.code {
				t.Errorf("X-Amzn-ErrorType = %q", got)
			}
			for _, part := range []string{testARN, "123456789012", testRegion} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q does not hold %s", msg, part)
				}
			}
			rep := em.nextReport(t)
			if rep.Status != tt.status || rep.ErrorType != tt.code || !errors.Is(rep.Err, ErrFault) || rep.ARN != testARN {
				t.Errorf("report = %+v, want status %d, error type %s, Err wrapping ErrFault", rep, tt.status, tt.code)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the agent was called %d times", n)
	}
}

func TestFaultTimesBoundsTheFaultToTheFirstInvocations(t *testing.T) {
	agentURL, calls := streamingAgent(t, fourEvents...)
	throttleTwice := Fault{Error: codeThrottling, Times: 2}
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL, Fault: throttleTwice})
	client := newClient(t, em.url)

	// wantCalls lists, call by call, whether the call is throttled.
	checkCalls := func(t *testing.T, throttled ...bool) {
		t.Helper()
		for i, want := range throttled {
			out, err := invokeTestRuntime(context.Background(), client)
			if _, got := errorMessage[*types.ThrottlingException](err); got != want {
				t.Fatalf("call %d: err = %v, want throttled %v", i+1, err, want)
			}
			if want {
				continue
			}
			body, err := io.ReadAll(out.Response)
			out.Response.Close()
			if err != nil || string(body) != strings.Join(fourEvents, "") {
				t.Errorf("call %d: stream = %q, %v", i+1, body, err)
			}
		}
	}
	t.Run("a fault from the config throttles the first two calls and the third streams", func(t *testing.T) {
		checkCalls(t, true, true, false, false)
		if n := calls.Load(); n != 2 {
			t.Errorf("the agent was called %d times, want 2", n)
		}
	})
	t.Run("SetFault restarts the count", func(t *testing.T) {
		if err := em.srv.SetFault(testARN, throttleTwice); err != nil {
			t.Fatal(err)
		}
		checkCalls(t, true, true, false)
	})
	t.Run("Times bounds the whole fault: a stream fault breaks only the first stream", func(t *testing.T) {
		if err := em.srv.SetFault(testARN, Fault{DropAfter: 1, Times: 1}); err != nil {
			t.Fatal(err)
		}
		for i, wantErr := range []bool{true, false} {
			out, err := invokeTestRuntime(context.Background(), client)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(out.Response)
			out.Response.Close()
			if gotErr := err != nil; gotErr != wantErr {
				t.Errorf("call %d: reading the stream = %v, want an error %v", i+1, err, wantErr)
			}
		}
	})
	t.Run("Times counts concurrent invocations exactly", func(t *testing.T) {
		if err := em.srv.SetFault(testARN, Fault{Error: codeThrottling, Times: 3}); err != nil {
			t.Fatal(err)
		}
		var throttled atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				out, err := invokeTestRuntime(context.Background(), client)
				if _, ok := errorMessage[*types.ThrottlingException](err); ok {
					throttled.Add(1)
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, out.Response)
				out.Response.Close()
			})
		}
		wg.Wait()
		if n := throttled.Load(); n != 3 {
			t.Errorf("%d of 8 concurrent calls were throttled, want 3", n)
		}
	})
}

func TestFaultRetryAfter(t *testing.T) {
	agentURL, _ := countingAgent(t)
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := newClient(t, em.url)

	tests := []struct {
		name        string
		fault       Fault
		wantHeader  string
		wantSeconds int32 // retryAfterSeconds of a ServiceUnavailableException; 0 for none
	}{
		{name: "a ThrottlingException with RetryAfter 2s carries Retry-After: 2", fault: Fault{Error: codeThrottling, RetryAfter: 2 * time.Second}, wantHeader: "2"},
		{name: "a RetryAfter of 1.5s is rounded up to 2 seconds", fault: Fault{Error: codeThrottling, RetryAfter: 1500 * time.Millisecond}, wantHeader: "2"},
		{name: "a ServiceUnavailableException carries it in its retryAfterSeconds too", fault: Fault{Error: codeServiceUnavailable, RetryAfter: 3 * time.Second}, wantHeader: "3", wantSeconds: 3},
		{name: "an error without RetryAfter has no Retry-After header", fault: Fault{Error: codeThrottling}, wantHeader: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := em.srv.SetFault(testARN, tt.fault); err != nil {
				t.Fatal(err)
			}
			_, err := invokeTestRuntime(context.Background(), client)
			if err == nil {
				t.Fatal("the call succeeded")
			}
			if got := responseHeader(err, "Retry-After"); got != tt.wantHeader {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantHeader)
			}
			var su *types.ServiceUnavailableException
			if errors.As(err, &su) {
				if got := aws.ToInt32(su.RetryAfterSeconds); got != tt.wantSeconds {
					t.Errorf("RetryAfterSeconds = %d, want %d", got, tt.wantSeconds)
				}
			}
		})
	}
}

func TestFaultDelayFirst(t *testing.T) {
	const delay = 150 * time.Millisecond
	tests := []struct {
		name      string
		fault     Fault
		wantError bool
	}{
		{name: "DelayFirst holds the headers back, then the stream flows", fault: Fault{DelayFirst: delay}},
		{name: "DelayFirst with an Error holds the error answer back", fault: Fault{DelayFirst: delay, Error: codeThrottling}, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agentURL, _ := streamingAgent(t, fourEvents...)
			em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL, Fault: tt.fault})
			start := time.Now()
			out, err := invokeTestRuntime(context.Background(), newClient(t, em.url))
			if elapsed := time.Since(start); elapsed < delay {
				t.Errorf("the answer came after %v, want at least %v", elapsed, delay)
			}
			if tt.wantError {
				if _, ok := errorMessage[*types.ThrottlingException](err); !ok {
					t.Errorf("err = %v, want a ThrottlingException", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer out.Response.Close()
			if body, err := io.ReadAll(out.Response); err != nil || string(body) != strings.Join(fourEvents, "") {
				t.Errorf("stream = %q, %v", body, err)
			}
		})
	}

	t.Run("a caller that gives up during DelayFirst ends the wait at once, and the agent is never called", func(t *testing.T) {
		agentURL, calls := countingAgent(t)
		waiting := make(chan struct{}, 1)
		em := startEmulatorWith(t, func(s *Server) {
			s.pause = func(ctx context.Context, d time.Duration) error {
				select {
				case waiting <- struct{}{}:
				default:
				}
				return pause(ctx, d)
			}
		}, Runtime{ARN: testARN, URL: agentURL, Fault: Fault{DelayFirst: time.Minute}})
		client := newClient(t, em.url)

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			out, err := invokeTestRuntime(ctx, client)
			if err == nil {
				out.Response.Close()
			}
			errc <- err
		}()
		select {
		case <-waiting:
		case <-time.After(wait):
			t.Fatal("the invocation never reached its delay")
		}
		cancelled := time.Now()
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("the caller got %v, want context.Canceled", err)
			}
		case <-time.After(wait):
			t.Fatal("the call did not return")
		}
		rep := em.nextReport(t)
		if rep.Err != context.Canceled || rep.Status != 0 {
			t.Errorf("report Err = %v, Status = %d; want context.Canceled and no status", rep.Err, rep.Status)
		}
		if d := rep.Ended.Sub(cancelled); d > 2*time.Second {
			t.Errorf("the invocation ended %v after the cancel", d)
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("the agent was called %d times", n)
		}
	})
}

func TestFaultDelayEachSpacesTheEvents(t *testing.T) {
	const delay = 60 * time.Millisecond
	agentURL, _ := streamingAgent(t, strings.Join(fourEvents[:3], "")) // all at once
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL, Fault: Fault{DelayEach: delay}})

	start := time.Now()
	out, err := invokeTestRuntime(context.Background(), newClient(t, em.url))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Response.Close()
	br := bufio.NewReader(out.Response)
	var arrived []time.Time
	for i, want := range fourEvents[:3] {
		got, err := readEvent(br)
		if err != nil || got != want {
			t.Fatalf("event %d = %q, %v; want %q", i+1, got, err, want)
		}
		arrived = append(arrived, time.Now())
	}
	if total := arrived[2].Sub(start); total < 3*delay {
		t.Errorf("three events took %v, want at least 3 × %v", total, delay)
	}
	for i := 1; i < len(arrived); i++ {
		if gap := arrived[i].Sub(arrived[i-1]); gap < delay/2 {
			t.Errorf("event %d came %v after event %d, want about %v", i+1, gap, i, delay)
		}
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the last event: %q, %v", rest, err)
	}
	if rep := em.nextReport(t); rep.Events != 3 || rep.Err != nil {
		t.Errorf("report = %+v, want 3 events and no error", rep)
	}
}

// midStreamErrorOfTestARN is the event MidStreamError "RuntimeError" writes
// for testARN, as AgentCore's Python SDK would write it.
const midStreamErrorOfTestARN = `data: {"error": "Agent runtime ` + testARN + ` in region us-east-1 failed while streaming its response", ` +
	`"error_type": "RuntimeError", "message": "An error occurred during streaming"}` + "\n\n"

func TestFaultsInTheStream(t *testing.T) {
	malformed := "data: {\"event\": {not json\n\n"
	oversized := "data: \"" + strings.Repeat("x", 2<<20-2) + "\"\n\n"
	e := fourEvents
	tests := []struct {
		name       string
		fault      Fault
		withLength bool   // the agent declares its body's Content-Length
		want       string // the body the caller reads
		wantBroken bool   // the body ends in io.ErrUnexpectedEOF rather than cleanly
		wantEvents int
		wantFault  bool // the report's Err wraps ErrFault
	}{
		{
			name: "DropAfter 2 relays two events, then breaks the stream", fault: Fault{DropAfter: 2},
			want: e[0] + e[1], wantBroken: true, wantEvents: 2, wantFault: true,
		},
		{
			name:  "DropAfter 4 breaks a stream of four events after its last",
			fault: Fault{DropAfter: 4},
			want:  e[0] + e[1] + e[2] + e[3], wantBroken: true, wantEvents: 4, wantFault: true,
		},
		{
			name: "MalformedAfter 1 injects one malformed event after the first, then relays on", fault: Fault{MalformedAfter: 1},
			want: e[0] + malformed + e[1] + e[2] + e[3], wantEvents: 4,
		},
		{
			name: "OversizedAfter 2 injects one event of a 2 MiB data line after the second, then relays on", fault: Fault{OversizedAfter: 2},
			want: e[0] + e[1] + oversized + e[2] + e[3], wantEvents: 4,
		},
		{
			name: "an injected event is not cut short by the agent's Content-Length", fault: Fault{MalformedAfter: 4}, withLength: true,
			want: e[0] + e[1] + e[2] + e[3] + malformed, wantEvents: 4,
		},
		{
			name:  "MidStreamError ends the stream after DropAfter events with the AgentCore SDK's error event, then cleanly",
			fault: Fault{DropAfter: 2, MidStreamError: "RuntimeError"},
			want:  e[0] + e[1] + midStreamErrorOfTestARN, wantEvents: 2, wantFault: true,
		},
		{
			name:  "faults due after the same event come malformed, oversized, then the drop",
			fault: Fault{MalformedAfter: 1, OversizedAfter: 1, DropAfter: 1},
			want:  e[0] + malformed + oversized, wantBroken: true, wantEvents: 1, wantFault: true,
		},
		{
			name:  "faults due after more events than the stream has never act",
			fault: Fault{MalformedAfter: 5, OversizedAfter: 5, DropAfter: 5},
			want:  e[0] + e[1] + e[2] + e[3], wantEvents: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				if tt.withLength {
					w.Header().Set("Content-Length", fmt.Sprint(len(strings.Join(e, ""))))
				}
				for _, ev := range e {
					_, _ = io.WriteString(w, ev)
					_ = http.NewResponseController(w).Flush()
				}
			})
			em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL, Fault: tt.fault})
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			out, err := invokeTestRuntime(ctx, newClient(t, em.url))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Response.Close()
			if out.ContentType == nil || *out.ContentType != "text/event-stream" {
				t.Errorf("ContentType = %v", out.ContentType)
			}
			body, err := io.ReadAll(out.Response)
			if d := diffBody(string(body), tt.want); d != "" {
				t.Error(d)
			}
			if tt.wantBroken && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("reading the stream = %v, want io.ErrUnexpectedEOF", err)
			}
			if !tt.wantBroken && err != nil {
				t.Errorf("reading the stream = %v, want a clean end", err)
			}
			rep := em.nextReport(t)
			if rep.Events != tt.wantEvents || rep.Status != http.StatusOK || rep.Bytes != int64(len(body)) {
				t.Errorf("report: %d events, status %d, %d bytes; want %d events, 200, %d bytes", rep.Events, rep.Status, rep.Bytes, tt.wantEvents, len(body))
			}
			if got := errors.Is(rep.Err, ErrFault); got != tt.wantFault {
				t.Errorf("report Err = %v, want wrapping ErrFault %v", rep.Err, tt.wantFault)
			}
		})
	}

	t.Run("the mid-stream error event is JSON whose error names the ARN and region", func(t *testing.T) {
		data, ok := strings.CutPrefix(strings.TrimSuffix(midStreamErrorOfTestARN, "\n\n"), "data: ")
		if !ok {
			t.Fatal("not a data line")
		}
		var doc struct {
			Error     string `json:"error"`
			ErrorType string `json:"error_type"`
			Message   string `json:"message"`
		}
		if err := json.Unmarshal([]byte(data), &doc); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(doc.Error, testARN) || !strings.Contains(doc.Error, testRegion) || doc.ErrorType != "RuntimeError" || doc.Message != "An error occurred during streaming" {
			t.Errorf("event = %+v", doc)
		}
	})
}

func TestFaultRelayKeepsTheAgentsBytes(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		writes      []string
		wantEvents  int
	}{
		{
			name:        "comments, CRLF and CR line ends, id-only blocks and a trailing incomplete block pass byte for byte",
			contentType: "text/event-stream",
			writes: []string{
				": open\n\n", "data: a\r\n\r", "\n", "event: x\ndata: b\n", "data: c\n\n", "id: 1\n\n",
				"da", "ta: d\r\r", "data: e\n\n", "data: tail",
			},
			wantEvents: 4, // a, b+c, d, e
		},
		{
			name:        "a JSON answer with a Content-Length passes whole",
			contentType: "application/json",
			writes:      []string{`{"result":"not an event stream"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				if len(tt.writes) == 1 {
					w.Header().Set("Content-Length", fmt.Sprint(len(tt.writes[0])))
				}
				for _, s := range tt.writes {
					_, _ = io.WriteString(w, s)
					_ = http.NewResponseController(w).Flush()
				}
			})
			em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL, Fault: Fault{DropAfter: 100, DelayEach: time.Millisecond}})
			out, err := invokeTestRuntime(context.Background(), newClient(t, em.url))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Response.Close()
			body, err := io.ReadAll(out.Response)
			if err != nil || string(body) != strings.Join(tt.writes, "") {
				t.Errorf("body = %q, %v; want %q", body, err, strings.Join(tt.writes, ""))
			}
			if rep := em.nextReport(t); rep.Events != tt.wantEvents || rep.Err != nil {
				t.Errorf("report: %d events, Err %v; want %d and nil", rep.Events, rep.Err, tt.wantEvents)
			}
		})
	}
}

func TestFaultValidation(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
		want  string // "" when the fault is valid
	}{
		{name: "the zero fault is valid", fault: Fault{}},
		{name: "every stream fault together is valid", fault: Fault{Times: 1, DelayFirst: 1, DelayEach: 1, DropAfter: 3, MalformedAfter: 1, OversizedAfter: 2, MidStreamError: "agent.ToolError"}},
		{name: "an error with a delay and Retry-After is valid", fault: Fault{Error: codeThrottling, Times: 2, RetryAfter: time.Second, DelayFirst: 1}},
		{name: "an unknown error type is refused with the list of known ones", fault: Fault{Error: "BoomException"}, want: `error: "BoomException" is not an error type InvokeAgentRuntime answers with (AccessDeniedException, `},
		{name: "UnknownOperationException is not an answer of InvokeAgentRuntime", fault: Fault{Error: codeUnknownOperation}, want: "error: "},
		{name: "a negative Times is refused", fault: Fault{Times: -1}, want: "times: must not be negative"},
		{name: "a negative delay is refused", fault: Fault{DelayEach: -time.Second}, want: "delayEach: must not be negative"},
		{name: "a negative DropAfter is refused", fault: Fault{DropAfter: -1}, want: "dropAfter: must not be negative"},
		{name: "RetryAfter without an error is refused", fault: Fault{RetryAfter: time.Second}, want: "retryAfter: needs error"},
		{name: "an error with a stream fault is refused", fault: Fault{Error: codeThrottling, DropAfter: 1}, want: "error: cannot be combined with"},
		{name: "MidStreamError without DropAfter is refused", fault: Fault{MidStreamError: "RuntimeError"}, want: "midStreamError: needs dropAfter"},
		{name: "a MidStreamError that is no type name is refused", fault: Fault{DropAfter: 1, MidStreamError: `Bad "type"`}, want: "midStreamError: "},
	}
	agentURL, _ := countingAgent(t)
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	for _, tt := range tests {
		t.Run(tt.name+" by SetFault and New", func(t *testing.T) {
			setErr := em.srv.SetFault(testARN, tt.fault)
			_, newErr := New(Config{
				Region: testRegion, AccessKeyID: testKeyID, SecretAccessKey: testSecret,
				Runtimes: []Runtime{{ARN: testARN, URL: agentURL, Fault: tt.fault}},
			})
			if tt.want == "" {
				if setErr != nil || newErr != nil {
					t.Errorf("SetFault = %v, New = %v; want both to accept it", setErr, newErr)
				}
				return
			}
			if setErr == nil || !strings.Contains(setErr.Error(), tt.want) {
				t.Errorf("SetFault = %v, want it to say %q", setErr, tt.want)
			}
			if newErr == nil || !strings.Contains(newErr.Error(), "runtimes[0].fault."+tt.want) {
				t.Errorf("New = %v, want it to say %q", newErr, "runtimes[0].fault."+tt.want)
			}
		})
	}
	t.Run("SetFault of a runtime that is not configured is refused", func(t *testing.T) {
		if err := em.srv.SetFault(otherARN, Fault{}); err == nil || !strings.Contains(err.Error(), otherARN) {
			t.Errorf("SetFault = %v, want it to name %s", err, otherARN)
		}
	})
}

func TestSetFaultWhileInvocationsRun(t *testing.T) {
	agentURL, _ := streamingAgent(t, fourEvents...)
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := newClient(t, em.url)

	done := make(chan struct{})
	var changer, callers sync.WaitGroup
	changer.Go(func() {
		faults := []Fault{{Error: codeThrottling}, {DropAfter: 2}, {}, {DelayEach: time.Millisecond, Times: 1}}
		for i := 0; ; i++ {
			if err := em.srv.SetFault(testARN, faults[i%len(faults)]); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	for range 4 {
		callers.Go(func() {
			for range 10 {
				out, err := invokeTestRuntime(context.Background(), client)
				if err != nil {
					if _, ok := errorMessage[*types.ThrottlingException](err); !ok {
						t.Errorf("err = %v, want none or a ThrottlingException", err)
					}
					continue
				}
				body, err := io.ReadAll(out.Response)
				out.Response.Close()
				if err == nil && string(body) != strings.Join(fourEvents, "") {
					t.Errorf("a clean stream = %q", body)
				}
			}
		})
	}
	callers.Wait()
	close(done)
	changer.Wait()
}
