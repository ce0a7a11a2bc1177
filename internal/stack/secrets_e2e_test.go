package stack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/secretslocal"
	"github.com/agentgate/agentgate/internal/secretslocal/secretstest"
)

// refresh is how often the tests' gateways read their secret: scaled down
// from the default five minutes.
const refresh = 50 * time.Millisecond

// secretMaterial is every secret value one test uses, so that it can prove
// none of them reached the log.
type secretMaterial []string

func (m *secretMaterial) add(v string) string {
	*m = append(*m, v)
	return v
}

func (m *secretMaterial) key(t *testing.T) (key, hash string) {
	t.Helper()
	key, hash, err := auth.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	return m.add(key), m.add(hash)
}

func (m secretMaterial) checkLog(t *testing.T, log string) {
	t.Helper()
	if log == "" {
		t.Fatal("nothing was logged: the check proves nothing")
	}
	for _, v := range m {
		if strings.Contains(log, v) {
			t.Errorf("the log holds a secret value (%.6s...)", v)
		}
	}
}

// secretLog starts a JSON log at debug level, the most a gateway writes.
func secretLog() (*jsonLog, *slog.Logger) {
	j := &jsonLog{}
	return j, slog.New(slog.NewJSONHandler(j, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// status sends an authenticated GET /agents through the origin lock and
// returns the status.
func status(t *testing.T, l *Local, origin string, header ...string) int {
	t.Helper()
	resp, _ := do(t, "GET", l.URL+"/agents", "", append([]string{"X-Origin-Verify", origin}, header...)...)
	return resp.StatusCode
}

func TestARotatedSecretTakesEffectOnARunningServer(t *testing.T) {
	var m secretMaterial
	key1, hash1 := m.key(t)
	key2, hash2 := m.key(t)
	key3, hash3 := m.key(t)
	users := usersFile(t)
	usersText := readFile(t, users)
	m.add(strings.TrimSpace(strings.SplitN(usersText, ":", 2)[1]))
	values := config.SecretValues{
		SessionKey:   m.add("session-key-one-session-key-one-0001"),
		TokenKey:     m.add("token-key-one-token-key-one-token-0001"),
		OriginSecret: m.add("origin-secret-one-0001"),
		APIKeys:      []config.APIKey{{Name: "ops", Hash: hash1}},
		Users:        usersText,
	}
	sm := secretstest.Start(t, values)
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Secrets = sm.Config(refresh)
	cfg.OriginLock.Header = "X-Origin-Verify"
	logs, log := secretLog()
	l := startWithConfig(t, cfg, LocalOptions{Logger: log})
	origin := values.OriginSecret

	login := func(t *testing.T) string {
		t.Helper()
		resp, b := do(t, "POST", l.URL+"/auth/login", `{"username":"ada","password":"correct horse battery"}`, "X-Origin-Verify", origin)
		var out struct{ Token string }
		if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.Token == "" {
			t.Fatalf("login: %d %s", resp.StatusCode, b)
		}
		return m.add(out.Token)
	}
	invoke := func(t *testing.T, sid string) (*http.Response, []byte) {
		t.Helper()
		return do(t, "POST", l.URL+"/", `{"prompt":"hi","response":"transformed","runtimeSessionId":"`+sid+`"}`, "X-Origin-Verify", origin, "X-Api-Key", key1)
	}

	t.Run("the secret's values are in effect from the start", func(t *testing.T) {
		if got := status(t, l, origin, "X-Api-Key", key1); got != 200 {
			t.Fatalf("the secret's API key through the secret's origin lock: %d", got)
		}
		if got := status(t, l, "not-the-origin-secret", "X-Api-Key", key1); got != 403 {
			t.Fatalf("a wrong origin secret: %d, want 403", got)
		}
		if got := status(t, l, origin, "Authorization", "Bearer "+login(t)); got != 200 {
			t.Fatalf("a login token from the secret's users and token key: %d", got)
		}
	})

	t.Run("a rotated origin secret takes effect after a refresh, the previous one passing while it is listed", func(t *testing.T) {
		values.OriginSecret, values.PreviousOriginSecrets = m.add("origin-secret-two-0002"), []string{origin}
		sm.Rotate(t, values)
		if status(t, l, values.OriginSecret, "X-Api-Key", key1) != 200 || status(t, l, origin, "X-Api-Key", key1) != 200 {
			t.Fatal("during the rotation both secrets must pass")
		}
		values.PreviousOriginSecrets = nil
		sm.Rotate(t, values)
		if got := status(t, l, origin, "X-Api-Key", key1); got != 403 {
			t.Fatalf("the old origin secret after the rotation: %d, want 403", got)
		}
		origin = values.OriginSecret
	})

	t.Run("a rotated token key refuses the old key's tokens, unless listed as previous", func(t *testing.T) {
		old := login(t)
		values.TokenKey, values.PreviousTokenKeys = m.add("token-key-two-token-key-two-token-0002"), []string{values.TokenKey}
		sm.Rotate(t, values)
		if got := status(t, l, origin, "Authorization", "Bearer "+old); got != 200 {
			t.Fatalf("an old token while its key is previous: %d", got)
		}
		values.PreviousTokenKeys = nil
		sm.Rotate(t, values)
		if got := status(t, l, origin, "Authorization", "Bearer "+old); got != 401 {
			t.Fatalf("an old token once its key is dropped: %d, want 401", got)
		}
		if got := status(t, l, origin, "Authorization", "Bearer "+login(t)); got != 200 {
			t.Fatalf("a token signed with the new key: %d", got)
		}
	})

	t.Run("a rotated session key refuses the old key's session ids, unless listed as previous", func(t *testing.T) {
		resp, b := invoke(t, "")
		sid := resp.Header.Get("X-Agentgate-Session-Id")
		if resp.StatusCode != 200 || sid == "" {
			t.Fatalf("first turn: %d %s", resp.StatusCode, b)
		}
		values.SessionKey, values.PreviousSessionKeys = m.add("session-key-two-session-key-two-0002"), []string{values.SessionKey}
		sm.Rotate(t, values)
		if resp, b := invoke(t, sid); resp.StatusCode != 200 {
			t.Fatalf("an id of the previous key: %d %s", resp.StatusCode, b)
		}
		values.PreviousSessionKeys = nil
		sm.Rotate(t, values)
		if resp, b := invoke(t, sid); resp.StatusCode != 403 || errorCode(t, b) != "session_forbidden" {
			t.Fatalf("an id of a dropped key: %d %s, want 403 session_forbidden", resp.StatusCode, b)
		}
	})

	t.Run("a refresh that fails keeps the last values", func(t *testing.T) {
		bad := values
		bad.SessionKey = m.add("too-short")
		bad.APIKeys = []config.APIKey{{Name: "ops", Hash: hash2}}
		sm.Rotate(t, bad)
		if status(t, l, origin, "X-Api-Key", key1) != 200 || status(t, l, origin, "X-Api-Key", key2) != 401 {
			t.Fatal("values that make no valid gateway took effect, or the last ones did not stay")
		}
		sm.SetDenied(sm.ARN, true)
		values.APIKeys = []config.APIKey{{Name: "ops", Hash: hash3}}
		sm.Rotate(t, values)
		if status(t, l, origin, "X-Api-Key", key1) != 200 || status(t, l, origin, "X-Api-Key", key3) != 401 {
			t.Fatal("a secret that can no longer be read changed the gateway")
		}
		sm.SetDenied(sm.ARN, false)
		sm.WaitForReads(t, sm.Calls()+2)
		if status(t, l, origin, "X-Api-Key", key1) != 401 || status(t, l, origin, "X-Api-Key", key3) != 200 {
			t.Fatal("once readable again, the secret's values did not take effect")
		}
		for _, want := range []string{"secrets: refresh failed; the last values stay in effect", "sessions.key: must be at least 32 characters", "AccessDeniedException"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("the log lacks %q", want)
			}
		}
	})

	t.Run("no secret value reached the log", func(t *testing.T) {
		if !strings.Contains(logs.String(), `"changed":["originSecret","previousOriginSecrets"]`) {
			t.Errorf("a swap is not logged with the names of the fields that changed")
		}
		m.checkLog(t, logs.String())
	})
}

func TestASwapLetsRunningStreamsFinishAndKeepsTheLimitsStore(t *testing.T) {
	var m secretMaterial
	key1, hash1 := m.key(t)
	key2, hash2 := m.key(t)
	values := config.SecretValues{APIKeys: []config.APIKey{{Name: "ops", Hash: hash1}}}
	sm := secretstest.Start(t, values)
	gm := &gatedModel{deltas: []string{"before ", "after"}, next: make(chan struct{}, 2)}
	cfg := config.Default()
	cfg.Secrets = sm.Config(refresh)
	cfg.Limits.Concurrency.Principal = 1
	logs, log := secretLog()
	l := startWithConfig(t, cfg, LocalOptions{Provider: gm, Logger: log})

	gm.next <- struct{}{}
	resp := post(t, l.URL+"/", `{"prompt":"hi","response":"transformed"}`, "X-Api-Key", key1)
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	s := newStream(t, resp.Body)
	s.waitFor("before ", 0)

	// The same principal, ops, with a new key: the swap replaces the key,
	// not the principal.
	values.APIKeys = []config.APIKey{{Name: "ops", Hash: hash2}}
	sm.Rotate(t, values)
	if r, _ := do(t, "GET", l.URL+"/agents", "", "X-Api-Key", key1); r.StatusCode != 401 {
		t.Fatalf("the old key after the swap: %d, want 401", r.StatusCode)
	}
	t.Run("the new gateway counts the stream the old one runs: the memory store is the same", func(t *testing.T) {
		// Bounded: a stream let in would wait on the gated model for ever.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", l.URL+"/", strings.NewReader(`{"prompt":"again"}`))
		req.Header.Set("X-Api-Key", key2)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		if r.StatusCode != 429 {
			t.Fatalf("a second stream of ops during the first: %d, want 429 too_many_streams", r.StatusCode)
		}
		if b, _ := io.ReadAll(r.Body); errorCode(t, b) != "too_many_streams" {
			t.Fatalf("a second stream of ops during the first: %s, want too_many_streams", b)
		}
	})
	t.Run("the stream that began before the swap finishes on the gateway that took it", func(t *testing.T) {
		gm.next <- struct{}{}
		body := string(s.rest())
		if !strings.HasPrefix(body, "before after\n----------\n") || strings.Contains(body, "[error]") {
			t.Fatalf("stream across the swap: %q", body)
		}
	})
	t.Run("its slot is free again once it ends", func(t *testing.T) {
		gm.next <- struct{}{}
		gm.next <- struct{}{}
		if r, b := do(t, "POST", l.URL+"/", `{"prompt":"again","response":"transformed"}`, "X-Api-Key", key2); r.StatusCode != 200 {
			t.Fatalf("after the first stream ended: %d %s", r.StatusCode, b)
		}
	})
	m.checkLog(t, logs.String())
}

func TestAGatewayWhoseSecretCannotBeReadDoesNotStart(t *testing.T) {
	const leaked = "session-key-that-must-not-leak-0000000"
	sm := secretstest.Start(t, config.SecretValues{SessionKey: leaked})
	typo := sm.Server.Put("typo", `{"sesionKey":"`+leaked+`","tokenKey":"x"}`)
	notJSON := sm.Server.Put("text", "sessionKey="+leaked)
	denied := sm.Server.Put("denied", `{"sessionKey":"`+leaked+`"}`)
	sm.SetDenied(denied, true)
	tests := []struct {
		name     string
		arn, url string
		fault    string
		want     []string
	}{
		{"an unknown field stops the start, named", typo, sm.URL, "", []string{`unknown fields "sesionKey"`, "cannot start without its secret"}},
		{"a value that is not JSON stops the start", notJSON, sm.URL, "", []string{"not a JSON object"}},
		{"a secret the role may not read stops the start", denied, sm.URL, "", []string{"AccessDeniedException", denied}},
		{"a secret that does not exist stops the start", sm.ARN + "x", sm.URL, "", []string{"ResourceNotFoundException"}},
		{"an unreachable Secrets Manager stops the start", sm.ARN, "http://127.0.0.1:1", "", []string{"connect"}},
		{"a Secrets Manager that keeps failing stops the start", sm.ARN, sm.URL, secretslocal.FaultInternalServiceError, []string{"InternalServiceError"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sm.SetFault(tt.fault)
			defer sm.SetFault("")
			cfg := config.Default()
			cfg.Auth.None = true
			cfg.Agents = map[string]config.Agent{"default": {ARN: "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/a-1"}}
			cfg.Secrets = config.Secrets{ARN: tt.arn, Endpoint: tt.url, Refresh: time.Minute, Timeout: 2 * time.Second}
			logs, log := secretLog()
			_, err := OpenGateway(context.Background(), cfg, log, Telemetry{})
			if err == nil {
				t.Fatal("the gateway started")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), leaked) || strings.Contains(logs.String(), leaked) {
				t.Errorf("the error or the log holds the value: %v", err)
			}
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
