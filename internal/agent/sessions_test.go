package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/model"
)

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func user(text string) model.Message { return model.Message{Role: model.RoleUser, Text: text} }

// reply is what the echo provider answers to prompt.
func reply(prompt string) model.Message {
	return model.Message{Role: model.RoleAssistant, Text: "re: " + prompt}
}

func assertMessages(t *testing.T, got, want []model.Message) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("messages = %q,\nwant %q", got, want)
	}
}

// refs reports how many requests hold or wait for session id.
func (st *sessions) refs(id string) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.byID[id]; ok {
		return e.Value.(*session).refs
	}
	return 0
}

// history returns what session id remembers; it must not be in use.
func (f *fixture) history(t *testing.T, id string) []model.Message {
	t.Helper()
	st := f.agent.sessions
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.byID[id]
	if !ok {
		return nil
	}
	s := e.Value.(*session)
	if s.refs != 0 {
		t.Fatalf("session %s is in use", id)
	}
	return slices.Clone(s.history)
}

// Session ids as AgentCore issues them: at least 33 characters.
const (
	sessionA = "aaaaaaaa-0000-0000-0000-000000000000"
	sessionB = "bbbbbbbb-0000-0000-0000-000000000000"
	sessionC = "cccccccc-0000-0000-0000-000000000000"
)

func TestSessionsRememberTheConversation(t *testing.T) {
	type call struct {
		advance time.Duration // the clock moves this much first
		session string
		prompt  string
		want    []model.Message // what the provider gets
	}
	tests := []struct {
		name  string
		cfg   Config
		calls []call
		kept  int // sessions kept at the end
	}{
		{
			name: "a second call in the same session gives the provider both turns",
			calls: []call{
				{session: sessionA, prompt: "one", want: []model.Message{user("one")}},
				{session: sessionA, prompt: "two", want: []model.Message{user("one"), reply("one"), user("two")}},
			},
			kept: 1,
		},
		{
			name: "another session does not see the first one's turns",
			calls: []call{
				{session: sessionA, prompt: "one", want: []model.Message{user("one")}},
				{session: sessionB, prompt: "two", want: []model.Message{user("two")}},
			},
			kept: 2,
		},
		{
			name: "a call without a session id keeps no history",
			calls: []call{
				{prompt: "one", want: []model.Message{user("one")}},
				{prompt: "two", want: []model.Message{user("two")}},
			},
			kept: 0,
		},
		{
			name: "history survives until IdleTimeout",
			cfg:  Config{IdleTimeout: 10 * time.Minute},
			calls: []call{
				{session: sessionA, prompt: "one", want: []model.Message{user("one")}},
				{advance: 10*time.Minute - time.Second, session: sessionA, prompt: "two", want: []model.Message{user("one"), reply("one"), user("two")}},
			},
			kept: 1,
		},
		{
			name: "history expires after IdleTimeout unused",
			cfg:  Config{IdleTimeout: 10 * time.Minute},
			calls: []call{
				{session: sessionA, prompt: "one", want: []model.Message{user("one")}},
				{advance: 10 * time.Minute, session: sessionA, prompt: "two", want: []model.Message{user("two")}},
			},
			kept: 1,
		},
		{
			name: "a new session sweeps the expired ones away",
			cfg:  Config{IdleTimeout: 10 * time.Minute},
			calls: []call{
				{session: sessionA, prompt: "one", want: []model.Message{user("one")}},
				{advance: 5 * time.Minute, session: sessionB, prompt: "two", want: []model.Message{user("two")}},
				{advance: 6 * time.Minute, session: sessionC, prompt: "three", want: []model.Message{user("three")}},
			},
			kept: 2,
		},
		{
			name: "MaxMessages drops the oldest exchanges first",
			cfg:  Config{MaxMessages: 4},
			calls: []call{
				{session: sessionA, prompt: "one", want: []model.Message{user("one")}},
				{session: sessionA, prompt: "two", want: []model.Message{user("one"), reply("one"), user("two")}},
				{session: sessionA, prompt: "three", want: []model.Message{user("one"), reply("one"), user("two"), reply("two"), user("three")}},
				{session: sessionA, prompt: "four", want: []model.Message{user("two"), reply("two"), user("three"), reply("three"), user("four")}},
			},
			kept: 1,
		},
		{
			name: "an odd MaxMessages still drops whole exchanges",
			cfg:  Config{MaxMessages: 3},
			calls: []call{
				{session: sessionA, prompt: "one", want: []model.Message{user("one")}},
				{session: sessionA, prompt: "two", want: []model.Message{user("one"), reply("one"), user("two")}},
				{session: sessionA, prompt: "three", want: []model.Message{user("two"), reply("two"), user("three")}},
			},
			kept: 1,
		},
		{
			name: "MaxSessions evicts the least recently used session",
			cfg:  Config{MaxSessions: 2},
			calls: []call{
				{session: sessionA, prompt: "a1", want: []model.Message{user("a1")}},
				{session: sessionB, prompt: "b1", want: []model.Message{user("b1")}},
				{session: sessionA, prompt: "a2", want: []model.Message{user("a1"), reply("a1"), user("a2")}},
				{session: sessionC, prompt: "c1", want: []model.Message{user("c1")}}, // evicts B
				{session: sessionA, prompt: "a3", want: []model.Message{user("a1"), reply("a1"), user("a2"), reply("a2"), user("a3")}},
				{session: sessionB, prompt: "b2", want: []model.Message{user("b2")}},
			},
			kept: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			p := &echo{}
			cfg := tt.cfg
			cfg.Provider, cfg.Now, cfg.System = p, clock.Now, "be brief"
			f := serve(t, cfg)
			for i, c := range tt.calls {
				clock.Advance(c.advance)
				resp, body := f.invoke(t, c.session, promptBody(c.prompt))
				if resp.StatusCode != 200 {
					t.Fatalf("call %d: status %d: %s", i, resp.StatusCode, body)
				}
				got := p.last(t)
				if got.System != "be brief" {
					t.Errorf("call %d: system = %q", i, got.System)
				}
				assertMessages(t, got.Messages, c.want)
			}
			if n := f.agent.sessions.len(); n != tt.kept {
				t.Errorf("sessions kept = %d, want %d", n, tt.kept)
			}
		})
	}
}

