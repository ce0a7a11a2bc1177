package upstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyrand "github.com/aws/smithy-go/rand"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The data plane's headers, in net/http's canonical form.
const (
	headerSessionID = "X-Amzn-Bedrock-Agentcore-Runtime-Session-Id"
	headerUserID    = "X-Amzn-Bedrock-Agentcore-Runtime-User-Id"
)

// signingName is SigV4's service name for the AgentCore data plane.
const signingName = "bedrock-agentcore"

// userAgent names the gateway and the SDK that signs for it.
var userAgent = "agentgate aws-sdk-go-v2/" + aws.SDKVersion + " os/" + runtime.GOOS +
	" lang/go#" + strings.TrimPrefix(runtime.Version(), "go") + " md/GOARCH#" + runtime.GOARCH

// maxErrorBody caps how much of an error answer is read to classify it.
const maxErrorBody = 64 << 10

// call sends one operation: POST url with body and the headers header
// sets, signed with SigV4, retried as the SDK's standard retryer decides
// (throttling, 5xx, connection failures, a session still starting), until
// the upstream answers 2xx. The answer's body is the caller's to close.
//
// It keeps what the SDK's pipeline does for the call that matters: the
// retry loop with the retryer's attempt and retry-quota tokens and its
// backoff (stretched by X-Amz-Retry-After), the Amz-Sdk-Invocation-Id and
// Amz-Sdk-Request headers, X-Amzn-Trace-Id from a Lambda's environment,
// and errors shaped as the SDK shapes them (an *smithy.OperationError over
// an *awshttp.ResponseError over the API error the X-Amzn-ErrorType header
// or the body names), so that classify and the retryer read them alike.
func (a *AgentCore) call(ctx context.Context, o operation, body []byte, header func(http.Header)) (*http.Response, error) {
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	invocationID, err := smithyrand.NewUUID(rand.Reader).GetUUID()
	if err != nil {
		return nil, operationError(o.name, err)
	}
	maxAttempts := a.retryer.MaxAttempts()
	releaseRetry := func(error) error { return nil }
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, operationError(o.name, &smithy.CanceledError{Err: err})
		}
		releaseAttempt, err := a.retryer.GetAttemptToken(ctx)
		if err != nil {
			return nil, operationError(o.name, fmt.Errorf("failed to get retry Send token, %w", err))
		}
		resp, err := a.attempt(ctx, o, body, payloadHash, func(h http.Header) {
			header(h)
			h["Amz-Sdk-Invocation-Id"] = []string{invocationID}
			h["Amz-Sdk-Request"] = []string{"attempt=" + strconv.Itoa(attempt) + "; max=" + strconv.Itoa(maxAttempts)}
		})
		_ = releaseRetry(err)
		_ = releaseAttempt(err)
		if err == nil {
			return resp, nil
		}
		if !a.retryer.IsErrorRetryable(err) {
			return nil, operationError(o.name, err)
		}
		if maxAttempts > 0 && attempt >= maxAttempts {
			return nil, operationError(o.name, &retry.MaxAttemptsError{Attempt: attempt, Err: err})
		}
		var quotaErr error
		if releaseRetry, quotaErr = a.retryer.GetRetryToken(ctx, err); quotaErr != nil {
			return nil, operationError(o.name, errors.Join(err, quotaErr))
		}
		delay, derr := a.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return nil, operationError(o.name, derr)
		}
		t := time.NewTimer(retryAfterHeader(delay, err))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, operationError(o.name, &aws.RequestCanceledError{Err: ctx.Err()})
		case <-t.C:
		}
	}
}

// attempt sends the request once.
func (a *AgentCore) attempt(ctx context.Context, o operation, body []byte, payloadHash string, header func(http.Header)) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	header(req.Header)
	req.Header["User-Agent"] = []string{userAgent}
	if req.Header.Get("X-Amzn-Trace-Id") == "" {
		// The SDK's recursion detection: inside Lambda, the invocation's
		// X-Ray trace travels on.
		if _, lambda := os.LookupEnv("AWS_LAMBDA_FUNCTION_NAME"); lambda {
			if id, ok := os.LookupEnv("_X_AMZN_TRACE_ID"); ok {
				req.Header["X-Amzn-Trace-Id"] = []string{percentEncode(id)}
			}
		}
	}
	creds, err := a.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to retrieve credentials: %w", err)
	}
	if a.sdkSigner != nil {
		if err := a.sdkSigner.SignHTTP(ctx, creds, req, payloadHash, signingName, a.region, time.Now().UTC()); err != nil {
			return nil, fmt.Errorf("failed to sign request: %w", err)
		}
	} else {
		a.signer.sign(req, creds, payloadHash, o.canonicalURI, time.Now())
	}
	resp, err := a.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &smithy.CanceledError{Err: ctx.Err()}
		}
		return nil, &smithyhttp.RequestSendError{Err: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	return nil, responseError(resp)
}

// responseError reads an error answer as restJson1 does: the code from the
// X-Amzn-ErrorType header, else the body's __type or code, namespace and
// suffix stripped; the message from the body.
func responseError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	var info struct {
		Type    string `json:"__type"`
		Code    any    `json:"code"`
		Message string `json:"message"`
	}
	// A body that is not JSON still has its status and header to go by.
	_ = json.Unmarshal(data, &info)
	code := resp.Header.Get("X-Amzn-ErrorType")
	if code == "" {
		code = info.Type
	}
	if c, ok := info.Code.(string); ok && code == "" {
		code = c
	}
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	if i := strings.IndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if code == "" {
		code = "UnknownError"
	}
	msg := info.Message
	if msg == "" {
		msg = code
	}
	resp.Body = http.NoBody
	return &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: resp}, Err: &smithy.GenericAPIError{Code: code, Message: msg}},
		RequestID:     resp.Header.Get("X-Amzn-Requestid"),
	}
}

func operationError(op string, err error) error {
	return &smithy.OperationError{ServiceID: "Bedrock AgentCore", OperationName: op, Err: err}
}

// retryAfterHeader stretches the retryer's backoff to the upstream's
// X-Amz-Retry-After (milliseconds), up to 5 s more, as the SDK does.
func retryAfterHeader(backoff time.Duration, err error) time.Duration {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil || re.Response.Response == nil {
		return backoff
	}
	ms, perr := strconv.ParseInt(re.Response.Header.Get("X-Amz-Retry-After"), 10, 64)
	if perr != nil || ms < 0 {
		return backoff
	}
	return min(max(time.Duration(ms)*time.Millisecond, backoff), backoff+5*time.Second)
}

// percentEncode encodes an X-Ray trace id for a header as the SDK's
// recursion detection does.
func percentEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(`-=;:+&[]{}"',`, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
