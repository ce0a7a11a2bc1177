package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/agentgate/agentgate/internal/format"
)

// chatRequest is the part of a chat completion request the gateway reads.
// Other fields (presence_penalty, seed, user, response_format…) are
// accepted and dropped; tools and n are refused, since no agent behind the
// gateway can honour them.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	// MaxCompletionTokens, or MaxTokens (its older name), caps the answer:
	// the agent gets it, and the caller's token budget reserves it.
	MaxTokens           int64           `json:"max_tokens"`
	MaxCompletionTokens int64           `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`

	N         json.RawMessage `json:"n"`
	Tools     json.RawMessage `json:"tools"`
	Functions json.RawMessage `json:"functions"`

	// prompt is the last user message's text, at messages[last]; stop
	// holds Stop as a list.
	prompt string
	last   int
	stop   []string
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	// text is Content's text, as decodeChat read it.
	text string
}

// chatPayload is what a chat completion sends the agent. The README's
// "Chat completions" section documents each field for agent authors.
type chatPayload struct {
	Prompt string `json:"prompt"`
	// Instructions joins the system and developer messages' texts.
	Instructions string `json:"instructions,omitempty"`
	// Messages is the conversation before the prompt, sent only when no
	// session holds it (see conversation.go).
	Messages    []payloadMessage `json:"messages,omitempty"`
	MaxTokens   int64            `json:"maxTokens,omitempty"`
	Temperature *float64         `json:"temperature,omitempty"`
	TopP        *float64         `json:"topP,omitempty"`
	Stop        []string         `json:"stop,omitempty"`
}

type payloadMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// handleChatCompletions serves POST /v1/chat/completions: the model is a
// public agent name and the last user message is the prompt. The session
// travels in the X-Agentgate-Session-Id header both ways; a request without
// one continues the session its earlier messages belong to, if the gateway
// remembers one (conversation.go).
func (s *Server) handleChatCompletions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, aerr := s.decodeChat(w, r)
		if aerr != nil {
			s.writeError(w, r, aerr)
			return
		}
		p := principal(r.Context())
		inv, ok := s.agentFor(req.Model, p)
		if !ok {
			s.writeError(w, r, modelNotFound(req.Model))
			return
		}
		state(r.Context()).agent = req.Model
		s.serveInvocation(w, r, req.Model, inv, s.chatInvocation(r, req, owner(p)))
	})
}

// chatInvocation turns a decoded request into an invocation: its session
// (the header's, else the one its conversation continues, else new) and the
// agent's payload, which carries the earlier messages when no session
// holds them.
func (s *Server) chatInvocation(r *http.Request, req *chatRequest, principal string) *invocation {
	in := &invocation{prompt: req.prompt, sessionID: r.Header.Get(SessionHeader), format: format.OpenAIJSON, maxTokens: req.maxTokens()}
	if req.Stream {
		in.format = format.OpenAI
	}
	in.options = format.Options{Model: req.Model, ID: "chatcmpl-" + requestID(r.Context()),
		IncludeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
	payload := chatPayload{Prompt: req.prompt, MaxTokens: req.maxTokens(), Temperature: req.Temperature, TopP: req.TopP, Stop: req.stop}
	var system []string
	for _, m := range req.Messages {
		if m.Role == "system" || m.Role == "developer" {
			system = append(system, m.text)
		}
	}
	payload.Instructions = joinText(system)
	if in.sessionID == "" {
		in.sessionID, in.remember = s.continueConversation(r.Context(), req.Model, principal, req.Messages)
		if in.sessionID == "" {
			payload.Messages = req.history()
		}
	}
	in.payload = marshalPlain(payload)
	return in
}

// maxTokens is the answer's cap: max_completion_tokens, else max_tokens.
func (req *chatRequest) maxTokens() int64 {
	if req.MaxCompletionTokens > 0 {
		return req.MaxCompletionTokens
	}
	return req.MaxTokens
}

// history is the conversation before the prompt: its user and assistant
// messages that hold text.
func (req *chatRequest) history() []payloadMessage {
	var h []payloadMessage
	for _, m := range req.Messages[:req.last] {
		if (m.Role == "user" || m.Role == "assistant") && strings.TrimSpace(m.text) != "" {
			h = append(h, payloadMessage{Role: m.Role, Content: m.text})
		}
	}
	return h
}

// decodeOpenAIBody reads an OpenAI-shaped request's JSON body into v: the
// content type, the size cap, UTF-8, and a field of the wrong type named
// in OpenAI's way; what names the request in the error for a body that is
// no JSON of its shape.
func (s *Server) decodeOpenAIBody(w http.ResponseWriter, r *http.Request, v any, what string) *apiError {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return publicError(err, "", false)
	}
	body, aerr := s.readBody(w, r, s.opts.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	if !utf8.Valid(body) {
		return badRequest("the request body must be valid UTF-8")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalidField(te.Field, fmt.Sprintf("must be %s, not %s", jsonKind(te.Type), te.Value))
		}
		return badRequest("the request body is not a valid " + what)
	}
	return nil
}

