package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"
)

// PasswordConfig configures Passwords. Zero values take the defaults given.
type PasswordConfig struct {
	// Users maps user names to password hashes (LoadUsersFile reads them).
	Users map[string]string
	// TokenKey signs login tokens; at least 32 bytes of secret.
	TokenKey []byte
	// PreviousTokenKeys still verify tokens, so that rotating TokenKey does
	// not sign everyone out. Drop a key once TokenTTL has passed.
	PreviousTokenKeys [][]byte
	// TokenTTL is how long a login token lasts; default 1h.
	TokenTTL time.Duration
	// MaxFailures failed attempts per user, or per client address, within
	// Window make further attempts wait (*RetryError); default 5.
	MaxFailures int
	// Window is how long a failure counts; default 15m.
	Window time.Duration
	// MaxTracked bounds how many users and addresses the failure table
	// remembers; default 10000. Memory is about MaxTracked × (MaxFailures ×
	// 24 + 150) bytes.
	MaxTracked int
	// MaxConcurrentHashes bounds how many passwords are verified at once;
	// default GOMAXPROCS. An argon2id verification holds its hash's m
	// parameter in memory (64 MiB for the hashes HashPassword makes; bcrypt
	// needs a few KiB), so password hashing takes at most
	// MaxConcurrentHashes × the largest m among the users.
	MaxConcurrentHashes int
	// HashQueueWait bounds how long a sign-in waits for its turn to be
	// hashed while MaxConcurrentHashes others are; past it the sign-in is
	// answered *RetryError, unchecked and not counted as a failure.
	// Default 2s.
	HashQueueWait time.Duration
	// Revocations records the login tokens revoked by Revoke and Logout,
	// and is asked about every token presented; when it cannot answer,
	// the token is refused (ErrUnavailable). It should be shared by every
	// instance that shares TokenKey. Default: a record in this instance's
	// memory of at most 100000 tokens, each kept until its token expires.
	Revocations Revocations
	// Failures, when set, counts failed sign-ins in counters every
	// instance shares (a limit.Store), so that MaxFailures holds across
	// instances; its window is then fixed, starting at a key's first
	// failure, and a blocked sign-in is told to wait all of Window. When
	// it cannot be reached, sign-ins are refused (ErrUnavailable). Default:
	// this instance's memory, with a sliding window, bounded by MaxTracked.
	Failures Counters
	// Now tells the time; default time.Now.
	Now func() time.Time
	// CookieName names the login cookie; default "agentgate_session".
	CookieName string
}

const (
	minTokenKey       = 32
	defaultTokenTTL   = time.Hour
	defaultMaxFail    = 5
	defaultWindow     = 15 * time.Minute
	defaultMaxTracked = 10000
	defaultCookieName = "agentgate_session"
	defaultQueueWait  = 2 * time.Second
	// tokenClockSkew is how far in the future a token's iat may be: another
	// gateway instance with a slightly fast clock may have issued it.
	tokenClockSkew = time.Minute
)

// Passwords authenticates users by ID and password (Login, HTTP Basic) and
// by the login tokens Login issues (Bearer header or cookie). The user
// alice signs in as the principal "user:alice".
type Passwords struct {
	users       map[string]passwordHash
	dummy       passwordHash // verified for unknown users
	keys        [][]byte     // derived with tokenKey; keys[0] signs
	ttl         time.Duration
	failures    failureRecord
	revocations Revocations
	now         func() time.Time
	cookieName  string
	// slots bounds how many hashes are computed at once: each argon2id
	// verification holds 64 MiB, and a burst of sign-ins must not take the
	// instance's memory with it.
	slots     *hashSlots
	slotCount int
	queueWait time.Duration
	// verifying, when set, is told each hash about to be verified, once it
	// holds a slot: tests use it to see that unknown users cost the same
	// work as known ones, and to hold a slot.
	verifying func(hash string)
}

// NewPasswords returns a password authenticator for cfg. Errors name the
// field at fault.
func NewPasswords(cfg PasswordConfig) (*Passwords, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Passwords{
		users:       make(map[string]passwordHash, len(cfg.Users)),
		ttl:         cfg.TokenTTL,
		failures:    newFailures(cfg.MaxFailures, cfg.Window, cfg.MaxTracked),
		revocations: cfg.Revocations,
		now:         cfg.Now,
		cookieName:  cfg.CookieName,
		slots:       newHashSlots(cfg.MaxConcurrentHashes),
		slotCount:   cfg.MaxConcurrentHashes,
		queueWait:   cfg.HashQueueWait,
	}
	if cfg.Failures != nil {
		p.failures = &sharedFailures{counters: cfg.Failures, limit: cfg.MaxFailures, window: cfg.Window}
	}
	for _, user := range slices.Sorted(maps.Keys(cfg.Users)) {
		if err := checkUserName(user); err != nil {
			return nil, fmt.Errorf("users[%q]: %w", user, err)
		}
		h, err := parseHash(cfg.Users[user])
		if err != nil {
			return nil, fmt.Errorf("users[%q]: %w", user, err)
		}
		p.users[user] = h
	}
	if p.dummy, err = dummyFor(p.users); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	for _, k := range append([][]byte{cfg.TokenKey}, cfg.PreviousTokenKeys...) {
		p.keys = append(p.keys, tokenKey(k))
	}
	return p, nil
}

