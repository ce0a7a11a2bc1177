package config

import (
	"slices"
	"strings"
	"testing"
)

// leaky is a value that must never appear in an error.
const leaky = "s3cr3t-VALUE-that-must-not-leak-0123456789"

func TestParseSecretValues(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr []string // each must be in the error; none: no error
	}{
		{"every field is read", `{"sessionKey":"a","previousSessionKeys":["b"],"tokenKey":"c","previousTokenKeys":["d"],
			"originSecret":"e","previousOriginSecrets":["f"],"redisAddr":"r:6379","redisUsername":"u","redisPassword":"p",
			"metricsToken":"m","apiKeys":[{"name":"k","hash":"sha256:00"}],"users":"ada:$2a$..."}`, nil},
		{"unknown fields are all named", `{"sessionKey":"` + leaky + `","sesionKey":"x","tokenkey":"y"}`, []string{`"sesionKey"`, `"tokenkey"`, "sessionKey, previousSessionKeys"}},
		{"a field of the wrong kind is named, its value not", `{"sessionKey":1234567890123}`, []string{"sessionKey", "want a string"}},
		{"an apiKeys entry with a stray field is refused", `{"apiKeys":[{"name":"k","hash":"h","key":"raw"}]}`, []string{"apiKeys", `"key"`}},
		{"text that is not JSON is refused without being quoted", `sessionKey=` + leaky, []string{"not a JSON object"}},
		{"a JSON array is not the object", `["` + leaky + `"]`, []string{"not a JSON object"}},
		{"a Redis URL and a Redis address are one too many", `{"redisURL":"redis://h:1","redisAddr":"h:2"}`, []string{"redisURL", "either"}},
		{"a Redis URL that is not one is refused without being quoted", `{"redisURL":"http://user:` + leaky + `@h"}`, []string{"redisURL", "rediss://"}},
		{"a Redis address that is not host:port is refused without being quoted", `{"redisAddr":"` + leaky + `"}`, []string{"redisAddr", "host:port"}},
		{"an API key without a hash is refused", `{"apiKeys":[{"name":"k"}]}`, []string{"apiKeys[0]", "hash"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSecretValues([]byte(tt.json))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), leaky) || strings.Contains(err.Error(), "1234567890123") {
				t.Errorf("error %q holds a value", err)
			}
		})
	}
}

func TestSecretValuesOverrideTheFileAndEnvironment(t *testing.T) {
	cfg := Default()
	cfg.Sessions.Key = "from-the-file-from-the-file-from-the-file"
	cfg.Auth.Passwords.UsersFile = "/etc/agentgate/users"
	cfg.Auth.APIKeys = []APIKey{{Name: "file", Hash: "sha256:11"}}
	cfg.Limits.Redis.Password = "from-env"
	cfg.Metrics.Token = "kept-because-the-secret-has-none"
	v, err := ParseSecretValues([]byte(`{"sessionKey":"from-the-secret-from-the-secret-0000","previousSessionKeys":["old-old-old-old-old-old-old-old-old"],
		"redisURL":"rediss://agentgate:pw@cache.internal:6380/2","apiKeys":[{"name":"secret","hash":"sha256:22"}],"users":"ada:hash"}`))
	if err != nil {
		t.Fatal(err)
	}
	v.Apply(&cfg)
	if cfg.Sessions.Key != "from-the-secret-from-the-secret-0000" || !slices.Equal(cfg.Sessions.PreviousKeys, []string{"old-old-old-old-old-old-old-old-old"}) {
		t.Errorf("sessions %+v", cfg.Sessions)
	}
	want := Redis{Addr: "cache.internal:6380", Username: "agentgate", Password: "pw", DB: 2, TLS: true, Prefix: "agentgate:"}
	if cfg.Limits.Redis != want {
		t.Errorf("redis %+v, want %+v", cfg.Limits.Redis, want)
	}
	if len(cfg.Auth.APIKeys) != 1 || cfg.Auth.APIKeys[0].Name != "secret" {
		t.Errorf("apiKeys %+v, want the secret's list in place of the file's", cfg.Auth.APIKeys)
	}
	if cfg.Auth.Passwords.Users != "ada:hash" || cfg.Auth.Passwords.UsersFile != "" || !cfg.Auth.Passwords.On() {
		t.Errorf("passwords %+v: the secret's users take the place of the file", cfg.Auth.Passwords)
	}
	if cfg.Metrics.Token != "kept-because-the-secret-has-none" {
		t.Errorf("metrics.token %q: a field the secret leaves empty changes nothing", cfg.Metrics.Token)
	}
}

func TestValidateGatewayChecksTheSecretsSection(t *testing.T) {
	base := func() Config {
		c := Default()
		c.Auth.None = true
		c.Agents = map[string]Agent{"default": {ARN: "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/a-1"}}
		return c
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"a secret ARN is accepted", func(c *Config) {
			c.Secrets.ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:agentgate/gateway-AbCdEf"
		}, ""},
		{"a name is not an ARN", func(c *Config) { c.Secrets.ARN = "agentgate/gateway" }, "secrets.arn"},
		{"refresh must be positive", func(c *Config) {
			c.Secrets.ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf"
			c.Secrets.Refresh = 0
		}, "secrets.refresh"},
		{"a previous token key must be long enough", func(c *Config) {
			c.Auth.Passwords.Users, c.Auth.Passwords.TokenKey = "ada:x", strings.Repeat("k", 32)
			c.Auth.Passwords.PreviousTokenKeys = []string{"short"}
		}, "auth.passwords.previousTokenKeys[0]"},
		{"users from the secret need a token key", func(c *Config) { c.Auth.Passwords.Users = "ada:x" }, "auth.passwords.tokenKey"},
		{"previous origin secrets need a secret", func(c *Config) { c.OriginLock.PreviousSecrets = []string{strings.Repeat("o", 16)} }, "originLock.previousSecrets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.change(&c)
			err := c.ValidateGateway()
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestTheSecretsARNAndRefreshComeFromTheEnvironment(t *testing.T) {
	cfg, err := Load("", env(map[string]string{
		"AGENTGATE_SECRETS_ARN":     "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gw-AbCdEf",
		"AGENTGATE_SECRETS_REFRESH": "30s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Secrets.ARN == "" || cfg.Secrets.Refresh.String() != "30s" || SecretRegion(cfg.Secrets.ARN) != "eu-west-1" {
		t.Fatalf("secrets %+v", cfg.Secrets)
	}
	if Default().Secrets.Refresh.String() != "5m0s" {
		t.Fatalf("default refresh %v, want 5m", Default().Secrets.Refresh)
	}
}

func TestChangedNamesTheFieldsNotTheValues(t *testing.T) {
	a := SecretValues{SessionKey: "one", TokenKey: "same", APIKeys: []APIKey{{Name: "k", Hash: "h"}}}
	b := SecretValues{SessionKey: "two", TokenKey: "same", APIKeys: []APIKey{{Name: "k", Hash: "h2"}}, Users: "ada:x"}
	if got := a.Changed(b); !slices.Equal(got, []string{"sessionKey", "apiKeys", "users"}) {
		t.Fatalf("Changed = %v", got)
	}
	if got := a.Changed(a); len(got) != 0 {
		t.Fatalf("Changed(itself) = %v", got)
	}
}
