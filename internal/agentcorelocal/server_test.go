package agentcorelocal

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestOtherRequestsGetRestJSONErrors(t *testing.T) {
	agentURL, calls := countingAgent(t)
	em := startEmulator(t, Runtime{ARN: testARN, URL: agentURL})
	client := rawClient(t)
	escaped := strings.ReplaceAll(invocationsURL("", testARN), ":", "%3A")

	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantAllow  string
	}{
		{name: "an unknown path is a 404 UnknownOperationException", method: http.MethodPost, path: "/runtimes", wantStatus: http.StatusNotFound},
		{name: "an unknown operation of a runtime is a 404 UnknownOperationException", method: http.MethodPost, path: strings.Replace(escaped, "/invocations", "/commands", 1), wantStatus: http.StatusNotFound},
		{name: "the ARN not encoded into one segment is a 404 UnknownOperationException", method: http.MethodPost, path: "/runtimes/" + testARN + "/invocations", wantStatus: http.StatusNotFound},
		{name: "GET on the invocations path is a 405 UnknownOperationException", method: http.MethodGet, path: escaped, wantStatus: http.StatusMethodNotAllowed, wantAllow: "POST"},
		{name: "PUT on the stop path is a 405 UnknownOperationException", method: http.MethodPut, path: strings.Replace(escaped, "/invocations", "/stopruntimesession", 1), wantStatus: http.StatusMethodNotAllowed, wantAllow: "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, em.url+tt.path, strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			resp, body := doRaw(t, client, req)
			checkErrorShape(t, resp, body, tt.wantStatus, "UnknownOperationException")
			if got := resp.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
		})
	}
	t.Run("an unknown runtime answers a restJson1 404 naming the ARN", func(t *testing.T) {
		req := signedRequest(t, invocationsURL(em.url, otherARN), []byte(`{}`), []byte(`{}`), time.Now())
		resp, body := doRaw(t, client, req)
		if msg := checkErrorShape(t, resp, body, http.StatusNotFound, "ResourceNotFoundException"); !strings.Contains(msg, otherARN) {
			t.Errorf("message %q does not name %s", msg, otherARN)
		}
	})
	if n := calls.Load(); n != 0 {
		t.Errorf("the agent was called %d times", n)
	}
}

func TestErrorsAreLoggedWithTheirType(t *testing.T) {
	em := startEmulator(t, Runtime{ARN: testARN, URL: deadAgentURL(t)})
	req := signedRequest(t, invocationsURL(em.url, testARN), []byte(`{}`), []byte(`{}`), time.Now(), sessionHeader, session40)
	if resp, _ := doRaw(t, rawClient(t), req); resp.StatusCode != http.StatusFailedDependency {
		t.Errorf("status = %d, want 424", resp.StatusCode)
	}
	select {
	case rec := <-em.logs:
		a := attrs(rec)
		want := map[string]string{"op": "InvokeAgentRuntime", "arn": testARN, "session": session40, "status": "424", "errorType": "RuntimeClientError"}
		for k, v := range want {
			if a[k] != v {
				t.Errorf("log %s = %q, want %q", k, a[k], v)
			}
		}
		if !strings.Contains(a["error"], "call agent") {
			t.Errorf("log error = %q, want why the agent failed", a["error"])
		}
	case <-time.After(wait):
		t.Fatal("no log line")
	}
}

