package stack

import (
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/limit/limittest"
)

// TestSignInLockoutHoldsOnEveryInstance: wrong passwords spread over two
// gateways that keep limits in one DynamoDB table (dynalite) lock the user
// out of both, right password included, once auth.passwords.maxFailures is
// reached in total.
func TestSignInLockoutHoldsOnEveryInstance(t *testing.T) {
	endpoint, table := limittest.Table(t)

	users := usersFile(t)
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	l := startWithConfig(t, cfg, LocalOptions{})
	const maxFailures = 4
	shared := func(c *config.Config) {
		c.Auth = config.Auth{Passwords: config.Passwords{UsersFile: users, TokenKey: strings.Repeat("t", 32),
			TokenTTL: cfg.Auth.Passwords.TokenTTL, MaxFailures: maxFailures, Window: cfg.Auth.Passwords.Window}}
		c.Limits.Store = "dynamodb"
		c.Limits.DynamoDB.Table = table
		c.Limits.DynamoDB.Endpoint = endpoint
	}
	gateways := []string{gatewayWith(t, l, shared), gatewayWith(t, l, shared)}
	login := func(gw, password string) (int, string) {
		resp, body := do(t, "POST", gw+"/auth/login", `{"username":"ada","password":"`+password+`"}`)
		return resp.StatusCode, errorCode(t, body)
	}
	for i := range maxFailures {
		if status, code := login(gateways[i%2], "wrong"); status != 401 {
			t.Fatalf("wrong password %d: %d %s, want 401", i+1, status, code)
		}
	}
	for _, gw := range gateways {
		if status, code := login(gw, "correct horse battery"); status != 429 || code != "too_many_attempts" {
			t.Errorf("the right password after %d failures over both instances: %d %s, want 429 too_many_attempts", maxFailures, status, code)
		}
	}
}
