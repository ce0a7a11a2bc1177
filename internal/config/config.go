// Package config holds agentgate's one typed configuration: loaded from a
// YAML file, overlaid with AGENTGATE_* environment variables, defaulted in
// one place and validated with messages that name the bad field.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of every subcommand. Each subcommand
// reads the sections it needs.
type Config struct {
	// Listen is the gateway's address.
	Listen string `yaml:"listen" env:"AGENTGATE_LISTEN"`
	// Server bounds connections and the reading of requests, before any
	// request reaches the gateway.
	Server Server `yaml:"server"`
	// DefaultAgent is the public name `POST /` invokes.
	DefaultAgent string `yaml:"defaultAgent" env:"AGENTGATE_DEFAULT_AGENT"`
	// Agents maps public names to upstream runtimes. Clients see only names.
	Agents map[string]Agent `yaml:"agents"`
	// AWS holds optional static credentials; when empty the SDK's default
	// chain (environment, shared config, IAM role) supplies them.
	AWS AWS `yaml:"aws"`
	// Secrets reads the secret settings (keys, passwords, the origin
	// secret) from AWS Secrets Manager at run time, over what the file and
	// the environment say.
	Secrets Secrets `yaml:"secrets"`
	// Sessions configures runtime session ids issued by the gateway.
	Sessions Sessions `yaml:"sessions"`
	// Auth chooses how callers authenticate; several methods may be on.
	Auth Auth `yaml:"auth"`
	// SendUserID sends the caller's principal upstream as the runtime user
	// id (IAM: bedrock-agentcore:InvokeAgentRuntimeForUser).
	SendUserID bool `yaml:"sendUserId" env:"AGENTGATE_SEND_USER_ID"`
	// OriginLock refuses requests without a secret header the edge adds.
	OriginLock OriginLock `yaml:"originLock"`
	// Retry governs retries of upstream calls that failed before their
	// first byte; never once bytes went to the client.
	Retry Retry `yaml:"retry"`
	// Limits bound what one request may ask and what callers may spend.
	Limits Limits `yaml:"limits"`
	// Network admits clients by address and configures CORS.
	Network Network `yaml:"network"`
	// Timeouts bound each stream.
	Timeouts Timeouts `yaml:"timeouts"`
	// Stream bounds what the gateway accepts from an upstream stream.
	Stream Stream `yaml:"stream"`
	// Log configures the server log.
	Log Log `yaml:"log"`
	// Metrics configures the Prometheus endpoint.
	Metrics Metrics `yaml:"metrics"`
	// Tracing configures OpenTelemetry traces.
	Tracing Tracing `yaml:"tracing"`
	// Chat serves the embedded chat page at GET /chat.
	Chat Chat `yaml:"chat"`
	// Agent configures `agentgate agent`, the AgentCore-contract agent server.
	Agent AgentServer `yaml:"agent"`
	// Emulator configures `agentgate agentcore-local`.
	Emulator Emulator `yaml:"agentcoreLocal"`
}

// Server bounds the gateway's connections. A connection that sends its
// request slowly, or not at all, is closed when its bound runs out; a
// stream's own deadlines (timeouts.*) take over once the request is read.
type Server struct {
	// ReadHeaderTimeout bounds the reading of a request's line and headers.
	ReadHeaderTimeout time.Duration `yaml:"readHeaderTimeout" env:"AGENTGATE_READ_HEADER_TIMEOUT"`
	// ReadTimeout bounds the reading of a whole request, headers and body,
	// on every route, authenticated or not.
	ReadTimeout time.Duration `yaml:"readTimeout" env:"AGENTGATE_READ_TIMEOUT"`
	// IdleTimeout is how long a kept-alive connection may wait for its
	// next request.
	IdleTimeout time.Duration `yaml:"idleTimeout" env:"AGENTGATE_IDLE_TIMEOUT"`
	// MaxHeaderBytes caps a request's line and headers together.
	MaxHeaderBytes int `yaml:"maxHeaderBytes" env:"AGENTGATE_MAX_HEADER_BYTES"`
	// MaxConnections caps open connections in total; past it a new one is
	// refused with a 503 at once. It is lowered at start to what the
	// process's open-file limit allows.
	MaxConnections int `yaml:"maxConnections" env:"AGENTGATE_MAX_CONNECTIONS"`
	// MaxConnectionsPerIP caps open connections from one peer address;
	// network.trustedProxies, which carry many clients, are exempt. 0 is
	// no cap.
	MaxConnectionsPerIP int `yaml:"maxConnectionsPerIP" env:"AGENTGATE_MAX_CONNECTIONS_PER_IP"`
}

