package session

import (
	"strings"
	"testing"
)

type message struct{ role, text string }

func fingerprint(is *Issuer, principal, agent string, msgs ...message) string {
	f := is.Conversation(principal, agent)
	for _, m := range msgs {
		f = f.AddText(m.role, m.text)
	}
	return f.Key()
}

func TestConversationFingerprints(t *testing.T) {
	is := newIssuer(t)
	base := []message{{"system", "be brief"}, {"user", "Hello"}, {"assistant", "Hi there. How can I help?"}}
	want := fingerprint(is, "key:alice", "demo", base...)
	if len(want) != 43 {
		t.Fatalf("key %q has %d characters, want 43", want, len(want))
	}
	with := func(edit func(m []message) []message) []message {
		return edit(append([]message(nil), base...))
	}
	same := []struct {
		name string
		msgs []message
	}{
		{"the same messages", base},
		{"the answer trimmed", with(func(m []message) []message { m[2].text = "  " + m[2].text + "\n\n"; return m })},
		{"the answer re-wrapped", with(func(m []message) []message { m[2].text = "Hi there.\n  How can\tI help?"; return m })},
	}
	for _, tt := range same {
		t.Run(tt.name+" give the same fingerprint", func(t *testing.T) {
			if got := fingerprint(is, "key:alice", "demo", tt.msgs...); got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
	differ := []struct {
		name             string
		principal, agent string
		msgs             []message
	}{
		{"another principal", "key:bob", "demo", base},
		{"another agent", "key:alice", "other", base},
		{"an edited message", "key:alice", "demo", with(func(m []message) []message { m[1].text = "Hello!"; return m })},
		{"a message's role", "key:alice", "demo", with(func(m []message) []message { m[0].role = "user"; return m })},
		{"a message left out", "key:alice", "demo", base[1:]},
		{"a message more", "key:alice", "demo", append(with(func(m []message) []message { return m }), message{"user", "more"})},
		{"two messages swapped", "key:alice", "demo", []message{base[1], base[0], base[2]}},
		{"text moved across messages", "key:alice", "demo", with(func(m []message) []message { m[0].text, m[1].text = "be briefHello", ""; return m })},
		{"a space removed inside a word run", "key:alice", "demo", with(func(m []message) []message { m[2].text = "Hithere. How can I help?"; return m })},
		{"a principal and agent split elsewhere", "key:alicedem", "o", base},
	}
	for _, tt := range differ {
		t.Run(tt.name+" gives another fingerprint", func(t *testing.T) {
			if got := fingerprint(is, tt.principal, tt.agent, tt.msgs...); got == want {
				t.Fatalf("got the same fingerprint %s", got)
			}
		})
	}
	t.Run("another key gives another fingerprint", func(t *testing.T) {
		if got := fingerprint(newIssuer(t), "key:alice", "demo", base...); got == want {
			t.Fatal("two keys gave the same fingerprint")
		}
	})
}

// TestTextHashTakesPiecesOfAnySize: an answer digested delta by delta, cut
// anywhere (inside a run of spaces, inside a rune), digests as the whole.
func TestTextHashTakesPiecesOfAnySize(t *testing.T) {
	text := "  This is “turn 2” of our\n\nconversation,   which you opened.  "
	var whole TextHash
	whole.WriteString(text)
	want := string(whole.sum())
	for size := 1; size <= len(text); size++ {
		var h TextHash
		for s := text; len(s) > 0; {
			n := min(size, len(s))
			h.WriteString(s[:n])
			s = s[n:]
		}
		if got := string(h.sum()); got != want {
			t.Fatalf("pieces of %d bytes digest differently", size)
		}
	}
	var normal TextHash
	normal.WriteString(strings.Join(strings.Fields(text), " "))
	if string(normal.sum()) != want {
		t.Fatal("the text does not digest as its words joined by one space")
	}
	var empty, spaces TextHash
	spaces.WriteString(" \n\t ")
	if string(empty.sum()) != string(spaces.sum()) {
		t.Fatal("whitespace alone does not digest as the empty text")
	}
}

func newIssuer(t *testing.T) *Issuer {
	t.Helper()
	is, err := NewIssuer(RandomKey())
	if err != nil {
		t.Fatal(err)
	}
	return is
}
