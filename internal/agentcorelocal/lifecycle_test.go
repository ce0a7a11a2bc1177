package agentcorelocal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/model"
)

// contractAgent is a fake agent container with the whole contract the
// emulator uses: POST /invocations, GET /ping, which answers HealthyBusy
// while busy is set, and the local control call that ends a session.
type contractAgent struct {
	url   string
	busy  atomic.Bool
	pings chan string // the session header of each ping
	ended chan string // the session id of each end
}

func startContractAgent(t *testing.T, invocations http.HandlerFunc) *contractAgent {
	t.Helper()
	a := &contractAgent{pings: make(chan string, 256), ended: make(chan string, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /invocations", invocations)
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		select {
		case a.pings <- r.Header.Get(sessionHeader):
		default:
		}
		status := "Healthy"
		if a.busy.Load() {
			status = "HealthyBusy"
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"`+status+`"}`)
	})
	mux.HandleFunc("POST /local/sessions/{id}/end", func(w http.ResponseWriter, r *http.Request) {
		a.ended <- r.PathValue("id")
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

// nextEnd waits for the agent to be told a session ended, and checks which.
func (a *contractAgent) nextEnd(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-a.ended:
		if got != want {
			t.Fatalf("the agent was told session %q ended, want %q", got, want)
		}
	case <-time.After(wait):
		t.Fatalf("the agent was not told that session %s ended", want)
	}
}

// noEnd fails the test if the agent has been told a session ended.
func (a *contractAgent) noEnd(t *testing.T) {
	t.Helper()
	select {
	case got := <-a.ended:
		t.Fatalf("the agent was told session %q ended", got)
	default:
	}
}

func answerJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{}`)
}

// streamUntilCancelled writes one event, then holds the stream open until
// the emulator cancels it, and says why on gone.
func streamUntilCancelled(gone chan<- error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		writeEvent(w, `{"n":1}`)
		<-r.Context().Done()
		gone <- r.Context().Err()
	}
}

func lifecycle(idle, maxLifetime time.Duration) func(*Config) {
	return func(c *Config) { c.IdleSessionTimeout, c.MaxSessionLifetime = idle, maxLifetime }
}

func invokeOnce(t *testing.T, client *bedrockagentcore.Client, session string) {
	t.Helper()
	out, err := client.InvokeAgentRuntime(t.Context(), &bedrockagentcore.InvokeAgentRuntimeInput{
		AgentRuntimeArn: aws.String(testARN), Payload: []byte(`{}`), RuntimeSessionId: aws.String(session),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, out.Response)
	out.Response.Close()
}

func stopSession(t *testing.T, client *bedrockagentcore.Client, session string) error {
	t.Helper()
	_, err := client.StopRuntimeSession(t.Context(), &bedrockagentcore.StopRuntimeSessionInput{
		AgentRuntimeArn: aws.String(testARN), RuntimeSessionId: aws.String(session),
	})
	return err
}

// openStream invokes the session and reads the stream's first event.
func openStream(t *testing.T, client *bedrockagentcore.Client, session string) *bufio.Reader {
	t.Helper()
	out, err := client.InvokeAgentRuntime(t.Context(), &bedrockagentcore.InvokeAgentRuntimeInput{
		AgentRuntimeArn: aws.String(testARN), Payload: []byte(`{}`), RuntimeSessionId: aws.String(session),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Response.Close() })
	body := bufio.NewReader(out.Response)
	if ev, err := readEvent(body); err != nil || ev != "data: {\"n\":1}\n\n" {
		t.Fatalf("first event %q, %v", ev, err)
	}
	return body
}

// wantBroken checks that the rest of a stream ends in an error, not a clean
// end, and that the emulator reported the session's end as the cause.
func wantBroken(t *testing.T, em *emulator, body *bufio.Reader, gone <-chan error) {
	t.Helper()
	if rest, err := io.ReadAll(body); err == nil {
		t.Errorf("the stream ended cleanly after %q; want it broken", rest)
	}
	select {
	case err := <-gone:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the agent's request ended with %v, want context.Canceled", err)
		}
	case <-time.After(wait):
		t.Fatal("the agent's request was not cancelled")
	}
	if r := em.nextReport(t); !errors.Is(r.Err, ErrSessionEnded) {
		t.Errorf("report Err = %v, want ErrSessionEnded", r.Err)
	}
}

