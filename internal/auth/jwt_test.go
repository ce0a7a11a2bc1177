package auth

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestJWTAuthenticate(t *testing.T) {
	clock := newClock()
	rs, es, es2 := rsaKey("rs-1", 0), ecKey(t, "es-1"), ecKey(t, "es-2")
	stranger := rsaKey("rs-1", 1) // same kid, key the provider never published
	p := newIdP(t, rs, es, es2)
	j := newJWT(t, p, clock)
	now := clock.Now()
	valid := p.claimsAt(now)
	with := func(edit func(c jwt.MapClaims)) jwt.MapClaims {
		c := maps.Clone(valid)
		edit(c)
		return c
	}
	good := rs.sign(t, valid, nil)
	user123 := "jwt:" + issuerTag(p.issuer) + ":user-123"

	der, err := x509.MarshalPKIXPublicKey(rs.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hmacWith := func(secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, valid)
		tok.Header["kid"] = rs.kid
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	unsigned := func(alg string) string {
		h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": rs.kid})
		c, _ := json.Marshal(valid)
		return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
	}
	parts := strings.Split(good, ".")
	forged, _ := json.Marshal(with(func(c jwt.MapClaims) { c["sub"] = "admin" }))
	tamperedPayload := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]
	tamperedSig := parts[0] + "." + parts[1] + "." + flip(parts[2], len(parts[2])/2)

	tests := []struct {
		name    string
		headers []string
		want    error
		id      string
	}{
		{"an RS256 token from the provider is accepted", []string{"Authorization", "Bearer " + good}, nil, user123},
		{"an ES256 token from the provider is accepted", []string{"Authorization", "Bearer " + es.sign(t, valid, nil)}, nil, user123},
		{"the Bearer scheme is case-insensitive", []string{"Authorization", "bearer " + good}, nil, user123},
		{"a token whose audience list holds ours is accepted", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { c["aud"] = []string{"other", "agentgate"} }), nil)}, nil, user123},
		{"a token expired less than the clock skew ago is accepted", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-30 * time.Second).Unix() }), nil)}, nil, user123},
		{"a token valid from within the clock skew is accepted", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(30 * time.Second).Unix() }), nil)}, nil, user123},
		{"a token without a kid is checked against the one fitting key", []string{"Authorization", "Bearer " + rs.sign(t, valid, map[string]any{"kid": nil})}, nil, user123},
		{"a token without a kid is checked against every fitting key", []string{"Authorization", "Bearer " + es2.sign(t, valid, map[string]any{"kid": nil})}, nil, user123},
		{"a token without a kid signed by a stranger is refused", []string{"Authorization", "Bearer " + stranger.sign(t, valid, map[string]any{"kid": nil})}, ErrInvalidCredentials, ""},

		{"a request without a token has no credentials", nil, ErrNoCredentials, ""},
		{"an API key is left to its own authenticator", []string{"Authorization", "Bearer agk_" + strings.Repeat("A", 43)}, ErrNoCredentials, ""},
		{"a login token is left to its own authenticator", []string{"Authorization", "Bearer agt1.eyJzdWIiOiJhIn0.c2ln"}, ErrNoCredentials, ""},
		{"Basic credentials are not a JWT", []string{"Authorization", "Basic YWxpY2U6cHc="}, ErrNoCredentials, ""},
		{"a bearer value with two dots that is no JWT is not ours", []string{"Authorization", "Bearer abc.def.ghi"}, ErrNoCredentials, ""},

		{"an expired token is refused", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Minute).Unix() }), nil)}, ErrInvalidCredentials, ""},
		{"a token without exp is refused", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { delete(c, "exp") }), nil)}, ErrInvalidCredentials, ""},
		{"a token not valid yet is refused", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() }), nil)}, ErrInvalidCredentials, ""},
		{"a token issued in the future is refused", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { c["iat"] = now.Add(2 * time.Minute).Unix() }), nil)}, ErrInvalidCredentials, ""},
		{"a token for another audience is refused", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { c["aud"] = "another-app" }), nil)}, ErrInvalidCredentials, ""},
		{"a token without an audience is refused", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { delete(c, "aud") }), nil)}, ErrInvalidCredentials, ""},
		{"a token from another issuer is refused", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { c["iss"] = "https://idp.example" }), nil)}, ErrInvalidCredentials, ""},
		{"an issuer that differs by a trailing slash is refused", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { c["iss"] = p.issuer + "/" }), nil)}, ErrInvalidCredentials, ""},
		{"an unsigned token (alg none) is refused", []string{"Authorization", "Bearer " + unsigned("none")}, ErrInvalidCredentials, ""},
		{"an unsigned token claiming RS256 is refused", []string{"Authorization", "Bearer " + unsigned("RS256")}, ErrInvalidCredentials, ""},
		{"an HS256 token signed with the RSA public key's PEM is refused", []string{"Authorization", "Bearer " + hmacWith(pubPEM)}, ErrInvalidCredentials, ""},
		{"an HS256 token signed with the RSA public key's DER is refused", []string{"Authorization", "Bearer " + hmacWith(der)}, ErrInvalidCredentials, ""},
		{"an ES256 token naming an RSA key is refused", []string{"Authorization", "Bearer " + es.sign(t, valid, map[string]any{"kid": rs.kid})}, ErrInvalidCredentials, ""},
		{"an RS384 token is refused when the allow-list lacks it", []string{"Authorization", "Bearer " + signingKey{kid: rs.kid, alg: "RS384", priv: rs.priv}.sign(t, valid, nil)}, ErrInvalidCredentials, ""},
		{"a token signed by a stranger under a known kid is refused", []string{"Authorization", "Bearer " + stranger.sign(t, valid, nil)}, ErrInvalidCredentials, ""},
		{"a token with a tampered payload is refused", []string{"Authorization", "Bearer " + tamperedPayload}, ErrInvalidCredentials, ""},
		{"a token with a tampered signature is refused", []string{"Authorization", "Bearer " + tamperedSig}, ErrInvalidCredentials, ""},
		{"a token without the principal claim is refused", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { delete(c, "sub") }), nil)}, ErrInvalidCredentials, ""},
		{"a token whose principal claim is not a string is refused", []string{"Authorization", "Bearer " + rs.sign(t, with(func(c jwt.MapClaims) { c["sub"] = 42 }), nil)}, ErrInvalidCredentials, ""},
		{"a token with an unknown critical header is refused", []string{"Authorization", "Bearer " + rs.sign(t, valid, map[string]any{"crit": []string{"foo"}, "foo": true})}, ErrInvalidCredentials, ""},
		{"a token listing a critical header it lacks is refused", []string{"Authorization", "Bearer " + rs.sign(t, valid, map[string]any{"crit": []string{"foo"}})}, ErrInvalidCredentials, ""},
		{"a token with an empty critical list is refused", []string{"Authorization", "Bearer " + rs.sign(t, valid, map[string]any{"crit": []string{}})}, ErrInvalidCredentials, ""},
		{"a token with a malformed critical list is refused", []string{"Authorization", "Bearer " + rs.sign(t, valid, map[string]any{"crit": "foo"})}, ErrInvalidCredentials, ""},
		{"a token with a null critical list is refused", []string{"Authorization", "Bearer " + rs.sign(t, valid, map[string]any{"crit": json.RawMessage("null")})}, ErrInvalidCredentials, ""},
		{"a token marking a standard header critical is refused", []string{"Authorization", "Bearer " + rs.sign(t, valid, map[string]any{"crit": []string{"exp"}, "exp": now.Add(time.Minute).Unix()})}, ErrInvalidCredentials, ""},
		{"a token with a character that is not base64url is refused", []string{"Authorization", "Bearer " + parts[0] + "." + parts[1] + "!." + parts[2]}, ErrInvalidCredentials, ""},
		{"a huge token is refused unread", []string{"Authorization", "Bearer " + parts[0] + "." + strings.Repeat("A", maxJWTLen) + "." + parts[2]}, ErrInvalidCredentials, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := j.Authenticate(request(tt.headers...))
			if !isKind(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got.ID != tt.id {
				t.Errorf("ID = %q, want %q", got.ID, tt.id)
			}
			if err == nil && got.Method != "jwt" {
				t.Errorf("Method = %q, want jwt", got.Method)
			}
		})
	}
}

