package secretslocal

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testRegion = "eu-west-1"
	testKeyID  = "AKIDSECRETSLOCAL0000"
	testSecret = "c2VjcmV0c2xvY2FsLXRlc3Qta2V5LXBhaXItMDAwMA"
)

// start serves a stand-in on loopback and returns it, its URL and its log.
func start(t *testing.T) (*Server, string, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	s, err := New(Config{Region: testRegion, AccessKeyID: testKeyID, SecretAccessKey: testSecret, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL, &log
}

// client is the SDK's client for url, signing with keyID and secret, one
// try per call.
func client(url, keyID, secret string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		RetryMaxAttempts: 1,
	})
}

func TestTheSDKReadsASecretAndItsRotation(t *testing.T) {
	s, url, log := start(t)
	arn := s.Put("agentgate/gateway", `{"sessionKey":"first-value-first-value-first-value"}`)
	c := client(url, testKeyID, testSecret)
	ctx := context.Background()

	first, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(first.SecretString) != `{"sessionKey":"first-value-first-value-first-value"}` || aws.ToString(first.ARN) != arn ||
		aws.ToString(first.Name) != "agentgate/gateway" || first.CreatedDate == nil || first.VersionStages[0] != StageCurrent {
		t.Fatalf("GetSecretValue = %+v", first)
	}
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:agentgate/gateway-") {
		t.Fatalf("ARN %s", arn)
	}

	t.Run("after a rotation the current version is the new value and the old one is AWSPREVIOUS", func(t *testing.T) {
		s.Put("agentgate/gateway", `{"sessionKey":"second-value-second-value-second-value"}`)
		cur, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil || !strings.Contains(aws.ToString(cur.SecretString), "second-value") || aws.ToString(cur.VersionId) == aws.ToString(first.VersionId) {
			t.Fatalf("current: %+v, %v", cur, err)
		}
		prev, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(StagePrevious)})
		if err != nil || aws.ToString(prev.VersionId) != aws.ToString(first.VersionId) {
			t.Fatalf("previous: %+v, %v", prev, err)
		}
		byName, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("agentgate/gateway")})
		if err != nil || aws.ToString(byName.VersionId) != aws.ToString(cur.VersionId) {
			t.Fatalf("by name: %+v, %v", byName, err)
		}
	})

	t.Run("a binary secret comes back as SecretBinary", func(t *testing.T) {
		barn := s.PutBinary("binary", []byte{0, 1, 2, 255})
		out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(barn)})
		if err != nil || !bytes.Equal(out.SecretBinary, []byte{0, 1, 2, 255}) || out.SecretString != nil {
			t.Fatalf("%+v, %v", out, err)
		}
	})

	if strings.Contains(log.String(), "value-") {
		t.Fatalf("the log holds a secret's value:\n%s", log)
	}
}

func TestFailuresAreTheErrorsTheSDKModels(t *testing.T) {
	s, url, _ := start(t)
	arn := s.Put("app", `{}`)
	denied := s.Put("denied", `{}`)
	s.SetDenied(denied, true)
	ok := client(url, testKeyID, testSecret)

	tests := []struct {
		name     string
		client   *secretsmanager.Client
		id       string
		fault    string
		wantCode string
		modeled  any
	}{
		{"an unknown secret is ResourceNotFoundException", ok, arn + "x", "", codeResourceNotFound, new(*types.ResourceNotFoundException)},
		{"a secret the caller may not read is AccessDeniedException", ok, denied, "", codeAccessDenied, nil},
		{"an unknown access key is InvalidClientTokenId", client(url, "AKIDSOMEONEELSE00000", testSecret), arn, "", codeInvalidClientTokenID, nil},
		{"a wrong secret key is SignatureDoesNotMatch", client(url, testKeyID, "not-the-secret"), arn, "", codeSignatureDoesNotMatch, nil},
		{"an injected fault is the modeled InternalServiceError", ok, arn, FaultInternalServiceError, codeInternalServiceError, new(*types.InternalServiceError)},
		{"an injected DecryptionFailure is modeled too", ok, arn, FaultDecryptionFailure, codeDecryptionFailure, new(*types.DecryptionFailure)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.SetFault(tt.fault)
			defer s.SetFault("")
			_, err := tt.client.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(tt.id)})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantCode || apiErr.ErrorMessage() == "" {
				t.Fatalf("err %v, want code %s", err, tt.wantCode)
			}
			if tt.modeled != nil && !errors.As(err, tt.modeled) {
				t.Fatalf("err %T is not the SDK's modeled %T", errors.Unwrap(err), tt.modeled)
			}
		})
	}
}

func TestAnotherOperationIsInvalidAction(t *testing.T) {
	s, url, _ := start(t)
	arn := s.Put("app", `{}`)
	_, err := client(url, testKeyID, testSecret).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != codeInvalidAction {
		t.Fatalf("DescribeSecret: %v, want %s", err, codeInvalidAction)
	}
}

func TestAnUnsignedOrUnknownRequestLearnsNothing(t *testing.T) {
	s, url, _ := start(t)
	s.Put("app", `{"tokenKey":"not-for-strangers"}`)
	for _, tt := range []struct {
		name, target, auth string
		want               string
		status             int
	}{
		{"no Authorization is MissingAuthenticationToken", targetGetSecretValue, "", codeMissingAuthentication, http.StatusForbidden},
		{"another scheme is IncompleteSignature", targetGetSecretValue, "Bearer x", codeIncompleteSignature, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(`{"SecretId":"app"}`))
			req.Header.Set("X-Amz-Target", tt.target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(b.String(), `"__type":"`+tt.want+`"`) || strings.Contains(b.String(), "not-for-strangers") {
				t.Fatalf("%d %s", resp.StatusCode, b.String())
			}
		})
	}
	if n := s.Calls(); n != 0 {
		t.Fatalf("%d unauthenticated requests counted as calls", n)
	}
}
