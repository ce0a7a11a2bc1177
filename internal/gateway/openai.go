package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/agentgate/agentgate/internal/format"
)

// withOpenAIErrors makes writeError answer in OpenAI's error shape, so an
// OpenAI SDK shows agentgate's messages, authentication failures included.
func withOpenAIErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		state(r.Context()).openAIShape = true
		next.ServeHTTP(w, r)
	})
}

// openAIError is OpenAI's error body.
type openAIError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

func openAIErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

// chatRequest is the part of a chat completion request the gateway reads.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	// MaxTokens and MaxCompletionTokens (its newer name) cap the answer;
	// the larger is what the caller's token budget reserves for it.
	MaxTokens           int64 `json:"max_tokens"`
	MaxCompletionTokens int64 `json:"max_completion_tokens"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// text returns the message's text: a string, or the text parts of an array.
func (m chatMessage) text() (string, error) {
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
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), nil
}

// handleChatCompletions serves POST /v1/chat/completions: the model is a
// public agent name, the last user message is the prompt, and the session
// travels in the X-Agentgate-Session-Id header both ways.
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
		li := state(r.Context())
		li.agent = req.Model
		prompt := ""
		for _, m := range slices.Backward(req.Messages) {
			if m.Role == "user" {
				prompt, _ = m.text()
				break
			}
		}
		in := &invocation{prompt: prompt, sessionID: r.Header.Get(SessionHeader), format: format.OpenAIJSON}
		if req.Stream {
			in.format = format.OpenAI
		}
		if aerr := s.checkPrompt(prompt, "messages"); aerr != nil {
			s.writeError(w, r, aerr)
			return
		}
		in.options = format.Options{Model: req.Model, ID: "chatcmpl-" + requestID(r.Context()),
			IncludeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
		in.payload, _ = json.Marshal(map[string]string{"prompt": prompt})
		in.maxTokens = max(req.MaxTokens, req.MaxCompletionTokens)
		s.serveInvocation(w, r, req.Model, inv, in)
	})
}

func (s *Server) decodeChat(w http.ResponseWriter, r *http.Request) (*chatRequest, *apiError) {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, publicError(err, "", false)
	}
	body, aerr := s.readBody(w, r, s.opts.MaxBodyBytes)
	if aerr != nil {
		return nil, aerr
	}
	if !utf8.Valid(body) {
		return nil, badRequest("the request body must be valid UTF-8")
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, badRequest("the request body is not a valid chat completion request")
	}
	if req.Model == "" {
		return nil, badRequest("model: required; GET /v1/models lists them")
	}
	hasUser := false
	for i, m := range req.Messages {
		if _, err := m.text(); err != nil {
			return nil, badRequest(fmt.Sprintf("messages[%d].content: must be a string or an array of content parts", i))
		}
		hasUser = hasUser || m.Role == "user"
	}
	if !hasUser {
		return nil, badRequest("messages: at least one user message is required")
	}
	return &req, nil
}

// openAIModel is OpenAI's model object, for an agent.
type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func newOpenAIModel(name string) openAIModel {
	return openAIModel{ID: name, Object: "model", OwnedBy: "agentgate"}
}

// modelNotFound answers a model that names no agent the caller may use.
func modelNotFound(name string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "model_not_found", Message: "model: no agent named " + safeName(name), Param: "model"}
}

// handleModels serves GET /v1/models: the agents the caller may use.
func (s *Server) handleModels() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list := struct {
			Object string        `json:"object"`
			Data   []openAIModel `json:"data"`
		}{Object: "list", Data: []openAIModel{}}
		for _, name := range s.agentsFor(principal(r.Context())) {
			list.Data = append(list.Data, newOpenAIModel(name))
		}
		writeJSON(w, list)
	})
}

// handleModel serves GET /v1/models/{id}: one agent the caller may use,
// or OpenAI's 404.
func (s *Server) handleModel() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("id")
		if _, ok := s.agentFor(name, principal(r.Context())); !ok {
			s.writeError(w, r, modelNotFound(name))
			return
		}
		writeJSON(w, newOpenAIModel(name))
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
