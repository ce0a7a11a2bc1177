package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig configures JWT. Zero values take the defaults given.
type JWTConfig struct {
	// Issuer must equal the token's iss claim exactly. Unless JWKSURL is
	// set, the signing keys are found by OIDC discovery at Issuer +
	// "/.well-known/openid-configuration". It must be https, except on
	// loopback hosts.
	Issuer string
	// Audience must be one of the token's aud claim values. It is
	// required: without it, a token the provider issued to any other
	// application would let its holder in.
	Audience string
	// JWKSURL, when set, is where the signing keys are, and discovery is
	// skipped.
	JWKSURL string
	// Algorithms lists the signature algorithms accepted; default RS256 and
	// ES256. "none" and the HMAC algorithms (HS256, ...) are refused: a
	// gateway has no business sharing a secret with the provider, and
	// allowing them opens the door to signing with a public key.
	Algorithms []string
	// PrincipalClaim names the claim whose value, a string, makes the
	// principal's ID "jwt:TAG:VALUE", where TAG names the issuer (see
	// QualifyPrincipal); default "sub". A token whose value is empty, holds
	// a control character or white space at either end, or makes the ID
	// longer than 128 bytes is refused.
	PrincipalClaim string
	// ClockSkew is the leeway on exp, nbf and iat; default 60s.
	ClockSkew time.Duration
	// HTTPClient fetches discovery and keys; default http.DefaultClient.
	// Each request is bounded to 10s regardless.
	HTTPClient *http.Client
	// Logger is told, at warn level, why each failed discovery or key
	// fetch failed, with the host and path fetched; fetches are at most
	// one per 5s after a failure. Default slog.Default().
	Logger *slog.Logger
	// Now tells the time; default time.Now.
	Now func() time.Time
}

var (
	defaultJWTAlgorithms = []string{"RS256", "ES256"}
	supportedJWTAlgs     = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

const (
	defaultPrincipalClaim = "sub"
	defaultClockSkew      = 60 * time.Second
	// maxJWTLen bounds the bearer tokens parsed. Real ones are a few KB;
	// the bound keeps a megabyte header from being base64-decoded and
	// unmarshalled.
	maxJWTLen = 16 << 10
)

// JWT authenticates OIDC/JWT bearer tokens signed by an identity provider.
type JWT struct {
	claim  string
	tag    string // issuerTag of the issuer
	parser *jwt.Parser
	keys   *keySet
}

// NewJWT returns a JWT authenticator for cfg. It does no network I/O: the
// provider's keys are fetched on first use and cached, so that a provider
// that is briefly unreachable when the gateway starts does not stop it.
// ctx is accepted for symmetry with other constructors and is not kept.
// Errors name the field at fault.
func NewJWT(ctx context.Context, cfg JWTConfig) (*JWT, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &JWT{
		claim: cfg.PrincipalClaim,
		tag:   issuerTag(cfg.Issuer),
		parser: jwt.NewParser(
			jwt.WithValidMethods(cfg.Algorithms),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.ClockSkew),
			jwt.WithTimeFunc(cfg.Now),
			jwt.WithStrictDecoding(),
			jwt.WithJSONNumber(),
		),
		keys: &keySet{issuer: cfg.Issuer, jwksURL: cfg.JWKSURL, client: cfg.HTTPClient, now: cfg.Now, log: cfg.Logger},
	}, nil
}

