package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/upstream"
)

// apiError is a public answer: agentgate's own wording only.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badRequest(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: msg}
}

// publicError translates any failure of the invoke path into a public
// answer. It is the only place upstream failures are worded for clients.
func publicError(err error, agent string) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, errShuttingDown) {
		return &apiError{Status: http.StatusServiceUnavailable, Code: "shutting_down", Message: "the gateway is restarting; send the request again", RetryAfter: time.Second}
	}
	if errors.Is(err, errTotalTimeout) || errors.Is(err, errFirstByteTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return &apiError{Status: http.StatusGatewayTimeout, Code: "upstream_timeout", Message: "the agent did not answer in time"}
	}
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		return &apiError{Status: http.StatusBadGateway, Code: "upstream_error", Message: "the agent could not be reached"}
	}
	switch ue.Kind {
	case upstream.KindValidation:
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: "the agent refused the request as invalid"}
	case upstream.KindAccessDenied:
		return &apiError{Status: http.StatusBadGateway, Code: "upstream_access_denied", Message: "the gateway is not allowed to invoke this agent"}
	case upstream.KindNotFound:
		return &apiError{Status: http.StatusNotFound, Code: "agent_not_found", Message: "agent not found: " + agent}
	case upstream.KindThrottled:
		return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "the agent is receiving too many requests; retry later", RetryAfter: retryAfter(ue.RetryAfter, time.Second)}
	case upstream.KindQuotaExceeded:
		return &apiError{Status: http.StatusTooManyRequests, Code: "quota_exceeded", Message: "the agent's capacity is exhausted; retry later", RetryAfter: retryAfter(ue.RetryAfter, 30*time.Second)}
	case upstream.KindAgentFailed:
		return &apiError{Status: http.StatusBadGateway, Code: "agent_failed", Message: "agent failed"}
	case upstream.KindUnavailable, upstream.KindConflict:
		return &apiError{Status: http.StatusServiceUnavailable, Code: "upstream_unavailable", Message: "the agent is unavailable; retry later", RetryAfter: retryAfter(ue.RetryAfter, time.Second)}
	case upstream.KindTimeout:
		return &apiError{Status: http.StatusGatewayTimeout, Code: "upstream_timeout", Message: "the agent did not answer in time"}
	case upstream.KindConnection:
		return &apiError{Status: http.StatusBadGateway, Code: "upstream_unreachable", Message: "the agent could not be reached"}
	}
	return &apiError{Status: http.StatusBadGateway, Code: "upstream_error", Message: "the agent failed to answer"}
}

func retryAfter(hint, fallback time.Duration) time.Duration {
	if hint > 0 {
		return hint
	}
	return fallback
}

// writeError answers before the first byte of a stream: status, JSON body.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	w.WriteHeader(e.Status)
	setOutcome(r.Context(), e.Code)
	if openAIShape(r.Context()) {
		body, _ := json.Marshal(struct {
			Error openAIError `json:"error"`
		}{openAIError{Message: e.Message + " (request id " + requestID(r.Context()) + ")", Type: openAIErrorType(e.Status), Code: e.Code}})
		_, _ = w.Write(append(body, '\n'))
		return
	}
	body, _ := json.Marshal(struct {
		Error format.Failure `json:"error"`
	}{format.Failure{Code: e.Code, Message: e.Message, RequestID: requestID(r.Context())}})
	_, _ = w.Write(append(body, '\n'))
}