// Successor returns the authenticator cfg describes, to take p's place
// when the configuration changes (a rotated token key, new users) while
// p's sign-ins may still be running. It carries over what p has learnt and
// holds: the failed sign-ins it counts in its own memory, when cfg counts
// them there too with the same limits, so that a change forgives no
// guesser; its revocations, when cfg names none (both then in memory); and
// its hashing slots, when cfg asks for as many, so that the two together
// never hash more passwords at once than one would.
func (p *Passwords) Successor(cfg PasswordConfig) (*Passwords, error) {
	ownRevocations := cfg.Revocations == nil
	n, err := NewPasswords(cfg)
	if err != nil {
		return nil, err
	}
	if old, ok := p.failures.(*failures); ok {
		if fresh, ok := n.failures.(*failures); ok && fresh.limit == old.limit && fresh.window == old.window && fresh.maxKeys == old.maxKeys {
			n.failures = old
		}
	}
	if _, ok := p.revocations.(*memoryRevocations); ok && ownRevocations {
		n.revocations = p.revocations
	}
	if n.slotCount == p.slotCount {
		n.slots = p.slots
	}
	return n, nil
}

func (cfg PasswordConfig) withDefaults() (PasswordConfig, error) {
	if len(cfg.Users) == 0 {
		return cfg, errors.New("users: no users; add one with agentgate passwd")
	}
	if len(cfg.TokenKey) < minTokenKey {
		return cfg, fmt.Errorf("tokenKey: must be at least %d bytes, got %d", minTokenKey, len(cfg.TokenKey))
	}
	for i, k := range cfg.PreviousTokenKeys {
		if len(k) < minTokenKey {
			return cfg, fmt.Errorf("previousTokenKeys[%d]: must be at least %d bytes, got %d", i, minTokenKey, len(k))
		}
	}
	switch {
	case cfg.TokenTTL < 0 || (cfg.TokenTTL > 0 && cfg.TokenTTL < time.Second):
		return cfg, fmt.Errorf("tokenTTL: must be at least 1s, got %v", cfg.TokenTTL)
	case cfg.MaxFailures < 0:
		return cfg, fmt.Errorf("maxFailures: must not be negative, got %d", cfg.MaxFailures)
	case cfg.Window < 0:
		return cfg, fmt.Errorf("window: must not be negative, got %v", cfg.Window)
	case cfg.MaxTracked < 0 || cfg.MaxTracked == 1:
		return cfg, fmt.Errorf("maxTracked: must be at least 2, got %d", cfg.MaxTracked)
	case cfg.MaxConcurrentHashes < 0:
		return cfg, fmt.Errorf("maxConcurrentHashes: must not be negative, got %d", cfg.MaxConcurrentHashes)
	case cfg.HashQueueWait < 0:
		return cfg, fmt.Errorf("hashQueueWait: must not be negative, got %v", cfg.HashQueueWait)
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = defaultTokenTTL
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = defaultMaxFail
	}
	if cfg.Window == 0 {
		cfg.Window = defaultWindow
	}
	if cfg.MaxTracked == 0 {
		cfg.MaxTracked = defaultMaxTracked
	}
	if cfg.MaxConcurrentHashes == 0 {
		cfg.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	if cfg.HashQueueWait == 0 {
		cfg.HashQueueWait = defaultQueueWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Revocations == nil {
		cfg.Revocations = newMemoryRevocations(cfg.Now, maxMemoryRevocations)
	}
	if cfg.CookieName == "" {
		cfg.CookieName = defaultCookieName
	}
	if (&http.Cookie{Name: cfg.CookieName}).Valid() != nil {
		return cfg, fmt.Errorf("cookieName: %q is not a valid cookie name", cfg.CookieName)
	}
	return cfg, nil
}

// dummyFor returns a hash no password matches whose cost is the most
// common among users, so that checking an unknown user takes as long as
// checking a typical known one and response times do not tell which names
// exist.
func dummyFor(users map[string]passwordHash) (passwordHash, error) {
	count := make(map[string]int)
	var common passwordHash
	for _, user := range slices.Sorted(maps.Keys(users)) {
		h := users[user]
		count[h.cost()]++
		if common == nil || count[h.cost()] > count[common.cost()] {
			common = h
		}
	}
	return common.dummy()
}

// Login checks user's password and returns a login token and when it
// expires. A wrong password and an unknown user give the same error,
// ErrInvalidCredentials, after the same work. After too many failures for
// the user or for clientIP it returns *RetryError without checking the
// password at all, so that guessing cannot go on; it does the same, with
// Busy set, when the password could not be checked within HashQueueWait
// because too many others were being checked. IPv6 clients are counted by
// their /64; callers that cannot tell the address pass "", and all of them
// share one count.
func (p *Passwords) Login(user, password, clientIP string) (token string, expires time.Time, err error) {
	if err := p.check(context.Background(), user, password, clientIP); err != nil {
		return "", time.Time{}, err
	}
	return p.issue(user)
}

// check verifies user's password with failure counting and slow-down.
// The failure counts are consulted before the password waits for a hashing
// slot, so that a caller who is blocked costs neither a hash nor a place in
// the queue.
func (p *Passwords) check(ctx context.Context, user, password, clientIP string) error {
	now := p.now()
	userKey, ipKey := failureKey("user:", user), failureKey("ip:", addressKey(clientIP))
	wait, addressFailed, err := p.failures.begin(ctx, now, ipKey, userKey)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &RetryError{After: wait}
	}
	h, known := p.users[user]
	if !known {
		h = p.dummy
	}
	ok, err := p.verify(ctx, h, password, addressFailed > 0)
	if err != nil {
		// The password was never checked, so the attempt is no failure.
		p.failures.takeBack(ctx, now, userKey, ipKey)
		return err
	}
	if !ok || !known {
		return ErrInvalidCredentials
	}
	p.failures.succeeded(ctx, now, []string{userKey}, []string{ipKey})
	return nil
}

// failureKey is the failure table's key for value. Values are bounded, so
// that made-up user names a megabyte long cannot fill memory.
func failureKey(kind, value string) string {
	if len(value) <= maxUserLen {
		return kind + value
	}
	sum := sha256.Sum256([]byte(value))
	return kind + "sha256:" + hex.EncodeToString(sum[:])
}

// verify checks password against h once a hashing slot is free; suspect
// sign-ins, from addresses that failed recently, wait behind the others. It
// returns *RetryError if no slot comes free within the queue wait, and an
// error wrapping ErrUnavailable if ctx ends first.
func (p *Passwords) verify(ctx context.Context, h passwordHash, password string, suspect bool) (bool, error) {
	got, err := p.slots.acquire(ctx, p.queueWait, suspect)
	switch {
	case err != nil:
		return false, fmt.Errorf("%w: waiting to check the password: %w", ErrUnavailable, err)
	case !got:
		return false, &RetryError{After: p.queueWait, Busy: true}
	}
	defer p.slots.release()
	if p.verifying != nil {
		p.verifying(h.String())
	}
	return h.verify(password), nil
}

// issue returns a new login token for user.
func (p *Passwords) issue(user string) (string, time.Time, error) {
	id, err := newTokenID()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: login token id: %w", err)
	}
	now := p.now()
	c := tokenClaims{Sub: user, IAT: now.Unix(), Exp: now.Add(p.ttl).Unix(), Ver: p.version(p.keys[0], user), JTI: id}
	token, err := signToken(p.keys[0], c)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign login token: %w", err)
	}
	return token, c.expiresAt(), nil
}