func TestStopRuntimeSessionEndsTheSessionAtTheAgent(t *testing.T) {
	gone := make(chan error, 1)
	a := startContractAgent(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(sessionHeader) == session40 {
			streamUntilCancelled(gone)(w, r)
			return
		}
		answerJSON(w, r)
	})
	em := startEmulator(t, Runtime{ARN: testARN, URL: a.url})
	client := newClient(t, em.url)

	t.Run("the agent is told to forget the session before the stop is answered", func(t *testing.T) {
		other := strings.Repeat("o", 40)
		invokeOnce(t, client, other)
		em.nextReport(t)
		if err := stopSession(t, client, other); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-a.ended:
			if got != other {
				t.Fatalf("the agent was told %q ended", got)
			}
		default:
			t.Fatal("StopRuntimeSession answered before the agent was told")
		}
	})
	t.Run("a stream of the stopped session breaks, and its agent call is cancelled", func(t *testing.T) {
		body := openStream(t, client, session40)
		if err := stopSession(t, client, session40); err != nil {
			t.Fatal(err)
		}
		a.nextEnd(t, session40)
		wantBroken(t, em, body, gone)
	})
}

func TestAnIdleSessionEndsAfterTheIdleTimeout(t *testing.T) {
	a := startContractAgent(t, answerJSON)
	em := startEmulatorConfig(t, lifecycle(100*time.Millisecond, time.Hour), nil, Runtime{ARN: testARN, URL: a.url})
	client := newClient(t, em.url)

	invokeOnce(t, client, session40)
	a.nextEnd(t, session40)
	t.Run("its agent was asked first, by a ping naming the session, whether it was busy", func(t *testing.T) {
		select {
		case got := <-a.pings:
			if got != session40 {
				t.Errorf("ping named session %q", got)
			}
		default:
			t.Error("the session ended without a ping")
		}
	})
	t.Run("the ended session is no longer known to StopRuntimeSession", func(t *testing.T) {
		var nf *types.ResourceNotFoundException
		if err := stopSession(t, client, session40); !errors.As(err, &nf) {
			t.Fatalf("err = %v, want *types.ResourceNotFoundException", err)
		}
		a.noEnd(t)
	})
}

func TestHealthyBusyKeepsASessionPastItsIdleTimeout(t *testing.T) {
	a := startContractAgent(t, answerJSON)
	a.busy.Store(true)
	em := startEmulatorConfig(t, lifecycle(50*time.Millisecond, time.Hour), nil, Runtime{ARN: testARN, URL: a.url})
	client := newClient(t, em.url)

	invokeOnce(t, client, session40)
	// Each ping comes once the session has been idle for the timeout
	// again: three of them span three timeouts.
	for i := range 3 {
		select {
		case <-a.pings:
		case <-time.After(wait):
			t.Fatalf("ping %d never came", i+1)
		}
	}
	t.Run("a session whose agent answers HealthyBusy outlives its idle timeout", func(t *testing.T) {
		a.noEnd(t)
	})
	t.Run("once the agent answers Healthy, the session ends", func(t *testing.T) {
		a.busy.Store(false)
		a.nextEnd(t, session40)
	})
}

func TestASessionEndsAtItsMaximumLifetimeEvenMidStream(t *testing.T) {
	gone := make(chan error, 1)
	a := startContractAgent(t, streamUntilCancelled(gone))
	a.busy.Store(true) // busy does not extend a lifetime
	em := startEmulatorConfig(t, lifecycle(100*time.Millisecond, 200*time.Millisecond), nil, Runtime{ARN: testARN, URL: a.url})
	client := newClient(t, em.url)

	body := openStream(t, client, session40)
	a.nextEnd(t, session40)
	wantBroken(t, em, body, gone)
}