func TestJWTPrincipalClaim(t *testing.T) {
	clock := newClock()
	rs := rsaKey("rs-1", 0)
	p := newIdP(t, rs)
	j := newJWT(t, p, clock, func(c *JWTConfig) { c.PrincipalClaim = "email" })
	claims := p.claimsAt(clock.Now())
	claims["email"] = "alice@example.com"
	got, err := j.Authenticate(request("Authorization", "Bearer "+rs.sign(t, claims, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "jwt:"+issuerTag(p.issuer)+":alice@example.com" {
		t.Errorf("ID = %q, want the email claim", got.ID)
	}
}

// TestJWTPrincipalCarriesTheVerifiedClaims: the principal holds the
// token's claims for the gateway to forward, numbers with every digit.
func TestJWTPrincipalCarriesTheVerifiedClaims(t *testing.T) {
	clock := newClock()
	rs := rsaKey("rs-1", 0)
	p := newIdP(t, rs)
	j := newJWT(t, p, clock)
	claims := p.claimsAt(clock.Now())
	claims["email"] = "alice@example.com"
	claims["employee"] = json.Number("12345678901234567890")
	claims["groups"] = []string{"ops", "dev"}
	got, err := j.Authenticate(request("Authorization", "Bearer "+rs.sign(t, claims, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Claims["email"] != "alice@example.com" || got.Claims["sub"] != "user-123" {
		t.Errorf("claims %v, want the token's email and sub", got.Claims)
	}
	if n, ok := got.Claims["employee"].(json.Number); !ok || n.String() != "12345678901234567890" {
		t.Errorf("employee = %#v, want the number with every digit", got.Claims["employee"])
	}
	if g, ok := got.Claims["groups"].([]any); !ok || len(g) != 2 || g[0] != "ops" {
		t.Errorf("groups = %#v, want the list", got.Claims["groups"])
	}
}

func TestJWTCriticalHeaderIsRefusedBeforeKeysAreFetched(t *testing.T) {
	clock := newClock()
	rs := rsaKey("rs-1", 0)
	p := newIdP(t, rs)
	j := newJWT(t, p, clock)
	token := rs.sign(t, p.claimsAt(clock.Now()), map[string]any{"crit": []string{"foo"}, "foo": true})
	if _, err := j.Authenticate(request("Authorization", "Bearer "+token)); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("err = %v, want ErrInvalidCredentials", err)
	}
	if d, f := p.counts(); d != 0 || f != 0 {
		t.Errorf("discovery fetched %d times, keys %d times; want neither: the token was refused on its header", d, f)
	}
}

func TestJWTKeyRotation(t *testing.T) {
	clock := newClock()
	oldKey, newKey := rsaKey("2026-01", 0), rsaKey("2026-02", 1)
	p := newIdP(t, oldKey)
	j := newJWT(t, p, clock)
	auth := func(k signingKey) error {
		_, err := j.Authenticate(request("Authorization", "Bearer "+k.sign(t, p.claimsAt(clock.Now()), nil)))
		return err
	}

	if err := auth(oldKey); err != nil {
		t.Fatalf("a token signed with the published key: %v", err)
	}
	if err := auth(newKey); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("a token signed with a key the provider has not published yet: err = %v, want ErrInvalidCredentials", err)
	}

	p.publish(newKey)
	clock.Advance(keysRefetchEvery)
	if err := auth(newKey); err != nil {
		t.Fatalf("a token signed with the new key after the rotation: %v", err)
	}
	if err := auth(oldKey); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("a token signed with the key the provider withdrew: err = %v, want ErrInvalidCredentials", err)
	}
	// The withdrawn key's kid is unknown now, but the last fetch was just
	// made, so it does not cause another.
	if d, f := p.counts(); d != 1 || f != 2 {
		t.Errorf("discovery fetched %d times, keys %d times; want 1 and 2", d, f)
	}
}

func TestJWTRefetchIsRateLimited(t *testing.T) {
	clock := newClock()
	rs := rsaKey("rs-1", 0)
	p := newIdP(t, rs)
	j := newJWT(t, p, clock)
	auth := func(kid string) error {
		_, err := j.Authenticate(request("Authorization", "Bearer "+rs.sign(t, p.claimsAt(clock.Now()), map[string]any{"kid": kid})))
		return err
	}
	fetches := func() int { _, f := p.counts(); return f }

	if err := auth(rs.kid); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		advance time.Duration
		kid     string
		want    int // JWKS fetches so far
	}{
		{"an unknown kid right after a fetch does not fetch again", 0, "garbage-1", 1},
		{"a minute on, an unknown kid fetches again", keysRefetchEvery, "garbage-2", 2},
		{"more unknown kids within that minute do not", 0, "garbage-3", 2},
		{"nor do they a second before it ends", keysRefetchEvery - time.Second, "garbage-4", 2},
		{"once it ends, one more fetch happens", time.Second, "garbage-5", 3},
		{"and known kids never fetch", 0, rs.kid, 3},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clock.Advance(s.advance)
			err := auth(s.kid)
			if s.kid == rs.kid && err != nil || s.kid != rs.kid && !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("err = %v", err)
			}
			if got := fetches(); got != s.want {
				t.Errorf("JWKS fetched %d times, want %d", got, s.want)
			}
		})
	}
}

