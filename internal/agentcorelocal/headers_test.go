package agentcorelocal

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// withHeader adds a header to an SDK request before it is signed.
func withHeader(name, value string) func(*bedrockagentcore.Options) {
	return func(o *bedrockagentcore.Options) {
		o.APIOptions = append(o.APIOptions, smithyhttp.AddHeaderValue(name, value))
	}
}

func TestOnlyAllowListedHeadersReachTheAgent(t *testing.T) {
	const (
		tenant   = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Tenant"
		unlisted = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Unlisted"
	)
	headers := make(chan http.Header, 1)
	agentURL := startAgent(t, func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		_, _ = io.WriteString(w, `{}`)
	})
	em := startEmulator(t,
		Runtime{ARN: testARN, URL: agentURL, HeaderAllowlist: []string{tenant, "x-api-key"}},
		Runtime{ARN: otherARN, URL: agentURL})
	client := newClient(t, em.url)
	invoke := func(t *testing.T, arn string, opts ...func(*bedrockagentcore.Options)) http.Header {
		t.Helper()
		out, err := client.InvokeAgentRuntime(context.Background(), &bedrockagentcore.InvokeAgentRuntimeInput{
			AgentRuntimeArn: aws.String(arn), Payload: []byte(`{}`), RuntimeSessionId: aws.String(session40),
			TraceParent: aws.String("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
		}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		out.Response.Close()
		select {
		case h := <-headers:
			return h
		case <-time.After(wait):
			t.Fatal("the agent was not called")
			return nil
		}
	}
	all := []func(*bedrockagentcore.Options){
		withHeader(tenant, "acme"), withHeader("X-Api-Key", "k-123"),
		withHeader(unlisted, "no"), withHeader("X-Other", "no"),
	}

	t.Run("the allow-listed headers reach the agent, matched without case, with the data plane's own", func(t *testing.T) {
		h := invoke(t, testARN, all...)
		if h.Get(tenant) != "acme" || h.Get("X-Api-Key") != "k-123" {
			t.Errorf("agent got %s = %q, X-Api-Key = %q", tenant, h.Get(tenant), h.Get("X-Api-Key"))
		}
		if h.Get(sessionHeader) != session40 || h.Get("Traceparent") == "" {
			t.Errorf("agent got session %q, traceparent %q", h.Get(sessionHeader), h.Get("Traceparent"))
		}
	})
	t.Run("headers the runtime does not list stay behind, custom ones too", func(t *testing.T) {
		h := invoke(t, testARN, all...)
		for _, name := range []string{unlisted, "X-Other", "Authorization", "X-Amz-Date"} {
			if v := h.Get(name); v != "" {
				t.Errorf("agent got %s = %q", name, v)
			}
		}
	})
	t.Run("a runtime with no allow-list passes on no custom header, as AgentCore's default", func(t *testing.T) {
		h := invoke(t, otherARN, all...)
		if v := h.Get(tenant); v != "" {
			t.Errorf("agent got %s = %q", tenant, v)
		}
	})
	t.Run("a value over 4 KB does not reach the agent", func(t *testing.T) {
		h := invoke(t, testARN, withHeader(tenant, strings.Repeat("x", 4097)), withHeader("X-Api-Key", strings.Repeat("y", 4096)))
		if v := h.Get(tenant); v != "" {
			t.Errorf("agent got a %d-byte %s", len(v), tenant)
		}
		if v := h.Get("X-Api-Key"); len(v) != 4096 {
			t.Errorf("agent got a %d-byte X-Api-Key, want the 4096 sent", len(v))
		}
	})
}

func TestAllowListsAreCheckedAsAgentCoreChecksThem(t *testing.T) {
	tests := []struct {
		name  string
		allow []string
		want  string // "" for accepted
	}{
		{name: "custom and ordinary header names are accepted", allow: []string{"X-Amzn-Bedrock-AgentCore-Runtime-Custom-A", "X-Api-Key", "x_tenant"}},
		{name: "a restricted header is refused", allow: []string{"X-Api-Key", "Content-Type"}, want: "headerAllowlist[1]: Content-Type is one of AgentCore's restricted headers"},
		{name: "an x-amz- header is refused", allow: []string{"X-Amz-Security-Token"}, want: "headerAllowlist[0]: X-Amz-Security-Token: headers starting x-amz- are reserved"},
		{name: "an x-amzn- header other than the custom prefix is refused", allow: []string{"X-Amzn-Trace-Id"}, want: "headerAllowlist[0]: X-Amzn-Trace-Id: headers starting x-amzn- are refused"},
		{name: "Authorization is refused: the emulator has no JWT authorizer", allow: []string{"Authorization"}, want: "headerAllowlist[0]: Authorization reaches an agent only on a runtime with a JWT authorizer"},
		{name: "a name outside the pattern is refused", allow: []string{"1-header"}, want: `headerAllowlist[0]: "1-header" is not a header name`},
		{name: "a name listed twice is refused", allow: []string{"X-A", "x-a"}, want: "headerAllowlist[1]: x-a is listed twice"},
		{name: "more than 20 names are refused", allow: strings.Fields("a b c d e f g h i j k l m n o p q r s t u"), want: "headerAllowlist: 21 headers; AgentCore allows at most 20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Region: testRegion, AccessKeyID: testKeyID, SecretAccessKey: testSecret,
				Runtimes: []Runtime{{ARN: testARN, URL: "http://127.0.0.1:8080", HeaderAllowlist: tt.allow}}})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "runtimes[0]."+tt.want) {
				t.Errorf("err = %v, want it to say runtimes[0].%s", err, tt.want)
			}
		})
	}
}