// version fingerprints user's current password hash under key. A token
// carries it, so that a token outlives neither a password change nor the
// user's removal; keyed, so that a token cannot serve to test guesses at
// the hash offline.
func (p *Passwords) version(key []byte, user string) string {
	h, ok := p.users[user]
	if !ok {
		return ""
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("password version\x00" + user + "\x00" + h.String()))
	return b64.EncodeToString(m.Sum(nil)[:12])
}

// Authenticate accepts, in this order: HTTP Basic credentials, which count
// towards the same failure limits as Login; an "Authorization: Bearer
// agt1..." login token; the login cookie. An Authorization header of any
// other kind belongs to another authenticator and answers ErrNoCredentials,
// even when a login cookie is present too: an explicit header wins over an
// ambient cookie. Failures are counted per client address from WithClientIP,
// else r.RemoteAddr. Basic credentials cost a password hash on every
// request, so clients that make many should sign in once for a token.
func (p *Passwords) Authenticate(r *http.Request) (Principal, error) {
	if scheme, _, ok := authorization(r); ok && strings.EqualFold(scheme, "Basic") {
		user, password, ok := r.BasicAuth()
		if !ok {
			return Principal{}, fmt.Errorf("%w: malformed Basic credentials", ErrInvalidCredentials)
		}
		if err := p.check(r.Context(), user, password, clientIP(r)); err != nil {
			return Principal{}, err
		}
		return Principal{ID: userPrefix + user, Method: "password"}, nil
	}
	token, ok := p.loginToken(r)
	if !ok {
		return Principal{}, ErrNoCredentials
	}
	return p.authenticateToken(r.Context(), token)
}

