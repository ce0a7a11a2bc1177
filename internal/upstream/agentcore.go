package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/agentgate/agentgate/internal/sdkhttp"
)

// AgentCoreConfig configures an AgentCore Invoker.
type AgentCoreConfig struct {
	// ARN is the runtime's ARN.
	ARN string
	// Qualifier is the runtime endpoint name; DEFAULT when empty.
	Qualifier string
	// Region is the runtime's region.
	Region string
	// Endpoint overrides the data-plane URL, e.g. the local emulator.
	Endpoint string
	// Credentials sign requests; nil uses the SDK's default chain.
	Credentials aws.CredentialsProvider
	// HTTPClient sends requests; nil uses NewHTTPClient().
	HTTPClient aws.HTTPClient
	// MaxAttempts bounds tries of a call that failed before its first byte
	// with a retryable error (throttling, 5xx, a session still starting);
	// 0 means 3. MaxBackoff caps the jittered exponential wait between
	// them; 0 means 2s.
	MaxAttempts int
	MaxBackoff  time.Duration
}

// AgentCore invokes one AgentCore runtime through the AWS SDK with SigV4.
type AgentCore struct {
	client    *bedrockagentcore.Client
	arn       string
	qualifier string
	// For Check: the data plane's base URL, the client that reaches it and
	// the credentials that sign for it.
	endpoint string
	http     aws.HTTPClient
	creds    aws.CredentialsProvider
}

// NewHTTPClient returns the HTTP client upstream calls use: no overall
// timeout (streams last up to an hour; contexts bound them) and no
// transparent compression, which would batch events behind a gzip reader.
func NewHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.DisableCompression = true
		t.MaxIdleConnsPerHost = 256
		// No cap on connections per host: over HTTP/1.1 each open stream
		// holds one, and every agent of a region shares the same host.
		t.MaxConnsPerHost = 0
		t.IdleConnTimeout = 90 * time.Second
		t.ResponseHeaderTimeout = 0
		// Every open stream's connection holds both buffers for the
		// stream's life. Requests are a signed header and a small payload;
		// the answer is read into the SSE reader's own, growing buffer,
		// which bufio bypasses once it is the larger.
		t.WriteBufferSize = 2 << 10
		t.ReadBufferSize = 1 << 10
	})
}

// DefaultQualifier is the runtime endpoint AgentCore invokes when none is
// named.
const DefaultQualifier = "DEFAULT"