// Agent is one upstream AgentCore runtime behind a public name.
type Agent struct {
	// ARN is the runtime ARN; it never reaches a client.
	ARN string `yaml:"arn" env:"AGENTGATE_UPSTREAM_ARN"`
	// Qualifier is the runtime endpoint name, DEFAULT when empty.
	Qualifier string `yaml:"qualifier" env:"AGENTGATE_UPSTREAM_QUALIFIER"`
	// Region defaults to the region inside the ARN.
	Region string `yaml:"region" env:"AGENTGATE_UPSTREAM_REGION"`
	// Endpoint overrides the AgentCore data-plane URL (the local emulator).
	Endpoint string `yaml:"endpoint" env:"AGENTGATE_UPSTREAM_ENDPOINT"`
	// Dialect says how the agent streams: auto (recognise each event),
	// strands, text (JSON strings) or agui.
	Dialect string `yaml:"dialect" env:"AGENTGATE_UPSTREAM_DIALECT"`
	// Principals, when set, are the only callers who may use this agent
	// (key:NAME for an API key, user:NAME for a password user, jwt:SUB for
	// a JWT subject, anonymous on an open gateway, "*" for all).
	Principals []string `yaml:"principals"`
	// ForwardClaims maps claims of a caller's JWT to the headers that carry
	// them to the agent (X-Amzn-Bedrock-AgentCore-Runtime-Custom-*, which
	// the runtime must allow-list). The caller's principal and its kind
	// always go, in identity.PrincipalHeader and PrincipalKindHeader.
	ForwardClaims map[string]string `yaml:"forwardClaims"`
}

// AWS holds static credentials for the gateway's upstream calls.
type AWS struct {
	AccessKeyID     string `yaml:"accessKeyId"`
	SecretAccessKey string `yaml:"secretAccessKey"`
	SessionToken    string `yaml:"sessionToken"`
}

// Secrets locates the Secrets Manager secret that holds the gateway's
// secret settings (SecretValues, a JSON object). The gateway reads it at
// start, stopping if it cannot, and again every Refresh: a rotated value
// takes effect without a restart.
type Secrets struct {
	// ARN names the secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME);
	// empty reads none. The client works in the ARN's region, with the AWS
	// SDK's default credentials (the Lambda function's role).
	ARN string `yaml:"arn" env:"AGENTGATE_SECRETS_ARN"`
	// Refresh is how often the secret is read again. In Lambda, where
	// nothing runs between invocations, an invocation that finds the values
	// older than this reads them first.
	Refresh time.Duration `yaml:"refresh" env:"AGENTGATE_SECRETS_REFRESH"`
	// Endpoint overrides the Secrets Manager URL (a local stand-in).
	Endpoint string `yaml:"endpoint" env:"AGENTGATE_SECRETS_ENDPOINT"`
	// Timeout bounds each read of the secret, retries included.
	Timeout time.Duration `yaml:"timeout" env:"AGENTGATE_SECRETS_TIMEOUT"`
}

// Sessions configures session ids.
type Sessions struct {
	// Key signs session ids (at least 32 bytes). Empty: a random key per
	// process, so ids do not survive a restart or cross instances.
	Key string `yaml:"key" env:"AGENTGATE_SESSION_KEY"`
	// PreviousKeys still verify ids after a key rotation.
	PreviousKeys []string `yaml:"previousKeys"`
	// ConversationTTL is how long the limits store remembers which session
	// a chat completion's conversation belongs to, after its last answer,
	// for clients that never send the session id back; 0 remembers none.
	ConversationTTL time.Duration `yaml:"conversationTTL" env:"AGENTGATE_SESSION_CONVERSATION_TTL"`
}