func TestCallsInOneSessionRunOneAtATime(t *testing.T) {
	p := newGated("first reply")
	f := serve(t, Config{Provider: p})

	first := f.post(t, t.Context(), sessionA, promptBody("one"))
	firstEvs := events(t, first.Body)
	next(t, firstEvs) // messageStart: the first call holds the session
	recv(t, p.started, "first provider call")

	secondResp := f.postAsync(t.Context(), sessionA, promptBody("two"))
	eventually(t, "second call waiting", func() bool { return f.agent.sessions.refs(sessionA) == 2 })
	select {
	case <-p.started:
		t.Fatal("second call reached the provider while the first was streaming")
	default:
	}

	p.open(t)
	for range 4 { // delta, contentBlockStop, messageStop, metadata
		next(t, firstEvs)
	}
	end(t, firstEvs)

	second := recv(t, secondResp, "second response")
	if second.err != nil {
		t.Fatal(second.err)
	}
	secondEvs := events(t, second.resp.Body)
	recv(t, p.started, "second provider call")
	p.open(t)
	for range 5 {
		next(t, secondEvs)
	}
	end(t, secondEvs)
	eventually(t, "session released", func() bool { return f.agent.sessions.refs(sessionA) == 0 })
	assertMessages(t, f.history(t, sessionA), []model.Message{
		user("one"), {Role: model.RoleAssistant, Text: "first reply"},
		user("two"), {Role: model.RoleAssistant, Text: "first reply"},
	})
}

func TestAWaitingCallGivesUpWhenItsClientGoes(t *testing.T) {
	p := newGated("reply")
	f := serve(t, Config{Provider: p})

	first := f.post(t, t.Context(), sessionA, promptBody("one"))
	firstEvs := events(t, first.Body)
	next(t, firstEvs)

	ctx, cancel := context.WithCancel(t.Context())
	second := f.postAsync(ctx, sessionA, promptBody("two"))
	eventually(t, "second call waiting", func() bool { return f.agent.sessions.refs(sessionA) == 2 })
	cancel()
	if r := recv(t, second, "second response"); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("second call ended with %v, want context.Canceled", r.err)
	}
	eventually(t, "second call gone", func() bool { return f.agent.sessions.refs(sessionA) == 1 })
	eventually(t, "second call logged", func() bool { return len(f.logs.lines(t)) == 1 })
	if got := f.logs.lines(t)[0]; got["status"] != 499.0 || got["outcome"] != outcomeClientGone {
		t.Errorf("log = %v, want status 499, outcome client_gone", got)
	}

	p.open(t)
	for range 4 {
		next(t, firstEvs)
	}
	end(t, firstEvs)
	eventually(t, "session released", func() bool { return f.agent.sessions.refs(sessionA) == 0 })
	if n := len(p.started); n != 1 {
		t.Errorf("provider called %d times, want 1", n)
	}
	assertMessages(t, f.history(t, sessionA), []model.Message{user("one"), {Role: model.RoleAssistant, Text: "reply"}})
}

func TestASessionInUseIsNeverEvicted(t *testing.T) {
	p := newGated("slow")
	f := serve(t, Config{Provider: p, MaxSessions: 1})

	held := f.post(t, t.Context(), sessionA, promptBody("one"))
	heldEvs := events(t, held.Body)
	next(t, heldEvs)
	recv(t, p.started, "held provider call")

	// A second session passes MaxSessions rather than evict one mid-reply.
	other := f.post(t, t.Context(), sessionB, promptBody("two"))
	otherEvs := events(t, other.Body)
	next(t, otherEvs)
	recv(t, p.started, "other provider call")
	if n := f.agent.sessions.len(); n != 2 {
		t.Errorf("sessions kept while both stream = %d, want 2", n)
	}
	// Both calls wait on the one gate; each takes one delta.
	p.open(t)
	p.open(t)
	for _, evs := range []<-chan string{heldEvs, otherEvs} {
		for range 4 {
			next(t, evs)
		}
		end(t, evs)
	}
	eventually(t, "sessions released", func() bool {
		return f.agent.sessions.refs(sessionA) == 0 && f.agent.sessions.refs(sessionB) == 0
	})
	assertMessages(t, f.history(t, sessionA), []model.Message{user("one"), {Role: model.RoleAssistant, Text: "slow"}})
}

func TestRepliesWithoutTextAreNotRemembered(t *testing.T) {
	p := &scripted{scripts: []script{{}, {deltas: []string{"x"}}}}
	f := serve(t, Config{Provider: p})

	f.invoke(t, sessionA, promptBody("one"))
	f.invoke(t, sessionA, promptBody("two"))

	assertMessages(t, p.calls()[1].Messages, []model.Message{user("two")})
}
