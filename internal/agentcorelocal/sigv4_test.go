package agentcorelocal

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
)

// countingAgent starts an agent that answers {} and counts its calls.
func countingAgent(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	u := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.WriteString(w, `{}`)
	})
	return u, &calls
}

func TestSDKRequestsSignedWrongAreAccessDenied(t *testing.T) {
	agentURL, calls := countingAgent(t)
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})

	tests := []struct {
		name string
		opt  func(*bedrockagentcore.Options)
		want string
	}{
		{
			name: "a wrong secret key is AccessDenied: the signature does not match",
			opt: func(o *bedrockagentcore.Options) {
				o.Credentials = credentials.NewStaticCredentialsProvider(testKeyID, "not-the-secret", "")
			},
			want: "The request signature we calculated does not match",
		},
		{
			name: "an unknown access key id is AccessDenied: the token is invalid",
			opt: func(o *bedrockagentcore.Options) {
				o.Credentials = credentials.NewStaticCredentialsProvider("AKIDSOMEONEELSE00000", testSecret, "")
			},
			want: "security token included in the request is invalid",
		},
		{
			name: "a session token the emulator never issued is AccessDenied",
			opt: func(o *bedrockagentcore.Options) {
				o.Credentials = credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "a-session-token")
			},
			want: "security token included in the request is invalid",
		},
		{
			name: "a signature for another region is AccessDenied",
			opt:  func(o *bedrockagentcore.Options) { o.Region = "us-west-2" },
			want: "Credential should be scoped to a valid region",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := newClient(t, em.url, tt.opt)
			_, err := client.InvokeAgentRuntime(context.Background(), &bedrockagentcore.InvokeAgentRuntimeInput{
				AgentRuntimeArn: aws.String(testARN),
				Payload:         []byte(`{}`),
			})
			var ade *types.AccessDeniedException
			if !errors.As(err, &ade) {
				t.Fatalf("err = %v, want *types.AccessDeniedException", err)
			}
			if !strings.Contains(ade.ErrorMessage(), tt.want) {
				t.Errorf("message %q, want %q", ade.ErrorMessage(), tt.want)
			}
			if got := httpStatus(err); got != http.StatusForbidden {
				t.Errorf("status = %d, want 403", got)
			}
		})
	}
	t.Run("StopRuntimeSession is authenticated too", func(t *testing.T) {
		client := newClient(t, em.url, tests[0].opt)
		_, err := client.StopRuntimeSession(context.Background(), &bedrockagentcore.StopRuntimeSessionInput{
			AgentRuntimeArn:  aws.String(testARN),
			RuntimeSessionId: aws.String(session40),
		})
		var ade *types.AccessDeniedException
		if !errors.As(err, &ade) {
			t.Fatalf("err = %v, want *types.AccessDeniedException", err)
		}
	})
	if n := calls.Load(); n != 0 {
		t.Errorf("the agent was called %d times by unauthenticated requests", n)
	}
}

