package secretslocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/agentgate/agentgate/internal/sigv4"
)

// Error codes: GetSecretValue's own (its API reference) and the common
// errors Secrets Manager answers a request it cannot authenticate or route
// with.
const (
	codeDecryptionFailure     = "DecryptionFailure"
	codeInternalServiceError  = "InternalServiceError"
	codeInvalidParameter      = "InvalidParameterException"
	codeInvalidRequest        = "InvalidRequestException"
	codeResourceNotFound      = "ResourceNotFoundException"
	codeAccessDenied          = "AccessDeniedException"
	codeInvalidAction         = "InvalidAction"
	codeMissingAuthentication = "MissingAuthenticationToken"
	codeIncompleteSignature   = "IncompleteSignature"
	codeInvalidClientTokenID  = "InvalidClientTokenId"
	codeSignatureDoesNotMatch = "SignatureDoesNotMatch"
	codeRequestExpired        = "RequestExpired"
)

// The codes SetFault takes, with the messages they answer.
const (
	FaultInternalServiceError = codeInternalServiceError
	FaultDecryptionFailure    = codeDecryptionFailure
	FaultInvalidRequest       = codeInvalidRequest
)

var faultMessages = map[string]string{
	codeInternalServiceError: "An error occurred on the server side.",
	codeDecryptionFailure:    "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
	codeInvalidRequest:       "You can't perform this operation on the secret because it was marked for deletion.",
}

// errorStatus is the status code each error answers with.
var errorStatus = map[string]int{
	codeDecryptionFailure:     http.StatusBadRequest,
	codeInternalServiceError:  http.StatusInternalServerError,
	codeInvalidParameter:      http.StatusBadRequest,
	codeInvalidRequest:        http.StatusBadRequest,
	codeResourceNotFound:      http.StatusBadRequest,
	codeAccessDenied:          http.StatusBadRequest,
	codeInvalidAction:         http.StatusBadRequest,
	codeMissingAuthentication: http.StatusForbidden,
	codeIncompleteSignature:   http.StatusBadRequest,
	codeInvalidClientTokenID:  http.StatusForbidden,
	codeSignatureDoesNotMatch: http.StatusForbidden,
	codeRequestExpired:        http.StatusBadRequest,
}

// apiError is an error answer.
type apiError struct {
	code    string
	message string
}

func newError(code, format string, args ...any) *apiError {
	return &apiError{code: code, message: fmt.Sprintf(format, args...)}
}

// signatureError turns a refused signature into the common error Secrets
// Manager answers it with.
func signatureError(err error) *apiError {
	var refused *sigv4.Error
	if !errors.As(err, &refused) {
		return newError(codeIncompleteSignature, "%v", err)
	}
	code := map[sigv4.Problem]string{
		sigv4.Missing:    codeMissingAuthentication,
		sigv4.Malformed:  codeIncompleteSignature,
		sigv4.Expired:    codeRequestExpired,
		sigv4.UnknownKey: codeInvalidClientTokenID,
		sigv4.Mismatch:   codeSignatureDoesNotMatch,
	}[refused.Problem]
	if code == "" {
		code = codeIncompleteSignature
	}
	return newError(code, "%s", refused.Message)
}

// writeError writes e as JSON 1.1 does: the code in the body's __type, the
// message in Message.
func writeError(w http.ResponseWriter, e *apiError) {
	status, ok := errorStatus[e.code]
	if !ok {
		status = http.StatusBadRequest
	}
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}{e.code, e.message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