func TestAnEndedSessionStartsTheAgentAfresh(t *testing.T) {
	waitForEnd := func(t *testing.T, _ *bedrockagentcore.Client, ended <-chan string) {
		if got := recv(t, ended); got != session40 {
			t.Fatalf("session %q ended", got)
		}
	}
	tests := []struct {
		name              string
		idle, maxLifetime time.Duration
		end               func(t *testing.T, client *bedrockagentcore.Client, ended <-chan string)
	}{
		{
			name: "StopRuntimeSession", idle: time.Hour, maxLifetime: time.Hour,
			end: func(t *testing.T, client *bedrockagentcore.Client, _ <-chan string) {
				if err := stopSession(t, client, session40); err != nil {
					t.Fatal(err)
				}
			},
		},
		// Two calls fit well inside a second, so only the timeout under
		// test can end the session between them.
		{name: "the idle timeout", idle: time.Second, maxLifetime: time.Hour, end: waitForEnd},
		{name: "the maximum lifetime, which counts from the first call", idle: time.Second, maxLifetime: time.Second, end: waitForEnd},
	}
	for _, tt := range tests {
		t.Run("the built-in agent counts turns from 1 again after "+tt.name, func(t *testing.T) {
			agentURL, ended := startRealAgent(t)
			em := startEmulatorConfig(t, lifecycle(tt.idle, tt.maxLifetime), nil, Runtime{ARN: testARN, URL: agentURL})
			client := newClient(t, em.url)
			for want := 1; want <= 2; want++ {
				if got := turn(t, client); got != want {
					t.Fatalf("call %d: turn %d", want, got)
				}
			}
			tt.end(t, client, ended)
			if got := turn(t, client); got != 1 {
				t.Errorf("after the end: turn %d, want 1", got)
			}
		})
	}
}

// startRealAgent serves internal/agent with the built-in model, and reports
// each session its local control call ended, once it has.
func startRealAgent(t *testing.T) (string, <-chan string) {
	t.Helper()
	a, err := agent.New(agent.Config{Provider: model.NewBuiltin(model.BuiltinOptions{Delay: -1})})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan string, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.ServeHTTP(w, r)
		if id, ok := strings.CutPrefix(r.URL.EscapedPath(), "/local/sessions/"); ok {
			id, _ = url.PathUnescape(strings.TrimSuffix(id, "/end"))
			ended <- id
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, ended
}

// turn invokes session40 with the built-in model and returns the turn its
// reply counts.
func turn(t *testing.T, client *bedrockagentcore.Client) int {
	t.Helper()
	out, err := client.InvokeAgentRuntime(t.Context(), &bedrockagentcore.InvokeAgentRuntimeInput{
		AgentRuntimeArn: aws.String(testARN), Payload: []byte(`{"prompt":"hello"}`),
		ContentType: aws.String("application/json"), RuntimeSessionId: aws.String(session40),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Response.Close()
	body, err := io.ReadAll(out.Response)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for line := range strings.Lines(string(body)) {
		var ev struct {
			Event struct {
				ContentBlockDelta struct {
					Delta struct{ Text string }
				}
			}
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok && json.Unmarshal([]byte(data), &ev) == nil {
			text.WriteString(ev.Event.ContentBlockDelta.Delta.Text)
		}
	}
	var n int
	if i := strings.Index(text.String(), "This is turn "); i < 0 {
		t.Fatalf("no turn in the reply %q", text.String())
	} else if _, err := fmt.Sscanf(text.String()[i:], "This is turn %d", &n); err != nil {
		t.Fatalf("reply %q: %v", text.String(), err)
	}
	return n
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatal("nothing came")
		return ""
	}
}
