package agentcorelocal

import (
	"cmp"
	"context"
	"errors"
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
	noCancel := func(error) {}
	once := func(s *sessionStore) {
		st, c := s.begin(testARN, session40, t0, noCancel)
		s.finish(st, c, t0.Add(time.Minute))
	}
	tests := []struct {
		name        string
		idle, max   time.Duration
		run         func(s *sessionStore) // starting at t0
		at          time.Time
		wantEnded   bool // past its maximum lifetime
		wantIdle    bool // idle for the idle timeout
		wantStopped string
	}{
		{
			name: "a session idle for less than the default 900 s is alive",
			run:  once, at: t0.Add(15*time.Minute + 59*time.Second), wantStopped: endStopped,
		},
		{
			name: "a session idle for 900 s is due to end",
			run:  once, at: t0.Add(16 * time.Minute), wantIdle: true, wantStopped: endIdle,
		},
		{
			name: "a shorter idle timeout is kept",
			idle: time.Minute, run: once, at: t0.Add(2 * time.Minute), wantIdle: true, wantStopped: endIdle,
		},
		{
			name: "a session with an invocation still streaming is not idle",
			run:  func(s *sessionStore) { s.begin(testARN, session40, t0, noCancel) },
			at:   t0.Add(7 * time.Hour), wantStopped: endStopped,
		},
		{
			name: "a session ends after the default 28800 s however busy",
			run: func(s *sessionStore) {
				for at := t0; at.Before(t0.Add(8 * time.Hour)); at = at.Add(10 * time.Minute) {
					st, c := s.begin(testARN, session40, at, noCancel)
					s.finish(st, c, at)
				}
			},
			at: t0.Add(8 * time.Hour), wantEnded: true, wantStopped: endMaxLifetime,
		},
		{
			name: "a shorter maximum lifetime is kept, mid-stream too",
			max:  time.Hour, run: func(s *sessionStore) { s.begin(testARN, session40, t0, noCancel) },
			at: t0.Add(time.Hour), wantEnded: true, wantStopped: endMaxLifetime,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newStore := func() *sessionStore {
				s := newSessionStore(cmp.Or(tt.idle, DefaultIdleSessionTimeout), cmp.Or(tt.max, DefaultMaxSessionLifetime))
				tt.run(s)
				return s
			}
			ended, idle := newStore().due(tt.at)
			if got := len(ended) == 1; got != tt.wantEnded {
				t.Errorf("ended at its maximum lifetime: %v, want %v", got, tt.wantEnded)
			}
			if got := len(idle) == 1; got != tt.wantIdle {
				t.Errorf("due to end idle: %v, want %v", got, tt.wantIdle)
			}
			if _, got := newStore().stop(testARN, session40, tt.at); got != tt.wantStopped {
				t.Errorf("stop says %q, want %q", got, tt.wantStopped)
			}
		})
	}
}
