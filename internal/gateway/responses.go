package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"

	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/session"
)

// responsesRequest is the part of a Responses API request the gateway
// reads. Sampling and storage parameters (temperature, top_p, store,
// metadata, user, include, truncation, service_tier…) are accepted and
// left to the agent, as /v1/chat/completions leaves them; the fields at
// the end are refused when set, since no agent behind the gateway can
// honour them.
type responsesRequest struct {
	Model              string          `json:"model"`
	Input              json.RawMessage `json:"input"`
	Instructions       string          `json:"instructions"`
	PreviousResponseID string          `json:"previous_response_id"`
	Stream             bool            `json:"stream"`
	// MaxOutputTokens caps the answer: what the caller's token budget
	// reserves for it.
	MaxOutputTokens int64 `json:"max_output_tokens"`
	// Reasoning.Summary asks for the agent's reasoning, as a reasoning item.
	Reasoning *struct {
		Summary string `json:"summary"`
	} `json:"reasoning"`

	Tools        json.RawMessage `json:"tools"`
	ToolChoice   json.RawMessage `json:"tool_choice"`
	N            json.RawMessage `json:"n"`
	Background   bool            `json:"background"`
	Conversation json.RawMessage `json:"conversation"`
	Prompt       json.RawMessage `json:"prompt"`
	Text         *struct {
		Format *struct {
			Type string `json:"type"`
		} `json:"format"`
	} `json:"text"`

	// prompt is the text of input's last user message; system, the
	// instructions and input's system and developer messages.
	prompt, system string
}

// handleResponses serves POST /v1/responses: the model is a public agent
// name, input's last user message is the prompt, and the session travels
// in the response ids (previous_response_id continues it) as well as in
// the X-Agentgate-Session-Id header.
func (s *Server) handleResponses() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, aerr := s.decodeResponses(w, r)
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
		in, err := s.responsesInvocation(r, req, owner(p))
		if err != nil {
			s.fail(w, r, nil, req.Model, err)
			return
		}
		s.serveInvocation(w, r, req.Model, inv, in)
	})
}

// responsesInvocation turns a decoded request into an invocation: its
// session (continued or new), the id of the response it will give, and
// the agent's payload, {"prompt", "instructions"}.
func (s *Server) responsesInvocation(r *http.Request, req *responsesRequest, principal string) (*invocation, error) {
	sid, err := s.previousSession(r, req.PreviousResponseID, principal)
	if err != nil {
		return nil, err
	}
	in := &invocation{prompt: req.prompt, sessionID: sid, format: format.ResponsesJSON, maxTokens: req.MaxOutputTokens}
	if req.Stream {
		in.format = format.Responses
	}
	if err := s.resolveSession(principal, in); err != nil {
		return nil, err
	}
	in.options = format.Options{
		Model:            req.Model,
		ID:               s.opts.Sessions.NewResponseID(principal, in.sessionID),
		IncludeReasoning: req.Reasoning != nil && req.Reasoning.Summary != "" && req.Reasoning.Summary != "none",
		Responses: format.ResponsesRequest{Instructions: req.Instructions, PreviousResponseID: req.PreviousResponseID,
			MaxOutputTokens: req.MaxOutputTokens},
	}
	payload := map[string]string{"prompt": req.prompt}
	if req.system != "" {
		payload["instructions"] = req.system
	}
	in.payload = marshalPlain(payload)
	return in, nil
}

// previousSession is the session previous_response_id names, if the
// caller's; else the session header's, checked later like any session id.
func (s *Server) previousSession(r *http.Request, prev, principal string) (string, error) {
	header := r.Header.Get(SessionHeader)
	if prev == "" {
		return header, nil
	}
	sid, err := s.opts.Sessions.ResponseSession(principal, prev)
	switch {
	case errors.Is(err, session.ErrForeign):
		// Another caller's response reads as no response at all, as
		// OpenAI's do: its existence is not the caller's to learn.
		return "", &apiError{Status: http.StatusNotFound, Code: "previous_response_not_found",
			Message: "previous_response_id: no response with that id", Param: "previous_response_id"}
	case err != nil:
		return "", &apiError{Status: http.StatusBadRequest, Code: "invalid_request",
			Message: "previous_response_id: not a response id this gateway issued", Param: "previous_response_id"}
	case header != "" && header != sid:
		return "", &apiError{Status: http.StatusBadRequest, Code: "invalid_request",
			Message: "previous_response_id and the " + SessionHeader + " header name different sessions", Param: "previous_response_id"}
	}
	return sid, nil
}

func (s *Server) decodeResponses(w http.ResponseWriter, r *http.Request) (*responsesRequest, *apiError) {
	var req responsesRequest
	if aerr := s.decodeOpenAIBody(w, r, &req, "Responses API request"); aerr != nil {
		return nil, aerr
	}
	if req.Model == "" {
		return nil, invalidField("model", "required; GET /v1/models lists them")
	}
	if req.MaxOutputTokens < 0 {
		return nil, invalidField("max_output_tokens", "must be 0 or more")
	}
	if aerr := req.unsupported(); aerr != nil {
		return nil, aerr
	}
	if aerr := req.readInput(); aerr != nil {
		return nil, aerr
	}
	if aerr := s.checkPrompt(req.prompt, "input"); aerr != nil {
		aerr.Param = "input"
		return nil, aerr
	}
	return &req, nil
}

// jsonKind names what JSON value decodes into a Go value of type t.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// unsupported refuses what no agent behind the gateway can honour.
func (req *responsesRequest) unsupported() *apiError {
	refuse := func(param, msg string) *apiError {
		return &apiError{Status: http.StatusBadRequest, Code: "unsupported_parameter", Param: param, Message: param + ": " + msg}
	}
	var tools []json.RawMessage
	switch {
	case set(req.Tools) && (json.Unmarshal(req.Tools, &tools) != nil || len(tools) > 0):
		return refuse("tools", "not supported; agents run their own tools, so send none")
	case set(req.ToolChoice) && !bytes.Equal(req.ToolChoice, []byte(`"auto"`)) && !bytes.Equal(req.ToolChoice, []byte(`"none"`)):
		return refuse("tool_choice", `only "auto" and "none" are supported; agents choose their own tools`)
	case set(req.N) && !bytes.Equal(req.N, []byte("1")):
		return refuse("n", "one answer per request is supported")
	case req.Background:
		return refuse("background", "not supported: responses are not stored; ask for a stream instead")
	case set(req.Conversation):
		return refuse("conversation", "not supported; continue a conversation with previous_response_id")
	case set(req.Prompt):
		return refuse("prompt", "prompt templates are not supported; send the prompt as input")
	case req.Text != nil && req.Text.Format != nil && req.Text.Format.Type != "" && req.Text.Format.Type != "text":
		return refuse("text.format", "only text answers are supported")
	}
	return nil
}

// set reports whether a field was sent with a value other than null.
func set(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}