func TestNewNamesTheBadField(t *testing.T) {
	good := func() Config {
		return Config{
			Region: testRegion, AccessKeyID: testKeyID, SecretAccessKey: testSecret,
			Runtimes: []Runtime{{ARN: testARN, URL: "http://127.0.0.1:8080"}, {ARN: otherARN, URL: "http://agent:8080/"}},
		}
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{name: "a config with every field right is accepted", change: func(*Config) {}},
		{name: "a missing region is refused", change: func(c *Config) { c.Region = "" }, want: "region: "},
		{name: "a region that is not one is refused", change: func(c *Config) { c.Region = "US East" }, want: "region: "},
		{name: "a missing access key id is refused", change: func(c *Config) { c.AccessKeyID = "" }, want: "accessKeyID: required"},
		{name: "a missing secret is refused", change: func(c *Config) { c.SecretAccessKey = "" }, want: "secretAccessKey: required"},
		{name: "no runtimes are refused", change: func(c *Config) { c.Runtimes = nil }, want: "runtimes: at least one"},
		{name: "a malformed ARN is refused", change: func(c *Config) { c.Runtimes[1].ARN = "arn:aws:lambda:us-east-1:123456789012:function/x" }, want: "runtimes[1].arn: not an AgentCore runtime ARN"},
		{name: "a runtime of another region is refused", change: func(c *Config) {
			c.Runtimes[1].ARN = "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/x"
		}, want: `runtimes[1].arn: region "eu-west-1"`},
		{name: "a runtime configured twice is refused", change: func(c *Config) { c.Runtimes[1].ARN = testARN }, want: "runtimes[1].arn: " + testARN + " is configured twice"},
		{name: "a URL without a scheme is refused", change: func(c *Config) { c.Runtimes[0].URL = "127.0.0.1:8080" }, want: "runtimes[0].url: "},
		{name: "a URL with a query is refused", change: func(c *Config) { c.Runtimes[0].URL = "http://a/?x=1" }, want: "runtimes[0].url: "},
		{name: "a negative idle timeout is refused", change: func(c *Config) { c.IdleSessionTimeout = -time.Second }, want: "idleSessionTimeout: must not be negative"},
		{name: "a negative maximum lifetime is refused", change: func(c *Config) { c.MaxSessionLifetime = -time.Second }, want: "maxSessionLifetime: must not be negative"},
		{name: "an idle timeout longer than the maximum lifetime is refused, as AgentCore refuses it", change: func(c *Config) {
			c.MaxSessionLifetime = 10 * time.Minute
		}, want: "idleSessionTimeout: 15m0s is longer than maxSessionLifetime 10m0s"},
		{name: "a negative quota is refused", change: func(c *Config) { c.Throttle, c.InvocationsPerSecond = true, -1 }, want: "invocationsPerSecond: must not be negative"},
		{name: "a quota without throttling is refused", change: func(c *Config) { c.InvocationsPerSecond = 5 }, want: "invocationsPerSecond: needs throttle"},
		{name: "lifecycle values shorter than AgentCore's 60 s minimum are accepted, for tests", change: func(c *Config) {
			c.IdleSessionTimeout, c.MaxSessionLifetime = time.Millisecond, time.Second
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.change(&cfg)
			srv, err := New(cfg)
			if tt.want == "" {
				if err != nil || srv == nil {
					t.Fatalf("New = %v, %v", srv, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
		})
	}
	t.Run("every bad field is named at once", func(t *testing.T) {
		_, err := New(Config{Runtimes: []Runtime{{}}})
		for _, field := range []string{"region", "accessKeyID", "secretAccessKey", "runtimes[0].arn", "runtimes[0].url"} {
			if err == nil || !strings.Contains(err.Error(), field+": ") {
				t.Errorf("err = %v, want it to name %s", err, field)
			}
		}
	})
}

func TestReadBodyKeepsOnlyBodiesWithinTheLimit(t *testing.T) {
	const limit = 8
	tests := []struct {
		name     string
		body     string
		declared int64 // Content-Length; -1 when unknown (chunked)
		wantKept bool
	}{
		{name: "a body within the limit is kept", body: "12345678", declared: 8, wantKept: true},
		{name: "a body of unknown length within the limit is kept", body: "1234", declared: -1, wantKept: true},
		{name: "a body of unknown length over the limit is hashed but not kept", body: "123456789", declared: -1},
		{name: "a body declared over the limit is hashed but not kept", body: "1234567890", declared: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, sum, n, err := readBody(strings.NewReader(tt.body), tt.declared, limit)
			if err != nil {
				t.Fatal(err)
			}
			want := sha256.Sum256([]byte(tt.body))
			if sum != hex.EncodeToString(want[:]) || n != int64(len(tt.body)) {
				t.Errorf("sum %s, n %d; want the hash and length of all %d bytes", sum, n, len(tt.body))
			}
			if kept := body != nil; kept != tt.wantKept || (kept && string(body) != tt.body) {
				t.Errorf("kept %q, want kept=%v", body, tt.wantKept)
			}
		})
	}
}
