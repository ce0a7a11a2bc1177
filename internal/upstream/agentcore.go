package upstream

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/encoding/httpbinding"
	smithyrand "github.com/aws/smithy-go/rand"
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

// AgentCore invokes one AgentCore runtime: it builds the one
// InvokeAgentRuntime (or StopRuntimeSession) request itself and signs it
// with the AWS SDK's SigV4 signer, credentials and standard retryer. The
// SDK's per-call middleware pipeline (endpoint rules, stack clones, the
// schema serialiser) cost a third of a stream start's CPU for a request
// whose shape never changes; call.go holds what it did that still matters.
type AgentCore struct {
	arn, qualifier, region string
	// endpoint is the data plane's base URL; invokeURL and stopURL the
	// operations' URLs under it, the ARN escaped into one path segment.
	endpoint     string
	invoke, stop operation
	http         aws.HTTPClient
	creds        aws.CredentialsProvider
	retryer      aws.RetryerV2
	signer       *signer
	sdkSigner    *v4.Signer // used instead of signer should the two disagree
}

// operation is where one of the data plane's operations is sent.
type operation struct {
	name, url    string
	canonicalURI string // the URL's path in SigV4's canonical form
}

func newOperation(name, rawURL string) (operation, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return operation{}, err
	}
	return operation{name: name, url: rawURL, canonicalURI: canonicalPath(u.EscapedPath())}, nil
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
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("agentcore: load AWS config: %w", err)
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		// The SDK's own setting of the endpoint, such as the environment's
		// AWS_ENDPOINT_URL_BEDROCK_AGENTCORE, else the region's.
		endpoint, err = resolveEndpoint(ctx, awsCfg)
		if err != nil {
			return nil, fmt.Errorf("agentcore: resolve the endpoint of %s: %w", cfg.Region, err)
		}
	}
	endpoint = strings.TrimSuffix(endpoint, "/")
	if _, err := url.Parse(endpoint); err != nil {
		return nil, fmt.Errorf("agentcore: endpoint: %w", err)
	}
	runtime := endpoint + "/runtimes/" + httpbinding.EscapePath(cfg.ARN, true)
	query := "?" + strings.ReplaceAll(url.Values{"qualifier": {cfg.Qualifier}}.Encode(), "+", "%20")
	a := &AgentCore{arn: cfg.ARN, qualifier: cfg.Qualifier, region: cfg.Region, endpoint: endpoint,
		// The config's client, not httpClient: loading the config may have
		// built a new one from it, such as one that trusts AWS_CA_BUNDLE.
		http: awsCfg.HTTPClient, creds: awsCfg.Credentials, signer: &signer{service: signingName, region: cfg.Region},
		retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = backoff
			o.Retryables = append(o.Retryables, retryConflict{})
		})}
	if a.invoke, err = newOperation("InvokeAgentRuntime", runtime+"/invocations"+query); err != nil {
		return nil, fmt.Errorf("agentcore: endpoint: %w", err)
	}
	if a.stop, err = newOperation("StopRuntimeSession", runtime+"/stopruntimesession"+query); err != nil {
		return nil, fmt.Errorf("agentcore: endpoint: %w", err)
	}
	if !a.signsAsTheSDK() {
		a.sdkSigner = v4.NewSigner()
	}
	return a, nil
}

// signsAsTheSDK signs a probe of the invocation with the gateway's signer
// and the SDK's and reports whether the two agree.
func (a *AgentCore) signsAsTheSDK() bool {
	creds := aws.Credentials{AccessKeyID: "AKIDPROBE", SecretAccessKey: "probe", SessionToken: "probe-token"}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	probe := func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, a.invoke.url, strings.NewReader("{}"))
		r.Header["Content-Type"] = []string{"application/json"}
		r.Header[headerSessionID] = []string{"probe-session-0123456789abcdef0123456789"}
		r.Header["X-Amzn-Bedrock-Agentcore-Runtime-Custom-Probe"] = []string{" a  b "}
		return r
	}
	const hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" // sha256("{}")
	ours, sdks := probe(), probe()
	a.signer.sign(ours, creds, hash, a.invoke.canonicalURI, at)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, sdks, hash, signingName, a.region, at); err != nil {
		return false
	}
	return ours.Header.Get("Authorization") == sdks.Header.Get("Authorization") && ours.URL.RawQuery == sdks.URL.RawQuery
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
	resp, err := a.call(ctx, a.invoke, req.Payload, func(h http.Header) {
		h["Content-Type"] = []string{"application/json"}
		h["Accept"] = []string{"text/event-stream, application/json"}
		h[headerSessionID] = []string{req.SessionID}
		setOptional(h, headerUserID, req.UserID)
		setOptional(h, "Traceparent", req.TraceParent)
		setOptional(h, "Tracestate", req.TraceState)
		setOptional(h, "Baggage", req.Baggage)
		for name, values := range req.Headers {
			for _, v := range values {
				h.Add(name, v)
			}
		}
	})
	if err != nil {
		return nil, classify(ctx, err)
	}
	out := &Response{Body: resp.Body, SessionID: req.SessionID, ContentType: resp.Header.Get("Content-Type")}
	if id := resp.Header.Get(headerSessionID); id != "" {
		out.SessionID = id
	}
	return out, nil
}

// StopSession calls StopRuntimeSession.
func (a *AgentCore) StopSession(ctx context.Context, sessionID string) error {
	// The SDK fills the operation's idempotency token with a fresh UUID;
	// every attempt of one call sends the same.
	token, err := smithyrand.NewUUID(rand.Reader).GetUUID()
	if err != nil {
		return &Error{Kind: KindUnknown, Err: err}
	}
	body, _ := json.Marshal(struct {
		ClientToken string `json:"clientToken"`
	}{token})
	resp, err := a.call(ctx, a.stop, body, func(h http.Header) {
		h["Content-Type"] = []string{"application/json"}
		h[headerSessionID] = []string{sessionID}
	})
	if err != nil {
		return classify(ctx, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return nil
}

// retryConflict retries RetryableConflictException: the session is still
// starting or stopping, and AgentCore asks for a retry with backoff.
type retryConflict struct{}

func (retryConflict) IsErrorRetryable(err error) aws.Ternary {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "RetryableConflictException" {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

func setOptional(h http.Header, name, v string) {
	if v != "" {
		h[name] = []string{v}
	}
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
	var api smithy.APIError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		ue.Kind = KindTimeout
	case errors.As(err, &api) && kindOfCode[api.ErrorCode()] != KindUnknown:
		ue.Kind = kindOfCode[api.ErrorCode()]
	case errors.As(err, &netErr) && netErr.Timeout():
		ue.Kind = KindTimeout
	default:
		ue.Kind = kindFromStatus(err, ue.Status)
	}
	return ue
}

// kindOfCode maps the data plane's error codes (restJson1's sanitised
// X-Amzn-ErrorType, as the SDK's error types name them) to kinds.
var kindOfCode = map[string]Kind{
	"ValidationException":           KindValidation,
	"AccessDeniedException":         KindAccessDenied,
	"ResourceNotFoundException":     KindNotFound,
	"ThrottlingException":           KindThrottled,
	"ThrottledException":            KindThrottled,
	"ServiceQuotaExceededException": KindQuotaExceeded,
	"RuntimeClientError":            KindAgentFailed,
	"InternalServerException":       KindInternal,
	"ServiceException":              KindInternal,
	"ServiceUnavailableException":   KindUnavailable,
	"RetryableConflictException":    KindConflict,
	"ConflictException":             KindConflict,
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