// Auth configures authentication.
type Auth struct {
	// None lets every caller in as "anonymous". It must be chosen
	// explicitly; `agentgate up` chooses it on loopback when nothing else
	// is configured.
	None bool `yaml:"none" env:"AGENTGATE_AUTH_NONE"`
	// APIKeys are accepted as `Authorization: Bearer` or `X-Api-Key`.
	APIKeys []APIKey `yaml:"apiKeys"`
	// Passwords enables ID/password sign-in.
	Passwords Passwords `yaml:"passwords"`
	// JWT accepts OIDC/JWT bearer tokens.
	JWT JWT `yaml:"jwt"`
}

// APIKey is one key, stored as its hash (agentgate keys create).
type APIKey struct {
	Name string `yaml:"name" json:"name"`
	Hash string `yaml:"hash" json:"hash"`
}

// Passwords configures ID/password sign-in.
type Passwords struct {
	// UsersFile holds `user:hash` lines (agentgate passwd).
	UsersFile string `yaml:"usersFile" env:"AGENTGATE_USERS_FILE"`
	// Users is the users file's content, when it comes from the secret
	// (SecretValues.Users) rather than a file: then UsersFile is not read.
	Users string `yaml:"-"`
	// TokenKey signs login tokens (32+ characters).
	TokenKey string `yaml:"tokenKey" env:"AGENTGATE_TOKEN_KEY"`
	// PreviousTokenKeys still verify login tokens after a key rotation,
	// until they expire (TokenTTL).
	PreviousTokenKeys []string `yaml:"previousTokenKeys"`
	// TokenTTL is how long a login token lasts.
	TokenTTL time.Duration `yaml:"tokenTTL" env:"AGENTGATE_TOKEN_TTL"`
	// MaxFailures failed sign-ins per user or IP within Window slow the
	// next attempts down (429).
	MaxFailures int           `yaml:"maxFailures" env:"AGENTGATE_LOGIN_MAX_FAILURES"`
	Window      time.Duration `yaml:"window" env:"AGENTGATE_LOGIN_WINDOW"`
	// MaxConcurrentHashes bounds the passwords checked at once (each
	// argon2id check holds 64 MiB); 0 is the number of CPUs.
	MaxConcurrentHashes int `yaml:"maxConcurrentHashes" env:"AGENTGATE_LOGIN_MAX_CONCURRENT_HASHES"`
	// HashQueueWait is how long a sign-in waits for its turn; past it the
	// answer is 429 sign_in_busy.
	HashQueueWait time.Duration `yaml:"hashQueueWait" env:"AGENTGATE_LOGIN_HASH_QUEUE_WAIT"`
}

// On reports whether password sign-in is configured: a users file, or
// users from the secret.
func (p Passwords) On() bool { return p.UsersFile != "" || p.Users != "" }

// JWT configures OIDC/JWT bearer tokens.
type JWT struct {
	// Issuer must match the iss claim; discovery runs at Issuer.
	Issuer string `yaml:"issuer" env:"AGENTGATE_JWT_ISSUER"`
	// Audience must be in the aud claim.
	Audience string `yaml:"audience" env:"AGENTGATE_JWT_AUDIENCE"`
	// JWKSURL skips discovery.
	JWKSURL string `yaml:"jwksURL" env:"AGENTGATE_JWT_JWKS_URL"`
	// Algorithms allowed; never none or HS*.
	Algorithms []string `yaml:"algorithms"`
	// PrincipalClaim names the caller.
	PrincipalClaim string `yaml:"principalClaim" env:"AGENTGATE_JWT_PRINCIPAL_CLAIM"`
	// ClockSkew tolerated on exp, nbf and iat.
	ClockSkew time.Duration `yaml:"clockSkew" env:"AGENTGATE_JWT_CLOCK_SKEW"`
}

