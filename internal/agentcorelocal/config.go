package agentcorelocal

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/agentgate/agentgate/internal/sigv4"
)

// Runtime is one AgentCore runtime the emulator serves.
type Runtime struct {
	// ARN names the runtime: arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/NAME,
	// in the emulator's region.
	ARN string
	// URL is the base URL of the agent container, e.g. http://127.0.0.1:8081;
	// invocations go to URL + "/invocations".
	URL string
	// Fault makes the runtime misbehave on purpose; the zero Fault behaves.
	// Server.SetFault changes it while the Server serves.
	Fault Fault
	// HeaderAllowlist is the runtime's requestHeaderAllowlist: the caller's
	// headers that reach its agent besides the data plane's own (session,
	// user, content type, accept, trace and MCP headers). Empty, as in
	// AgentCore: none. headers.go has AgentCore's rules for the names.
	HeaderAllowlist []string
}

// Config is the whole configuration of a Server.
type Config struct {
	// Region is the emulated region, e.g. us-east-1. Requests signed for
	// another region are refused. Required.
	Region string
	// AccessKeyID and SecretAccessKey are the one key pair whose signatures
	// are accepted. Required.
	AccessKeyID     string
	SecretAccessKey string
	// Runtimes are the runtimes served. At least one is required.
	Runtimes []Runtime
	// HTTPClient reaches the agent containers. Nil: a client with no overall
	// timeout (streams are long) that ignores proxy settings.
	HTTPClient *http.Client
	// Logger receives one line per request. Nil discards.
	Logger *slog.Logger
	// OnInvocation, when set, is told of every InvokeAgentRuntime request
	// once, as it finishes, refused ones included. It is called on the
	// request's goroutine before the response is complete, so it must not
	// block: the caller waits for it (send to a buffered channel).
	OnInvocation func(InvocationReport)
	// IdleSessionTimeout ends a runtime session after this long without an
	// invocation, unless its agent's ping answers HealthyBusy: AgentCore's
	// idleRuntimeSessionTimeout. Zero: DefaultIdleSessionTimeout (900 s).
	// Server.Run enforces it.
	IdleSessionTimeout time.Duration
	// MaxSessionLifetime ends a runtime session this long after it started,
	// busy or not: AgentCore's maxLifetime. Zero: DefaultMaxSessionLifetime
	// (28800 s). It may not be shorter than IdleSessionTimeout.
	MaxSessionLifetime time.Duration
	// Throttle answers InvokeAgentRuntime with a ThrottlingException (429)
	// past InvocationsPerSecond per endpoint (runtime and qualifier), as
	// AgentCore does past its quota. Off, the emulator takes any rate.
	Throttle bool
	// InvocationsPerSecond is the quota Throttle enforces. Zero:
	// DefaultInvocationsPerSecond (25).
	InvocationsPerSecond int
}

// runtimeARNPattern accepts what config.ParseRuntimeARN accepts.
// It compiles on first use, not at package init: its bounded repetition
// expands to a large program, and every start of the binary would pay it.
var runtimeARNPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^arn:(aws[a-z-]*):bedrock-agentcore:([a-z0-9-]+):([0-9]{12}):runtime/([A-Za-z][A-Za-z0-9_-]{0,99})$`)
})

// runtimeARN is a parsed runtime ARN.
type runtimeARN struct {
	region, account, id string
}

func parseRuntimeARN(s string) (runtimeARN, bool) {
	m := runtimeARNPattern().FindStringSubmatch(s)
	if m == nil {
		return runtimeARN{}, false
	}
	return runtimeARN{region: m[2], account: m[3], id: m[4]}, true
}

var regionPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`) })

