package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/limit"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/upstream"
)

// cannedInvoker answers every invocation at once with the same short
// stream.
type cannedInvoker struct{ body string }

func (c cannedInvoker) Invoke(_ context.Context, req upstream.Request) (*upstream.Response, error) {
	return &upstream.Response{Body: io.NopCloser(strings.NewReader(c.body)), SessionID: req.SessionID, ContentType: "text/event-stream"}, nil
}

func (cannedInvoker) StopSession(context.Context, string) error { return nil }

// BenchmarkInvocation measures the gateway's own work for one streamed
// answer (three events, original mode, a durable turn on the memory
// store), from the request to the last byte, without the network: what a
// stream's start and end cost beyond net/http and the upstream's hop.
func BenchmarkInvocation(b *testing.B) {
	issuer, err := session.NewIssuer(session.RandomKey())
	if err != nil {
		b.Fatal(err)
	}
	mem := limit.NewMemory(nil)
	gw, err := New(Options{Agents: map[string]upstream.Invoker{"demo": cannedInvoker{strings.Repeat(textEvent, 3)}}, DefaultAgent: "demo",
		Sessions: issuer, Auth: auth.None{}, Turns: mem, TurnsLocal: true, TurnRetention: DefaultTurnRetention, MaxTurnBytes: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	// A first answer issues the session the rest continue, as a user's
	// conversation does.
	w := httptest.NewRecorder()
	gw.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"prompt":"hi"}`)))
	body := `{"prompt":"hi","response":"original","runtimeSessionId":"` + w.Header().Get(SessionHeader) + `"}`
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		gw.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