// OriginLock configures the origin secret header.
type OriginLock struct {
	Header string `yaml:"header" env:"AGENTGATE_ORIGIN_HEADER"`
	Secret string `yaml:"secret" env:"AGENTGATE_ORIGIN_SECRET"`
	// PreviousSecrets are still accepted while the edge changes over to a
	// rotated Secret: CloudFront takes minutes to reach every edge.
	PreviousSecrets []string `yaml:"previousSecrets"`
}

// Retry configures upstream retries.
type Retry struct {
	// MaxAttempts is the most tries of one call (1: no retry).
	MaxAttempts int `yaml:"maxAttempts" env:"AGENTGATE_RETRY_MAX_ATTEMPTS"`
	// MaxBackoff caps the jittered exponential wait between tries.
	MaxBackoff time.Duration `yaml:"maxBackoff" env:"AGENTGATE_RETRY_MAX_BACKOFF"`
}

// Limits bound one request.
type Limits struct {
	// MaxBodyBytes caps a request body.
	MaxBodyBytes int64 `yaml:"maxBodyBytes" env:"AGENTGATE_MAX_BODY_BYTES"`
	// MaxPromptChars caps the prompt, in characters.
	MaxPromptChars int `yaml:"maxPromptChars" env:"AGENTGATE_MAX_PROMPT_CHARS"`
	// Rate limits requests per scope: global, agent (each agent), principal
	// (each caller).
	Rate RateLimits `yaml:"rate"`
	// Concurrency caps open streams per scope; 0 is no cap.
	Concurrency Concurrency `yaml:"concurrency"`
	// DailyTokens is each principal's token budget per UTC day, counted
	// from the agents' usage reports; 0 is no budget.
	DailyTokens int64 `yaml:"dailyTokens" env:"AGENTGATE_DAILY_TOKENS"`
	// BudgetReservation is the tokens a stream holds of its caller's daily
	// budget while it runs, when its request names no maxTokens (or
	// max_tokens); the stream's reported usage replaces it at the end. It
	// keeps concurrent streams from overshooting the budget together.
	BudgetReservation int64 `yaml:"budgetReservation" env:"AGENTGATE_BUDGET_RESERVATION"`
	// Store keeps limit state: memory (one instance), redis (many:
	// containers, servers) or dynamodb (many: Lambda, or anywhere without a
	// VPC).
	Store string `yaml:"store" env:"AGENTGATE_LIMIT_STORE"`
	// Redis is the shared store's server.
	Redis Redis `yaml:"redis"`
	// DynamoDB is the shared store's table.
	DynamoDB DynamoDB `yaml:"dynamodb"`
	// FailOpen admits requests when the store cannot be reached; the
	// default refuses them with 503.
	FailOpen bool `yaml:"failOpen" env:"AGENTGATE_LIMIT_FAIL_OPEN"`
}

// RateLimits holds one rule per scope.
type RateLimits struct {
	Global    Rate `yaml:"global"`
	Agent     Rate `yaml:"agent"`
	Principal Rate `yaml:"principal"`
}

// Rate allows Requests per Per, with bursts of Burst (0: Requests).
type Rate struct {
	Requests int           `yaml:"requests"`
	Per      time.Duration `yaml:"per"`
	Burst    int           `yaml:"burst"`
}

// Concurrency caps open streams.
type Concurrency struct {
	Global    int `yaml:"global" env:"AGENTGATE_MAX_STREAMS"`
	Agent     int `yaml:"agent" env:"AGENTGATE_MAX_STREAMS_PER_AGENT"`
	Principal int `yaml:"principal" env:"AGENTGATE_MAX_STREAMS_PER_PRINCIPAL"`
}

// Redis locates the shared limit store.
type Redis struct {
	Addr     string `yaml:"addr" env:"AGENTGATE_REDIS_ADDR"`
	Username string `yaml:"username" env:"AGENTGATE_REDIS_USERNAME"`
	Password string `yaml:"password" env:"AGENTGATE_REDIS_PASSWORD"`
	DB       int    `yaml:"db" env:"AGENTGATE_REDIS_DB"`
	TLS      bool   `yaml:"tls" env:"AGENTGATE_REDIS_TLS"`
	Prefix   string `yaml:"prefix" env:"AGENTGATE_REDIS_PREFIX"`
}

