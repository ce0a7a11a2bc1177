package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// How often the identity provider is asked for its keys. A token with an
// unknown kid triggers a fetch, because that is how a rotation shows up
// (OpenID Connect Core 10.1.1); but anyone can send made-up kids, so fetches
// are spaced out. The spacing is shorter after a failure, so that a gateway
// that started while the provider was down recovers within seconds.
const (
	keysRefetchEvery = time.Minute      // at most this often after a success
	keysRetryEvery   = 5 * time.Second  // at most this often after a failure
	keysMaxAge       = time.Hour        // keys older than this are refreshed on use
	keysFetchTimeout = 10 * time.Second // per discovery or JWKS request
	keysMaxDocBytes  = 1 << 20          // discovery document or JWKS
)

// errFetchSpaced means a fetch was due but too soon after the last one.
var errFetchSpaced = errors.New("the last fetch of the signing keys was moments ago")

// keySet caches an identity provider's public signing keys. It discovers
// the JWKS URL on first use rather than at start, so that a provider that
// is briefly unreachable when the gateway starts does not stop it; it never
// starts goroutines: the request that needs a fetch makes it, and requests
// that need the same fetch wait for it.
type keySet struct {
	issuer string // discovery runs at issuer + "/.well-known/openid-configuration"
	client *http.Client
	now    func() time.Time
	log    *slog.Logger // told of every failed fetch

	mu        sync.Mutex
	jwksURL   string // configured, or "" until discovered
	keys      []jose.JSONWebKey
	fetched   time.Time     // of the keys; zero until a fetch succeeds
	attempted time.Time     // last fetch, successful or not
	lastErr   error         // of the last fetch
	inflight  chan struct{} // closed when the fetch under way ends

	// waiting, when set, is called as a request starts waiting for another
	// request's fetch; tests use it to line requests up.
	waiting func()
}

// lookup returns the keys that may have signed a token with kid (any kid
// when empty) and alg, fetching the key set when it is stale or when no
// key fits. The error wraps ErrUnavailable when there are no keys at all to
// judge by.
func (ks *keySet) lookup(ctx context.Context, kid, alg string) ([]crypto.PublicKey, error) {
	keys, fetched := ks.cached()
	var fetchErr error
	if fetched.IsZero() || ks.now().Sub(fetched) > keysMaxAge {
		// Stale keys stay in use if the provider cannot be reached: an
		// outage should not sign everyone out.
		fetchErr = ks.refresh(ctx)
		keys, fetched = ks.cached()
	}
	if found := fitting(keys, kid, alg); len(found) > 0 {
		return found, nil
	}
	if fetchErr == nil {
		fetchErr = ks.refresh(ctx)
		keys, fetched = ks.cached()
		if found := fitting(keys, kid, alg); len(found) > 0 {
			return found, nil
		}
	}
	if fetched.IsZero() {
		return nil, fmt.Errorf("%w: the identity provider's signing keys are not available: %w", ErrUnavailable, fetchErr)
	}
	return nil, fmt.Errorf("no %s signing key with this kid", alg)
}

func (ks *keySet) cached() ([]jose.JSONWebKey, time.Time) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.keys, ks.fetched
}

