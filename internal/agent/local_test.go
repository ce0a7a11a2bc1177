package agent

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/model"
)

// endSession makes the local control call and returns its status.
func (f *fixture) endSession(t *testing.T, method, id string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+"/local/sessions/"+url.PathEscape(id)+"/end", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestEndingASessionForgetsItsConversation(t *testing.T) {
	p := &echo{}
	f := serve(t, Config{Provider: p})
	call := func(t *testing.T, session, prompt string, want ...model.Message) {
		t.Helper()
		if resp, body := f.invoke(t, session, promptBody(prompt)); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		assertMessages(t, p.last(t).Messages, want)
	}
	call(t, sessionA, "one", user("one"))
	call(t, sessionB, "b", user("b"))

	t.Run("the end of a session answers 204", func(t *testing.T) {
		if got := f.endSession(t, http.MethodPost, sessionA); got != http.StatusNoContent {
			t.Fatalf("status %d, want 204", got)
		}
	})
	t.Run("the next call with its id starts a new conversation", func(t *testing.T) {
		call(t, sessionA, "two", user("two"))
	})
	t.Run("other sessions keep theirs", func(t *testing.T) {
		call(t, sessionB, "b2", user("b"), reply("b"), user("b2"))
	})
	t.Run("ending a session the server does not hold answers 204 too", func(t *testing.T) {
		if got := f.endSession(t, http.MethodPost, sessionC); got != http.StatusNoContent {
			t.Fatalf("status %d, want 204", got)
		}
	})
	t.Run("the call takes POST only", func(t *testing.T) {
		if got := f.endSession(t, http.MethodGet, sessionB); got != http.StatusMethodNotAllowed {
			t.Fatalf("status %d, want 405", got)
		}
		call(t, sessionB, "b3", user("b"), reply("b"), user("b2"), reply("b2"), user("b3"))
	})
	t.Run("the call is refused from anywhere but loopback", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/local/sessions/"+sessionB+"/end", nil)
		req.RemoteAddr = "192.0.2.7:40000"
		rec := httptest.NewRecorder()
		f.agent.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("status %d, want 403", rec.Code)
		}
		if got := len(f.history(t, sessionB)); got != 6 {
			t.Errorf("session B holds %d messages after a refused end, want 6", got)
		}
	})
}

func TestPingAnswersForTheSessionItNames(t *testing.T) {
	clock := newClock()
	p := newGated("done")
	f := serve(t, Config{Provider: p, Now: clock.Now})
	ping := func(t *testing.T, session string) pingResponse {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+"/ping", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(SessionHeader, session)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got pingResponse
		if err := jsonDecode(resp.Body, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := func(t *testing.T, got pingResponse, status string, updated int64) {
		t.Helper()
		if got.Status != status || got.TimeOfLastUpdate != updated {
			t.Errorf("ping = %+v, want %s since %d", got, status, updated)
		}
	}

	t.Run("a session the server does not hold is Healthy, with no time", func(t *testing.T) {
		want(t, ping(t, sessionA), statusHealthy, 0)
	})
	clock.Advance(time.Minute)
	busySince := clock.Now().Unix()
	resp := f.post(t, t.Context(), sessionA, promptBody("work"))
	evs := events(t, resp.Body)
	next(t, evs)
	clock.Advance(time.Minute)
	t.Run("a session with a call streaming is HealthyBusy since the call began", func(t *testing.T) {
		want(t, ping(t, sessionA), statusBusy, busySince)
	})
	t.Run("another session stays Healthy meanwhile", func(t *testing.T) {
		want(t, ping(t, sessionB), statusHealthy, 0)
	})
	idleSince := clock.Now().Unix()
	p.open(t)
	for range 4 {
		next(t, evs)
	}
	end(t, evs)
	clock.Advance(time.Minute)
	t.Run("the end of the call makes the session Healthy since then", func(t *testing.T) {
		want(t, ping(t, sessionA), statusHealthy, idleSince)
	})
}