// New validates cfg and returns a Server for it. The error names every bad
// field, e.g. "runtimes[1].arn: not an AgentCore runtime ARN".
func New(cfg Config) (*Server, error) {
	var problems []error
	bad := func(field, format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !regionPattern().MatchString(cfg.Region) {
		bad("region", "%q is not an AWS region such as us-east-1", cfg.Region)
	}
	if cfg.AccessKeyID == "" {
		bad("accessKeyID", "required")
	}
	if cfg.SecretAccessKey == "" {
		bad("secretAccessKey", "required")
	}
	if len(cfg.Runtimes) == 0 {
		bad("runtimes", "at least one runtime is required")
	}
	idle, maxLifetime := cmp.Or(cfg.IdleSessionTimeout, DefaultIdleSessionTimeout), cmp.Or(cfg.MaxSessionLifetime, DefaultMaxSessionLifetime)
	switch {
	case cfg.IdleSessionTimeout < 0:
		bad("idleSessionTimeout", "must not be negative (0: %v)", DefaultIdleSessionTimeout)
	case cfg.MaxSessionLifetime < 0:
		bad("maxSessionLifetime", "must not be negative (0: %v)", DefaultMaxSessionLifetime)
	case idle > maxLifetime:
		// AgentCore: "idleRuntimeSessionTimeout must be less than or equal to maxLifetime".
		bad("idleSessionTimeout", "%v is longer than maxSessionLifetime %v", idle, maxLifetime)
	}
	switch {
	case cfg.InvocationsPerSecond < 0:
		bad("invocationsPerSecond", "must not be negative (0: %d)", DefaultInvocationsPerSecond)
	case cfg.InvocationsPerSecond > 0 && !cfg.Throttle:
		bad("invocationsPerSecond", "needs throttle: without it the emulator takes any rate")
	}
	runtimes := make(map[string]*runtime, len(cfg.Runtimes))
	for i, rt := range cfg.Runtimes {
		field := fmt.Sprintf("runtimes[%d]", i)
		arn, ok := parseRuntimeARN(rt.ARN)
		switch {
		case !ok:
			bad(field+".arn", "not an AgentCore runtime ARN (arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/NAME)")
		case arn.region != cfg.Region:
			bad(field+".arn", "region %q is not the emulator's region %q", arn.region, cfg.Region)
		case runtimes[rt.ARN] != nil:
			bad(field+".arn", "%s is configured twice", rt.ARN)
		}
		for _, p := range rt.Fault.problems() {
			problems = append(problems, fmt.Errorf("%s.fault.%w", field, p))
		}
		for _, p := range allowlistProblems(rt.HeaderAllowlist) {
			problems = append(problems, fmt.Errorf("%s.%w", field, p))
		}
		u, err := url.Parse(rt.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad(field+".url", "%q is not an http(s) base URL such as http://127.0.0.1:8080", rt.URL)
		}
		base := strings.TrimSuffix(rt.URL, "/")
		runtimes[rt.ARN] = &runtime{arn: rt.ARN, parsed: arn, baseURL: base, invocationsURL: base + "/invocations",
			headerAllowlist: slices.Clone(rt.HeaderAllowlist), fault: rt.Fault}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("agentcorelocal: invalid config:\n%w", errors.Join(problems...))
	}

	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Transport: agentTransport()}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var throttle *limiter
	if cfg.Throttle {
		throttle = newLimiter(cmp.Or(cfg.InvocationsPerSecond, DefaultInvocationsPerSecond))
	}
	return &Server{
		throttle:     throttle,
		region:       cfg.Region,
		verifier:     sigv4.New(aws.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey}, cfg.Region, signingService),
		runtimes:     runtimes,
		client:       client,
		log:          logger,
		now:          time.Now,
		maxPayload:   maxPayloadBytes,
		sessions:     newSessionStore(idle, maxLifetime),
		pause:        pause,
		onInvocation: cfg.OnInvocation,
	}, nil
}

// agentTransport is the default transport to the agent containers: the
// standard one, minus proxies, since the containers are local and an AWS
// proxy setting must not catch them.
func agentTransport() *http.Transport {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return &http.Transport{}
	}
	t = t.Clone()
	t.Proxy = nil
	return t
}
