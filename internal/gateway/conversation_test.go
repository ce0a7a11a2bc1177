package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/limit"
	"github.com/agentgate/agentgate/internal/testenv"
)

// msg is one chat message, for completionBody.
type msg struct{ Role, Content string }

func user(s string) msg      { return msg{"user", s} }
func assistant(s string) msg { return msg{"assistant", s} }

// hello is what the agent of these tests answers: textEvent's text.
var hello = assistant("Hello")

// completionBody is a chat completion request body for the demo agent.
func completionBody(stream bool, msgs ...msg) string {
	list := make([]map[string]string, len(msgs))
	for i, m := range msgs {
		list[i] = map[string]string{"role": m.Role, "content": m.Content}
	}
	b, _ := json.Marshal(map[string]any{"model": "demo", "stream": stream, "messages": list})
	return string(b)
}

// sentPayload is what the agent got of a chat completion.
type sentPayload struct {
	SessionID string
	Prompt    string
	Messages  []payloadMessage
	raw       []byte
}

// completion posts body to /v1/chat/completions as user, with extra headers
// as name, value pairs, reads the whole answer, and returns the response,
// its body and what the agent got (nil when nothing reached it).
func completion(t *testing.T, url, user, body string, seen <-chan call, header ...string) (*http.Response, []byte, *sentPayload) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-User", user)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	select {
	case c := <-seen:
		p := &sentPayload{SessionID: c.req.SessionID, raw: c.req.Payload}
		if err := json.Unmarshal(c.req.Payload, p); err != nil {
			t.Fatalf("payload %s: %v", c.req.Payload, err)
		}
		return resp, b, p
	default:
		return resp, b, nil
	}
}

// conversations is a gateway in front of an agent that answers "Hello",
// remembering conversations in a memory store on a clock the test moves.
type conversations struct {
	url   string
	seen  <-chan call
	clock *testenv.Clock
}

func newConversations(t *testing.T, edit ...func(*Options)) *conversations {
	return newConversationsAnswering(t, textEvent, edit...)
}

// newConversationsAnswering is newConversations with an agent that
// answers with stream.
func newConversationsAnswering(t *testing.T, stream string, edit ...func(*Options)) *conversations {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	clock := testenv.NewClock()
	srv := newTestServer(t, inv, append([]func(*Options){func(o *Options) {
		o.Auth = headerAuth{}
		o.Conversations = limit.NewMemory(clock.Now)
		o.ConversationTTL = 10 * time.Minute
	}}, edit...)...)
	return &conversations{url: srv.URL, seen: answerWith(t, inv, stream), clock: clock}
}

// turn sends one turn as user and returns the session the agent answered
// in and what it got; the answer must succeed and name that session.
func (c *conversations) turn(t *testing.T, user string, stream bool, msgs ...msg) *sentPayload {
	t.Helper()
	resp, body, p := completion(t, c.url, user, completionBody(stream, msgs...), c.seen)
	if resp.StatusCode != http.StatusOK || p == nil || resp.Header.Get(SessionHeader) != p.SessionID || !strings.Contains(string(body), "Hello") {
		t.Fatalf("status %d, session header %q, agent got %+v: %s", resp.StatusCode, resp.Header.Get(SessionHeader), p, body)
	}
	return p
}