// DynamoDB locates the shared limit store's table: a string partition key
// pk, time to live on the attribute expires. Its region and credentials
// are the AWS SDK's defaults (AWS_REGION, the Lambda function's role).
type DynamoDB struct {
	Table string `yaml:"table" env:"AGENTGATE_DYNAMODB_TABLE"`
	// Endpoint overrides the service's URL, for a local DynamoDB in tests
	// and local runs.
	Endpoint string `yaml:"endpoint" env:"AGENTGATE_DYNAMODB_ENDPOINT"`
	// Timeout bounds each call to the table; beyond it the request fails
	// with 503 limits_unavailable (or is admitted, with failOpen).
	Timeout time.Duration `yaml:"timeout" env:"AGENTGATE_DYNAMODB_TIMEOUT"`
}

// Network holds IP rules and CORS.
type Network struct {
	// Allow, when not empty, admits only clients in these CIDRs.
	Allow []string `yaml:"allow"`
	// Deny refuses clients in these CIDRs; it wins over Allow.
	Deny []string `yaml:"deny"`
	// TrustedProxies are peers whose X-Forwarded-For header names the real
	// client.
	TrustedProxies []string `yaml:"trustedProxies"`
	// CloudFrontProxies are peers whose CloudFront-Viewer-Address header
	// names the real client: CloudFront itself, never a proxy that passes
	// on what the client sent. In Lambda mode, behind the origin lock, the
	// function URL's caller is CloudFront, and an empty list means every
	// peer.
	CloudFrontProxies []string `yaml:"cloudFrontProxies"`
	// CORSOrigins may call the gateway from a browser page.
	CORSOrigins []string `yaml:"corsOrigins"`
}

// Timeouts bound a stream; each ends it with the format's terminal error
// and cancels the upstream call.
type Timeouts struct {
	// FirstByte bounds the wait for the agent's first event.
	FirstByte time.Duration `yaml:"firstByte" env:"AGENTGATE_TIMEOUT_FIRST_BYTE"`
	// Idle bounds the silence between two events.
	Idle time.Duration `yaml:"idle" env:"AGENTGATE_TIMEOUT_IDLE"`
	// Total bounds the whole stream.
	Total time.Duration `yaml:"total" env:"AGENTGATE_TIMEOUT_TOTAL"`
	// ShutdownGrace is how long running streams may finish after SIGTERM.
	ShutdownGrace time.Duration `yaml:"shutdownGrace" env:"AGENTGATE_SHUTDOWN_GRACE"`
}

// Stream bounds the upstream stream.
type Stream struct {
	// MaxLineBytes is the longest SSE line accepted from upstream.
	MaxLineBytes int `yaml:"maxLineBytes" env:"AGENTGATE_STREAM_MAX_LINE_BYTES"`
	// MaxEventBytes is the largest SSE event accepted from upstream.
	MaxEventBytes int `yaml:"maxEventBytes" env:"AGENTGATE_STREAM_MAX_EVENT_BYTES"`
	// Heartbeat is the silence after which a client gets a heartbeat it
	// ignores (SSE comment, NDJSON ping); 0 turns them off.
	Heartbeat time.Duration `yaml:"heartbeat" env:"AGENTGATE_HEARTBEAT"`
	// Durable keeps each answer in a turn log in the limits store, so a
	// turn outlives a client that goes away and the client resumes it;
	// unset means on. Off, a client gone cancels the agent.
	Durable *bool `yaml:"durable" env:"AGENTGATE_STREAM_DURABLE"`
	// DetachedTimeout is how long a turn runs on after its client left.
	DetachedTimeout time.Duration `yaml:"detachedTimeout" env:"AGENTGATE_STREAM_DETACHED_TIMEOUT"`
	// Retain is how long a turn's log is kept after the turn ends.
	Retain time.Duration `yaml:"retain" env:"AGENTGATE_STREAM_RETAIN"`
	// MaxRetainedBytes caps one turn's log; a resume past it ends with an
	// error, while the live client gets the whole answer.
	MaxRetainedBytes int64 `yaml:"maxRetainedBytes" env:"AGENTGATE_STREAM_MAX_RETAINED_BYTES"`
	// MaxRetainedTotal caps the bytes of every turn log an instance keeps
	// in memory (limits.store memory); with a shared store, the store's
	// own memory bounds them.
	MaxRetainedTotal int64 `yaml:"maxRetainedTotal" env:"AGENTGATE_STREAM_MAX_RETAINED_TOTAL"`
}

