package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/agentgate/agentgate/internal/model"
)

// The payload's optional members besides prompt and dialect, as the gateway
// sends them (the README's "Chat completions" section lists them):
//
//	"maxTokens": 256
//	    caps the reply, in place of the configured agent.maxTokens.
//	"messages": [{"role": "user", "content": "..."}, {"role": "assistant", ...}]
//	    the conversation before the prompt, oldest first, for a session
//	    that does not hold it yet: the gateway sends it when a client
//	    brings a conversation the gateway has no session for.
//
// A session that already holds messages keeps them and ignores "messages".

// maxTokensField reads the optional "maxTokens" member: 0 when absent.
func maxTokensField(fields map[string]json.RawMessage) (int, error) {
	raw, ok := fields["maxTokens"]
	if !ok || string(raw) == "null" {
		return 0, nil
	}
	var n int
	if json.Unmarshal(raw, &n) != nil || n < 0 {
		return 0, errors.New("maxTokens must be a whole number, 0 or more")
	}
	return n, nil
}

// historyField reads the optional "messages" member into a history a model
// takes: user and assistant messages with text (others are skipped),
// consecutive ones of a role joined by a blank line, starting with the
// user's and ending with the assistant's, since the prompt comes next. A
// user message left unanswered at the end is dropped.
func historyField(fields map[string]json.RawMessage) ([]model.Message, error) {
	raw, ok := fields["messages"]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var msgs []struct {
		Role    model.Role      `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &msgs) != nil {
		return nil, errors.New(`messages must be a list of {"role", "content"} objects`)
	}
	var h []model.Message
	for i, m := range msgs {
		var text string
		if len(m.Content) > 0 && json.Unmarshal(m.Content, &text) != nil {
			return nil, fmt.Errorf("messages[%d].content must be a string", i)
		}
		switch {
		case m.Role != model.RoleUser && m.Role != model.RoleAssistant, strings.TrimSpace(text) == "":
			// skipped
		case len(h) == 0 && m.Role == model.RoleAssistant:
			// skipped: a history starts with the user's message
		case len(h) > 0 && h[len(h)-1].Role == m.Role:
			h[len(h)-1].Text += "\n\n" + text
		default:
			h = append(h, model.Message{Role: m.Role, Text: text})
		}
	}
	if len(h) > 0 && h[len(h)-1].Role == model.RoleUser {
		h = h[:len(h)-1]
	}
	return h, nil
}

// lastMessages keeps the newest max messages of an alternating history, in
// pairs, so that it still starts with the user's.
func lastMessages(h []model.Message, max int) []model.Message {
	excess := len(h) - max
	if excess <= 0 {
		return h
	}
	excess += excess % 2
	return h[excess:]
}