// refresh fetches the key set, or waits for the fetch already under way,
// unless the last fetch was too recent (errFetchSpaced).
func (ks *keySet) refresh(ctx context.Context) error {
	ks.mu.Lock()
	if wait := ks.inflight; wait != nil {
		ks.mu.Unlock()
		if ks.waiting != nil {
			ks.waiting()
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		ks.mu.Lock()
		defer ks.mu.Unlock()
		return ks.lastErr
	}
	now := ks.now()
	spacing := keysRefetchEvery
	if ks.lastErr != nil {
		spacing = keysRetryEvery
	}
	if !ks.attempted.IsZero() && now.Sub(ks.attempted) < spacing {
		err := errFetchSpaced
		if ks.lastErr != nil {
			err = fmt.Errorf("%w; it failed: %w", errFetchSpaced, ks.lastErr)
		}
		ks.mu.Unlock()
		return err
	}
	done := make(chan struct{})
	ks.inflight, ks.attempted = done, now
	jwksURL := ks.jwksURL
	ks.mu.Unlock()

	// The fetch serves every request waiting for it, so one caller going
	// away must not cancel it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keysFetchTimeout)
	defer cancel()
	keys, jwksURL, err := ks.fetch(ctx, jwksURL)

	if err != nil {
		ks.logFailure(err)
	}

	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err == nil {
		ks.keys, ks.fetched, ks.jwksURL = keys, ks.now(), jwksURL
	}
	ks.lastErr, ks.inflight = err, nil
	close(done)
	return err
}

// logFailure logs why a fetch failed, naming the host and path it was for.
// Fetches are spaced out (keysRetryEvery after a failure), and so are these
// lines. Nothing secret is logged: provider URLs carry no query, and a
// password in one is redacted.
func (ks *keySet) logFailure(err error) {
	attrs := []any{"err", err}
	var fe *fetchError
	if errors.As(err, &fe) {
		if u, perr := url.Parse(fe.url); perr == nil {
			attrs = append(attrs, "host", u.Host, "path", u.Path)
		}
	}
	ks.log.Warn("auth: cannot fetch the identity provider's signing keys", attrs...)
}

// fetchError is a failed discovery or JWKS fetch and the URL it was for.
type fetchError struct {
	url string
	err error
}

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// fetch discovers the JWKS URL if it is not known yet, then gets the keys.
func (ks *keySet) fetch(ctx context.Context, jwksURL string) ([]jose.JSONWebKey, string, error) {
	if jwksURL == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		discovery := strings.TrimSuffix(ks.issuer, "/") + "/.well-known/openid-configuration"
		if err := ks.getJSON(ctx, discovery, &doc); err != nil {
			return nil, "", &fetchError{discovery, err}
		}
		// OpenID Connect Discovery 4.3: the document must name the issuer
		// it was fetched for, or it may be someone else's.
		if doc.Issuer != ks.issuer {
			return nil, "", &fetchError{discovery, fmt.Errorf("discovery document at %s names issuer %q, want %q", redacted(discovery), doc.Issuer, ks.issuer)}
		}
		if err := checkProviderURL(doc.JWKSURI); err != nil {
			return nil, "", &fetchError{discovery, fmt.Errorf("discovery document at %s: jwks_uri: %w", redacted(discovery), err)}
		}
		jwksURL = doc.JWKSURI
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := ks.getJSON(ctx, jwksURL, &set); err != nil {
		return nil, "", &fetchError{jwksURL, err}
	}
	return parseJWKS(set.Keys), jwksURL, nil
}

// parseJWKS keeps the public signing keys of a JWKS. Keys it cannot use are
// skipped, not fatal (RFC 7517 5): providers publish keys of types a client
// may not know, and one of those must not cost the rest.
func parseJWKS(raw []json.RawMessage) []jose.JSONWebKey {
	var keys []jose.JSONWebKey
	for _, r := range raw {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil || !k.Valid() {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if !k.IsPublic() {
			// Symmetric keys are dropped: a shared secret published is no
			// secret. A provider that publishes a private key has bigger
			// problems; still, only the public half is ever used here.
			if k = k.Public(); k.Key == nil {
				continue
			}
		}
		keys = append(keys, k)
	}
	return keys
}

func (ks *keySet) getJSON(ctx context.Context, target string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", redacted(target), err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return err // *url.Error names the method and the URL, its password redacted
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", redacted(target), resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, keysMaxDocBytes)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", redacted(target), err)
	}
	return nil
}

// redacted is target with any password in it replaced, for messages.
func redacted(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// fitting returns the keys that may verify a token with kid and alg. The
// key's type must fit alg, so that a token cannot pick an algorithm that
// uses a key in a way it was not meant for (an RSA public key as an HMAC
// secret, the classic confusion).
func fitting(keys []jose.JSONWebKey, kid, alg string) []crypto.PublicKey {
	var found []crypto.PublicKey
	for _, k := range keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		if keyFits(k.Key, alg) {
			found = append(found, k.Key)
		}
	}
	return found
}

// minRSABits is the smallest RSA modulus accepted (NIST SP 800-131A).
const minRSABits = 2048

func keyFits(key any, alg string) bool {
	switch key := key.(type) {
	case *rsa.PublicKey:
		return (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")) && key.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return key.Curve == elliptic.P256()
		case "ES384":
			return key.Curve == elliptic.P384()
		case "ES512":
			return key.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
