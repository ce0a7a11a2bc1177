package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"io"
)

// Fingerprint identifies a conversation so far: whose it is, with which
// agent, and every message in it, in order. Clients of OpenAI's chat
// completions send the whole conversation each turn and never the session
// id back; the gateway keeps, after each answer, the conversation's
// fingerprint as the key to its session, and a follow-up that repeats
// those messages finds it again.
//
// A fingerprint is a chain: it starts as an HMAC under the signing key over
// the principal and the agent, and each message extends it with SHA-256
// over the fingerprint so far, the message's role and the digest of its
// text (TextHash). So a fingerprint is cheap to extend by one message, two
// conversations that differ anywhere (one message edited, removed, added,
// or the same words from another principal or to another agent) differ in
// every fingerprint after it, and without the key nobody who reads the
// store can tell which conversation a fingerprint stands for. After a key
// rotation every fingerprint changes, so conversations start afresh.
type Fingerprint struct {
	sum [sha256.Size]byte
}

// Conversation returns the fingerprint of the empty conversation principal
// has with agent.
func (is *Issuer) Conversation(principal, agent string) Fingerprint {
	h := hmac.New(sha256.New, is.keys[0])
	h.Write([]byte("agentgate conversation v1\x00"))
	for _, s := range []string{principal, agent} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	var f Fingerprint
	h.Sum(f.sum[:0])
	return f
}

// Add returns the fingerprint of the conversation with one more message: its
// role and its text, as text has digested it.
func (f Fingerprint) Add(role string, text *TextHash) Fingerprint {
	h := sha256.New()
	h.Write(f.sum[:])
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(role))))
	h.Write([]byte(role))
	h.Write(text.sum())
	var next Fingerprint
	h.Sum(next.sum[:0])
	return next
}

// AddText is Add for a message whose whole text is at hand.
func (f Fingerprint) AddText(role, text string) Fingerprint {
	var t TextHash
	t.WriteString(text)
	return f.Add(role, &t)
}

// Key is the fingerprint as 43 URL-safe characters, for a store key.
func (f Fingerprint) Key() string { return enc.EncodeToString(f.sum[:]) }

// TextHash digests a message's text as it arrives, in pieces of any size
// (an answer's deltas), keeping nothing of it. Whitespace does not count
// for the digest beyond where it is: leading and trailing whitespace is
// dropped and every run of it inside reads as one space, so a client that
// trims an answer, or re-wraps it, still repeats the same conversation.
// Only ASCII whitespace counts, so that a piece may end mid-rune. The zero
// value is ready to use.
type TextHash struct {
	h hash.Hash
	// started: a non-space byte was written; space: whitespace came after
	// it and waits for the next non-space byte to be written as one space.
	started, space bool
}

// WriteString adds the next piece of the text.
func (t *TextHash) WriteString(s string) {
	if t.h == nil {
		t.h = sha256.New()
	}
	for len(s) > 0 {
		i := 0
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i > 0 {
			t.space = t.started
			s = s[i:]
			continue
		}
		for i < len(s) && !isSpace(s[i]) {
			i++
		}
		if t.space {
			t.h.Write([]byte{' '})
			t.space = false
		}
		t.started = true
		_, _ = io.WriteString(t.h, s[:i])
		s = s[i:]
	}
}

// sum is the digest of the text written so far.
func (t *TextHash) sum() []byte {
	if t.h == nil {
		t.h = sha256.New()
	}
	return t.h.Sum(nil)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
