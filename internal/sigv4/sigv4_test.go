package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var testCreds = aws.Credentials{AccessKeyID: "AKIDEXAMPLE000000000", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}

// signed returns a POST of body signed with creds for region and service at
// at, and the body's hash.
func signed(t *testing.T, creds aws.Credentials, region, service string, at time.Time, body string) (*http.Request, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:4566/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, service, region, at); err != nil {
		t.Fatal(err)
	}
	return req, hash
}

func TestVerify(t *testing.T) {
	v := New(testCreds, "eu-west-1", "secretsmanager")
	body := `{"SecretId":"x"}`
	tests := []struct {
		name   string
		change func(r *http.Request) (*http.Request, string)
		want   Problem
	}{
		{"a request signed as the SDK signs verifies", nil, 0},
		{"a request without Authorization is Missing", func(r *http.Request) (*http.Request, string) {
			r.Header.Del("Authorization")
			return r, ""
		}, Missing},
		{"another key pair is UnknownKey", func(*http.Request) (*http.Request, string) {
			return signed(t, aws.Credentials{AccessKeyID: "AKIDOTHER00000000000", SecretAccessKey: "x"}, "eu-west-1", "secretsmanager", time.Now(), body)
		}, UnknownKey},
		{"the right key id with the wrong secret is Mismatch", func(*http.Request) (*http.Request, string) {
			return signed(t, aws.Credentials{AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: "wrong"}, "eu-west-1", "secretsmanager", time.Now(), body)
		}, Mismatch},
		{"a scope for another service is Malformed", func(*http.Request) (*http.Request, string) {
			return signed(t, testCreds, "eu-west-1", "kms", time.Now(), body)
		}, Malformed},
		{"a scope for another region is Malformed", func(*http.Request) (*http.Request, string) {
			return signed(t, testCreds, "us-east-1", "secretsmanager", time.Now(), body)
		}, Malformed},
		{"a signature from 20 minutes ago is Expired", func(*http.Request) (*http.Request, string) {
			return signed(t, testCreds, "eu-west-1", "secretsmanager", time.Now().Add(-20*time.Minute), body)
		}, Expired},
		{"a signed header changed after signing is Mismatch", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("X-Amz-Target", "secretsmanager.PutSecretValue")
			return r, ""
		}, Mismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, hash := signed(t, testCreds, "eu-west-1", "secretsmanager", time.Now(), body)
			if tt.change != nil {
				if r2, h2 := tt.change(r); h2 != "" {
					r, hash = r2, h2
				}
			}
			err := v.Verify(r, hash, int64(len(body)))
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Problem != tt.want || e.Message == "" {
				t.Fatalf("Verify = %v, want problem %d", err, tt.want)
			}
			if strings.Contains(e.Message, testCreds.SecretAccessKey) {
				t.Fatalf("the message names the secret key: %s", e.Message)
			}
		})
	}
}