func (s *Server) decodeChat(w http.ResponseWriter, r *http.Request) (*chatRequest, *apiError) {
	var req chatRequest
	if aerr := s.decodeOpenAIBody(w, r, &req, "chat completion request"); aerr != nil {
		return nil, aerr
	}
	if req.Model == "" {
		return nil, invalidField("model", "required; GET /v1/models lists them")
	}
	if aerr := req.checkParameters(); aerr != nil {
		return nil, aerr
	}
	if aerr := req.readMessages(); aerr != nil {
		return nil, aerr
	}
	if aerr := s.checkPrompt(req.prompt, "messages"); aerr != nil {
		aerr.Param = "messages"
		return nil, aerr
	}
	return &req, nil
}

// readMessages reads each message's text and finds the prompt.
func (req *chatRequest) readMessages() *apiError {
	req.last = -1
	for i := range req.Messages {
		m := &req.Messages[i]
		text, err := m.readText()
		if err != nil {
			return invalidField(fmt.Sprintf("messages[%d].content", i), "must be a string or an array of content parts")
		}
		m.text = text
		if m.Role == "user" {
			req.prompt, req.last = text, i
		}
	}
	if req.last < 0 {
		return invalidField("messages", "at least one user message is required")
	}
	return nil
}

// readText returns the message's text: a string, or the text parts of an
// array, one per line.
func (m chatMessage) readText() (string, error) {
	c := bytes.TrimSpace(m.Content)
	if len(c) > 0 && c[0] == '"' {
		var s string
		err := json.Unmarshal(c, &s)
		return s, err
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(c, &parts); err != nil {
		return "", err
	}
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// checkParameters refuses what no agent behind the gateway can honour, and
// values out of OpenAI's own ranges.
func (req *chatRequest) checkParameters() *apiError {
	refuse := func(param, msg string) *apiError {
		return &apiError{Status: http.StatusBadRequest, Code: "unsupported_parameter", Param: param, Message: param + ": " + msg}
	}
	switch {
	case set(req.N) && !bytes.Equal(req.N, []byte("1")):
		return refuse("n", "one answer per request is supported")
	case nonEmptyList(req.Tools):
		return refuse("tools", "not supported; agents run their own tools, so send none")
	case nonEmptyList(req.Functions):
		return refuse("functions", "not supported; agents run their own tools, so send none")
	case req.MaxTokens < 0:
		return invalidField("max_tokens", "must be 0 or more")
	case req.MaxCompletionTokens < 0:
		return invalidField("max_completion_tokens", "must be 0 or more")
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2):
		return invalidField("temperature", "must be between 0 and 2")
	case req.TopP != nil && (*req.TopP < 0 || *req.TopP > 1):
		return invalidField("top_p", "must be between 0 and 1")
	}
	return req.readStop()
}

// readStop reads stop, a string or a list of up to four, into req.stop.
func (req *chatRequest) readStop() *apiError {
	if !set(req.Stop) {
		return nil
	}
	var one string
	if json.Unmarshal(req.Stop, &one) == nil {
		req.stop = []string{one}
		return nil
	}
	if json.Unmarshal(req.Stop, &req.stop) != nil || len(req.stop) > 4 {
		return invalidField("stop", "must be a string or a list of up to 4 strings")
	}
	return nil
}

// nonEmptyList reports whether raw is set to anything but an empty list.
func nonEmptyList(raw json.RawMessage) bool {
	var list []json.RawMessage
	return set(raw) && (json.Unmarshal(raw, &list) != nil || len(list) > 0)
}
