package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestASuccessorKeepsWhatItsPredecessorLearnt(t *testing.T) {
	p := newPasswords(t)
	token, err := p.login(t, "alice", alicePassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Revoke(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := p.login(t, "bob", "guess", "198.51.100.7"); !isKind(err, ErrInvalidCredentials) {
			t.Fatalf("a wrong password: %v", err)
		}
	}
	newKey := []byte("fedcba9876543210fedcba9876543210")
	next := func(t *testing.T, edit func(*PasswordConfig)) *Passwords {
		t.Helper()
		cfg := PasswordConfig{Users: p.users, TokenKey: newKey, PreviousTokenKeys: [][]byte{testTokenKey}, Now: p.clock.Now}
		if edit != nil {
			edit(&cfg)
		}
		n, err := p.Successor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("a guesser the predecessor blocked stays blocked after a key rotation", func(t *testing.T) {
		_, _, err := next(t, nil).Login("bob", bobPassword, "198.51.100.7")
		var retry *RetryError
		if !errors.As(err, &retry) {
			t.Fatalf("Login = %v, want *RetryError", err)
		}
	})
	t.Run("a token signed out on the predecessor stays signed out", func(t *testing.T) {
		if _, err := next(t, nil).Authenticate(request("Authorization", "Bearer "+token)); !isKind(err, ErrInvalidCredentials) {
			t.Fatalf("Authenticate = %v, want ErrInvalidCredentials", err)
		}
	})
	t.Run("other limits start a record of their own", func(t *testing.T) {
		n := next(t, func(c *PasswordConfig) { c.MaxFailures = 50 })
		if _, _, err := n.Login("bob", bobPassword, "198.51.100.7"); err != nil {
			t.Fatalf("Login = %v", err)
		}
	})
	t.Run("the hashing slots are shared, so the two never hash more at once than one would", func(t *testing.T) {
		if n := next(t, nil); n.slots != p.slots {
			t.Fatal("the successor has slots of its own")
		}
	})
}

func TestParseUsers(t *testing.T) {
	hash := mustBcrypt(t, bobPassword)
	users, err := ParseUsers([]byte("# users\nbob:" + hash + "\n\n"))
	if err != nil || users["bob"] != hash || len(users) != 1 {
		t.Fatalf("ParseUsers = %v, %v", users, err)
	}
	_, err = ParseUsers([]byte("bob:" + hash + "\nalice:" + hash[:20] + "\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), hash[:20]) {
		t.Fatalf("err = %v, want one naming line 2 and not the hash", err)
	}
}
