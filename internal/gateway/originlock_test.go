package gateway

import (
	"net/http"
	"testing"
)

func TestTheOriginLockTakesPreviousSecretsDuringARotation(t *testing.T) {
	const current, previous = "current-origin-secret-0001", "previous-origin-secret-0000"
	srv := newTestServer(t, &pipeInvoker{}, func(o *Options) {
		o.OriginHeader, o.OriginSecret, o.PreviousOriginSecrets = "X-Origin-Verify", current, []string{previous}
	})
	for _, tt := range []struct {
		name, secret string
		want         int
	}{
		{"the current secret passes", current, http.StatusOK},
		{"a previous secret still passes", previous, http.StatusOK},
		{"any other value is refused", "previous-origin-secret-0001", http.StatusForbidden},
		{"no value is refused", "", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var header []string
			if tt.secret != "" {
				header = []string{"X-Origin-Verify", tt.secret}
			}
			if resp, body := get(t, srv.URL+"/agents", header...); resp.StatusCode != tt.want {
				t.Fatalf("GET /agents: %d %s, want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
}
