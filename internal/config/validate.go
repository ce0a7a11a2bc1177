package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/identity"
)

// RuntimeARN is a parsed AgentCore runtime ARN.
type RuntimeARN struct {
	Partition, Region, Account, RuntimeID string
}

// The patterns compile on first use: their bounded repetitions expand to
// large programs, and compiling them at package init would delay every
// start, a Lambda cold start included.
var arnPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^arn:(aws[a-z-]*):bedrock-agentcore:([a-z0-9-]+):([0-9]{12}):runtime/([A-Za-z][A-Za-z0-9_-]{0,99})$`)
})

// ParseRuntimeARN parses arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/ID.
func ParseRuntimeARN(s string) (RuntimeARN, error) {
	m := arnPattern().FindStringSubmatch(s)
	if m == nil {
		return RuntimeARN{}, errors.New("not an AgentCore runtime ARN (arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/ID)")
	}
	return RuntimeARN{Partition: m[1], Region: m[2], Account: m[3], RuntimeID: m[4]}, nil
}

var qualifierPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_]{1,100}$`) })

// ValidAgentName reports whether s may be a public agent name: 1 to 63 of
// a-z 0-9 . _ - starting with a letter or digit. Names appear in URL paths,
// and every request checks one.
func ValidAgentName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return false
		}
	}
	return true
}

type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration:\n  %w", errors.Join(p...))
}

// ValidateGateway checks what `agentgate serve` needs.
func (c *Config) ValidateGateway() error {
	var p problems
	checkListen(&p, "listen", c.Listen)
	c.validateServer(&p)
	if len(c.Agents) == 0 {
		p.add("agents", "at least one agent is required (or set AGENTGATE_UPSTREAM_ARN)")
	}
	names := make([]string, 0, len(c.Agents))
	for name := range c.Agents {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		a := c.Agents[name]
		field := "agents." + name
		if !ValidAgentName(name) {
			p.add(field, "a public name is 1 to 63 of a-z 0-9 . _ - starting with a letter or digit")
		}
		arn, err := ParseRuntimeARN(a.ARN)
		if err != nil {
			p.add(field+".arn", "%v", err)
		}
		if a.Region == "" {
			a.Region = arn.Region
		}
		if a.Qualifier == "" {
			a.Qualifier = DefaultQualifier
		} else if !qualifierPattern().MatchString(a.Qualifier) {
			p.add(field+".qualifier", "letters, digits and _ only")
		}
		if a.Endpoint != "" {
			checkURL(&p, field+".endpoint", a.Endpoint)
		}
		if a.Dialect == "" {
			a.Dialect = string(event.Auto)
		} else if _, err := event.ParseDialect(a.Dialect); err != nil {
			p.add(field+".dialect", "%v", err)
		}
		c.checkForwardClaims(&p, field+".forwardClaims", a.ForwardClaims)
		c.Agents[name] = a
	}
	if len(c.Agents) > 0 {
		if _, ok := c.Agents[c.DefaultAgent]; !ok {
			p.add("defaultAgent", "%q is not one of the configured agents (%s)", c.DefaultAgent, strings.Join(names, ", "))
		}
	}
	if (c.AWS.AccessKeyID == "") != (c.AWS.SecretAccessKey == "") {
		p.add("aws", "accessKeyId and secretAccessKey go together")
	}
	if c.Sessions.Key != "" && len(c.Sessions.Key) < 32 {
		p.add("sessions.key", "must be at least 32 characters")
	}
	for i, k := range c.Sessions.PreviousKeys {
		if len(k) < 32 {
			p.add(fmt.Sprintf("sessions.previousKeys[%d]", i), "must be at least 32 characters")
		}
	}
	if c.Sessions.ConversationTTL < 0 {
		p.add("sessions.conversationTTL", "must not be negative (0 remembers no conversation)")
	}
	c.validateAuth(&p)
	if c.Retry.MaxAttempts < 1 || c.Retry.MaxAttempts > 10 {
		p.add("retry.maxAttempts", "must be 1 to 10")
	}
	if c.Retry.MaxBackoff <= 0 {
		p.add("retry.maxBackoff", "must be positive")
	}
	c.validateOriginLock(&p)
	c.validateSecrets(&p)
	if c.Limits.MaxBodyBytes < 1 {
		p.add("limits.maxBodyBytes", "must be positive")
	}
	if c.Limits.MaxPromptChars < 1 {
		p.add("limits.maxPromptChars", "must be positive")
	}
	if c.Stream.MaxLineBytes < 1024 {
		p.add("stream.maxLineBytes", "must be at least 1024")
	}
	for field, v := range map[string]int64{"stream.detachedTimeout": int64(c.Stream.DetachedTimeout), "stream.retain": int64(c.Stream.Retain),
		"stream.maxRetainedBytes": c.Stream.MaxRetainedBytes, "stream.maxRetainedTotal": c.Stream.MaxRetainedTotal} {
		if v < 0 {
			p.add(field, "must not be negative (0 means the default)")
		}
	}
	if c.Stream.Heartbeat < 0 {
		p.add("stream.heartbeat", "must not be negative")
	}
	if c.Stream.MaxEventBytes < c.Stream.MaxLineBytes {
		p.add("stream.maxEventBytes", "must be at least stream.maxLineBytes")
	}
	c.validateLimits(&p)
	for _, l := range []struct {
		field string
		cidrs []string
	}{{"network.allow", c.Network.Allow}, {"network.deny", c.Network.Deny}, {"network.trustedProxies", c.Network.TrustedProxies}, {"network.cloudFrontProxies", c.Network.CloudFrontProxies}} {
		for i, cidr := range l.cidrs {
			if _, err := ParsePrefix(cidr); err != nil {
				p.add(fmt.Sprintf("%s[%d]", l.field, i), "%q is not an IP address or CIDR", cidr)
			}
		}
	}
	for i, o := range c.Network.CORSOrigins {
		if u, err := url.Parse(o); o != "*" && (err != nil || u.Scheme == "" || u.Host == "" || u.Path != "") {
			p.add(fmt.Sprintf("network.corsOrigins[%d]", i), "%q is not an origin like https://app.example.com", o)
		}
	}
	t := c.Timeouts
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"timeouts.firstByte", t.FirstByte}, {"timeouts.idle", t.Idle}, {"timeouts.total", t.Total}, {"timeouts.shutdownGrace", t.ShutdownGrace}} {
		if d.v <= 0 {
			p.add(d.field, "must be positive")
		}
	}
	checkLog(&p, c.Log)
	checkTelemetry(&p, c.Metrics, c.Tracing)
	return p.err()
}

