package stack

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/config"
)

// TestLogoutHoldsOnEveryInstance: a login token signed out on one gateway
// is refused by another that shares the limits store (Redis), by bearer
// and by cookie, while a token not signed out still works on both.
func TestLogoutHoldsOnEveryInstance(t *testing.T) {
	addr := startRedis(t)
	users := usersFile(t)
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	l := startWithConfig(t, cfg, LocalOptions{})
	shared := func(c *config.Config) {
		c.Auth = config.Auth{Passwords: config.Passwords{UsersFile: users, TokenKey: strings.Repeat("t", 32),
			TokenTTL: cfg.Auth.Passwords.TokenTTL, MaxFailures: 5, Window: cfg.Auth.Passwords.Window}}
		c.Limits.Store = "redis"
		c.Limits.Redis.Addr = addr
	}
	a, b := gatewayWith(t, l, shared), gatewayWith(t, l, shared)
	login := func(t *testing.T) string {
		resp, body := do(t, "POST", a+"/auth/login", `{"username":"ada","password":"correct horse battery"}`)
		var tok struct{ Token string }
		if resp.StatusCode != 200 || json.Unmarshal(body, &tok) != nil || tok.Token == "" {
			t.Fatalf("login: %d %s", resp.StatusCode, body)
		}
		return tok.Token
	}
	prompt := `{"prompt":"hi","response":"transformed"}`
	gone, kept := login(t), login(t)
	for _, gw := range []string{a, b} {
		if resp, body := do(t, "POST", gw+"/", prompt, "Authorization", "Bearer "+gone); resp.StatusCode != 200 {
			t.Fatalf("before logout: %d %s", resp.StatusCode, body)
		}
	}
	if resp, body := do(t, "POST", a+"/auth/logout", "", "Authorization", "Bearer "+gone); resp.StatusCode != 204 {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	for _, gw := range []string{a, b} {
		if resp, body := do(t, "POST", gw+"/", prompt, "Authorization", "Bearer "+gone); resp.StatusCode != 401 || errorCode(t, body) != "invalid_credentials" {
			t.Fatalf("the signed-out token as a bearer: %d %s, want 401", resp.StatusCode, body)
		}
		if resp, body := do(t, "POST", gw+"/", prompt, "Cookie", "agentgate_session="+gone, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != 401 {
			t.Fatalf("the signed-out token as the cookie: %d %s, want 401", resp.StatusCode, body)
		}
		if resp, body := do(t, "POST", gw+"/", prompt, "Authorization", "Bearer "+kept); resp.StatusCode != 200 {
			t.Fatalf("another token of the same user: %d %s, want 200", resp.StatusCode, body)
		}
	}
}