func TestJWTRefreshesOldKeys(t *testing.T) {
	clock := newClock()
	rs := rsaKey("rs-1", 0)
	p := newIdP(t, rs)
	j := newJWT(t, p, clock)
	auth := func() error {
		_, err := j.Authenticate(request("Authorization", "Bearer "+rs.sign(t, p.claimsAt(clock.Now()), nil)))
		return err
	}
	if err := auth(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(keysMaxAge + time.Second)
	if err := auth(); err != nil {
		t.Fatal(err)
	}
	if _, f := p.counts(); f != 2 {
		t.Errorf("JWKS fetched %d times, want 2: keys an hour old are refreshed", f)
	}

	// A provider that is down when the keys are due keeps the old keys in
	// use rather than signing everyone out.
	p.setDown(true)
	clock.Advance(keysMaxAge + time.Second)
	if err := auth(); err != nil {
		t.Errorf("with the provider down and the keys old: %v", err)
	}
	if _, f := p.counts(); f != 2 {
		t.Errorf("JWKS served %d times, want 2", f)
	}
}

func TestJWTProviderDownAtStart(t *testing.T) {
	// Find a free port, then leave it closed: the provider is down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	clock := newClock()
	rs := rsaKey("rs-1", 0)
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	cfg := JWTConfig{Issuer: "http://" + addr, Audience: "agentgate", HTTPClient: &http.Client{Transport: transport}, Now: clock.Now}
	usedWhileDown, err := NewJWT(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewJWT with the provider down: %v", err)
	}
	unusedWhileDown, err := NewJWT(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewJWT with the provider down: %v", err)
	}
	p := &idp{keys: []signingKey{rs}, issuer: cfg.Issuer}
	token := rs.sign(t, p.claimsAt(clock.Now()), nil)
	auth := func(j *JWT) error {
		_, err := j.Authenticate(request("Authorization", "Bearer "+token))
		return err
	}

	if err := auth(usedWhileDown); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a request while the provider is down: err = %v, want ErrUnavailable", err)
	}

	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	p.srv = httptest.NewUnstartedServer(p)
	p.srv.Listener.Close()
	p.srv.Listener = l
	p.srv.Start()
	t.Cleanup(p.srv.Close)

	if err := auth(unusedWhileDown); err != nil {
		t.Errorf("the first request once the provider is up: %v", err)
	}
	if err := auth(usedWhileDown); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a retry sooner than %v after the failed fetch: err = %v, want ErrUnavailable", keysRetryEvery, err)
	}
	clock.Advance(keysRetryEvery)
	if err := auth(usedWhileDown); err != nil {
		t.Errorf("a retry %v after the failed fetch: %v", keysRetryEvery, err)
	}
}

