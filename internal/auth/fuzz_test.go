package auth

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzAuthorization sends arbitrary Authorization, X-Api-Key and Cookie
// headers through the chain the gateway builds. No input may panic, every
// error must be one the gateway knows how to answer, and every success
// must name a principal.
func FuzzAuthorization(f *testing.F) {
	key, hash, _ := GenerateAPIKey()
	keys, err := NewAPIKeys([]APIKey{{Name: "ci-bot", Hash: hash}})
	if err != nil {
		f.Fatal(err)
	}
	clock := newClock()
	hashes := map[string]string{"alice": mustArgon(f, alicePassword)}
	pw, err := NewPasswords(PasswordConfig{Users: hashes, TokenKey: testTokenKey, Now: clock.Now, MaxTracked: 100})
	if err != nil {
		f.Fatal(err)
	}
	token, _, _ := pw.Login("alice", alicePassword, "192.0.2.1")

	// The JWT authenticator gets its keys up front and a clock that never
	// moves, so it never goes to the network.
	rs := rsaKey("rs-1", 0)
	j, err := NewJWT(f.Context(), JWTConfig{Issuer: "https://idp.example", Audience: "agentgate", Now: clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	j.keys.keys = []jose.JSONWebKey{{Key: rs.priv.Public(), KeyID: rs.kid, Algorithm: "RS256", Use: "sig"}}
	j.keys.fetched, j.keys.attempted = clock.Now(), clock.Now()
	claims := (&idp{issuer: "https://idp.example"}).claimsAt(clock.Now())
	jwtToken := rs.sign(f, claims, nil)

	chain := Chain{keys, pw, j}
	seeds := [][3]string{
		{"Bearer " + key, "", ""},
		{"", key, ""},
		{"Bearer " + token, "", ""},
		{"", "", "agentgate_session=" + token},
		{"Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==", "", ""},
		{"Bearer " + jwtToken, "", ""},
		{"Bearer eyJhbGciOiJub25lIn0.e30.", "", ""},
		{"Bearer e30.e30.e30", "", ""},
		{"Basic", "", ""},
		{"Bearer", "agk_", "agentgate_session="},
		{"bearer agt1.", "", ""},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, authorization, apiKey, cookie string) {
		r, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://gateway/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.RemoteAddr = "192.0.2.9:1234"
		r.Header.Set("Authorization", authorization)
		r.Header.Set("X-Api-Key", apiKey)
		r.Header.Set("Cookie", cookie)
		p, err := chain.Authenticate(r)
		var retry *RetryError
		switch {
		case err == nil:
			if p.ID == "" || p.Method == "" {
				t.Fatalf("success without a principal: %+v", p)
			}
			if len(p.ID) > maxPrincipalLen || !utf8.ValidString(p.ID) || strings.ContainsFunc(p.ID, unicode.IsControl) {
				t.Fatalf("principal %q cannot travel as a runtime user id", p.ID)
			}
		case errors.As(err, &retry):
			if retry.After <= 0 || retry.After > 15*time.Minute {
				t.Fatalf("retry after %v", retry.After)
			}
		case errors.Is(err, ErrNoCredentials), errors.Is(err, ErrInvalidCredentials), errors.Is(err, ErrUnavailable):
		default:
			t.Fatalf("an error the gateway cannot classify: %v", err)
		}
	})
}