func (cfg JWTConfig) withDefaults() (JWTConfig, error) {
	if cfg.Issuer == "" {
		return cfg, errors.New("issuer: required")
	}
	if err := checkProviderURL(cfg.Issuer); err != nil {
		return cfg, fmt.Errorf("issuer: %w", err)
	}
	if cfg.Audience == "" {
		return cfg, errors.New("audience: required, so that tokens issued to other applications are refused")
	}
	if cfg.JWKSURL != "" {
		if err := checkProviderURL(cfg.JWKSURL); err != nil {
			return cfg, fmt.Errorf("jwksURL: %w", err)
		}
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = defaultJWTAlgorithms
	}
	for i, alg := range cfg.Algorithms {
		switch {
		case strings.EqualFold(alg, "none"):
			return cfg, fmt.Errorf("algorithms[%d]: %q is refused: unsigned tokens prove nothing", i, alg)
		case strings.HasPrefix(strings.ToUpper(alg), "HS"):
			return cfg, fmt.Errorf("algorithms[%d]: %q is refused: HMAC algorithms need a shared secret and invite signing with a public key", i, alg)
		case !slices.Contains(supportedJWTAlgs, alg):
			return cfg, fmt.Errorf("algorithms[%d]: %q is not supported; use one of %s", i, alg, strings.Join(supportedJWTAlgs, ", "))
		}
	}
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	if cfg.PrincipalClaim == "" {
		cfg.PrincipalClaim = defaultPrincipalClaim
	}
	if cfg.ClockSkew < 0 {
		return cfg, fmt.Errorf("clockSkew: must not be negative, got %v", cfg.ClockSkew)
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = defaultClockSkew
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// checkProviderURL requires an absolute https URL, or http on a loopback
// host: keys fetched in clear could be swapped by anyone on the path.
func checkProviderURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return fmt.Errorf("%q must use https (http is allowed only on loopback hosts)", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must not have a query or fragment", s)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Authenticate accepts an "Authorization: Bearer" JWT. A bearer value that
// is not shaped like a JWS (three dot-separated segments, the first a
// base64url JSON object) is some other kind of token and answers
// ErrNoCredentials.
func (j *JWT) Authenticate(r *http.Request) (Principal, error) {
	token, ok := bearer(r)
	if !ok || !jwtShaped(token) {
		return Principal{}, ErrNoCredentials
	}
	if len(token) > maxJWTLen {
		return Principal{}, fmt.Errorf("%w: jwt: longer than %d bytes", ErrInvalidCredentials, maxJWTLen)
	}
	claims := jwt.MapClaims{}
	_, err := j.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		// RFC 7515 4.1.11: a token whose "crit" lists an extension the
		// recipient does not understand is invalid. This gateway
		// understands none, and an empty or malformed list is invalid as
		// well, so any "crit" at all is refused, before keys are fetched.
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New(`the "crit" header names extensions this gateway does not understand`)
		}
		kid, _ := t.Header["kid"].(string)
		keys, err := j.keys.lookup(r.Context(), kid, t.Method.Alg())
		if err != nil {
			return nil, err
		}
		if len(keys) == 1 {
			return keys[0], nil
		}
		set := jwt.VerificationKeySet{}
		for _, k := range keys {
			set.Keys = append(set.Keys, k)
		}
		return set, nil
	})
	switch {
	case errors.Is(err, ErrUnavailable):
		return Principal{}, err
	case err != nil:
		return Principal{}, fmt.Errorf("%w: jwt: %v", ErrInvalidCredentials, err)
	}
	sub, ok := claims[j.claim].(string)
	if !ok {
		return Principal{}, fmt.Errorf("%w: jwt: claim %q is not a string", ErrInvalidCredentials, j.claim)
	}
	if err := checkPrincipalName(jwtPrincipal(j.tag, ""), sub); err != nil {
		return Principal{}, fmt.Errorf("%w: jwt: claim %q %v", ErrInvalidCredentials, j.claim, err)
	}
	return Principal{ID: jwtPrincipal(j.tag, sub), Method: "jwt", Claims: claims}, nil
}

// jwtShaped reports whether token looks like a compact JWS: three
// dot-separated segments, the first a base64url JSON object. It looks no
// further, so that a token that is meant as a JWT but damaged, or unsigned
// ("alg": "none", with an empty signature), is judged and refused here,
// never passed on down the chain.
func jwtShaped(token string) bool {
	header, rest, ok := strings.Cut(token, ".")
	if !ok || header == "" || strings.Count(rest, ".") != 1 || strings.ContainsFunc(header, notBase64URL) {
		return false
	}
	// A JOSE header is a JSON object: its first few bytes are enough to
	// tell a JWT from another token that happens to have two dots.
	head := header[:min(len(header), 8)]
	if len(head)%4 == 1 {
		head = head[:len(head)-1] // a lone character encodes no byte
	}
	b, _ := base64.RawURLEncoding.DecodeString(head)
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

func notBase64URL(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}