// checkForwardClaims checks an agent's forwarded claims: only a JWT has
// claims, and each goes in a header of its own that AgentCore passes on.
func (c *Config) checkForwardClaims(p *problems, field string, claims map[string]string) {
	if len(claims) == 0 {
		return
	}
	if c.Auth.JWT.Issuer == "" {
		p.add(field, "claims come only from JWTs: set auth.jwt.issuer, or drop forwardClaims (the principal and its kind are sent without it)")
	}
	if _, err := identity.NewForward(claims); err != nil {
		p.add(field, "%v", err)
	}
}

func (c *Config) validateOriginLock(p *problems) {
	o := c.OriginLock
	if (o.Header == "") != (o.Secret == "") {
		p.add("originLock", "header and secret go together")
	} else if o.Secret != "" && len(o.Secret) < 16 {
		p.add("originLock.secret", "must be at least 16 characters")
	}
	if len(o.PreviousSecrets) > 0 && o.Secret == "" {
		p.add("originLock.previousSecrets", "only with a secret")
	}
	for i, s := range o.PreviousSecrets {
		if len(s) < 16 {
			p.add(fmt.Sprintf("originLock.previousSecrets[%d]", i), "must be at least 16 characters")
		}
	}
}

// ValidateSecrets checks the secrets section alone: what reading the
// secret needs, before the rest can be checked with its values.
func (c *Config) ValidateSecrets() error {
	var p problems
	c.validateSecrets(&p)
	return p.err()
}

func (c *Config) validateSecrets(p *problems) {
	s := c.Secrets
	if s.ARN == "" {
		return
	}
	if SecretRegion(s.ARN) == "" {
		p.add("secrets.arn", "not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)")
	}
	if s.Refresh <= 0 {
		p.add("secrets.refresh", "must be positive")
	}
	if s.Timeout <= 0 {
		p.add("secrets.timeout", "must be positive")
	}
	if s.Endpoint != "" {
		checkURL(p, "secrets.endpoint", s.Endpoint)
	}
}

func (c *Config) validateServer(p *problems) {
	s := c.Server
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"server.readHeaderTimeout", s.ReadHeaderTimeout}, {"server.readTimeout", s.ReadTimeout}, {"server.idleTimeout", s.IdleTimeout}} {
		if d.v <= 0 {
			p.add(d.field, "must be positive")
		}
	}
	if s.ReadTimeout < s.ReadHeaderTimeout {
		p.add("server.readTimeout", "covers the headers too, so it must be at least server.readHeaderTimeout (%v)", s.ReadHeaderTimeout)
	}
	if s.MaxHeaderBytes < 4<<10 || s.MaxHeaderBytes > 1<<20 {
		p.add("server.maxHeaderBytes", "must be 4096 to 1048576")
	}
	if s.MaxConnections < 1 {
		p.add("server.maxConnections", "must be positive")
	}
	if s.MaxConnectionsPerIP < 0 {
		p.add("server.maxConnectionsPerIP", "must not be negative (0 is no cap)")
	}
}