func TestJWTDiscovery(t *testing.T) {
	rs := rsaKey("rs-1", 0)
	tests := []struct {
		name       string
		edit       func(p *idp, c *JWTConfig)
		want       error
		discovered int
	}{
		{"keys are found through discovery", func(*idp, *JWTConfig) {}, nil, 1},
		{"a configured JWKS URL skips discovery", func(p *idp, c *JWTConfig) { c.JWKSURL = p.srv.URL + "/keys" }, nil, 0},
		{"a discovery document naming another issuer is not trusted", func(p *idp, c *JWTConfig) {
			p.issuer = "https://idp.example"
		}, ErrUnavailable, 1},
		{"a provider answering errors makes the check unavailable", func(p *idp, c *JWTConfig) {
			c.JWKSURL = p.srv.URL + "/missing"
		}, ErrUnavailable, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			p := newIdP(t, rs)
			issuer := p.issuer
			j := newJWT(t, p, clock, func(c *JWTConfig) { tt.edit(p, c) })
			claims := p.claimsAt(clock.Now())
			claims["iss"] = issuer
			_, err := j.Authenticate(request("Authorization", "Bearer "+rs.sign(t, claims, nil)))
			if !isKind(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if d, _ := p.counts(); d != tt.discovered {
				t.Errorf("discovery fetched %d times, want %d", d, tt.discovered)
			}
		})
	}
}

