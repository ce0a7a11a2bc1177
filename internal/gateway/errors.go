package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/limit"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/sse"
	"github.com/agentgate/agentgate/internal/upstream"
)

// apiError is a public answer: agentgate's own wording only.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
	// Param names the request field at fault, for OpenAI's error shape.
	Param string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badRequest(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: msg}
}

// publicError is the one place where a failure of the invoke path becomes
// a public answer: its status, code and message, in agentgate's own words,
// never upstream text. started says whether the answer had begun when it
// failed: a few causes read differently then (a total timeout is a stream
// too long, not an agent too slow; an upstream failure is a broken stream).
// The status also serves an answer that started but has sent nothing (a
// buffered one).
func publicError(err error, agent string, started bool) *apiError {
	if e := callerError(err); e != nil {
		return e
	}
	var agentErr *agentError
	var ue *upstream.Error
	switch {
	case errors.Is(err, errStopped):
		return &apiError{Status: http.StatusConflict, Code: "stopped", Message: "the answer was stopped"}
	case errors.Is(err, errDetachedTimeout):
		return &apiError{Status: http.StatusGatewayTimeout, Code: "abandoned", Message: "no client came back for the answer in time, so the agent was stopped"}
	case errors.Is(err, errShuttingDown):
		return &apiError{Status: http.StatusServiceUnavailable, Code: "shutting_down", Message: "the gateway is restarting; send the request again", RetryAfter: time.Second}
	case started && errors.Is(err, errTotalTimeout):
		return &apiError{Status: http.StatusBadGateway, Code: "stream_too_long", Message: "the answer exceeded the longest stream the gateway allows"}
	case errors.Is(err, errTotalTimeout), errors.Is(err, errFirstByteTimeout), errors.Is(err, errIdleTimeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{Status: http.StatusGatewayTimeout, Code: "upstream_timeout", Message: "the agent did not answer in time"}
	case errors.As(err, &agentErr):
		return &apiError{Status: http.StatusBadGateway, Code: "agent_error", Message: "the agent reported an error while answering"}
	case errors.Is(err, sse.ErrLineTooLong), errors.Is(err, sse.ErrEventTooLarge):
		return &apiError{Status: http.StatusBadGateway, Code: "upstream_event_too_large", Message: "the agent sent an event larger than the gateway accepts"}
	case errors.Is(err, format.ErrResponseTooLarge):
		return &apiError{Status: http.StatusBadGateway, Code: "response_too_large", Message: "the answer is too large for the gateway to hold; ask for a streamed chat completion"}
	case started:
		return &apiError{Status: http.StatusBadGateway, Code: "upstream_stream_broken", Message: "the agent's stream ended unexpectedly"}
	case !errors.As(err, &ue):
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

// Failures the gateway itself finds, before any upstream call.
var (
	errLimitsUnavailable = errors.New("gateway: the limit store cannot be reached")
	errSessionNotFound   = errors.New("gateway: no running session with that id")
)

// callerError words the failures that are the caller's (or the gateway's
// own checks') rather than the agent's: an error already worded
// (*apiError), a credential refused, a limit that refuses, a session id
// that is not the caller's. It returns nil for any other error.
func callerError(err error) *apiError {
	var ae *apiError
	var retry *auth.RetryError
	var refusal *limit.Refusal
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &retry) && retry.Busy:
		return &apiError{Status: http.StatusTooManyRequests, Code: "sign_in_busy",
			Message: "too many sign-ins are being checked at once; retry shortly", RetryAfter: max(retry.After, time.Second)}
	case errors.As(err, &retry):
		return &apiError{Status: http.StatusTooManyRequests, Code: "too_many_attempts",
			Message: "too many failed sign-in attempts; retry later", RetryAfter: max(retry.After, time.Second)}
	case errors.Is(err, auth.ErrUnavailable):
		return &apiError{Status: http.StatusServiceUnavailable, Code: "auth_unavailable", Message: "credentials cannot be checked right now; retry later", RetryAfter: 5 * time.Second}
	case errors.Is(err, auth.ErrNoCredentials):
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "credentials are required"}
	case errors.Is(err, auth.ErrInvalidCredentials):
		return &apiError{Status: http.StatusUnauthorized, Code: "invalid_credentials", Message: "the credentials are not valid"}
	case errors.As(err, &refusal):
		e := &apiError{Status: http.StatusTooManyRequests, RetryAfter: max(refusal.RetryAfter, time.Second)}
		switch {
		case strings.HasPrefix(refusal.Limit, "budget"):
			e.Code, e.Message = "budget_exhausted", "the daily token budget is spent; it renews at midnight UTC"
		case strings.HasPrefix(refusal.Limit, "concurrency"):
			e.Code, e.Message = "too_many_streams", "too many answers are streaming at once; retry when one ends"
		default:
			e.Code, e.Message = "rate_limited", "too many requests; retry later"
		}
		return e
	case errors.Is(err, errLimitsUnavailable):
		return &apiError{Status: http.StatusServiceUnavailable, Code: "limits_unavailable", Message: "the gateway cannot check its limits right now; retry later", RetryAfter: 5 * time.Second}
	case errors.Is(err, session.ErrForeign):
		return &apiError{Status: http.StatusForbidden, Code: "session_forbidden", Message: "runtimeSessionId: this session belongs to another user"}
	case errors.Is(err, session.ErrMalformed):
		return badRequest("runtimeSessionId: not a session id this gateway issued; omit it to start a new session")
	case errors.Is(err, errSessionNotFound):
		return &apiError{Status: http.StatusNotFound, Code: "session_not_found", Message: "no running session with that id"}
	}
	return nil
}

// fail answers err, once, as the answer's state requires: before the
// stream started (st nil), or when it has sent nothing (buffered), with a
// status and the JSON error; after, with the stream's own terminal error.
// Upstream failures are logged in full and counted here. It returns the
// public code, which is the request's outcome.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, st *stream, agent string, err error) string {
	if e := callerError(err); e != nil {
		if e.Status == http.StatusUnauthorized {
			s.challenge(w, r, e.Code)
		}
		s.writeError(w, r, e)
		return e.Code
	}
	e := publicError(err, agent, st != nil)
	msg := "invoke failed"
	if st != nil {
		msg = "stream failed"
	}
	s.upstreamFailed(r.Context(), agent, msg, e.Code, err)
	if st == nil || st.buffered {
		s.writeError(w, r, e)
		return e.Code
	}
	st.fail(format.Failure{Code: e.Code, Message: e.Message, RequestID: requestID(r.Context())})
	return e.Code
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
	if state(r.Context()).openAIShape {
		var param *string
		if e.Param != "" {
			param = &e.Param
		}
		body, _ := json.Marshal(struct {
			Error openAIError `json:"error"`
		}{openAIError{Message: e.Message + " (request id " + requestID(r.Context()) + ")", Type: openAIErrorType(e.Status), Param: param, Code: e.Code}})
		_, _ = w.Write(append(body, '\n'))
		return
	}
	body, _ := json.Marshal(struct {
		Error format.Failure `json:"error"`
	}{format.Failure{Code: e.Code, Message: e.Message, RequestID: requestID(r.Context())}})
	_, _ = w.Write(append(body, '\n'))
}
