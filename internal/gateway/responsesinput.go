package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// responsesItem is one item of a Responses API input list.
type responsesItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// readInput reads input, a string or a list of items, into the prompt
// (the last user message's text) and the system text (instructions, then
// the system and developer messages, a blank line apart). Earlier user and
// assistant messages are not sent: the agent's session holds the
// conversation, and previous_response_id continues it. References to
// earlier items and reasoning items, which clients send back with a
// conversation, say nothing new and are skipped; tool calls and their
// outputs are refused, since agents run their own tools.
func (req *responsesRequest) readInput() *apiError {
	raw := bytes.TrimSpace(req.Input)
	if !set(raw) {
		return invalidField("input", "required: a string or a list of input items")
	}
	system := []string{req.Instructions}
	if raw[0] == '"' {
		_ = json.Unmarshal(raw, &req.prompt) // the request decoded: a valid string
		req.system = joinText(system)
		return nil
	}
	var items []responsesItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return invalidField("input", "must be a string or a list of input items")
	}
	hasUser := false
	for i, it := range items {
		param := fmt.Sprintf("input[%d]", i)
		switch it.Type {
		case "item_reference", "reasoning":
			continue
		case "", "message":
		default:
			return invalidField(param+".type", fmt.Sprintf("%q items are not supported; agents run their own tools", it.Type))
		}
		text, aerr := itemText(it.Content, param)
		if aerr != nil {
			return aerr
		}
		switch it.Role {
		case "user":
			req.prompt, hasUser = text, true
		case "system", "developer":
			system = append(system, text)
		case "assistant":
		default:
			return invalidField(param+".role", `must be "user", "assistant", "system" or "developer"`)
		}
	}
	if !hasUser {
		return invalidField("input", "at least one user message is required")
	}
	req.system = joinText(system)
	return nil
}

// itemText is a message's text: its content string, or its text parts
// joined. Parts agents cannot take (images, files, audio) are refused
// rather than dropped, so that no prompt is answered without them.
func itemText(content json.RawMessage, param string) (string, *apiError) {
	var s string
	if json.Unmarshal(content, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(content, &parts) != nil {
		return "", invalidField(param+".content", "must be a string or a list of content parts")
	}
	var b strings.Builder
	for j, p := range parts {
		switch p.Type {
		case "input_text", "output_text":
			b.WriteString(p.Text)
		case "refusal":
		default:
			return "", invalidField(fmt.Sprintf("%s.content[%d]", param, j), fmt.Sprintf("%q parts are not supported; agents take text", p.Type))
		}
	}
	return b.String(), nil
}

// invalidField is a 400 for the request field param.
func invalidField(param, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Param: param, Message: param + ": " + msg}
}

// joinText joins the non-empty texts with a blank line.
func joinText(texts []string) string {
	kept := texts[:0:0]
	for _, t := range texts {
		if strings.TrimSpace(t) != "" {
			kept = append(kept, t)
		}
	}
	return strings.Join(kept, "\n\n")
}