// loginToken returns the login token r carries: in an "Authorization:
// Bearer agt1..." header or, if r has no Authorization header, in the
// login cookie.
func (p *Passwords) loginToken(r *http.Request) (string, bool) {
	if scheme, credentials, ok := authorization(r); ok {
		isToken := strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(credentials, tokenPrefix)
		return credentials, isToken
	}
	c, err := r.Cookie(p.cookieName)
	if err != nil || c.Value == "" {
		return "", false
	}
	return c.Value, true
}

func (p *Passwords) authenticateToken(ctx context.Context, token string) (Principal, error) {
	c, key, err := parseToken(token, p.keys)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidCredentials, err)
	}
	now := p.now()
	switch {
	case !now.Before(c.expiresAt()):
		return Principal{}, fmt.Errorf("%w: login token expired", ErrInvalidCredentials)
	case time.Unix(c.IAT, 0).After(now.Add(tokenClockSkew)):
		return Principal{}, fmt.Errorf("%w: login token issued in the future", ErrInvalidCredentials)
	case !hmac.Equal([]byte(c.Ver), []byte(p.version(key, c.Sub))) || c.Ver == "":
		// The user is gone or has a new password since.
		return Principal{}, fmt.Errorf("%w: login token revoked", ErrInvalidCredentials)
	case c.JTI == "":
		// Issued before tokens had ids, so logging out could not end it.
		return Principal{}, fmt.Errorf("%w: login token has no id; sign in again", ErrInvalidCredentials)
	}
	switch revoked, err := p.revocations.Revoked(ctx, c.JTI); {
	case err != nil:
		// Fail closed: a token that may have been revoked is not accepted.
		return Principal{}, fmt.Errorf("%w: checking login token revocation: %w", ErrUnavailable, err)
	case revoked:
		return Principal{}, fmt.Errorf("%w: login token revoked by logout", ErrInvalidCredentials)
	}
	return Principal{ID: userPrefix + c.Sub, Method: "password"}, nil
}

// Revoke ends the login token token before it expires, on every instance
// that shares PasswordConfig.Revocations. Revoking a token that has
// expired does nothing. A token that is not one of ours answers
// ErrInvalidCredentials, so that only a token's holder can revoke it; a
// revocation that cannot be recorded answers ErrUnavailable, and the token
// stays valid.
func (p *Passwords) Revoke(ctx context.Context, token string) error {
	c, _, err := parseToken(token, p.keys)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidCredentials, err)
	}
	// Instances whose clocks run slow accept a token a little past its
	// expiry; the record must outlast that.
	until := c.expiresAt().Add(tokenClockSkew)
	if c.JTI == "" || !p.now().Before(until) {
		return nil
	}
	if err := p.revocations.Revoke(ctx, c.JTI, until); err != nil {
		return fmt.Errorf("%w: revoking login token: %w", ErrUnavailable, err)
	}
	return nil
}

// Logout revokes the login token r carries, in an "Authorization: Bearer
// agt1..." header or the login cookie, as Revoke does. A request without
// one answers ErrNoCredentials.
func (p *Passwords) Logout(r *http.Request) error {
	token, ok := p.loginToken(r)
	if !ok {
		return ErrNoCredentials
	}
	return p.Revoke(r.Context(), token)
}

// Cookie returns the login cookie for token: HttpOnly, so page scripts
// cannot read it; Secure, so it never travels in clear (browsers make an
// exception for http://localhost); SameSite=Strict, so other sites cannot
// make the browser send it, which is the gateway's defence against CSRF.
func (p *Passwords) Cookie(token string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name:     p.cookieName,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		MaxAge:   max(1, int(expires.Sub(p.now()).Round(time.Second).Seconds())),
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteStrictMode,
	}
}

// ClearCookie returns a cookie that makes the browser drop the login
// cookie, for logout. A copy of the token stays valid until it expires
// unless it is revoked too (Logout).
func (p *Passwords) ClearCookie() *http.Cookie {
	return &http.Cookie{
		Name:     p.cookieName,
		Value:    "",
		Path:     "/",
		Expires:  time.Unix(0, 0),
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteStrictMode,
	}
}
