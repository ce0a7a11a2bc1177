package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/session"
)

// AG-UI's HttpAgent (what CopilotKit runs) POSTs a RunAgentInput,
// {threadId, runId, messages, tools, context, state, forwardedProps}, and
// reads the run's events as SSE. The gateway is such an agent for every
// AgentCore agent it fronts: the thread stands for a session of the
// caller's own, the last message, the user's, is the prompt, and the
// answer is the AGUI format.

// aguiInput is the part of a RunAgentInput the gateway reads. Tools,
// context and state stay with the client: the agent runs its own tools,
// and its session holds the conversation.
type aguiInput struct {
	ThreadID       string          `json:"threadId"`
	RunID          string          `json:"runId"`
	Messages       json.RawMessage `json:"messages"`
	ForwardedProps json.RawMessage `json:"forwardedProps"`
}

// aguiMessage is the part of an AG-UI message the gateway reads: a user
// message's content is a string or a list of content parts.
type aguiMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// handleAGUI serves an AG-UI run: POST /agui for the default agent, POST
// /agui/agents/{name} for a named one.
func (s *Server) handleAGUI(from agentFrom) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, inv, aerr := s.resolveAgent(r, from)
		if aerr != nil {
			s.writeError(w, r, aerr)
			return
		}
		req, err := s.decodeAGUI(w, r, name)
		if err != nil {
			s.fail(w, r, nil, name, err)
			return
		}
		s.serveInvocation(w, r, name, inv, req)
	})
}

// decodeAGUI reads a RunAgentInput into an invocation of the thread's
// session. The agent gets the prompt and the members of forwardedProps
// (what HttpAgent's runAgent({forwardedProps}) adds), less the gateway's
// own fields; forwardedProps' include and maxTokens tune the answer as
// they do on the other routes. An agent of the agui dialect has its own
// events passed through. Its errors are *apiError with a message that
// names the bad field.
func (s *Server) decodeAGUI(w http.ResponseWriter, r *http.Request, agent string) (*invocation, error) {
	in, err := s.readAGUIInput(w, r)
	if err != nil {
		return nil, err
	}
	prompt, aerr := aguiPrompt(in.Messages)
	if aerr == nil {
		aerr = s.checkPrompt(prompt, "messages")
	}
	if aerr != nil {
		return nil, aerr
	}
	fields := map[string]json.RawMessage{}
	if len(in.ForwardedProps) > 0 && string(in.ForwardedProps) != "null" && json.Unmarshal(in.ForwardedProps, &fields) != nil {
		return nil, badRequest("forwardedProps: must be an object")
	}
	inv := &invocation{prompt: prompt, format: format.AGUI}
	if err := decodeOptions(fields, inv); err != nil {
		if ae, ok := errors.AsType[*apiError](err); ok {
			ae.Message = "forwardedProps." + ae.Message
		}
		return nil, err
	}
	inv.options.ID = "msg-" + requestID(r.Context())
	inv.options.AGUI = format.AGUIRun{ThreadID: in.ThreadID, RunID: in.RunID, Passthrough: s.opts.Dialects[agent] == event.AGUI}
	inv.sessionID = s.opts.Sessions.Derive(owner(principal(r.Context())), session.ScopeAGUI, in.ThreadID)
	for _, k := range gatewayFields {
		delete(fields, k)
	}
	fields["prompt"] = marshalPlain(prompt)
	inv.payload = marshalFields(fields)
	return inv, nil
}

// readAGUIInput reads the body and checks its thread and run ids.
func (s *Server) readAGUIInput(w http.ResponseWriter, r *http.Request) (*aguiInput, error) {
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
	var in aguiInput
	if err := stringField(fields, "threadId", &in.ThreadID); err != nil {
		return nil, err
	}
	if err := stringField(fields, "runId", &in.RunID); err != nil {
		return nil, err
	}
	for _, id := range []struct{ field, value string }{{"threadId", in.ThreadID}, {"runId", in.RunID}} {
		if id.value == "" {
			return nil, badRequest(id.field + ": required, as in every RunAgentInput")
		}
		if len(id.value) > maxChatIDBytes {
			return nil, badRequest(fmt.Sprintf("%s: longer than %d bytes", id.field, maxChatIDBytes))
		}
	}
	in.Messages, in.ForwardedProps = fields["messages"], fields["forwardedProps"]
	return &in, nil
}

// aguiPrompt returns the text of the run's last message, which must be the
// user's: its content, or its text parts one per line. Earlier messages
// are already in the agent's session. A run that ends with another role's
// message (a tool's result, the assistant's) asks the agent to go on from
// what the client did, and agentgate's agents run their tools themselves.
func aguiPrompt(raw json.RawMessage) (string, *apiError) {
	var msgs []aguiMessage
	if len(raw) == 0 || json.Unmarshal(raw, &msgs) != nil {
		return "", badRequest("messages: must be a list of AG-UI messages ({id, role, content})")
	}
	if len(msgs) == 0 {
		return "", badRequest("messages: at least one user message is required")
	}
	last := msgs[len(msgs)-1]
	if last.Role != "user" {
		return "", badRequest("messages: the last message must be the user's, whose text is the prompt: the agent's session holds the conversation before it, and the agent runs its tools itself")
	}
	var text string
	if json.Unmarshal(last.Content, &text) == nil {
		return text, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(last.Content, &parts) != nil {
		return "", badRequest("messages: the user message's content must be a string or a list of content parts")
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// aguiAllow returns the method an AG-UI route's path takes: POST; "" for
// a path of no such route.
func aguiAllow(p string) string {
	if p == "/agui" {
		return "POST"
	}
	if name, ok := strings.CutPrefix(p, "/agui/agents/"); ok && name != "" && !strings.Contains(name, "/") {
		return "POST"
	}
	return ""
}
