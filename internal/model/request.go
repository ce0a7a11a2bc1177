package model

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// check rejects a Request that no provider could send: every provider calls
// it first, so a malformed conversation fails the same way everywhere and
// never costs an upstream call.
func (r Request) check() error {
	if len(r.Messages) == 0 {
		return ErrEmptyConversation
	}
	users := 0
	for i, m := range r.Messages {
		switch m.Role {
		case RoleUser:
			users++
		case RoleAssistant:
		default:
			return fmt.Errorf("model: message %d has unknown role %q", i, m.Role)
		}
	}
	if users == 0 {
		return ErrEmptyConversation
	}
	if last := r.Messages[len(r.Messages)-1]; last.Role != RoleUser {
		return fmt.Errorf("model: the conversation ends with a %s turn, not the user's", last.Role)
	}
	if r.MaxTokens < 0 {
		return fmt.Errorf("model: Request.MaxTokens is %d, want 0 or more", r.MaxTokens)
	}
	return nil
}

// maxTokens picks the reply cap: the request's own wins, then the provider's
// configured default; zero means the upstream decides.
func (r Request) maxTokens(fallback int) int {
	if r.MaxTokens > 0 {
		return r.MaxTokens
	}
	return fallback
}

// clip makes untrusted text fit for one line of a reply or an error message:
// invalid UTF-8 and non-printing runes become spaces, runs of space collapse,
// and text longer than max runes is cut with an ellipsis, never mid-rune.
func clip(s string, max int) string {
	s = strings.ToValidUTF8(s, " ")
	s = strings.Map(func(r rune) rune {
		if !unicode.IsGraphic(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return strings.TrimRight(s[:i], " ") + "…"
		}
		n++
	}
	return s
}