// ParsePrefix reads a CIDR, or a single address as a one-address prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (c *Config) validateLimits(p *problems) {
	l := c.Limits
	for _, r := range []struct {
		field string
		rule  Rate
	}{{"limits.rate.global", l.Rate.Global}, {"limits.rate.agent", l.Rate.Agent}, {"limits.rate.principal", l.Rate.Principal}} {
		if r.rule.Requests < 0 || r.rule.Burst < 0 {
			p.add(r.field, "requests and burst must not be negative")
		}
		if r.rule.Requests > 0 && r.rule.Per <= 0 {
			p.add(r.field+".per", "must be positive when requests is set")
		}
	}
	if l.Concurrency.Global < 0 || l.Concurrency.Agent < 0 || l.Concurrency.Principal < 0 {
		p.add("limits.concurrency", "must not be negative")
	}
	if l.DailyTokens < 0 {
		p.add("limits.dailyTokens", "must not be negative")
	}
	if l.BudgetReservation < 0 {
		p.add("limits.budgetReservation", "must not be negative")
	}
	switch l.Store {
	case "memory":
	case "redis":
		if _, _, err := net.SplitHostPort(l.Redis.Addr); err != nil {
			p.add("limits.redis.addr", "%q is not host:port", l.Redis.Addr)
		}
	case "dynamodb":
		if l.DynamoDB.Table == "" {
			p.add("limits.dynamodb.table", "is required with limits.store dynamodb")
		}
		if l.DynamoDB.Endpoint != "" {
			checkURL(p, "limits.dynamodb.endpoint", l.DynamoDB.Endpoint)
		}
		if l.DynamoDB.Timeout <= 0 {
			p.add("limits.dynamodb.timeout", "must be positive")
		}
	default:
		p.add("limits.store", "%q is not memory, redis or dynamodb", l.Store)
	}
}

// AuthConfigured reports whether any authenticator other than none is on.
func (c *Config) AuthConfigured() bool {
	a := c.Auth
	return len(a.APIKeys) > 0 || a.Passwords.On() || a.JWT.Issuer != ""
}

func (c *Config) validateAuth(p *problems) {
	a := c.Auth
	if !a.None && !c.AuthConfigured() {
		p.add("auth", "no authenticator is configured: add apiKeys, passwords or jwt, or set none: true for an open gateway")
	}
	for i, k := range a.APIKeys {
		if k.Name == "" || k.Hash == "" {
			p.add(fmt.Sprintf("auth.apiKeys[%d]", i), "name and hash are required (agentgate keys create)")
		}
	}
	if pw := a.Passwords; pw.On() {
		if len(pw.TokenKey) < 32 {
			p.add("auth.passwords.tokenKey", "must be at least 32 characters")
		}
		for i, k := range pw.PreviousTokenKeys {
			if len(k) < 32 {
				p.add(fmt.Sprintf("auth.passwords.previousTokenKeys[%d]", i), "must be at least 32 characters")
			}
		}
		if pw.TokenTTL <= 0 {
			p.add("auth.passwords.tokenTTL", "must be positive")
		}
		if pw.MaxFailures < 1 {
			p.add("auth.passwords.maxFailures", "must be at least 1")
		}
		if pw.Window <= 0 {
			p.add("auth.passwords.window", "must be positive")
		}
		if pw.MaxConcurrentHashes < 0 {
			p.add("auth.passwords.maxConcurrentHashes", "must not be negative (0: the number of CPUs)")
		}
		if pw.HashQueueWait < 0 {
			p.add("auth.passwords.hashQueueWait", "must not be negative (0: 2s)")
		}
	}
	if j := a.JWT; j.Issuer != "" {
		checkURL(p, "auth.jwt.issuer", j.Issuer)
		if j.Audience == "" {
			p.add("auth.jwt.audience", "required with auth.jwt.issuer")
		}
		if j.JWKSURL != "" {
			checkURL(p, "auth.jwt.jwksURL", j.JWKSURL)
		}
		for i, alg := range j.Algorithms {
			if !slices.Contains([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}, alg) {
				p.add(fmt.Sprintf("auth.jwt.algorithms[%d]", i), "%q is not an allowed asymmetric algorithm", alg)
			}
		}
		if j.PrincipalClaim == "" {
			p.add("auth.jwt.principalClaim", "required")
		}
	}
}

