package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/agentgate/agentgate/internal/limit"
)

// cheapArgon keeps the tests fast; verification reads the parameters from
// the hash, so the code paths are the production ones.
var cheapArgon = argonParams{memory: 64, time: 1, threads: 1, saltLen: 16, keyLen: 32}

const (
	alicePassword = "correct horse"
	bobPassword   = "battery staple"
	carolPassword = "tr0ub4dor&3"
)

func mustArgon(t testing.TB, pw string) string {
	t.Helper()
	h, err := hashArgon2id(pw, cheapArgon)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustBcrypt(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

var testTokenKey = []byte("0123456789abcdef0123456789abcdef")

// passwords is a Passwords with alice and carol (argon2id) and bob
// (bcrypt), recording the hashes it verifies.
type passwords struct {
	*Passwords
	clock *fakeClock
	users map[string]string

	mu       sync.Mutex
	verified []string
	hold     chan struct{} // the next verification waits for it to close
	entered  chan struct{} // told when a held verification starts
}

func newPasswords(t *testing.T, edit ...func(*PasswordConfig)) *passwords {
	t.Helper()
	p := &passwords{clock: newClock(), users: map[string]string{
		"alice": mustArgon(t, alicePassword),
		"bob":   mustBcrypt(t, bobPassword),
		"carol": mustArgon(t, carolPassword),
	}}
	cfg := PasswordConfig{Users: p.users, TokenKey: testTokenKey, Now: p.clock.Now}
	for _, e := range edit {
		e(&cfg)
	}
	p.users = cfg.Users
	var err error
	if p.Passwords, err = NewPasswords(cfg); err != nil {
		t.Fatalf("NewPasswords: %v", err)
	}
	p.Passwords.verifying = func(h string) {
		p.mu.Lock()
		p.verified = append(p.verified, h)
		hold := p.hold
		p.hold = nil
		p.mu.Unlock()
		if hold != nil {
			p.entered <- struct{}{}
			<-hold
		}
	}
	return p
}

// holdSlot starts a sign-in whose verification takes a hashing slot and
// keeps it until release is called; release returns the sign-in's error.
func (p *passwords) holdSlot(t *testing.T, user, pw, ip string) (release func() error) {
	t.Helper()
	hold, done := make(chan struct{}), make(chan error, 1)
	p.mu.Lock()
	p.hold, p.entered = hold, make(chan struct{}, 1)
	entered := p.entered
	p.mu.Unlock()
	go func() {
		_, _, err := p.Login(user, pw, ip)
		done <- err
	}()
	recv(t, entered, "held verification")
	p.lastVerified()
	return func() error {
		close(hold)
		return recv(t, done, "held sign-in to end")
	}
}

// lastVerified returns the hash verified last, or "" if none was since the
// previous call.
func (p *passwords) lastVerified() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.verified) == 0 {
		return ""
	}
	h := p.verified[len(p.verified)-1]
	p.verified = nil
	return h
}

func (p *passwords) login(t *testing.T, user, pw, ip string) (string, error) {
	t.Helper()
	token, expires, err := p.Login(user, pw, ip)
	if err == nil && (token == "" || !expires.After(p.clock.Now())) {
		t.Fatalf("Login(%q) = %q, %v", user, token, expires)
	}
	if err != nil && strings.Contains(err.Error(), pw) && pw != "" {
		t.Fatalf("error %q repeats the password", err)
	}
	return token, err
}

