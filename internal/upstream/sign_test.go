package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// TestSignerSignsAsTheSDK: over random requests of the data plane's shape
// (endpoints with and without default ports, ARNs and qualifiers that
// need escaping, any headers with values that need canonicalising,
// payloads empty or not, with and without a session token), the gateway's
// signer writes the same X-Amz-Date, X-Amz-Security-Token, Host and
// Authorization as the SDK's aws/signer/v4, and the URL's query is the
// one the SDK's signer makes canonical.
func TestSignerSignsAsTheSDK(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	values := []string{"", " ", "a", " a", "a ", "a  b", " a \t b  ", "\ta\t", "x,y", "  lots   of    spaces  ", "ünï", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	names := []string{"Content-Type", "Accept", headerSessionID, headerUserID, "Traceparent", "Tracestate", "Baggage",
		"X-Amzn-Bedrock-Agentcore-Runtime-Custom-Email", "X-Amzn-Bedrock-Agentcore-Runtime-Custom-Tenant-Id",
		"Amz-Sdk-Request", "User-Agent", "X-Amzn-Trace-Id", "Expect", "Authorization", "Content-Length", "X-Custom"}
	for i := range 500 {
		endpoint := pick("http://127.0.0.1:8080", "https://bedrock-agentcore.us-east-1.amazonaws.com", "https://example.test:443",
			"http://example.test:80", "http://[::1]:80", "https://[::1]:8443", "http://127.0.0.1:8080/prefix")
		arn := pick("arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-x", "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/a_b-c.d~e")
		qualifier := pick("DEFAULT", "live", "v1-2_3", "a~b")
		region := pick("us-east-1", "eu-central-1", "ap-southeast-2")
		a, err := NewAgentCore(context.Background(), AgentCoreConfig{ARN: arn, Qualifier: qualifier, Region: region, Endpoint: endpoint,
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")})
		if err != nil {
			t.Fatal(err)
		}
		if a.sdkSigner != nil {
			t.Fatalf("%s %s %q: the start-up probe found the signers disagree", endpoint, arn, qualifier)
		}
		creds := aws.Credentials{AccessKeyID: "AKID" + pick("", "EXAMPLE"), SecretAccessKey: pick("secret", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")}
		if rng.IntN(2) == 0 {
			creds.SessionToken = "token/" + pick("a", "b+c==")
		}
		payload := []byte(pick("", "{}", `{"prompt":"hi"}`))
		sum := sha256.Sum256(payload)
		hash := hex.EncodeToString(sum[:])
		at := time.Date(2026, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1e9), time.FixedZone("x", 3600*rng.IntN(5)))
		op := a.invoke
		if rng.IntN(3) == 0 {
			op = a.stop
		}
		header := http.Header{}
		for range rng.IntN(8) {
			name := pick(names...)
			for range 1 + rng.IntN(2) {
				header[name] = append(header[name], pick(values...))
			}
		}
		newReq := func() *http.Request {
			r, err := http.NewRequest(http.MethodPost, op.url, strings.NewReader(string(payload)))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range header {
				r.Header[k] = append([]string(nil), v...)
			}
			return r
		}
		ours, sdks := newReq(), newReq()
		query := ours.URL.RawQuery
		a.signer.sign(ours, creds, hash, op.canonicalURI, at)
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, sdks, hash, signingName, region, at); err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
			if got, want := ours.Header.Values(h), sdks.Header.Values(h); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("request %d (%s %v): %s\n got %q\nwant %q", i, op.url, header, h, got, want)
			}
		}
		if ours.Host != sdks.Host || query != sdks.URL.RawQuery {
			t.Fatalf("request %d: host %q query %q, the SDK's %q %q", i, ours.Host, query, sdks.Host, sdks.URL.RawQuery)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	a, err := NewAgentCore(context.Background(), AgentCoreConfig{ARN: testARN, Region: "us-east-1", Endpoint: "http://127.0.0.1:8080",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")})
	if err != nil {
		b.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret", SessionToken: "token"}
	const hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	newReq := func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, a.invoke.url, strings.NewReader("{}"))
		r.Header["Content-Type"] = []string{"application/json"}
		r.Header["Accept"] = []string{"text/event-stream, application/json"}
		r.Header[headerSessionID] = []string{strings.Repeat("s", 40)}
		r.Header["Amz-Sdk-Invocation-Id"] = []string{"3f0e3f5e-2b53-4ab7-9c1b-6d5a3c2e1f00"}
		r.Header["Amz-Sdk-Request"] = []string{"attempt=1; max=3"}
		return r
	}
	b.Run("gateway", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.signer.sign(newReq(), creds, hash, a.invoke.canonicalURI, time.Now())
		}
	})
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		s := v4.NewSigner()
		for b.Loop() {
			_ = s.SignHTTP(context.Background(), creds, newReq(), hash, signingName, "us-east-1", time.Now())
		}
	})
}