// IsDurable reports whether turns are durable: Durable, or on when unset.
func (s Stream) IsDurable() bool { return s.Durable == nil || *s.Durable }

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level" env:"AGENTGATE_LOG_LEVEL"`
	// Format is json, text, or auto: text when the log goes to a
	// terminal, JSON otherwise.
	Format string `yaml:"format" env:"AGENTGATE_LOG_FORMAT"`
}

// Metrics configures the Prometheus scrape endpoint of the gateway and of
// the agent server.
type Metrics struct {
	// Enabled serves GET /metrics.
	Enabled bool `yaml:"enabled" env:"AGENTGATE_METRICS"`
	// Listen, when set, serves /metrics on this address of its own instead
	// of the server's public one: where scrapers reach it and clients do not.
	Listen string `yaml:"listen" env:"AGENTGATE_METRICS_LISTEN"`
	// Token, when set, is the bearer credential /metrics needs on the
	// gateway's public address. Without it (and without Listen), agents
	// that have principals appear in the metrics as "restricted", so that
	// anyone who can reach /metrics learns no name they may not use.
	Token string `yaml:"token" env:"AGENTGATE_METRICS_TOKEN"`
}

// Tracing configures OpenTelemetry tracing: a span per request, exported
// over OTLP/HTTP, whose context travels upstream as the W3C traceparent.
type Tracing struct {
	// Enabled turns tracing on; it is off by default.
	Enabled bool `yaml:"enabled" env:"AGENTGATE_TRACING"`
	// Endpoint is the OTLP/HTTP collector base URL (e.g.
	// http://127.0.0.1:4318); empty uses the OTEL_EXPORTER_OTLP_* variables
	// or the exporter's default.
	Endpoint string `yaml:"endpoint" env:"AGENTGATE_OTLP_ENDPOINT"`
	// SampleRatio is the share of new traces recorded, 0 to 1; a request
	// whose caller sent a sampled traceparent is always recorded.
	SampleRatio float64 `yaml:"sampleRatio" env:"AGENTGATE_TRACE_SAMPLE_RATIO"`
	// ServiceName names this process in traces.
	ServiceName string `yaml:"serviceName" env:"AGENTGATE_SERVICE_NAME"`
}

// Chat configures the embedded chat page.
type Chat struct {
	// Enabled serves GET /chat. Unset, `serve` leaves the page off and
	// `up` turns it on.
	Enabled *bool `yaml:"enabled" env:"AGENTGATE_CHAT"`
}

// On reports whether the page is served: Enabled when it is set, else
// fallback (the subcommand's default).
func (c Chat) On(fallback bool) bool {
	if c.Enabled == nil {
		return fallback
	}
	return *c.Enabled
}

// AgentServer configures the agent server.
type AgentServer struct {
	// Listen is the agent's address; AgentCore expects 0.0.0.0:8080.
	Listen string `yaml:"listen" env:"AGENTGATE_AGENT_LISTEN"`
	// Model is builtin, bedrock or openai.
	Model string `yaml:"model" env:"AGENTGATE_MODEL"`
	// System is an optional system prompt.
	System string `yaml:"system" env:"AGENTGATE_SYSTEM_PROMPT"`
	// MaxTokens caps a reply; 0 leaves the provider's default.
	MaxTokens int `yaml:"maxTokens" env:"AGENTGATE_MAX_TOKENS"`
	// MaxMessages bounds the history kept per session.
	MaxMessages int `yaml:"maxMessages" env:"AGENTGATE_AGENT_MAX_MESSAGES"`
	// SessionIdle expires a session's history after this long unused.
	SessionIdle time.Duration `yaml:"sessionIdle" env:"AGENTGATE_AGENT_SESSION_IDLE"`
	Builtin     Builtin       `yaml:"builtin"`
	Bedrock     Bedrock       `yaml:"bedrock"`
	OpenAI      OpenAI        `yaml:"openai"`
}

