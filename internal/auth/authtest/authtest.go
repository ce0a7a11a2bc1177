// Package authtest is test support for authentication: an OpenID provider
// on loopback that signs JWTs with one ES256 key, as an identity provider
// behind auth.jwt does.
package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// IdP is an OpenID provider on loopback with one ES256 key (kid "k1"): it
// serves its discovery document and JWKS at URL until the test ends.
type IdP struct {
	// URL is its issuer and base URL.
	URL string
	// Audience is the aud of the tokens it issues.
	Audience string
	key      *ecdsa.PrivateKey
}

// NewIdP starts an identity provider whose tokens are for audience.
func NewIdP(t testing.TB, audience string) *IdP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &IdP{Audience: audience, key: key}
	b64 := func(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.FillBytes(make([]byte, 32))) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": p.URL, "jwks_uri": p.URL + "/jwks"})
		case "/jwks":
			json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
				"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig", "x": b64(key.X), "y": b64(key.Y)}}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Token issues a JWT for sub, valid for an hour.
func (p *IdP) Token(t testing.TB, sub string) string {
	t.Helper()
	return p.TokenWith(t, sub, nil)
}

// TokenWith issues a JWT for sub, valid for an hour, that carries claims
// besides the registered ones; they may not override iss, aud, sub, iat
// or exp.
func (p *IdP) TokenWith(t testing.TB, sub string, claims map[string]any) string {
	t.Helper()
	all := jwt.MapClaims{}
	for k, v := range claims {
		all[k] = v
	}
	for k, v := range map[string]any{"iss": p.URL, "aud": p.Audience, "sub": sub, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()} {
		if _, ok := claims[k]; ok {
			t.Fatalf("authtest: TokenWith sets %s itself", k)
		}
		all[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, all)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