func TestJWTFetchFailuresAreLogged(t *testing.T) {
	type line struct {
		Level, Msg, Err, Host, Path string
	}
	logged := func(t *testing.T, buf *bytes.Buffer) []line {
		t.Helper()
		var lines []line
		for l := range strings.Lines(buf.String()) {
			var v line
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			lines = append(lines, v)
		}
		return lines
	}
	rs := rsaKey("rs-1", 0)

	t.Run("a failed key fetch is logged with its host, path and reason, once per retry", func(t *testing.T) {
		clock := newClock()
		p := newIdP(t, rs)
		p.setDown(true)
		var buf bytes.Buffer
		host := strings.TrimPrefix(p.srv.URL, "http://")
		j := newJWT(t, p, clock, func(c *JWTConfig) {
			c.JWKSURL = "http://reader:s3cret@" + host + "/keys"
			c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
		})
		auth := func() {
			t.Helper()
			_, err := j.Authenticate(request("Authorization", "Bearer "+rs.sign(t, p.claimsAt(clock.Now()), nil)))
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
		}
		auth()
		auth() // too soon to fetch again
		lines := logged(t, &buf)
		if len(lines) != 1 {
			t.Fatalf("logged %d lines, want 1: %q", len(lines), buf.String())
		}
		if l := lines[0]; l.Level != "WARN" || l.Host != host || l.Path != "/keys" || !strings.Contains(l.Err, "503") {
			t.Errorf("logged %+v, want a warning naming %s, /keys and the 503", l, host)
		}
		if strings.Contains(buf.String(), "s3cret") {
			t.Errorf("the log repeats the password in the JWKS URL: %s", buf.String())
		}
		clock.Advance(keysRetryEvery)
		auth()
		if n := len(logged(t, &buf)); n != 2 {
			t.Errorf("after %v, logged %d lines, want 2", keysRetryEvery, n)
		}
	})

	t.Run("a discovery document for another issuer is logged with the discovery path", func(t *testing.T) {
		clock := newClock()
		p := newIdP(t, rs)
		issuer := p.issuer
		p.issuer = "https://idp.example"
		var buf bytes.Buffer
		j := newJWT(t, p, clock, func(c *JWTConfig) {
			c.Issuer = issuer
			c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
		})
		claims := p.claimsAt(clock.Now())
		claims["iss"] = issuer
		if _, err := j.Authenticate(request("Authorization", "Bearer "+rs.sign(t, claims, nil))); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		lines := logged(t, &buf)
		if len(lines) != 1 || lines[0].Path != "/.well-known/openid-configuration" || !strings.Contains(lines[0].Err, "names issuer") {
			t.Errorf("logged %q, want one line about the discovery document", buf.String())
		}
	})
}

