package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadReadsFileThenEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agentgate.yaml")
	os.WriteFile(path, []byte(`
listen: 127.0.0.1:9999
defaultAgent: support
agents:
  support:
    arn: arn:aws:bedrock-agentcore:eu-west-1:111122223333:runtime/support-abc
agent:
  builtin:
    delay: 5ms
`), 0o644)
	cfg, err := Load(path, env(map[string]string{
		"AGENTGATE_LISTEN":            "127.0.0.1:7777",
		"AGENTGATE_UPSTREAM_ENDPOINT": "http://127.0.0.1:9000",
		"AGENTGATE_MAX_BODY_BYTES":    "2048",
		"AGENTGATE_AUTH_NONE":         "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7777" {
		t.Errorf("listen %q: the environment should win over the file", cfg.Listen)
	}
	if cfg.Agent.Builtin.Delay != 5*time.Millisecond {
		t.Errorf("builtin delay %v, want 5ms from the file", cfg.Agent.Builtin.Delay)
	}
	if cfg.Limits.MaxBodyBytes != 2048 {
		t.Errorf("maxBodyBytes %d, want 2048 from the environment", cfg.Limits.MaxBodyBytes)
	}
	if cfg.Stream.MaxLineBytes != Default().Stream.MaxLineBytes {
		t.Errorf("an unset field lost its default")
	}
	if err := cfg.ValidateGateway(); err != nil {
		t.Fatal(err)
	}
	a := cfg.Agents["support"]
	if a.Endpoint != "http://127.0.0.1:9000" || a.Region != "eu-west-1" || a.Qualifier != "DEFAULT" {
		t.Errorf("agent %+v: want endpoint from the environment, region from the ARN, qualifier DEFAULT", a)
	}
}

func TestLoadReadsTheEmulatorsLifecycleHeadersAndFaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agentgate.yaml")
	os.WriteFile(path, []byte(`
agentcoreLocal:
  idleSessionTimeout: 30s
  throttle: true
  headerAllowlist: [X-Amzn-Bedrock-AgentCore-Runtime-Custom-Tenant]
  fault:
    error: ThrottlingException
    times: 2
    retryAfter: 1s
  runtimes:
    - arn: arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/a-1
      url: http://127.0.0.1:8081
    - arn: arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/b-1
      url: http://127.0.0.1:8082
      headerAllowlist: [X-Api-Key]
      fault:
        dropAfter: 3
`), 0o644)
	cfg, err := Load(path, env(map[string]string{"AGENTGATE_EMULATOR_MAX_SESSION_LIFETIME": "1h"}))
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Emulator
	if e.IdleSessionTimeout != 30*time.Second || e.MaxSessionLifetime != time.Hour || !e.Throttle || e.InvocationsPerSecond != 0 {
		t.Errorf("lifecycle and quota %v %v %v %d", e.IdleSessionTimeout, e.MaxSessionLifetime, e.Throttle, e.InvocationsPerSecond)
	}
	if e.Fault != (EmulatorFault{Error: "ThrottlingException", Times: 2, RetryAfter: time.Second}) || len(e.HeaderAllowlist) != 1 {
		t.Errorf("emulator fault %+v, allow-list %v", e.Fault, e.HeaderAllowlist)
	}
	if e.Runtimes[0].Fault != nil || e.Runtimes[0].HeaderAllowlist != nil {
		t.Errorf("runtime 0 has a fault or an allow-list of its own: %+v", e.Runtimes[0])
	}
	if f := e.Runtimes[1].Fault; f == nil || *f != (EmulatorFault{DropAfter: 3}) || e.Runtimes[1].HeaderAllowlist[0] != "X-Api-Key" {
		t.Errorf("runtime 1 %+v", e.Runtimes[1])
	}
	if d := Default().Emulator; d.IdleSessionTimeout != 900*time.Second || d.MaxSessionLifetime != 8*time.Hour {
		t.Errorf("defaults %v and %v, want AgentCore's 900 s and 28800 s", d.IdleSessionTimeout, d.MaxSessionLifetime)
	}
}

func TestLoadRefusesUnknownFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agentgate.yaml")
	os.WriteFile(path, []byte("listne: 127.0.0.1:1\n"), 0o644)
	if _, err := Load(path, env(nil)); err == nil || !strings.Contains(err.Error(), "listne") {
		t.Fatalf("err = %v, want one naming the unknown field", err)
	}
}

