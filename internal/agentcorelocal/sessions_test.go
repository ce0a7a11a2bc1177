package agentcorelocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
)

func TestStopRuntimeSession(t *testing.T) {
	agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{}`)
	})
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL}, Runtime{ARN: otherARN, URL: agentURL})
	client := newClient(t, em.url)
	ctx := context.Background()
	invoke := func(t *testing.T, session string) {
		t.Helper()
		out, err := client.InvokeAgentRuntime(ctx, &bedrockagentcore.InvokeAgentRuntimeInput{
			AgentRuntimeArn: aws.String(testARN), Payload: []byte(`{}`), RuntimeSessionId: aws.String(session),
		})
		if err != nil {
			t.Fatal(err)
		}
		out.Response.Close()
	}
	stop := func(arn, session string) (*bedrockagentcore.StopRuntimeSessionOutput, error) {
		return client.StopRuntimeSession(ctx, &bedrockagentcore.StopRuntimeSessionInput{
			AgentRuntimeArn: aws.String(arn), RuntimeSessionId: aws.String(session), Qualifier: aws.String("DEFAULT"),
		})
	}
	wantNotFound := func(t *testing.T, err error, session string) {
		t.Helper()
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("err = %v, want *types.ResourceNotFoundException", err)
		}
		if !strings.Contains(nf.ErrorMessage(), session) || httpStatus(err) != http.StatusNotFound {
			t.Errorf("message %q (status %d)", nf.ErrorMessage(), httpStatus(err))
		}
	}

	known := session40
	invoke(t, known)

	t.Run("a session seen in an invocation of another runtime is unknown", func(t *testing.T) {
		_, err := stop(otherARN, known)
		wantNotFound(t, err, known)
	})
	t.Run("a known session stops with 200 and its id", func(t *testing.T) {
		out, err := stop(testARN, known)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.RuntimeSessionId) != known || aws.ToInt32(out.StatusCode) != http.StatusOK {
			t.Errorf("RuntimeSessionId %q, StatusCode %d", aws.ToString(out.RuntimeSessionId), aws.ToInt32(out.StatusCode))
		}
	})
	t.Run("a stopped session is forgotten", func(t *testing.T) {
		_, err := stop(testARN, known)
		wantNotFound(t, err, known)
	})
	t.Run("a session never seen is a ResourceNotFoundException", func(t *testing.T) {
		never := strings.Repeat("n", 40)
		_, err := stop(testARN, never)
		wantNotFound(t, err, never)
	})
	t.Run("invoking a stopped session starts it again", func(t *testing.T) {
		invoke(t, known)
		if _, err := stop(testARN, known); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a session id too short to be valid is a ValidationException", func(t *testing.T) {
		_, err := stop(testARN, "short")
		var ve *types.ValidationException
		if !errors.As(err, &ve) {
			t.Fatalf("err = %v, want *types.ValidationException", err)
		}
	})
}

func TestSessionsEndLikeAgentCoreSessions(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name     string
		run      func(s *sessionStore) // starting at t0
		stopAt   time.Time
		wantKnow bool
	}{
		{
			name:     "a session idle for less than 15 minutes is alive",
			run:      func(s *sessionStore) { s.begin(testARN, session40, t0); s.end(testARN, session40, t0.Add(time.Minute)) },
			stopAt:   t0.Add(15*time.Minute + 59*time.Second),
			wantKnow: true,
		},
		{
			name:   "a session idle for 15 minutes has ended",
			run:    func(s *sessionStore) { s.begin(testARN, session40, t0); s.end(testARN, session40, t0.Add(time.Minute)) },
			stopAt: t0.Add(16 * time.Minute),
		},
		{
			name:     "a session with an invocation still streaming is not idle",
			run:      func(s *sessionStore) { s.begin(testARN, session40, t0) },
			stopAt:   t0.Add(7 * time.Hour),
			wantKnow: true,
		},
		{
			name: "a session ends after 8 hours however busy",
			run: func(s *sessionStore) {
				for at := t0; at.Before(t0.Add(8 * time.Hour)); at = at.Add(10 * time.Minute) {
					s.begin(testARN, session40, at)
					s.end(testARN, session40, at)
				}
			},
			stopAt: t0.Add(8 * time.Hour),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSessionStore()
			tt.run(s)
			if got := s.stop(testARN, session40, tt.stopAt); got != tt.wantKnow {
				t.Errorf("stop found the session: %v, want %v", got, tt.wantKnow)
			}
		})
	}
}

func TestEndedSessionsAreForgottenWithoutASweepPerCall(t *testing.T) {
	s := newSessionStore()
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for i := range 1000 {
		id := fmt.Sprintf("session-%04d-000000000000000000000000", i)
		s.begin("arn", id, start)
		s.end("arn", id, start)
	}
	count := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.byRuntime["arn"])
	}
	idle := start.Add(sessionIdleTimeout)
	// A sweep half a second before the sessions end keeps them all...
	s.begin("arn", "other-000000000000000000000000000000", idle.Add(-500*time.Millisecond))
	// ...and the calls of the next second do not sweep again,
	if s.stop("arn", "session-0000-000000000000000000000000", idle) {
		t.Fatal("stop reported an idle-expired session alive")
	}
	if got := count(); got != 1000 {
		t.Fatalf("%d sessions held, want 1000 (999 ended but not yet swept, and other): a call swept within a second of the last sweep", got)
	}
	// but the first call after it forgets every ended session.
	s.begin("arn", "other-000000000000000000000000000000", idle.Add(600*time.Millisecond))
	if got := count(); got != 1 {
		t.Fatalf("%d sessions held after the sweep, want 1", got)
	}
}