func TestJWTConcurrentRequestsShareOneFetch(t *testing.T) {
	clock := newClock()
	rs := rsaKey("rs-1", 0)
	p := newIdP(t, rs)
	hold := make(chan struct{})
	p.hold, p.entered = hold, make(chan struct{}, 1)
	j := newJWT(t, p, clock, func(c *JWTConfig) { c.JWKSURL = p.srv.URL + "/keys" })
	waiting := make(chan struct{}, 8)
	j.keys.waiting = func() { waiting <- struct{}{} }
	token := rs.sign(t, p.claimsAt(clock.Now()), nil)

	const n = 4
	errs := make(chan error, n)
	var wg sync.WaitGroup
	auth := func() {
		defer wg.Done()
		_, err := j.Authenticate(request("Authorization", "Bearer "+token))
		errs <- err
	}
	wg.Add(1)
	go auth()
	recv(t, p.entered, "JWKS request")
	for range n - 1 {
		wg.Add(1)
		go auth()
		recv(t, waiting, "request waiting for the fetch")
	}
	close(hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a request that waited for the fetch: %v", err)
		}
	}
	if _, f := p.counts(); f != 1 {
		t.Errorf("JWKS fetched %d times, want 1", f)
	}
}

func TestNewJWTConfig(t *testing.T) {
	ok := JWTConfig{Issuer: "https://idp.example/realms/x", Audience: "agentgate"}
	tests := []struct {
		name string
		edit func(*JWTConfig)
		want string // "" for success, else a substring of the error
	}{
		{"an https issuer and an audience are enough", func(*JWTConfig) {}, ""},
		{"an http issuer on loopback is allowed", func(c *JWTConfig) { c.Issuer = "http://127.0.0.1:8080" }, ""},
		{"an http issuer on localhost is allowed", func(c *JWTConfig) { c.Issuer = "http://localhost:8080/realms/x" }, ""},
		{"the allowed algorithms can be chosen", func(c *JWTConfig) { c.Algorithms = []string{"PS256", "EdDSA"} }, ""},
		{"an issuer is required", func(c *JWTConfig) { c.Issuer = "" }, "issuer: required"},
		{"a relative issuer is refused", func(c *JWTConfig) { c.Issuer = "idp.example" }, "issuer:"},
		{"an http issuer elsewhere is refused", func(c *JWTConfig) { c.Issuer = "http://idp.example" }, "issuer:"},
		{"an audience is required", func(c *JWTConfig) { c.Audience = "" }, "audience: required"},
		{"an http JWKS URL elsewhere is refused", func(c *JWTConfig) { c.JWKSURL = "http://idp.example/keys" }, "jwksURL:"},
		{"alg none is refused", func(c *JWTConfig) { c.Algorithms = []string{"RS256", "none"} }, "algorithms[1]:"},
		{"alg None in any case is refused", func(c *JWTConfig) { c.Algorithms = []string{"None"} }, "algorithms[0]:"},
		{"HS256 is refused", func(c *JWTConfig) { c.Algorithms = []string{"HS256"} }, "algorithms[0]:"},
		{"hs512 is refused", func(c *JWTConfig) { c.Algorithms = []string{"ES256", "hs512"} }, "algorithms[1]:"},
		{"an unknown algorithm is refused", func(c *JWTConfig) { c.Algorithms = []string{"RS1"} }, "algorithms[0]:"},
		{"a negative clock skew is refused", func(c *JWTConfig) { c.ClockSkew = -time.Second }, "clockSkew:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := NewJWT(context.Background(), cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5s", what)
		panic("unreachable")
	}
}