func TestLoadReadsTelemetryFromTheEnvironment(t *testing.T) {
	cfg, err := Load("", env(map[string]string{
		"AGENTGATE_METRICS":            "false",
		"AGENTGATE_TRACING":            "true",
		"AGENTGATE_TRACE_SAMPLE_RATIO": "0.25",
		"AGENTGATE_OTLP_ENDPOINT":      "http://127.0.0.1:4318",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Tracing{Enabled: true, Endpoint: "http://127.0.0.1:4318", SampleRatio: 0.25, ServiceName: "agentgate"}
	if cfg.Metrics.Enabled || cfg.Tracing != want {
		t.Fatalf("metrics %+v, tracing %+v; want metrics off and tracing %+v", cfg.Metrics, cfg.Tracing, want)
	}
	if _, err := Load("", env(map[string]string{"AGENTGATE_TRACE_SAMPLE_RATIO": "half"})); err == nil || !strings.Contains(err.Error(), "AGENTGATE_TRACE_SAMPLE_RATIO") {
		t.Fatalf("err = %v, want one naming the variable", err)
	}
}

func TestLoadReadsTheDynamoDBStoreFromTheEnvironment(t *testing.T) {
	cfg, err := Load("", env(map[string]string{
		"AGENTGATE_LIMIT_STORE":       "dynamodb",
		"AGENTGATE_DYNAMODB_TABLE":    "agentgate-limits",
		"AGENTGATE_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := DynamoDB{Table: "agentgate-limits", Endpoint: "http://127.0.0.1:8000", Timeout: time.Second}
	if cfg.Limits.Store != "dynamodb" || cfg.Limits.DynamoDB != want {
		t.Fatalf("store %q, dynamodb %+v; want dynamodb, %+v", cfg.Limits.Store, cfg.Limits.DynamoDB, want)
	}
}

func TestLoadRefusesBadEnvironment(t *testing.T) {
	_, err := Load("", env(map[string]string{"AGENTGATE_BUILTIN_DELAY": "soon"}))
	if err == nil || !strings.Contains(err.Error(), "AGENTGATE_BUILTIN_DELAY") {
		t.Fatalf("err = %v, want one naming the variable", err)
	}
}

func TestValidateNamesTheBadField(t *testing.T) {
	good := "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/demo-abc"
	tests := []struct {
		name  string
		edit  func(*Config)
		check func(*Config) error
		field string
	}{
		{"a gateway without agents", func(c *Config) {}, (*Config).ValidateGateway, "agents"},
		{"an agent with a malformed ARN", func(c *Config) { c.Agents = map[string]Agent{"default": {ARN: "arn:nope"}} }, (*Config).ValidateGateway, "agents.default.arn"},
		{"a default agent that is not configured", func(c *Config) { c.DefaultAgent = "x"; c.Agents = map[string]Agent{"default": {ARN: good}} }, (*Config).ValidateGateway, "defaultAgent"},
		{"an agent name with a slash", func(c *Config) { c.DefaultAgent = "a/b"; c.Agents = map[string]Agent{"a/b": {ARN: good}} }, (*Config).ValidateGateway, "agents.a/b"},
		{"an endpoint that is not a URL", func(c *Config) { c.Agents = map[string]Agent{"default": {ARN: good, Endpoint: "localhost"}} }, (*Config).ValidateGateway, "agents.default.endpoint"},
		{"a short session key", func(c *Config) { c.Agents = map[string]Agent{"default": {ARN: good}}; c.Sessions.Key = "short" }, (*Config).ValidateGateway, "sessions.key"},
		{"an unknown model", func(c *Config) { c.Agent.Model = "gpt" }, (*Config).ValidateAgent, "agent.model"},
		{"bedrock without a model id", func(c *Config) { c.Agent.Model = "bedrock" }, (*Config).ValidateAgent, "agent.bedrock.modelId"},
		{"openai without a base URL", func(c *Config) { c.Agent.Model = "openai"; c.Agent.OpenAI.Model = "m" }, (*Config).ValidateAgent, "agent.openai.baseURL"},
		{"an emulator runtime with a bad URL", func(c *Config) {
			c.Emulator.AccessKeyID, c.Emulator.SecretAccessKey = "k", "s"
			c.Emulator.Runtimes = []Runtime{{ARN: good, URL: "nope"}}
		}, (*Config).ValidateEmulator, "agentcoreLocal.runtimes[0].url"},
		{"an emulator idle timeout longer than its maximum lifetime", func(c *Config) {
			c.Emulator.IdleSessionTimeout, c.Emulator.MaxSessionLifetime = time.Hour, time.Minute
		}, (*Config).ValidateEmulator, "agentcoreLocal.idleSessionTimeout"},
		{"an emulator quota without throttling", func(c *Config) { c.Emulator.InvocationsPerSecond = 5 }, (*Config).ValidateEmulator, "agentcoreLocal.invocationsPerSecond"},
		{"a gateway with no authenticator", func(c *Config) { c.Agents = map[string]Agent{"default": {ARN: good}} }, (*Config).ValidateGateway, "auth"},
		{"password sign-in without a token key", func(c *Config) { c.Auth.Passwords.UsersFile = "users" }, (*Config).ValidateGateway, "auth.passwords.tokenKey"},
		{"a JWT issuer without an audience", func(c *Config) { c.Auth.JWT.Issuer = "https://idp.example" }, (*Config).ValidateGateway, "auth.jwt.audience"},
		{"a symmetric JWT algorithm", func(c *Config) { c.Auth.JWT.Issuer = "https://idp.example"; c.Auth.JWT.Algorithms = []string{"HS256"} }, (*Config).ValidateGateway, "auth.jwt.algorithms[0]"},
		{"an origin header without a secret", func(c *Config) { c.OriginLock.Header = "X-Origin-Verify" }, (*Config).ValidateGateway, "originLock"},
		{"a bad log level", func(c *Config) { c.Log.Level = "loud" }, (*Config).ValidateAgent, "log.level"},
		{"a bad log format", func(c *Config) { c.Log.Format = "xml" }, (*Config).ValidateAgent, "log.format"},
		{"a metrics address without a port", func(c *Config) { c.Metrics.Listen = "127.0.0.1" }, (*Config).ValidateAgent, "metrics.listen"},
		{"a trace sample ratio above 1", func(c *Config) { c.Tracing.SampleRatio = 1.5 }, (*Config).ValidateAgent, "tracing.sampleRatio"},
		{"a DynamoDB store without a table", func(c *Config) { c.Limits.Store = "dynamodb" }, (*Config).ValidateGateway, "limits.dynamodb.table"},
		{"a DynamoDB endpoint that is not a URL", func(c *Config) {
			c.Limits.Store, c.Limits.DynamoDB.Table, c.Limits.DynamoDB.Endpoint = "dynamodb", "limits", "127.0.0.1:8000"
		}, (*Config).ValidateGateway, "limits.dynamodb.endpoint"},
		{"an unknown limit store", func(c *Config) { c.Limits.Store = "etcd" }, (*Config).ValidateGateway, "limits.store"},
		{"a trace collector that is not a URL", func(c *Config) { c.Tracing.Endpoint = "collector:4318" }, (*Config).ValidateAgent, "tracing.endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused with the field named", func(t *testing.T) {
			cfg := Default()
			tt.edit(&cfg)
			err := tt.check(&cfg)
			if err == nil || !strings.Contains(err.Error(), tt.field+":") {
				t.Fatalf("err = %v, want one naming %s", err, tt.field)
			}
		})
	}
}

func TestForwardClaimsAreCheckedClaimByClaim(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agentgate.yaml")
	os.WriteFile(path, []byte(`
defaultAgent: support
agents:
  support:
    arn: arn:aws:bedrock-agentcore:eu-west-1:111122223333:runtime/support-abc
    forwardClaims:
      email: X-Amzn-Bedrock-AgentCore-Runtime-Custom-Email
      groups: X-Amzn-Bedrock-AgentCore-Runtime-Custom-Groups
auth:
  jwt: {issuer: "https://idp.example", audience: agentgate}
`), 0o644)
	cfg, err := Load(path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ValidateGateway(); err != nil {
		t.Fatalf("a valid forwardClaims was refused: %v", err)
	}
	if got := cfg.Agents["support"].ForwardClaims["email"]; got != "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Email" {
		t.Fatalf("forwardClaims.email = %q", got)
	}

	const email = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Email"
	for _, tt := range []struct {
		name   string
		claims map[string]string
		noJWT  bool
		want   string
	}{
		{"claims without a JWT issuer", map[string]string{"email": email}, true, "claims come only from JWTs"},
		{"a header AgentCore would not pass on", map[string]string{"email": "X-User-Email"}, false, `claim "email": "X-User-Email" does not start with X-Amzn-Bedrock-AgentCore-Runtime-Custom-`},
		{"a header that is the principal's", map[string]string{"email": "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Principal"}, false, "the gateway's own principal header"},
		{"an empty claim name", map[string]string{"": email}, false, "a claim name is empty"},
		{"two claims in one header", map[string]string{"email": email, "mail": strings.ToLower(email)}, false, "already carries"},
	} {
		t.Run(tt.name+" is refused with the field named", func(t *testing.T) {
			c := cfg
			c.Agents = map[string]Agent{"support": {ARN: cfg.Agents["support"].ARN, ForwardClaims: tt.claims}}
			if tt.noJWT {
				c.Auth = Auth{None: true}
			}
			err := c.ValidateGateway()
			if err == nil || !strings.Contains(err.Error(), "agents.support.forwardClaims: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want agents.support.forwardClaims: ...%s", err, tt.want)
			}
		})
	}
}

func TestDefaultsAreValidForTheAgent(t *testing.T) {
	cfg := Default()
	if err := cfg.ValidateAgent(); err != nil {
		t.Fatal(err)
	}
}

func TestExampleFileLoadsAndValidates(t *testing.T) {
	cfg, err := Load("../../agentgate.example.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, check := range []func(*Config) error{(*Config).ValidateGateway, (*Config).ValidateAgent, (*Config).ValidateEmulator} {
		if err := check(&cfg); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzValidAgentName checks the hand-written name check against the rule
// it implements, written as a regular expression.
func FuzzValidAgentName(f *testing.F) {
	rule := regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	for _, seed := range []string{"demo", "a", "", "-a", "a-b.c_d", "A", "a/b", "é", strings.Repeat("a", 63), strings.Repeat("a", 64), "0", "a\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidAgentName(s), rule.MatchString(s); got != want {
			t.Fatalf("ValidAgentName(%q) = %v, want %v", s, got, want)
		}
	})
}

func TestChatIsOnlyOnWhereConfiguredOrDefaulted(t *testing.T) {
	tests := []struct {
		name         string
		file, env    string
		serve, up    bool
		wantEnvError bool
	}{
		{name: "unset leaves each subcommand its default", serve: false, up: true},
		{name: "the file turns it on everywhere", file: "chat:\n  enabled: true\n", serve: true, up: true},
		{name: "the file turns it off in up too", file: "chat:\n  enabled: false\n", serve: false, up: false},
		{name: "the environment wins over the file", file: "chat:\n  enabled: true\n", env: "false", serve: false, up: false},
		{name: "the environment turns it on", env: "1", serve: true, up: true},
		{name: "a value that is not a boolean is refused", env: "maybe", wantEnvError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = filepath.Join(t.TempDir(), "agentgate.yaml")
				os.WriteFile(path, []byte(tt.file), 0o644)
			}
			cfg, err := Load(path, env(map[string]string{"AGENTGATE_CHAT": tt.env}))
			if tt.wantEnvError {
				if err == nil || !strings.Contains(err.Error(), "AGENTGATE_CHAT") {
					t.Fatalf("err = %v, want one naming AGENTGATE_CHAT", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Chat.On(false); got != tt.serve {
				t.Errorf("serve (default off): chat on = %v, want %v", got, tt.serve)
			}
			if got := cfg.Chat.On(true); got != tt.up {
				t.Errorf("up (default on): chat on = %v, want %v", got, tt.up)
			}
		})
	}
}

func TestStreamDurabilitySettings(t *testing.T) {
	cfg, err := Load("", env(map[string]string{
		"AGENTGATE_STREAM_DURABLE":            "false",
		"AGENTGATE_STREAM_DETACHED_TIMEOUT":   "90s",
		"AGENTGATE_STREAM_RETAIN":             "1m",
		"AGENTGATE_STREAM_MAX_RETAINED_BYTES": "1024",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Stream.IsDurable() || cfg.Stream.DetachedTimeout != 90*time.Second || cfg.Stream.Retain != time.Minute || cfg.Stream.MaxRetainedBytes != 1024 {
		t.Fatalf("from the environment: %+v", cfg.Stream)
	}
	if !Default().Stream.IsDurable() {
		t.Fatal("turns are not durable by default")
	}
	bad := Default()
	bad.Stream.Retain = -time.Second
	if err := bad.ValidateGateway(); err == nil || !strings.Contains(err.Error(), "stream.retain") {
		t.Fatalf("a negative stream.retain: %v, want an error naming it", err)
	}
}