// Builtin configures the offline demo model.
type Builtin struct {
	// Delay is the pause between deltas.
	Delay time.Duration `yaml:"delay" env:"AGENTGATE_BUILTIN_DELAY"`
}

// Bedrock configures the Bedrock ConverseStream model.
type Bedrock struct {
	ModelID  string `yaml:"modelId" env:"AGENTGATE_BEDROCK_MODEL_ID"`
	Region   string `yaml:"region" env:"AGENTGATE_BEDROCK_REGION"`
	Endpoint string `yaml:"endpoint" env:"AGENTGATE_BEDROCK_ENDPOINT"`
}

// OpenAI configures an OpenAI-compatible chat-completions model.
type OpenAI struct {
	BaseURL string `yaml:"baseURL" env:"AGENTGATE_OPENAI_BASE_URL"`
	APIKey  string `yaml:"apiKey" env:"AGENTGATE_OPENAI_API_KEY"`
	Model   string `yaml:"model" env:"AGENTGATE_OPENAI_MODEL"`
}

// Emulator configures the local AgentCore data-plane emulator.
type Emulator struct {
	Listen          string    `yaml:"listen" env:"AGENTGATE_EMULATOR_LISTEN"`
	Region          string    `yaml:"region" env:"AGENTGATE_EMULATOR_REGION"`
	AccessKeyID     string    `yaml:"accessKeyId" env:"AGENTGATE_EMULATOR_ACCESS_KEY_ID"`
	SecretAccessKey string    `yaml:"secretAccessKey" env:"AGENTGATE_EMULATOR_SECRET_ACCESS_KEY"`
	Runtimes        []Runtime `yaml:"runtimes"`
	// IdleSessionTimeout ends a runtime session idle this long, unless its
	// agent's ping answers HealthyBusy: AgentCore's idleRuntimeSessionTimeout
	// (default 900 s).
	IdleSessionTimeout time.Duration `yaml:"idleSessionTimeout" env:"AGENTGATE_EMULATOR_IDLE_SESSION_TIMEOUT"`
	// MaxSessionLifetime ends a runtime session this long after it began:
	// AgentCore's maxLifetime (default 28800 s).
	MaxSessionLifetime time.Duration `yaml:"maxSessionLifetime" env:"AGENTGATE_EMULATOR_MAX_SESSION_LIFETIME"`
	// Throttle answers ThrottlingException past InvocationsPerSecond per
	// runtime endpoint, as AgentCore does past its quota.
	Throttle bool `yaml:"throttle" env:"AGENTGATE_EMULATOR_THROTTLE"`
	// InvocationsPerSecond is that quota; 0 is AgentCore's default, 25.
	InvocationsPerSecond int `yaml:"invocationsPerSecond"`
	// HeaderAllowlist is the requestHeaderAllowlist of every runtime that
	// has none of its own.
	HeaderAllowlist []string `yaml:"headerAllowlist"`
	// Fault is the fault of every runtime that has none of its own.
	Fault EmulatorFault `yaml:"fault"`
}

// Runtime maps an emulated runtime ARN to an agent container URL.
type Runtime struct {
	ARN string `yaml:"arn"`
	URL string `yaml:"url"`
	// HeaderAllowlist names the caller's headers that reach this runtime's
	// agent; unset, the emulator's.
	HeaderAllowlist []string `yaml:"headerAllowlist"`
	// Fault makes this runtime misbehave; unset, the emulator's fault.
	Fault *EmulatorFault `yaml:"fault"`
}

