package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLogout(t *testing.T) {
	p := newPasswords(t)
	store := newMemoryRevocations(p.clock.Now, 100)
	p.revocations = store
	signIn := func(user, pw string) string {
		t.Helper()
		token, err := p.login(t, user, pw, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	bearer := func(token string) []string { return []string{"Authorization", "Bearer " + token} }
	cookie := func(token string) []string { return []string{"Cookie", p.Cookie(token, time.Time{}).String()} }
	// Another instance with the same key and the same record, as behind a
	// load balancer.
	other := newPasswords(t, func(c *PasswordConfig) { c.Users, c.Revocations = p.users, store })

	tests := []struct {
		name   string
		logout func(token string) []string
	}{
		{"logging out with the bearer token", bearer},
		{"logging out with the cookie", cookie},
	}
	for _, tt := range tests {
		t.Run(tt.name+" ends that token and no other", func(t *testing.T) {
			token, sibling, bobs := signIn("alice", alicePassword), signIn("alice", alicePassword), signIn("bob", bobPassword)
			if token == sibling {
				t.Fatal("two sign-ins got the same token")
			}
			if err := p.Logout(request(tt.logout(token)...)); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			checks := []struct {
				name    string
				p       *passwords
				headers []string
				want    error
			}{
				{"the token as a bearer token", p, bearer(token), ErrInvalidCredentials},
				{"the token as a cookie", p, cookie(token), ErrInvalidCredentials},
				{"the token on another instance", other, bearer(token), ErrInvalidCredentials},
				{"the same user's other token", p, bearer(sibling), nil},
				{"another user's token", p, cookie(bobs), nil},
			}
			for _, c := range checks {
				if _, err := c.p.Authenticate(request(c.headers...)); !isKind(err, c.want) {
					t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
				}
			}
		})
	}

	t.Run("a request without a login token has nothing to log out", func(t *testing.T) {
		if err := p.Logout(request("Authorization", "Bearer agk_x")); !errors.Is(err, ErrNoCredentials) {
			t.Errorf("err = %v, want ErrNoCredentials", err)
		}
	})

	t.Run("only a token of ours can be revoked", func(t *testing.T) {
		before := store.len()
		token := signIn("alice", alicePassword)
		if err := p.Revoke(context.Background(), flip(token, len(tokenPrefix)+3)); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("a tampered token: err = %v, want ErrInvalidCredentials", err)
		}
		if n := store.len(); n != before {
			t.Errorf("the record grew from %d to %d", before, n)
		}
	})
}

// failingRevocations cannot be reached, and records what it is asked.
type failingRevocations struct {
	mu    sync.Mutex
	until []time.Time
	fail  bool
}

func (f *failingRevocations) Revoke(_ context.Context, _ string, until time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.until = append(f.until, until)
	if f.fail {
		return errors.New("store down")
	}
	return nil
}

func (f *failingRevocations) Revoked(context.Context, string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return false, errors.New("store down")
	}
	return false, nil
}

func TestRevocationStore(t *testing.T) {
	store := &failingRevocations{}
	p := newPasswords(t, func(c *PasswordConfig) { c.Revocations = store })
	token, expires, err := p.Login("alice", alicePassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a revocation lasts until the token has expired on every instance", func(t *testing.T) {
		if err := p.Revoke(context.Background(), token); err != nil {
			t.Fatal(err)
		}
		if want := expires.Add(tokenClockSkew); len(store.until) != 1 || !store.until[0].Equal(want) {
			t.Errorf("recorded until %v, want %v", store.until, want)
		}
	})

	t.Run("a token that has expired everywhere is not recorded", func(t *testing.T) {
		old, _, err := p.Login("alice", alicePassword, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		p.clock.Advance(defaultTokenTTL + tokenClockSkew)
		if err := p.Revoke(context.Background(), old); err != nil {
			t.Fatal(err)
		}
		if len(store.until) != 1 {
			t.Errorf("recorded %d revocations, want only the first", len(store.until))
		}
	})

	store.fail = true
	token, _, err = p.Login("alice", alicePassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a token is refused while the record cannot be read", func(t *testing.T) {
		if _, err := p.Authenticate(request("Authorization", "Bearer "+token)); !errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
	t.Run("a logout that cannot be recorded says so", func(t *testing.T) {
		if err := p.Revoke(context.Background(), token); !errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
}

func TestTokensWithoutIDAreRefused(t *testing.T) {
	p := newPasswords(t)
	now := p.clock.Now()
	old, err := signToken(p.keys[0], tokenClaims{Sub: "alice", IAT: now.Unix(), Exp: now.Add(time.Hour).Unix(), Ver: p.version(p.keys[0], "alice")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Authenticate(request("Authorization", "Bearer "+old)); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("a token no logout could revoke: err = %v, want ErrInvalidCredentials", err)
	}
}

func TestMemoryRevocations(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	t0 := clock.Now()

	t.Run("a revocation holds until its time, then is dropped", func(t *testing.T) {
		m := newMemoryRevocations(clock.Now, 10)
		m.Revoke(ctx, "a", t0.Add(time.Hour))
		m.Revoke(ctx, "b", t0.Add(2*time.Hour))
		clock.Advance(time.Hour - time.Second)
		if revoked, _ := m.Revoked(ctx, "a"); !revoked {
			t.Error("a second before its time, a is not revoked")
		}
		clock.Advance(time.Second)
		if revoked, _ := m.Revoked(ctx, "a"); revoked {
			t.Error("at its time, a is still revoked")
		}
		if n := m.len(); n != 1 {
			t.Errorf("%d records, want 1: a's should have been dropped", n)
		}
		if revoked, _ := m.Revoked(ctx, "b"); !revoked {
			t.Error("b is not revoked")
		}
	})

	t.Run("when full it refuses new revocations rather than forget one", func(t *testing.T) {
		m := newMemoryRevocations(clock.Now, 2)
		now := clock.Now()
		m.Revoke(ctx, "a", now.Add(time.Hour))
		m.Revoke(ctx, "b", now.Add(time.Hour))
		if err := m.Revoke(ctx, "c", now.Add(time.Hour)); err == nil {
			t.Error("a third revocation was taken")
		}
		if err := m.Revoke(ctx, "a", now.Add(time.Hour)); err != nil {
			t.Errorf("revoking a again: %v", err)
		}
		for _, id := range []string{"a", "b"} {
			if revoked, _ := m.Revoked(ctx, id); !revoked {
				t.Errorf("%s was forgotten", id)
			}
		}
		clock.Advance(time.Hour)
		if err := m.Revoke(ctx, "c", clock.Now().Add(time.Hour)); err != nil {
			t.Errorf("once the others expired: %v", err)
		}
	})

	t.Run("revoking again for longer keeps the longer time", func(t *testing.T) {
		m := newMemoryRevocations(clock.Now, 10)
		now := clock.Now()
		m.Revoke(ctx, "a", now.Add(time.Hour))
		m.Revoke(ctx, "a", now.Add(2*time.Hour))
		m.Revoke(ctx, "a", now.Add(time.Minute))
		clock.Advance(time.Hour)
		if revoked, _ := m.Revoked(ctx, "a"); !revoked {
			t.Error("the shorter record's expiry dropped the longer one")
		}
		clock.Advance(time.Hour)
		if revoked, _ := m.Revoked(ctx, "a"); revoked || m.len() != 0 {
			t.Errorf("revoked = %v with %d records once the longer time passed, want neither", revoked, m.len())
		}
	})
}