// NewAgentCore returns an Invoker for the runtime cfg describes.
func NewAgentCore(ctx context.Context, cfg AgentCoreConfig) (*AgentCore, error) {
	if cfg.ARN == "" {
		return nil, errors.New("agentcore: ARN is required")
	}
	if cfg.Region == "" {
		return nil, errors.New("agentcore: region is required")
	}
	if cfg.Qualifier == "" {
		cfg.Qualifier = DefaultQualifier
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = NewHTTPClient()
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithHTTPClient(httpClient),
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	attempts, backoff := cfg.MaxAttempts, cfg.MaxBackoff
	if attempts <= 0 {
		attempts = 3
	}
	if backoff <= 0 {
		backoff = 2 * time.Second
	}
	opts = append(opts, config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = backoff
			o.Retryables = append(o.Retryables, retryConflict{})
		})
	}))
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("agentcore: load AWS config: %w", err)
	}
	client := bedrockagentcore.NewFromConfig(awsCfg, func(o *bedrockagentcore.Options) {
		o.HTTPClient = sdkhttp.Guard(o.HTTPClient)
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	endpoint := cfg.Endpoint
	if be := client.Options().BaseEndpoint; endpoint == "" && be != nil {
		// The SDK's own setting of the endpoint, such as the environment's
		// AWS_ENDPOINT_URL_BEDROCK_AGENTCORE.
		endpoint = *be
	}
	if endpoint == "" {
		ep, err := bedrockagentcore.NewDefaultEndpointResolverV2().ResolveEndpoint(ctx, bedrockagentcore.EndpointParameters{Region: aws.String(cfg.Region)})
		if err != nil {
			return nil, fmt.Errorf("agentcore: resolve the endpoint of %s: %w", cfg.Region, err)
		}
		endpoint = ep.URI.String()
	}
	return &AgentCore{client: client, arn: cfg.ARN, qualifier: cfg.Qualifier,
		endpoint: strings.TrimSuffix(endpoint, "/"), http: httpClient, creds: awsCfg.Credentials}, nil
}

// Check reports whether the runtime's data plane can be reached and the
// gateway's credentials resolve. It invokes nothing and costs nothing: any
// HTTP answer from the endpoint, an error status included, counts as
// reachable.
func (a *AgentCore) Check(ctx context.Context) error {
	if a.creds == nil {
		return &Error{Kind: KindAccessDenied, Err: errors.New("no AWS credentials configured")}
	}
	if _, err := a.creds.Retrieve(ctx); err != nil {
		return &Error{Kind: KindAccessDenied, Err: fmt.Errorf("retrieve AWS credentials: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.endpoint+"/ping", nil)
	if err != nil {
		return &Error{Kind: KindConnection, Err: err}
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return &Error{Kind: KindConnection, Err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return nil
}

// Invoke calls InvokeAgentRuntime and hands back the streaming body.
func (a *AgentCore) Invoke(ctx context.Context, req Request) (*Response, error) {
	in := &bedrockagentcore.InvokeAgentRuntimeInput{
		AgentRuntimeArn:  aws.String(a.arn),
		Qualifier:        aws.String(a.qualifier),
		Payload:          req.Payload,
		RuntimeSessionId: aws.String(req.SessionID),
		ContentType:      aws.String("application/json"),
		Accept:           aws.String("text/event-stream, application/json"),
		RuntimeUserId:    optional(req.UserID),
		TraceParent:      optional(req.TraceParent),
		TraceState:       optional(req.TraceState),
		Baggage:          optional(req.Baggage),
	}
	out, err := a.client.InvokeAgentRuntime(ctx, in, withHeaders(req.Headers))
	if err != nil {
		return nil, classify(ctx, err)
	}
	resp := &Response{Body: out.Response, SessionID: req.SessionID}
	if out.ContentType != nil {
		resp.ContentType = *out.ContentType
	}
	if out.RuntimeSessionId != nil && *out.RuntimeSessionId != "" {
		resp.SessionID = *out.RuntimeSessionId
	}
	return resp, nil
}

// withHeaders adds h to the request at the build step, before the SDK
// signs it (finalize), so SigV4 covers them; InvokeAgentRuntimeInput has
// no field for custom headers.
func withHeaders(h http.Header) func(*bedrockagentcore.Options) {
	return func(o *bedrockagentcore.Options) {
		for name, values := range h {
			for _, v := range values {
				o.APIOptions = append(o.APIOptions, smithyhttp.AddHeaderValue(name, v))
			}
		}
	}
}

// StopSession calls StopRuntimeSession.
func (a *AgentCore) StopSession(ctx context.Context, sessionID string) error {
	_, err := a.client.StopRuntimeSession(ctx, &bedrockagentcore.StopRuntimeSessionInput{
		AgentRuntimeArn:  aws.String(a.arn),
		Qualifier:        aws.String(a.qualifier),
		RuntimeSessionId: aws.String(sessionID),
	})
	if err != nil {
		return classify(ctx, err)
	}
	return nil
}

// retryConflict retries RetryableConflictException: the session is still
// starting or stopping, and AgentCore asks for a retry with backoff.
type retryConflict struct{}

func (retryConflict) IsErrorRetryable(err error) aws.Ternary {
	var c *types.RetryableConflictException
	if errors.As(err, &c) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// classify turns an SDK error into an *Error. A cancelled ctx is returned
// as the context's error: the caller went away, nothing failed upstream.
func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return ctx.Err()
	}
	ue := &Error{Kind: KindUnknown, Err: err}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		ue.Status = re.HTTPStatusCode()
		if re.Response != nil {
			ue.RetryAfter = retryAfter(re.Response.Header.Get("Retry-After"))
		}
	}
	var (
		validation *types.ValidationException
		denied     *types.AccessDeniedException
		notFound   *types.ResourceNotFoundException
		throttling *types.ThrottlingException
		throttled  *types.ThrottledException
		quota      *types.ServiceQuotaExceededException
		runtime    *types.RuntimeClientError
		internal   *types.InternalServerException
		service    *types.ServiceException
		unavail    *types.ServiceUnavailableException
		conflict   *types.RetryableConflictException
		conflict2  *types.ConflictException
		netErr     net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		ue.Kind = KindTimeout
	case errors.As(err, &validation):
		ue.Kind = KindValidation
	case errors.As(err, &denied):
		ue.Kind = KindAccessDenied
	case errors.As(err, &notFound):
		ue.Kind = KindNotFound
	case errors.As(err, &throttling), errors.As(err, &throttled):
		ue.Kind = KindThrottled
	case errors.As(err, &quota):
		ue.Kind = KindQuotaExceeded
	case errors.As(err, &runtime):
		ue.Kind = KindAgentFailed
	case errors.As(err, &internal), errors.As(err, &service):
		ue.Kind = KindInternal
	case errors.As(err, &unavail):
		ue.Kind = KindUnavailable
	case errors.As(err, &conflict), errors.As(err, &conflict2):
		ue.Kind = KindConflict
	case errors.As(err, &netErr) && netErr.Timeout():
		ue.Kind = KindTimeout
	default:
		ue.Kind = kindFromStatus(err, ue.Status)
	}
	return ue
}

func kindFromStatus(err error, status int) Kind {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "UnrecognizedClientException" {
		return KindAccessDenied
	}
	switch {
	case status == 0:
		return KindConnection
	case status == http.StatusTooManyRequests:
		return KindThrottled
	case status == http.StatusForbidden || status == http.StatusUnauthorized:
		return KindAccessDenied
	case status == http.StatusNotFound:
		return KindNotFound
	case status == http.StatusServiceUnavailable:
		return KindUnavailable
	case status >= 500:
		return KindInternal
	case status >= 400:
		return KindValidation
	}
	return KindUnknown
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