// EmulatorFault makes an emulated runtime misbehave on purpose
// (agentcorelocal.Fault, field by field); the zero value behaves.
type EmulatorFault struct {
	// Error answers every invocation with this AgentCore error type, e.g.
	// ThrottlingException.
	Error string `yaml:"error"`
	// Times bounds the fault to the first invocations; 0 is every one.
	Times int `yaml:"times"`
	// RetryAfter, with error, adds a Retry-After header.
	RetryAfter time.Duration `yaml:"retryAfter"`
	// DelayFirst holds each invocation back before the agent is called;
	// DelayEach holds back each event.
	DelayFirst time.Duration `yaml:"delayFirst"`
	DelayEach  time.Duration `yaml:"delayEach"`
	// DropAfter cuts the stream after that many events; MalformedAfter and
	// OversizedAfter inject a broken or a 2 MiB event after that many.
	DropAfter      int `yaml:"dropAfter"`
	MalformedAfter int `yaml:"malformedAfter"`
	OversizedAfter int `yaml:"oversizedAfter"`
	// MidStreamError, with dropAfter, ends the stream with an error event
	// of this type instead of cutting it.
	MidStreamError string `yaml:"midStreamError"`
}

// The bounds of one request, which the gateway also falls back to when it
// is built without them.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultMaxPromptChars = 100_000
)

// DefaultQualifier is the runtime endpoint AgentCore invokes when an agent
// names none (upstream.DefaultQualifier; config stays free of the AWS SDK,
// because the CDK app reads it).
const DefaultQualifier = "DEFAULT"

// Default returns the configuration every field falls back to.
func Default() Config {
	return Config{
		Listen:       "127.0.0.1:8080",
		DefaultAgent: "default",
		Server: Server{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
			MaxHeaderBytes: 64 << 10, MaxConnections: 10_000, MaxConnectionsPerIP: 256},
		SendUserID: true,
		Secrets:    Secrets{Refresh: 5 * time.Minute, Timeout: 5 * time.Second},
		Sessions:   Sessions{ConversationTTL: 15 * time.Minute},
		Retry:      Retry{MaxAttempts: 3, MaxBackoff: 2 * time.Second},
		Auth: Auth{
			Passwords: Passwords{TokenTTL: time.Hour, MaxFailures: 5, Window: 15 * time.Minute, HashQueueWait: 2 * time.Second},
			JWT:       JWT{Algorithms: []string{"RS256", "ES256"}, PrincipalClaim: "sub", ClockSkew: time.Minute},
		},
		Limits: Limits{MaxBodyBytes: DefaultMaxBodyBytes, MaxPromptChars: DefaultMaxPromptChars, Store: "memory", BudgetReservation: 4096,
			Redis: Redis{Addr: "127.0.0.1:6379", Prefix: "agentgate:"}, DynamoDB: DynamoDB{Timeout: time.Second}},
		Timeouts: Timeouts{FirstByte: 2 * time.Minute, Idle: 5 * time.Minute, Total: time.Hour, ShutdownGrace: 30 * time.Second},
		Stream: Stream{MaxLineBytes: 1 << 20, MaxEventBytes: 8 << 20,
			DetachedTimeout: 5 * time.Minute, Retain: 10 * time.Minute, MaxRetainedBytes: 4 << 20, MaxRetainedTotal: 64 << 20},
		Log:     Log{Level: "info", Format: "auto"},
		Metrics: Metrics{Enabled: true},
		Tracing: Tracing{SampleRatio: 1, ServiceName: "agentgate"},
		Agent: AgentServer{
			Listen:      "0.0.0.0:8080",
			Model:       "builtin",
			MaxMessages: 40,
			SessionIdle: 15 * time.Minute,
			Builtin:     Builtin{Delay: 20 * time.Millisecond},
		},
		Emulator: Emulator{Listen: "127.0.0.1:9000", Region: "us-east-1",
			IdleSessionTimeout: 900 * time.Second, MaxSessionLifetime: 28800 * time.Second},
	}
}

// Load reads the YAML file at path (none when path is empty) over the
// defaults, then applies the AGENTGATE_* variables getenv returns. It does
// not validate: each subcommand validates the sections it uses.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		if err := Decode(f, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Decode reads YAML into cfg, refusing fields it does not know.
func Decode(r io.Reader, cfg *Config) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