// flip returns s with its ith character replaced by another base64url
// character.
func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestLogin(t *testing.T) {
	p := newPasswords(t)
	long := strings.Repeat("x", bcryptMaxPassword)
	p.users["dave"] = mustBcrypt(t, long)
	var err error
	if p.Passwords, err = NewPasswords(PasswordConfig{Users: p.users, TokenKey: testTokenKey, Now: p.clock.Now}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, password string
		want                 error
	}{
		{"an argon2id user signs in with the right password", "alice", alicePassword, nil},
		{"a bcrypt user signs in with the right password", "bob", bobPassword, nil},
		{"a 72-byte bcrypt password works", "dave", long, nil},
		{"a wrong password is refused", "alice", "Correct horse", ErrInvalidCredentials},
		{"a wrong bcrypt password is refused", "bob", "battery", ErrInvalidCredentials},
		{"an empty password is refused", "alice", "", ErrInvalidCredentials},
		{"an unknown user is refused", "mallory", alicePassword, ErrInvalidCredentials},
		{"an empty user is refused", "", alicePassword, ErrInvalidCredentials},
		{"another user's password is refused", "alice", bobPassword, ErrInvalidCredentials},
		{"a bcrypt password is not matched by its first 72 bytes alone", "dave", long + "?", ErrInvalidCredentials},
		{"an overlong user name is refused", strings.Repeat("a", 1<<16), alicePassword, ErrInvalidCredentials},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip := "192.0.2." + string(rune('1'+i)) // spread out so failures do not add up
			token, err := p.login(t, tt.user, tt.password, ip)
			if !isKind(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			got, err := p.Authenticate(request("Authorization", "Bearer "+token))
			if err != nil || !reflect.DeepEqual(got, Principal{ID: "user:" + tt.user, Method: "password"}) {
				t.Errorf("the token authenticates as %+v, %v", got, err)
			}
		})
	}
}

func TestUnknownUsersLookLikeWrongPasswords(t *testing.T) {
	p := newPasswords(t)
	_, wrongErr := p.login(t, "alice", "wrong", "192.0.2.1")
	aliceHash := p.lastVerified()
	_, unknownErr := p.login(t, "mallory", "wrong", "192.0.2.2")
	dummy := p.lastVerified()

	if wrongErr != ErrInvalidCredentials || unknownErr != ErrInvalidCredentials {
		t.Errorf("errors are %v and %v, want ErrInvalidCredentials itself for both", wrongErr, unknownErr)
	}
	if aliceHash != p.users["alice"] {
		t.Errorf("a known user's password was checked against %q, want their hash", aliceHash)
	}
	if dummy == "" {
		t.Fatal("an unknown user's password was checked against nothing")
	}
	for user, h := range p.users {
		if dummy == h {
			t.Fatalf("an unknown user's password was checked against %s's hash", user)
		}
	}
	// Two of three users have argon2id hashes with cheapArgon's cost, so
	// the dummy must have that cost too: same algorithm, same parameters.
	dh, err := parseHash(dummy)
	if err != nil {
		t.Fatal(err)
	}
	ah, _ := parseHash(aliceHash)
	if dh.cost() != ah.cost() {
		t.Errorf("dummy costs %q, a typical user %q", dh.cost(), ah.cost())
	}
}

