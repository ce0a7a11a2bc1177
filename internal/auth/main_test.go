package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/agentgate/agentgate/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock moves only when told.
type fakeClock = testenv.Clock

func newClock() *fakeClock { return testenv.NewClockAt(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)) }

// request returns a GET request with the given headers ("Name: value").
func request(headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

// isKind reports whether err is of the kind want: nil, a sentinel, or a
// *RetryError when want is one.
func isKind(err, want error) bool {
	var retry *RetryError
	if errors.As(want, &retry) {
		return errors.As(err, &retry)
	}
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

// signingKey is one of the test identity provider's keys.
type signingKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

var rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	var keys []*rsa.PrivateKey
	for range 3 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys = append(keys, k)
	}
	return keys
})

// rsaKey returns the nth of a few RSA keys made once per run: generating
// RSA keys is slow on a small machine.
func rsaKey(kid string, n int) signingKey {
	return signingKey{kid: kid, alg: "RS256", priv: rsaKeys()[n]}
}

func ecKey(t *testing.T, kid string) signingKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: "ES256", priv: k}
}

// sign returns a JWT with claims signed by k, with k's kid and alg unless
// header overrides them (a nil value deletes the field).
func (k signingKey) sign(t testing.TB, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), claims)
	tok.Header["kid"] = k.kid
	for name, v := range header {
		if v == nil {
			delete(tok.Header, name)
			continue
		}
		tok.Header[name] = v
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// idp is an OIDC identity provider on 127.0.0.1 that serves discovery and
// a JWKS the test can rotate.
type idp struct {
	srv *httptest.Server

	mu         sync.Mutex
	keys       []signingKey
	discovered int // discovery requests served
	fetched    int // JWKS requests served
	issuer     string
	down       bool // answer 503 to everything
	// hold, when set, makes JWKS requests wait until it is closed.
	hold    chan struct{}
	entered chan struct{}
}

func newIdP(t *testing.T, keys ...signingKey) *idp {
	t.Helper()
	p := &idp{keys: keys}
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	p.issuer = p.srv.URL
	return p
}

func (p *idp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		p.discovered++
		doc := map[string]string{"issuer": p.issuer, "jwks_uri": p.srv.URL + "/keys"}
		p.mu.Unlock()
		_ = json.NewEncoder(w).Encode(doc)
	case "/keys":
		p.fetched++
		var set jose.JSONWebKeySet
		for _, k := range p.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
		}
		hold, entered := p.hold, p.entered
		p.mu.Unlock()
		if hold != nil {
			entered <- struct{}{}
			<-hold
		}
		_ = json.NewEncoder(w).Encode(set)
	default:
		p.mu.Unlock()
		http.NotFound(w, r)
	}
}

// publish replaces the provider's key set, as a rotation does.
func (p *idp) publish(keys ...signingKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

func (p *idp) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

func (p *idp) counts() (discovered, fetched int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.discovered, p.fetched
}

// newJWT returns a JWT authenticator for p with the audience "agentgate".
func newJWT(t *testing.T, p *idp, clock *fakeClock, edit ...func(*JWTConfig)) *JWT {
	t.Helper()
	cfg := JWTConfig{Issuer: p.issuer, Audience: "agentgate", HTTPClient: p.srv.Client(), Now: clock.Now, Logger: slog.New(slog.DiscardHandler)}
	for _, e := range edit {
		e(&cfg)
	}
	j, err := NewJWT(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	return j
}

// claimsAt returns valid claims for p issued at now.
func (p *idp) claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": p.issuer,
		"aud": "agentgate",
		"sub": "user-123",
		"iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
	}
}