func TestRawRequestsSignedWrongAreAccessDenied(t *testing.T) {
	agentURL, calls := countingAgent(t)
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := rawClient(t)
	u := invocationsURL(em.url, testARN)
	body := []byte(`{"prompt":"A"}`)

	tests := []struct {
		name    string
		request func(t *testing.T) *http.Request
		want    string
	}{
		{
			name: "a request without Authorization is AccessDenied",
			request: func(t *testing.T) *http.Request {
				req := signedRequest(t, u, body, body, time.Now())
				req.Header.Del("Authorization")
				return req
			},
			want: "Missing Authentication Token",
		},
		{
			name: "a body other than the signed one is AccessDenied",
			request: func(t *testing.T) *http.Request {
				return signedRequest(t, u, []byte(`{"prompt":"B"}`), body, time.Now())
			},
			want: "The request signature we calculated does not match",
		},
		{
			name: "an X-Amz-Content-Sha256 that is not the body's hash is AccessDenied",
			request: func(t *testing.T) *http.Request {
				req := signedRequest(t, u, body, body, time.Now())
				req.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
				return req
			},
			want: "x-amz-content-sha256",
		},
		{
			name: "a signed header changed after signing is AccessDenied",
			request: func(t *testing.T) *http.Request {
				req := signedRequest(t, u, body, body, time.Now(), sessionHeader, session40)
				req.Header.Set(sessionHeader, strings.Replace(session40, "0", "1", 1))
				return req
			},
			want: "The request signature we calculated does not match",
		},
		{
			name: "a signature older than 15 minutes is AccessDenied",
			request: func(t *testing.T) *http.Request {
				return signedRequest(t, u, body, body, time.Now().Add(-20*time.Minute))
			},
			want: "Signature expired",
		},
		{
			name: "a signature more than 15 minutes ahead is AccessDenied",
			request: func(t *testing.T) *http.Request {
				return signedRequest(t, u, body, body, time.Now().Add(20*time.Minute))
			},
			want: "Signature not yet current",
		},
		{
			name: "a credential scope for another service is AccessDenied",
			request: func(t *testing.T) *http.Request {
				req := signedRequest(t, u, body, body, time.Now())
				req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "/bedrock-agentcore/", "/bedrock/", 1))
				return req
			},
			want: "Credential should be scoped to correct service",
		},
		{
			name: "an Authorization header without a signature is AccessDenied",
			request: func(t *testing.T) *http.Request {
				req := signedRequest(t, u, body, body, time.Now())
				auth, _, _ := strings.Cut(req.Header.Get("Authorization"), ", Signature=")
				req.Header.Set("Authorization", auth)
				return req
			},
			want: "requires 'Signature' parameter",
		},
		{
			name: "an Authorization header of another scheme is AccessDenied",
			request: func(t *testing.T) *http.Request {
				req := signedRequest(t, u, body, body, time.Now())
				req.Header.Set("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x")
				return req
			},
			want: "AWS4-HMAC-SHA256",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, respBody := doRaw(t, client, tt.request(t))
			msg := checkErrorShape(t, resp, respBody, http.StatusForbidden, "AccessDeniedException")
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q, want %q", msg, tt.want)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the agent was called %d times by unauthenticated requests", n)
	}
}

func TestRawSignedRequestsAreServed(t *testing.T) {
	headers := make(chan http.Header, 1)
	agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		_, _ = io.WriteString(w, `{}`)
	})
	const custom = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Tenant"
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL, HeaderAllowlist: []string{custom}})
	body := []byte(`{}`)
	tests := []struct {
		name   string
		header []string
		check  func(t *testing.T, agent http.Header)
	}{
		{
			name: "a request without Content-Type reaches the agent as application/json",
			check: func(t *testing.T, agent http.Header) {
				if got := agent.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type = %q", got)
				}
			},
		},
		{
			name:   "a request with its body's hash in X-Amz-Content-Sha256 is served",
			header: []string{"X-Amz-Content-Sha256", "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
		},
		{
			name:   "an allow-listed custom runtime header reaches the agent; Authorization does not",
			header: []string{custom, "acme"},
			check: func(t *testing.T, agent http.Header) {
				if got := agent.Get(custom); got != "acme" {
					t.Errorf("%s = %q", custom, got)
				}
				if got := agent.Get("Authorization"); got != "" {
					t.Errorf("Authorization = %q reached the agent", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// url.PathEscape leaves the ARN's colons alone where the SDK
			// escapes them: either spelling of the path must verify.
			req := signedRequest(t, invocationsURL(em.url, testARN), body, body, time.Now(), tt.header...)
			if strings.Contains(req.URL.EscapedPath(), "%3A") {
				t.Fatalf("path %s: want colons unescaped for this test", req.URL.EscapedPath())
			}
			resp, respBody := doRaw(t, rawClient(t), req)
			if resp.StatusCode != http.StatusOK || string(respBody) != `{}` {
				t.Fatalf("status %d body %q", resp.StatusCode, respBody)
			}
			var agent http.Header
			select {
			case agent = <-headers:
			case <-time.After(wait):
				t.Fatal("the agent was not called")
			}
			// No session header was sent: the emulator made one up.
			if s := agent.Get(sessionHeader); len(s) != 36 || resp.Header.Get(sessionHeader) != s {
				t.Errorf("agent saw session %q, response names %q; want one generated 36-character id", s, resp.Header.Get(sessionHeader))
			}
			if tt.check != nil {
				tt.check(t, agent)
			}
		})
	}
}
