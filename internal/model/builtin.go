package model

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// DefaultBuiltinDelay is the pause between the built-in model's deltas when
// BuiltinOptions.Delay is zero: slow enough that a browser shows the reply
// arriving, fast enough that a demo does not drag.
const DefaultBuiltinDelay = 20 * time.Millisecond

// The built-in reply's shape: words per delta, and how much of the user's
// text it quotes back.
const (
	builtinWordsPerDelta = 3
	builtinQuoteRunes    = 80
)

// BuiltinOptions configures the offline demo model.
type BuiltinOptions struct {
	// Delay is the pause between deltas. Zero means DefaultBuiltinDelay;
	// a negative value streams without pausing.
	Delay time.Duration
}

// Builtin is an offline, deterministic stand-in for a language model: it
// answers from the conversation's own words, so the gateway can be run and
// tested end to end with no model attached. The same conversation always
// gets the same reply.
type Builtin struct {
	delay time.Duration
}

var _ Provider = (*Builtin)(nil)

// NewBuiltin returns the offline demo model. Every BuiltinOptions value is
// valid, so it cannot fail.
func NewBuiltin(opts BuiltinOptions) *Builtin {
	delay := opts.Delay
	switch {
	case delay == 0:
		delay = DefaultBuiltinDelay
	case delay < 0:
		delay = 0
	}
	return &Builtin{delay: delay}
}

// Name returns "builtin".
func (*Builtin) Name() string { return "builtin" }

// Stream emits the demo reply in groups of words, pausing between them.
// Usage is counted with CountTokens: the input is the system prompt and every
// message, the output is the text actually emitted, which Request.MaxTokens
// may cut short (StopReason "max_tokens").
func (b *Builtin) Stream(ctx context.Context, req Request, emit func(delta string) error) (Result, error) {
	if err := req.check(); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	in := CountTokens(req.System)
	for _, m := range req.Messages {
		in += CountTokens(m.Text)
	}
	deltas, out, stop := builtinDeltas(builtinReply(req.Messages)+signedIn(req.Caller), req.MaxTokens)

	var timer *time.Timer
	for i, d := range deltas {
		if i > 0 && b.delay > 0 {
			if timer == nil {
				timer = time.NewTimer(b.delay)
				defer timer.Stop()
			} else {
				timer.Reset(b.delay)
			}
			select {
			case <-ctx.Done():
				return Result{}, ctx.Err()
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if err := emit(d); err != nil {
			return Result{}, err
		}
	}
	return Result{
		StopReason: stop,
		Usage:      Usage{InputTokens: in, OutputTokens: out, TotalTokens: in + out},
	}, nil
}

// builtinReply writes the demo answer. It names what it is first, so nobody
// mistakes it for a model, then proves it read the conversation: the newest
// prompt, the turn number, and from the second turn on the user's opening
// words.
func builtinReply(msgs []Message) string {
	var first, last string
	turn := 0
	for _, m := range msgs {
		if m.Role != RoleUser {
			continue
		}
		if turn == 0 {
			first = m.Text
		}
		last = m.Text
		turn++
	}
	var b strings.Builder
	b.WriteString("This is agentgate's offline demo model; no language model is attached, so this reply is built from your own words. ")
	n, tokens := CountTokens(last), "tokens"
	if n == 1 {
		tokens = "token"
	}
	fmt.Fprintf(&b, "You wrote “%s”, %d %s by my simple count. ", clip(last, builtinQuoteRunes), n, tokens)
	if turn == 1 {
		b.WriteString("This is turn 1 of our conversation; write again and I will remember how it began.")
	} else {
		fmt.Fprintf(&b, "This is turn %d of our conversation, which you opened with “%s”.", turn, clip(first, builtinQuoteRunes))
	}
	return b.String()
}

// signedIn says who the caller is, as the gateway vouched for them, so that
// the chain from sign-in to agent shows in the demo: "" when nobody said.
func signedIn(c Caller) string {
	if c.Principal == "" {
		return ""
	}
	if c.Kind == "none" {
		return fmt.Sprintf(" You are not signed in: the gateway is open and calls everyone “%s”.", clip(c.Principal, builtinQuoteRunes))
	}
	var b strings.Builder
	fmt.Fprintf(&b, " You are signed in as “%s”", clip(c.Principal, builtinQuoteRunes))
	switch c.Kind {
	case "apikey":
		b.WriteString(" with an API key")
	case "password":
		b.WriteString(" with a password")
	case "jwt":
		b.WriteString(" with a token from your identity provider")
	}
	for i, d := range c.Details {
		switch {
		case i == 0:
			b.WriteString(", and the gateway vouches for your ")
		case i == len(c.Details)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s “%s”", clip(d.Name, builtinQuoteRunes), clip(d.Value, builtinQuoteRunes))
	}
	b.WriteString(".")
	return b.String()
}

// builtinDeltas cuts reply into groups of words, each keeping its trailing
// space so the deltas join back into the reply. With maxTokens above zero it
// stops before the word that would exceed the cap. It returns the deltas, the
// tokens they hold and the stop reason.
func builtinDeltas(reply string, maxTokens int) (deltas []string, tokens int, stop string) {
	words := strings.SplitAfter(reply, " ")
	stop = "end_turn"
	var group strings.Builder
	n := 0
	for _, w := range words {
		t := CountTokens(w)
		if maxTokens > 0 && tokens+t > maxTokens {
			stop = "max_tokens"
			break
		}
		tokens += t
		group.WriteString(w)
		if n++; n == builtinWordsPerDelta {
			deltas = append(deltas, group.String())
			group.Reset()
			n = 0
		}
	}
	if group.Len() > 0 {
		deltas = append(deltas, group.String())
	}
	return deltas, tokens, stop
}

// CountTokens is the built-in model's token counter: each run of letters and
// digits is one token, and so is each run of other non-space characters. It
// is deterministic and cheap, not any real model's tokenizer; it exists so
// the demo reports usage that adds up.
func CountTokens(s string) int {
	const (
		space = iota
		word
		punct
	)
	n, prev := 0, space
	for _, r := range s {
		class := punct
		switch {
		case unicode.IsSpace(r):
			class = space
		case unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsMark(r):
			class = word
		}
		if class != space && class != prev {
			n++
		}
		prev = class
	}
	return n
}