func TestBruteForceIsSlowedDown(t *testing.T) {
	const maxFailures = 5
	window := 15 * time.Minute
	fail := func(user, ip string) attempt { return attempt{user: user, password: "guess", ip: ip} }
	tests := []struct {
		name      string
		before    []attempt
		then      attempt
		wantRetry time.Duration // 0: the attempt is let through and succeeds
	}{
		{
			"five wrong passwords for a user block it from every address, even with the right password",
			[]attempt{fail("alice", "192.0.2.1"), fail("alice", "192.0.2.2"), fail("alice", "192.0.2.3"), fail("alice", "192.0.2.4"), fail("alice", "192.0.2.5")},
			attempt{user: "alice", password: alicePassword, ip: "198.51.100.9"},
			window,
		},
		{
			"four wrong passwords are not yet enough",
			[]attempt{fail("alice", "192.0.2.1"), fail("alice", "192.0.2.2"), fail("alice", "192.0.2.3"), fail("alice", "192.0.2.4")},
			attempt{user: "alice", password: alicePassword, ip: "198.51.100.9"},
			0,
		},
		{
			"five failures from one address block it for every user",
			[]attempt{fail("alice", "192.0.2.1"), fail("bob", "192.0.2.1"), fail("carol", "192.0.2.1"), fail("mallory", "192.0.2.1"), fail("root", "192.0.2.1")},
			attempt{user: "alice", password: alicePassword, ip: "192.0.2.1"},
			window,
		},
		{
			"failures from one address do not block another",
			[]attempt{fail("bob", "192.0.2.1"), fail("carol", "192.0.2.1"), fail("mallory", "192.0.2.1"), fail("root", "192.0.2.1"), fail("admin", "192.0.2.1")},
			attempt{user: "alice", password: alicePassword, ip: "192.0.2.2"},
			0,
		},
		{
			"an IPv6 client is counted by its /64",
			[]attempt{fail("bob", "2001:db8::1"), fail("carol", "2001:db8::2"), fail("mallory", "2001:db8::3"), fail("root", "2001:db8::4"), fail("admin", "2001:db8::5")},
			attempt{user: "alice", password: alicePassword, ip: "2001:db8::ffff"},
			window,
		},
		{
			"another IPv6 /64 is not blocked",
			[]attempt{fail("bob", "2001:db8::1"), fail("carol", "2001:db8::2"), fail("mallory", "2001:db8::3"), fail("root", "2001:db8::4"), fail("admin", "2001:db8::5")},
			attempt{user: "alice", password: alicePassword, ip: "2001:db8:0:1::1"},
			0,
		},
		{
			"the wait lasts until the oldest failure leaves the window",
			[]attempt{fail("alice", "192.0.2.1"), {"alice", "guess", "192.0.2.2", time.Minute}, {"alice", "guess", "192.0.2.3", time.Minute}, {"alice", "guess", "192.0.2.4", time.Minute}, {"alice", "guess", "192.0.2.5", time.Minute}},
			attempt{user: "alice", password: alicePassword, ip: "198.51.100.9", advance: time.Minute},
			window - 5*time.Minute,
		},
		{
			"once the oldest failure leaves the window, the user may try again",
			[]attempt{fail("alice", "192.0.2.1"), {"alice", "guess", "192.0.2.2", time.Minute}, {"alice", "guess", "192.0.2.3", time.Minute}, {"alice", "guess", "192.0.2.4", time.Minute}, {"alice", "guess", "192.0.2.5", time.Minute}},
			attempt{user: "alice", password: alicePassword, ip: "198.51.100.9", advance: window - 4*time.Minute},
			0,
		},
		{
			"a success clears the user's failures",
			[]attempt{fail("alice", "192.0.2.1"), fail("alice", "192.0.2.2"), fail("alice", "192.0.2.3"), fail("alice", "192.0.2.4"), {user: "alice", password: alicePassword, ip: "192.0.2.5"}, fail("alice", "192.0.2.6"), fail("alice", "192.0.2.7"), fail("alice", "192.0.2.8"), fail("alice", "192.0.2.9")},
			attempt{user: "alice", password: alicePassword, ip: "198.51.100.9"},
			0,
		},
		{
			"a success keeps the address's failures for other users",
			[]attempt{fail("bob", "192.0.2.1"), fail("carol", "192.0.2.1"), fail("mallory", "192.0.2.1"), fail("root", "192.0.2.1"), {user: "alice", password: alicePassword, ip: "192.0.2.1"}, fail("admin", "192.0.2.1")},
			attempt{user: "alice", password: alicePassword, ip: "192.0.2.1"},
			window,
		},
	}
	records := []struct {
		name string
		edit func(*PasswordConfig)
	}{
		{"this instance's", func(c *PasswordConfig) {}},
		// A shared record's window is fixed, and it tells a blocked
		// attempt to wait all of it.
		{"shared", func(c *PasswordConfig) { c.Failures = limit.NewMemory(c.Now) }},
	}
	for _, rec := range records {
		for _, tt := range tests {
			t.Run(rec.name+"/"+tt.name, func(t *testing.T) {
				p := newPasswords(t, func(c *PasswordConfig) { c.MaxFailures, c.Window = maxFailures, window }, rec.edit)
				if rec.name == "shared" && tt.wantRetry > 0 {
					tt.wantRetry = window
				}
				tryBruteForce(t, p, tt.before, tt.then, tt.wantRetry)
			})
		}
	}
}

