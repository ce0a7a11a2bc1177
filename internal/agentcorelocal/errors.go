package agentcorelocal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error types as the SDK's restJson1 deserializer resolves them from the
// X-Amzn-ErrorType header; each maps to the types.* error of the same name in
// service/bedrockagentcore (v1.57.1). UnknownOperationException is not
// modeled: the SDK sees it as a generic smithy.APIError, as it does AWS's.
const (
	codeValidation         = "ValidationException"
	codeAccessDenied       = "AccessDeniedException"
	codeResourceNotFound   = "ResourceNotFoundException"
	codeRuntimeClient      = "RuntimeClientError"
	codeUnknownOperation   = "UnknownOperationException"
	codeQuotaExceeded      = "ServiceQuotaExceededException"
	codeRetryableConflict  = "RetryableConflictException"
	codeThrottling         = "ThrottlingException"
	codeInternalServer     = "InternalServerException"
	codeServiceUnavailable = "ServiceUnavailableException"
)

// errorStatus holds every error kind the runtime data plane answers with and
// the status code the HTTPError trait in the SDK's schemas gives it; all but
// UnknownOperationException can be injected with Fault.Error.
var errorStatus = map[string]int{
	codeValidation:         http.StatusBadRequest,
	codeAccessDenied:       http.StatusForbidden,
	codeResourceNotFound:   http.StatusNotFound,
	codeRuntimeClient:      http.StatusFailedDependency, // the agent container failed
	codeUnknownOperation:   http.StatusNotFound,
	codeQuotaExceeded:      http.StatusPaymentRequired,
	codeRetryableConflict:  http.StatusConflict, // the session is starting or stopping
	codeThrottling:         http.StatusTooManyRequests,
	codeInternalServer:     http.StatusInternalServerError,
	codeServiceUnavailable: http.StatusServiceUnavailable, // modeled with a retryAfterSeconds member
}

// apiError is an answer of the data plane before any byte of a stream: what
// writeError puts on the wire.
type apiError struct {
	code       string // the X-Amzn-ErrorType value
	status     int
	message    string
	retryAfter time.Duration // sent as Retry-After when positive
}

func newAPIError(code string, format string, args ...any) *apiError {
	return &apiError{code: code, status: errorStatus[code], message: fmt.Sprintf(format, args...)}
}

func validationError(format string, args ...any) *apiError {
	return newAPIError(codeValidation, format, args...)
}

func accessDenied(format string, args ...any) *apiError {
	return newAPIError(codeAccessDenied, format, args...)
}

func resourceNotFound(format string, args ...any) *apiError {
	return newAPIError(codeResourceNotFound, format, args...)
}

func runtimeClientError(format string, args ...any) *apiError {
	return newAPIError(codeRuntimeClient, format, args...)
}

// errorBody is the restJson1 error document. The SDK reads the type from
// the header, so the body carries only the message, as AWS's do.
type errorBody struct {
	Message string `json:"message"`
	// RetryAfterSeconds is a member of ServiceUnavailableException only.
	RetryAfterSeconds *int64 `json:"retryAfterSeconds,omitempty"`
}

// writeError is the one place an error answer is written, so that every
// failure, injected ones included, has the same shape.
func (s *Server) writeError(w http.ResponseWriter, x *exchange, e *apiError) {
	x.status = e.status
	x.errorCode = e.code
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", e.code)
	h.Set(requestIDHeader, x.requestID)
	if e.status == http.StatusMethodNotAllowed {
		h.Set("Allow", http.MethodPost)
	}
	body := errorBody{Message: e.message}
	if e.retryAfter > 0 {
		// Whole seconds, rounded up, so that a caller never retries early.
		secs := int64((e.retryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		if e.code == codeServiceUnavailable {
			body.RetryAfterSeconds = &secs
		}
	}
	w.WriteHeader(e.status)
	// The status line is out; a client that has gone away cannot be told more.
	_ = json.NewEncoder(w).Encode(body)
}