// ValidateAgent checks what `agentgate agent` needs.
func (c *Config) ValidateAgent() error {
	var p problems
	a := c.Agent
	checkListen(&p, "agent.listen", a.Listen)
	switch a.Model {
	case "builtin":
		if a.Builtin.Delay < 0 {
			p.add("agent.builtin.delay", "must not be negative")
		}
	case "bedrock":
		if a.Bedrock.ModelID == "" {
			p.add("agent.bedrock.modelId", "required when agent.model is bedrock")
		}
		if a.Bedrock.Endpoint != "" {
			checkURL(&p, "agent.bedrock.endpoint", a.Bedrock.Endpoint)
		}
	case "openai":
		if a.OpenAI.BaseURL == "" {
			p.add("agent.openai.baseURL", "required when agent.model is openai")
		} else {
			checkURL(&p, "agent.openai.baseURL", a.OpenAI.BaseURL)
		}
		if a.OpenAI.Model == "" {
			p.add("agent.openai.model", "required when agent.model is openai")
		}
	default:
		p.add("agent.model", "%q is not one of builtin, bedrock, openai", a.Model)
	}
	if a.MaxMessages < 2 {
		p.add("agent.maxMessages", "must be at least 2")
	}
	if a.SessionIdle <= 0 {
		p.add("agent.sessionIdle", "must be positive")
	}
	if a.MaxTokens < 0 {
		p.add("agent.maxTokens", "must not be negative")
	}
	checkLog(&p, c.Log)
	checkTelemetry(&p, c.Metrics, c.Tracing)
	return p.err()
}

// ValidateEmulator checks what `agentgate agentcore-local` needs.
func (c *Config) ValidateEmulator() error {
	var p problems
	e := c.Emulator
	checkListen(&p, "agentcoreLocal.listen", e.Listen)
	if e.Region == "" {
		p.add("agentcoreLocal.region", "required")
	}
	if e.AccessKeyID == "" {
		p.add("agentcoreLocal.accessKeyId", "required: the key pair callers sign with")
	}
	if e.SecretAccessKey == "" {
		p.add("agentcoreLocal.secretAccessKey", "required: the key pair callers sign with")
	}
	if len(e.Runtimes) == 0 {
		p.add("agentcoreLocal.runtimes", "at least one runtime is required")
	}
	for i, rt := range e.Runtimes {
		field := fmt.Sprintf("agentcoreLocal.runtimes[%d]", i)
		if _, err := ParseRuntimeARN(rt.ARN); err != nil {
			p.add(field+".arn", "%v", err)
		}
		checkURL(&p, field+".url", rt.URL)
	}
	checkEmulatorLimits(&p, e)
	checkLog(&p, c.Log)
	return p.err()
}

// checkEmulatorLimits checks the emulator's session lifecycle and quota;
// the emulator itself checks faults and header allow-lists, field by field.
func checkEmulatorLimits(p *problems, e Emulator) {
	switch {
	case e.IdleSessionTimeout <= 0:
		p.add("agentcoreLocal.idleSessionTimeout", "must be positive (AgentCore's default: 900s)")
	case e.MaxSessionLifetime <= 0:
		p.add("agentcoreLocal.maxSessionLifetime", "must be positive (AgentCore's default: 8h)")
	case e.IdleSessionTimeout > e.MaxSessionLifetime:
		p.add("agentcoreLocal.idleSessionTimeout", "%v is longer than agentcoreLocal.maxSessionLifetime %v; AgentCore requires it to be no longer", e.IdleSessionTimeout, e.MaxSessionLifetime)
	}
	if e.InvocationsPerSecond < 0 {
		p.add("agentcoreLocal.invocationsPerSecond", "must not be negative (0: AgentCore's default, 25)")
	}
	if e.InvocationsPerSecond > 0 && !e.Throttle {
		p.add("agentcoreLocal.invocationsPerSecond", "needs agentcoreLocal.throttle: true")
	}
}

func checkListen(p *problems, field, addr string) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		p.add(field, "%q is not host:port", addr)
	}
}

func checkURL(p *problems, field, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(field, "%q is not an http(s) URL", s)
	}
}

func checkLog(p *problems, l Log) {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, l.Level) {
		p.add("log.level", "%q is not one of debug, info, warn, error", l.Level)
	}
	if !slices.Contains([]string{"auto", "json", "text"}, l.Format) {
		p.add("log.format", "%q is not auto, json or text", l.Format)
	}
}

// checkTelemetry checks the metrics and tracing sections.
func checkTelemetry(p *problems, m Metrics, t Tracing) {
	if m.Token != "" && len(m.Token) < 16 {
		p.add("metrics.token", "must be at least 16 characters")
	}
	if m.Listen != "" {
		checkListen(p, "metrics.listen", m.Listen)
	}
	if t.Endpoint != "" {
		checkURL(p, "tracing.endpoint", t.Endpoint)
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		p.add("tracing.sampleRatio", "must be between 0 and 1")
	}
	if t.Enabled && t.ServiceName == "" {
		p.add("tracing.serviceName", "must not be empty")
	}
}
