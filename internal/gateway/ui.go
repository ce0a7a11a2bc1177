package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/session"
)

// The AI SDK's useChat talks to two routes per chat API: a POST of the
// chat (DefaultChatTransport's body) answered with the UI message stream,
// and, with useChat({resume: true}), a GET of {api}/{chat id}/stream on
// mount, which resumes a running turn or answers 204.

// maxChatIDBytes bounds a chat id: useChat's own are 16 characters, a
// UUID is 36.
const maxChatIDBytes = 256

// uiChatFields are the useChat body's own fields: the gateway reads them,
// and only the prompt and any other fields (useChat's `body` option) reach
// the agent.
var uiChatFields = []string{"id", "messages", "trigger", "messageId"}

// uiMessage is the part of an AI SDK UIMessage the gateway reads.
type uiMessage struct {
	Role  string `json:"role"`
	Parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"parts"`
}

// handleUIChat serves useChat's POST: the chat's last message, the user's,
// is the prompt (the agent's session holds the conversation before it),
// the chat id stands for a session of the caller's own, and the answer is
// the AI SDK's UI message stream.
func (s *Server) handleUIChat(from agentFrom) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, inv, aerr := s.resolveAgent(r, from)
		if aerr != nil {
			s.writeError(w, r, aerr)
			return
		}
		req, err := s.decodeUIChat(w, r)
		if err != nil {
			s.fail(w, r, nil, name, err)
			return
		}
		s.serveInvocation(w, r, name, inv, req)
	})
}

// decodeUIChat reads DefaultChatTransport's body, {id, messages, trigger,
// messageId} plus the fields of useChat's `body` option, into an
// invocation of the caller's chat session. Its errors are *apiError with a
// message that names the bad field.
func (s *Server) decodeUIChat(w http.ResponseWriter, r *http.Request) (*invocation, error) {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	body, aerr := s.readBody(w, r, s.opts.MaxBodyBytes)
	if aerr != nil {
		return nil, aerr
	}
	fields := map[string]json.RawMessage{}
	if err := decodeObject(body, &fields); err != nil {
		return nil, err
	}
	var chatID, trigger string
	if err := stringField(fields, "id", &chatID); err != nil {
		return nil, err
	}
	if err := checkChatID(chatID); err != nil {
		return nil, err
	}
	if err := stringField(fields, "trigger", &trigger); err != nil {
		return nil, err
	}
	if trigger != "" && trigger != "submit-message" && trigger != "regenerate-message" {
		return nil, badRequest(`trigger: must be "submit-message" or "regenerate-message"`)
	}
	prompt, aerr := uiPrompt(fields["messages"])
	if aerr == nil {
		aerr = s.checkPrompt(prompt, "messages")
	}
	if aerr != nil {
		return nil, aerr
	}
	inv := &invocation{prompt: prompt, format: format.UI}
	if err := decodeOptions(fields, inv); err != nil {
		return nil, err
	}
	inv.options.ID = "msg-" + requestID(r.Context())
	inv.sessionID = s.opts.Sessions.Derive(owner(principal(r.Context())), session.ScopeChat, chatID)
	for _, k := range append(uiChatFields, gatewayFields...) {
		delete(fields, k)
	}
	fields["prompt"] = marshalPlain(inv.prompt)
	inv.payload = marshalFields(fields)
	return inv, nil
}

// checkChatID refuses a missing or oversized chat id.
func checkChatID(id string) *apiError {
	if id == "" {
		return badRequest("id: the chat id is required")
	}
	if len(id) > maxChatIDBytes {
		return badRequest(fmt.Sprintf("id: the chat id is longer than %d bytes", maxChatIDBytes))
	}
	return nil
}

// uiPrompt returns the text of the chat's last message, which must be the
// user's: its text parts, one per line. Earlier messages are already in
// the agent's session. A chat that ends with the assistant's message asks
// to continue after tool results the client supplied, and agentgate's
// agents run their tools themselves.
func uiPrompt(raw json.RawMessage) (string, *apiError) {
	var msgs []uiMessage
	if len(raw) == 0 || json.Unmarshal(raw, &msgs) != nil {
		return "", badRequest("messages: must be a list of UI messages ({id, role, parts})")
	}
	if len(msgs) == 0 {
		return "", badRequest("messages: at least one user message is required")
	}
	last := msgs[len(msgs)-1]
	if last.Role != "user" {
		return "", badRequest("messages: the last message must be the user's; the agent runs its tools itself")
	}
	var texts []string
	for _, p := range last.Parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// uiAllow returns the method a useChat route's path takes: POST for the
// chat, GET for its resume; "" for a path of no such route.
func uiAllow(p string) string {
	if p == "/api/chat" {
		return "POST"
	}
	if rest, ok := strings.CutPrefix(p, "/api/chat/"); ok {
		if id, ok := strings.CutSuffix(rest, "/stream"); ok && id != "" && !strings.Contains(id, "/") {
			return "GET"
		}
		return ""
	}
	rest, ok := strings.CutPrefix(p, "/ui/agents/")
	segs := strings.Split(rest, "/")
	switch {
	case !ok || slices.Contains(segs, ""):
		return ""
	case len(segs) == 1:
		return "POST"
	case len(segs) == 3 && segs[2] == "stream":
		return "GET"
	}
	return ""
}