type attempt struct {
	user, password, ip string
	advance            time.Duration
}

// tryBruteForce makes the attempts before, then then, and checks that
// then is let through and succeeds (wantRetry 0) or is told to retry
// after wantRetry without its password being verified.
func tryBruteForce(t *testing.T, p *passwords, before []attempt, then attempt, wantRetry time.Duration) {
	t.Helper()
	for _, a := range before {
		p.clock.Advance(a.advance)
		if _, err := p.login(t, a.user, a.password, a.ip); err != nil && !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("setting up: %v", err)
		}
	}
	p.lastVerified()
	p.clock.Advance(then.advance)
	_, err := p.login(t, then.user, then.password, then.ip)
	var retry *RetryError
	switch {
	case wantRetry == 0 && err != nil:
		t.Fatalf("err = %v, want success", err)
	case wantRetry == 0:
		return
	case !errors.As(err, &retry):
		t.Fatalf("err = %v, want *RetryError", err)
	case retry.After != wantRetry:
		t.Errorf("retry after %v, want %v", retry.After, wantRetry)
	}
	if h := p.lastVerified(); h != "" {
		t.Errorf("a blocked attempt still verified a password")
	}
}

func TestHashingQueue(t *testing.T) {
	const queueWait = 20 * time.Millisecond
	oneSlot := func(c *PasswordConfig) { c.MaxConcurrentHashes, c.HashQueueWait = 1, queueWait }

	t.Run("a sign-in that gets no hashing slot in time is told to retry, unhashed", func(t *testing.T) {
		p := newPasswords(t, oneSlot)
		release := p.holdSlot(t, "alice", alicePassword, "192.0.2.1")
		_, err := p.login(t, "bob", bobPassword, "192.0.2.2")
		var retry *RetryError
		if !errors.As(err, &retry) || !retry.Busy || retry.After != queueWait {
			t.Errorf("err = %#v, want a busy *RetryError after %v", err, queueWait)
		}
		if h := p.lastVerified(); h != "" {
			t.Errorf("the sign-in turned away was hashed all the same")
		}
		if err := release(); err != nil {
			t.Errorf("the sign-in that held the slot: %v", err)
		}
	})

	t.Run("a sign-in turned away busy does not count as a failure", func(t *testing.T) {
		p := newPasswords(t, oneSlot, func(c *PasswordConfig) { c.MaxFailures = 1 })
		release := p.holdSlot(t, "alice", alicePassword, "192.0.2.1")
		var retry *RetryError
		if _, err := p.login(t, "bob", "wrong", "192.0.2.2"); !errors.As(err, &retry) || !retry.Busy {
			t.Fatalf("err = %v, want a busy *RetryError", err)
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.login(t, "bob", bobPassword, "192.0.2.2"); err != nil {
			t.Errorf("the same user from the same address, with a free slot: %v", err)
		}
	})

	t.Run("a blocked caller is refused at once rather than queued", func(t *testing.T) {
		p := newPasswords(t, func(c *PasswordConfig) { c.MaxConcurrentHashes, c.HashQueueWait, c.MaxFailures = 1, time.Minute, 1 })
		if _, err := p.login(t, "bob", "wrong", "192.0.2.2"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
		release := p.holdSlot(t, "alice", alicePassword, "192.0.2.1")
		_, err := p.login(t, "bob", bobPassword, "192.0.2.3")
		var retry *RetryError
		if !errors.As(err, &retry) || retry.Busy || retry.After != defaultWindow {
			t.Errorf("err = %#v, want the failure count's *RetryError after %v", err, defaultWindow)
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a sign-in from an address that failed recently waits behind others", func(t *testing.T) {
		p := newPasswords(t, func(c *PasswordConfig) { c.MaxConcurrentHashes, c.HashQueueWait = 1, time.Minute })
		if _, err := p.login(t, "mallory", "guess", "203.0.113.9"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
		release := p.holdSlot(t, "alice", alicePassword, "192.0.2.1")
		done := make(chan error, 2)
		for _, a := range []struct{ user, pw, ip string }{{"bob", bobPassword, "192.0.2.2"}, {"carol", carolPassword, "203.0.113.9"}} {
			n := p.slots.queued()
			go func() { _, _, err := p.Login(a.user, a.pw, a.ip); done <- err }()
			for p.slots.queued() == n {
				time.Sleep(time.Millisecond)
			}
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := recv(t, done, "a queued sign-in"); err != nil {
				t.Fatal(err)
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.verified) != 2 || p.verified[0] != p.users["bob"] {
			t.Errorf("the suspect address's newer sign-in was checked before the other one")
		}
	})

	t.Run("a caller that goes away stops waiting", func(t *testing.T) {
		p := newPasswords(t, func(c *PasswordConfig) { c.MaxConcurrentHashes, c.HashQueueWait = 1, time.Minute })
		release := p.holdSlot(t, "alice", alicePassword, "192.0.2.1")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r := request()
		r.SetBasicAuth("bob", bobPassword)
		_, err := p.Authenticate(r.WithContext(ctx))
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want ErrUnavailable for a canceled request", err)
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBasicAuth(t *testing.T) {
	basic := func(user, pw string) []string {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(user, pw)
		return []string{"Authorization", r.Header.Get("Authorization")}
	}
	tests := []struct {
		name    string
		headers []string
		want    error
		id      string
	}{
		{"the right password signs in", basic("alice", alicePassword), nil, "user:alice"},
		{"a bcrypt user signs in", basic("bob", bobPassword), nil, "user:bob"},
		{"the scheme is case-insensitive", []string{"Authorization", strings.Replace(basic("alice", alicePassword)[1], "Basic", "basic", 1)}, nil, "user:alice"},
		{"a wrong password is refused", basic("alice", "wrong"), ErrInvalidCredentials, ""},
		{"an unknown user is refused", basic("mallory", "wrong"), ErrInvalidCredentials, ""},
		{"credentials that are not base64 are refused", []string{"Authorization", "Basic !!!"}, ErrInvalidCredentials, ""},
		{"credentials without a colon are refused", []string{"Authorization", "Basic YWxpY2U="}, ErrInvalidCredentials, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPasswords(t)
			got, err := p.Authenticate(request(tt.headers...))
			if !isKind(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got.ID != tt.id || (err == nil && got.Method != "password") {
				t.Errorf("principal = %+v, want %q by password", got, tt.id)
			}
		})
	}

	t.Run("failures count per address from WithClientIP, else RemoteAddr", func(t *testing.T) {
		p := newPasswords(t)
		viaProxy := func(ip string) *http.Request {
			r := request(basic("alice", "wrong")...)
			r.RemoteAddr = "10.0.0.1:4321" // the proxy
			return r.WithContext(WithClientIP(r.Context(), ip))
		}
		for i := range 5 {
			if _, err := p.Authenticate(viaProxy("192.0.2.7")); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("attempt %d: err = %v", i+1, err)
			}
		}
		p.failures.succeeded(context.Background(), p.clock.Now(), []string{"user:alice"}, nil) // only the address should block now
		r := request(basic("bob", bobPassword)...)
		r.RemoteAddr = "10.0.0.1:4321"
		if _, err := p.Authenticate(r); err != nil {
			t.Errorf("from the proxy's own address: %v", err)
		}
		var retry *RetryError
		if _, err := p.Authenticate(viaProxy("192.0.2.7")); !errors.As(err, &retry) {
			t.Errorf("from the client that failed five times: err = %v, want *RetryError", err)
		}
	})
}

func TestLoginTokens(t *testing.T) {
	p := newPasswords(t)
	token, err := p.login(t, "alice", alicePassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	// otherKey signed tokens for an instance that does not trust it.
	other := newPasswords(t, func(c *PasswordConfig) { c.TokenKey = []byte("another key, 32 bytes or longer!") })
	foreign, err := other.login(t, "alice", alicePassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	dot := strings.LastIndexByte(token, '.')
	bobToken, _ := p.login(t, "bob", bobPassword, "192.0.2.1")
	bobDot := strings.LastIndexByte(bobToken, '.')
	now := p.clock.Now()
	future, err := signToken(p.keys[0], tokenClaims{Sub: "alice", IAT: now.Add(2 * tokenClockSkew).Unix(), Exp: now.Add(time.Hour).Unix(), Ver: p.version(p.keys[0], "alice")})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		headers []string
		want    error
	}{
		{"a fresh token authenticates", []string{"Authorization", "Bearer " + token}, nil},
		{"so does the cookie that carries it", []string{"Cookie", p.Cookie(token, time.Time{}).String()}, nil},
		{"no token and no cookie is no credentials", nil, ErrNoCredentials},
		{"another authenticator's bearer token is not ours", []string{"Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}, ErrNoCredentials},
		{"an explicit header of another kind wins over the cookie", []string{"Authorization", "Bearer agk_x", "Cookie", p.Cookie(token, time.Time{}).String()}, ErrNoCredentials},
		{"a token with a flipped payload byte is refused", []string{"Authorization", "Bearer " + flip(token, len(tokenPrefix)+3)}, ErrInvalidCredentials},
		{"a token with a flipped signature byte is refused", []string{"Authorization", "Bearer " + flip(token, dot+5)}, ErrInvalidCredentials},
		{"a token with another token's payload is refused", []string{"Authorization", "Bearer " + bobToken[:bobDot] + token[dot:]}, ErrInvalidCredentials},
		{"a token without a signature is refused", []string{"Authorization", "Bearer " + token[:dot+1]}, ErrInvalidCredentials},
		{"a token signed with a key this instance does not hold is refused", []string{"Authorization", "Bearer " + foreign}, ErrInvalidCredentials},
		{"a token issued in the future is refused", []string{"Authorization", "Bearer " + future}, ErrInvalidCredentials},
		{"a tampered cookie is refused", []string{"Cookie", p.Cookie(flip(token, dot+5), time.Time{}).String()}, ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Authenticate(request(tt.headers...))
			if !isKind(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && !reflect.DeepEqual(got, Principal{ID: "user:alice", Method: "password"}) {
				t.Errorf("principal = %+v, want alice", got)
			}
		})
	}
}

func TestLoginTokenLifetime(t *testing.T) {
	ttl := 30 * time.Minute
	p := newPasswords(t, func(c *PasswordConfig) { c.TokenTTL = ttl })
	token, expires, err := p.Login("alice", alicePassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if want := p.clock.Now().Add(ttl); !expires.Equal(want) {
		t.Errorf("expires %v, want %v", expires, want)
	}
	auth := func() error {
		_, err := p.Authenticate(request("Authorization", "Bearer "+token))
		return err
	}
	p.clock.Advance(ttl - time.Second)
	if err := auth(); err != nil {
		t.Errorf("a second before it expires: %v", err)
	}
	p.clock.Advance(time.Second)
	if err := auth(); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("once expired: err = %v, want ErrInvalidCredentials", err)
	}
}

func TestLoginTokenKeyRotation(t *testing.T) {
	oldKey := testTokenKey
	newKey := []byte("fedcba9876543210fedcba9876543210")
	before := newPasswords(t)
	oldToken, err := before.login(t, "alice", alicePassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	sameUsers := func(c *PasswordConfig) { c.Users = before.users }
	rotated := newPasswords(t, sameUsers, func(c *PasswordConfig) { c.TokenKey, c.PreviousTokenKeys = newKey, [][]byte{oldKey} })
	newToken, err := rotated.login(t, "alice", alicePassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	after := newPasswords(t, sameUsers, func(c *PasswordConfig) { c.TokenKey = newKey })

	tests := []struct {
		name  string
		p     *passwords
		token string
		want  error
	}{
		{"a token signed with the previous key still works during rotation", rotated, oldToken, nil},
		{"new tokens are signed with the new key", rotated, newToken, nil},
		{"an instance that has not rotated yet does not accept new tokens", before, newToken, ErrInvalidCredentials},
		{"once the previous key is dropped its tokens stop working", after, oldToken, ErrInvalidCredentials},
		{"tokens signed with the new key outlive the previous key", after, newToken, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.p.Authenticate(request("Authorization", "Bearer "+tt.token))
			if !isKind(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLoginTokenRevocation(t *testing.T) {
	p := newPasswords(t)
	token, err := p.login(t, "alice", alicePassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		users func(map[string]string)
		want  error
	}{
		{"a token survives a restart with the same users", func(map[string]string) {}, nil},
		{"a password change ends the user's tokens", func(u map[string]string) { u["alice"] = mustArgon(t, "new password") }, ErrInvalidCredentials},
		{"removing the user ends their tokens", func(u map[string]string) { delete(u, "alice") }, ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users := map[string]string{}
			for u, h := range p.users {
				users[u] = h
			}
			tt.users(users)
			restarted, err := NewPasswords(PasswordConfig{Users: users, TokenKey: testTokenKey, Now: p.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := restarted.Authenticate(request("Authorization", "Bearer "+token)); !isKind(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCookies(t *testing.T) {
	p := newPasswords(t, func(c *PasswordConfig) { c.CookieName = "gw" })
	expires := p.clock.Now().Add(time.Hour)
	tests := []struct {
		name   string
		cookie *http.Cookie
		want   []string
	}{
		{"the login cookie is HttpOnly, Secure, SameSite=Strict for the whole site", p.Cookie("agt1.x.y", expires),
			[]string{"gw=agt1.x.y", "Path=/", "Max-Age=3600", "HttpOnly", "Secure", "SameSite=Strict", "Expires=Wed, 04 Mar 2026 06:06:07 GMT"}},
		{"the logout cookie deletes it with the same attributes", p.ClearCookie(),
			[]string{"gw=", "Path=/", "Max-Age=0", "HttpOnly", "Secure", "SameSite=Strict"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.cookie.String()
			for _, w := range tt.want {
				if !strings.Contains(s, w) {
					t.Errorf("Set-Cookie %q lacks %q", s, w)
				}
			}
		})
	}
}

func TestNewPasswordsConfig(t *testing.T) {
	hash := mustArgon(t, alicePassword)
	short := []byte("short key")
	tests := []struct {
		name string
		cfg  PasswordConfig
		want string
	}{
		{"users are required", PasswordConfig{TokenKey: testTokenKey}, "users:"},
		{"a short token key is refused", PasswordConfig{Users: map[string]string{"alice": hash}, TokenKey: short}, "tokenKey: must be at least 32 bytes, got 9"},
		{"a short previous key is refused", PasswordConfig{Users: map[string]string{"alice": hash}, TokenKey: testTokenKey, PreviousTokenKeys: [][]byte{testTokenKey, short}}, "previousTokenKeys[1]:"},
		{"a bad user name is refused", PasswordConfig{Users: map[string]string{"al ice": hash}, TokenKey: testTokenKey}, `users["al ice"]: user name contains a space`},
		{"a bad hash is refused", PasswordConfig{Users: map[string]string{"alice": "plaintext"}, TokenKey: testTokenKey}, `users["alice"]: not an argon2id`},
		{"a negative TTL is refused", PasswordConfig{Users: map[string]string{"alice": hash}, TokenKey: testTokenKey, TokenTTL: -time.Minute}, "tokenTTL:"},
		{"negative failures are refused", PasswordConfig{Users: map[string]string{"alice": hash}, TokenKey: testTokenKey, MaxFailures: -1}, "maxFailures:"},
		{"a negative window is refused", PasswordConfig{Users: map[string]string{"alice": hash}, TokenKey: testTokenKey, Window: -time.Minute}, "window:"},
		{"negative concurrent hashes are refused", PasswordConfig{Users: map[string]string{"alice": hash}, TokenKey: testTokenKey, MaxConcurrentHashes: -1}, "maxConcurrentHashes:"},
		{"a negative queue wait is refused", PasswordConfig{Users: map[string]string{"alice": hash}, TokenKey: testTokenKey, HashQueueWait: -time.Second}, "hashQueueWait:"},
		{"a bad cookie name is refused", PasswordConfig{Users: map[string]string{"alice": hash}, TokenKey: testTokenKey, CookieName: "a b"}, "cookieName:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPasswords(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), string(short)) || strings.Contains(err.Error(), string(testTokenKey)) {
				t.Errorf("error %q repeats a key", err)
			}
		})
	}
}

func TestSharedFailures(t *testing.T) {
	t.Run("instances that share counters share the limit, exactly, under concurrency", func(t *testing.T) {
		const maxFailures, attempts = 5, 24
		clock := newClock()
		shared := limit.NewMemory(clock.Now)
		share := func(c *PasswordConfig) { c.Failures, c.MaxFailures, c.Now = shared, maxFailures, clock.Now }
		instances := []*passwords{newPasswords(t, share), newPasswords(t, share)}
		var wg sync.WaitGroup
		var mu sync.Mutex
		counts := map[string]int{}
		for i := range attempts {
			wg.Go(func() {
				// Each attempt from its own address, so only the user's count can block.
				_, _, err := instances[i%2].Login("alice", "guess", fmt.Sprintf("192.0.2.%d", i+1))
				var retry *RetryError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, ErrInvalidCredentials):
					counts["checked"]++
				case errors.As(err, &retry) && !retry.Busy:
					counts["blocked"]++
				default:
					t.Errorf("attempt %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if counts["checked"] != maxFailures || counts["blocked"] != attempts-maxFailures {
			t.Errorf("%d checked and %d blocked, want %d and %d", counts["checked"], counts["blocked"], maxFailures, attempts-maxFailures)
		}
		// The other instance blocks the right password too, until the window ends.
		if _, _, err := instances[1].Login("alice", alicePassword, "198.51.100.1"); !errors.As(err, new(*RetryError)) {
			t.Errorf("right password on the other instance: err = %v, want *RetryError", err)
		}
		clock.Advance(defaultWindow)
		if _, _, err := instances[1].Login("alice", alicePassword, "198.51.100.1"); err != nil {
			t.Errorf("after the window: %v", err)
		}
	})

	t.Run("a success on one instance clears the user's failures for all", func(t *testing.T) {
		clock := newClock()
		shared := limit.NewMemory(clock.Now)
		share := func(c *PasswordConfig) { c.Failures, c.MaxFailures, c.Now = shared, 2, clock.Now }
		a, b := newPasswords(t, share), newPasswords(t, share)
		a.Login("alice", "guess", "192.0.2.1")
		if _, _, err := b.Login("alice", alicePassword, "192.0.2.2"); err != nil {
			t.Fatalf("sign-in: %v", err)
		}
		a.Login("alice", "guess", "192.0.2.3")
		if _, _, err := a.Login("alice", alicePassword, "192.0.2.4"); err != nil {
			t.Errorf("one failure after a success blocked the user: %v", err)
		}
	})

	t.Run("counters that cannot be reached refuse the sign-in unchecked", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		store := limit.NewRedis(limit.RedisConfig{Addr: addr, Prefix: "test:", DialTimeout: time.Second})
		t.Cleanup(func() { store.Close() })
		p := newPasswords(t, func(c *PasswordConfig) { c.Failures = store })
		_, _, err = p.Login("alice", alicePassword, "192.0.2.1")
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
		if h := p.lastVerified(); h != "" {
			t.Errorf("the password was checked without the failure count")
		}
	})
}
