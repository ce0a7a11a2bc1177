package secrets

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/secretslocal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const sessionKey = "session-key-from-secrets-manager-000000"

// standIn serves a Secrets Manager stand-in on loopback, and points the
// SDK's default credentials at its key pair.
func standIn(t *testing.T) (*secretslocal.Server, string) {
	t.Helper()
	const keyID, secret = "AKIDSECRETSTEST00000", "c2VjcmV0cy10ZXN0LWtleS1wYWlyLTAwMDAwMDAw"
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	sm, err := secretslocal.New(secretslocal.Config{Region: "eu-west-1", AccessKeyID: keyID, SecretAccessKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sm)
	t.Cleanup(srv.Close)
	return sm, srv.URL
}

func read(t *testing.T, s config.Secrets) (config.SecretValues, error) {
	t.Helper()
	src, err := NewSource(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return src.Read(context.Background())
}

func TestReadParsesTheSecretInItsRegion(t *testing.T) {
	sm, url := standIn(t)
	t.Setenv("AWS_REGION", "us-west-2") // the ARN's region wins: the stand-in wants eu-west-1
	arn := sm.Put("agentgate", `{"sessionKey":"`+sessionKey+`","apiKeys":[{"name":"ops","hash":"sha256:00"}]}`)
	v, err := read(t, config.Secrets{ARN: arn, Endpoint: url, Refresh: time.Minute, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if v.SessionKey != sessionKey || len(v.APIKeys) != 1 || v.APIKeys[0].Name != "ops" {
		t.Fatalf("values %+v", v)
	}
}

func TestReadFailsClearlyAndQuotesNoValue(t *testing.T) {
	sm, url := standIn(t)
	good := sm.Put("good", `{"sessionKey":"`+sessionKey+`"}`)
	unknown := sm.Put("typo", `{"sesionKey":"`+sessionKey+`"}`)
	binary := sm.PutBinary("binary", []byte(sessionKey))
	denied := sm.Put("denied", `{"sessionKey":"`+sessionKey+`"}`)
	sm.SetDenied(denied, true)
	tests := []struct {
		name     string
		arn, url string
		want     []string
	}{
		{"an unknown field is named", unknown, url, []string{`unknown fields "sesionKey"`, unknown}},
		{"a binary secret is refused", binary, url, []string{"binary", "SecretString"}},
		{"a denied secret says AccessDenied", denied, url, []string{"AccessDeniedException", denied}},
		{"a secret that does not exist says so", good + "x", url, []string{"ResourceNotFoundException"}},
		{"an unreachable endpoint says so", good, "http://127.0.0.1:1", []string{good, "connect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := read(t, config.Secrets{ARN: tt.arn, Endpoint: tt.url, Refresh: time.Minute, Timeout: 2 * time.Second})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), sessionKey) {
				t.Errorf("error %q holds the value", err)
			}
		})
	}
}

func TestNewSourceWantsASecretARN(t *testing.T) {
	if _, err := NewSource(context.Background(), config.Secrets{ARN: "agentgate", Refresh: time.Minute, Timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "secrets.arn") {
		t.Fatalf("err = %v", err)
	}
}
