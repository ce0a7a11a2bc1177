package gateway

import (
	"net/http"
	neturl "net/url"
	"strings"
	"testing"
)

func TestCORSPreflightAllowsTheHeadersClientLibrariesSend(t *testing.T) {
	const origin = "https://app.example"
	inv := &pipeInvoker{calls: make(chan call, 1)}
	url := newTestServer(t, inv, func(o *Options) {
		o.Network.CORSOrigins = []string{origin}
		o.OriginHeader, o.OriginSecret = "X-Origin-Verify", "edge-secret-0123456789"
	}).URL
	preflight := func(t *testing.T, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodOptions, url+"/v1/chat/completions", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("X-Origin-Verify", "edge-secret-0123456789")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// What the openai npm SDK asks for in a browser, and what no page may.
	asked := "Authorization, Content-Type, X-Stainless-OS, x-stainless-lang, x-stainless-retry-count, Cookie, Host, Connection, Transfer-Encoding, Keep-Alive, TE, Upgrade, Proxy-Authorization, bad header, traceparent"
	want := "authorization, content-type, x-stainless-os, x-stainless-lang, x-stainless-retry-count, traceparent"
	tests := []struct {
		name   string
		header []string
		want   string
	}{
		{"the requested headers are echoed, less Cookie, Host, the hop-by-hop ones and what is not a name",
			[]string{"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", asked}, want},
		{"headers requested on several lines count alike",
			[]string{"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, cookie", "Access-Control-Request-Headers", "x-stainless-os, Authorization"}, "authorization, x-stainless-os"},
		{"a preflight naming no headers gets the ones agentgate reads",
			[]string{"Access-Control-Request-Method", "POST"}, defaultAllowHeaders},
		{"a preflight the edge packed is read the same",
			[]string{EdgeFetchHeader, "access-control-request-method=POST&access-control-request-headers=" + neturl.QueryEscape(asked)}, want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := preflight(t, tt.header...)
			if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != origin {
				t.Fatalf("status %d, Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}
			if got := resp.Header.Get("Access-Control-Allow-Headers"); got != tt.want {
				t.Fatalf("Allow-Headers %q, want %q", got, tt.want)
			}
			if vary := strings.Join(resp.Header.Values("Vary"), ", "); !strings.Contains(vary, "Access-Control-Request-Headers") {
				t.Fatalf("Vary %q: a cache could answer another preflight with these headers", vary)
			}
		})
	}
	t.Run("scripts may read the session and request ids of an answer", func(t *testing.T) {
		seen := answerWith(t, inv, textEvent)
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(`{"model":"demo","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Origin", origin)
		req.Header.Set("X-Origin-Verify", "edge-secret-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		<-seen
		expose := resp.Header.Get("Access-Control-Expose-Headers")
		if resp.StatusCode != 200 || !strings.Contains(expose, SessionHeader) || !strings.Contains(expose, RequestIDHeader) {
			t.Fatalf("status %d, Expose-Headers %q", resp.StatusCode, expose)
		}
	})
}