func TestConversationsContinueWithoutTheSessionHeader(t *testing.T) {
	t.Run("each turn that repeats the conversation continues its session, streamed or not", func(t *testing.T) {
		c := newConversations(t)
		first := c.turn(t, "alice", true, user("one"))
		second := c.turn(t, "alice", false, user("one"), hello, user("two"))
		third := c.turn(t, "alice", true, msg{"system", "be brief"}, user("one"), hello, user("two"), hello, user("three"))
		if second.SessionID != first.SessionID {
			t.Fatalf("turn 2 went to %s, turn 1 to %s", second.SessionID, first.SessionID)
		}
		if third.SessionID == first.SessionID {
			t.Fatal("a system message that was not there before continued the session")
		}
		fourth := c.turn(t, "alice", true, msg{"system", "be brief"}, user("one"), hello, user("two"), hello, user("three"), hello, user("four"))
		if fourth.SessionID != third.SessionID || fourth.Messages != nil || fourth.Prompt != "four" {
			t.Fatalf("turn 4 went to %s with history %v, turn 3 to %s", fourth.SessionID, fourth.Messages, third.SessionID)
		}
	})
	t.Run("an answer the client trimmed or re-spaced still matches", func(t *testing.T) {
		c := newConversations(t)
		first := c.turn(t, "alice", false, user("one"))
		if next := c.turn(t, "alice", false, user("one"), assistant("\n  Hello "), user("two")); next.SessionID != first.SessionID {
			t.Fatal("a trimmed answer did not continue the session")
		}
	})
	t.Run("a new session gets the earlier messages, and is remembered in turn", func(t *testing.T) {
		c := newConversations(t)
		first := c.turn(t, "alice", false, user("one"), assistant("an answer from elsewhere"), user("two"))
		want := []payloadMessage{{"user", "one"}, {"assistant", "an answer from elsewhere"}}
		if first.Prompt != "two" || len(first.Messages) != 2 || first.Messages[0] != want[0] || first.Messages[1] != want[1] {
			t.Fatalf("the agent got prompt %q and history %+v, want %+v", first.Prompt, first.Messages, want)
		}
		next := c.turn(t, "alice", false, user("one"), assistant("an answer from elsewhere"), user("two"), hello, user("three"))
		if next.SessionID != first.SessionID || next.Messages != nil {
			t.Fatalf("the next turn went to %s with history %v, want %s and none", next.SessionID, next.Messages, first.SessionID)
		}
	})
	t.Run("an edited message, a fork or a regenerated answer starts a new session", func(t *testing.T) {
		c := newConversations(t)
		s := c.turn(t, "alice", false, user("one")).SessionID
		c.turn(t, "alice", false, user("one"), hello, user("two"))
		c.turn(t, "alice", false, user("one"), hello, user("two"), hello, user("three"))
		fresh := func(name string, msgs ...msg) {
			t.Helper()
			if p := c.turn(t, "alice", false, msgs...); p.SessionID == s || len(p.Messages) != len(msgs)-1 {
				t.Errorf("%s: went to session %s with %d earlier messages; want a new session with %d", name, p.SessionID, len(p.Messages), len(msgs)-1)
			}
		}
		fresh("edited", user("ONE"), hello, user("two"), hello, user("three"), hello, user("four"))
		fresh("forked", user("one"), hello, user("two, put otherwise"))
		if p := c.turn(t, "alice", false, user("one"), hello, user("two"), hello, user("three"), hello, user("four")); p.SessionID != s {
			t.Errorf("the conversation itself went on in %s, not %s", p.SessionID, s)
		}
		fresh("regenerated", user("one"), hello, user("two"), hello, user("three"), hello, user("four"))
	})
	t.Run("another principal's identical conversation is not continued", func(t *testing.T) {
		c := newConversations(t)
		s := c.turn(t, "alice", false, user("one")).SessionID
		if p := c.turn(t, "bob", false, user("one"), hello, user("two")); p.SessionID == s {
			t.Fatal("bob continued alice's session")
		}
		if p := c.turn(t, "alice", false, user("one"), hello, user("two")); p.SessionID != s {
			t.Fatal("bob's attempt took alice's conversation from her")
		}
	})
	t.Run("a conversation idle past the TTL starts afresh, with its history", func(t *testing.T) {
		c := newConversations(t)
		s := c.turn(t, "alice", false, user("one")).SessionID
		c.clock.Advance(9 * time.Minute)
		if p := c.turn(t, "alice", false, user("one"), hello, user("two")); p.SessionID != s {
			t.Fatal("a turn within the TTL started a new session")
		}
		c.clock.Advance(10*time.Minute + time.Second)
		if p := c.turn(t, "alice", false, user("one"), hello, user("two"), hello, user("three")); p.SessionID == s || len(p.Messages) != 4 {
			t.Fatalf("past the TTL: session %s (the old one: %v), %d earlier messages", p.SessionID, p.SessionID == s, len(p.Messages))
		}
	})
	t.Run("the session header wins, and its history is not sent", func(t *testing.T) {
		c := newConversations(t)
		s := c.turn(t, "alice", false, user("one")).SessionID
		_, _, p := completion(t, c.url, "alice", completionBody(false, user("other"), hello, user("two")), c.seen, SessionHeader, s)
		if p == nil || p.SessionID != s || p.Messages != nil {
			t.Fatalf("the agent got %+v, want session %s and no history", p, s)
		}
	})
}

func TestAFailedAnswerIsNotRemembered(t *testing.T) {
	c := newConversationsAnswering(t, textEvent+agentErr)
	resp, body, p := completion(t, c.url, "alice", completionBody(true, user("one")), c.seen)
	if resp.StatusCode != http.StatusOK || p == nil || !strings.Contains(string(body), `"code":"agent_error"`) {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	_, _, next := completion(t, c.url, "alice", completionBody(true, user("one"), hello, user("two")), c.seen)
	if next == nil || next.SessionID == p.SessionID {
		t.Fatalf("a conversation whose answer failed was continued: %+v", next)
	}
}

func TestConversationsWithoutAWorkingStore(t *testing.T) {
	for name, store := range map[string]ConversationStore{"no store": nil, "a failing store": failingStore{}} {
		t.Run("with "+name+" every turn is answered in a new session with its history", func(t *testing.T) {
			c := newConversations(t, func(o *Options) { o.Conversations = store })
			s := c.turn(t, "alice", true, user("one")).SessionID
			if p := c.turn(t, "alice", true, user("one"), hello, user("two")); p.SessionID == s || len(p.Messages) != 2 {
				t.Fatalf("session %s (the first one: %v), %d earlier messages", p.SessionID, p.SessionID == s, len(p.Messages))
			}
		})
	}
}

type failingStore struct{}

func (failingStore) Put(context.Context, string, string, time.Duration) error {
	return errors.New("store down")
}

func (failingStore) Take(context.Context, string) (string, bool, error) {
	return "", false, errors.New("store down")
}
