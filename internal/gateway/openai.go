package gateway

import (
	"encoding/json"
	"net/http"
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
