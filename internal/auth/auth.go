package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Principal is an authenticated caller.
type Principal struct {
	// ID is the caller's stable identity, in a name space of its
	// authenticator's own: "key:NAME" for an API key, "user:NAME" for a
	// password user, "jwt:TAG:SUB" for a JWT whose principal claim is SUB
	// (TAG names the issuer; see QualifyPrincipal), and "anonymous" for
	// None. No two authenticators can produce the same ID. It is at most
	// 128 bytes of UTF-8 without control characters, so that it can travel
	// upstream as the runtime user id.
	ID string
	// Method says how the caller authenticated: "apikey", "password",
	// "jwt" or "none".
	Method string
	// Claims are the verified claims of a JWT caller's token, as its JSON
	// decodes (numbers as json.Number, so none loses a digit); nil for
	// every other method. They may hold personal data: never log them.
	Claims map[string]any
}

// Authenticator checks one kind of credential.
type Authenticator interface {
	// Authenticate returns the caller's principal. It returns
	// ErrNoCredentials when the request carries no credential of this kind,
	// so that the next authenticator may try; any other error means a
	// credential of this kind was present and is bad (wrapping
	// ErrInvalidCredentials), the caller must slow down (*RetryError), or
	// the credential cannot be checked right now (ErrUnavailable).
	Authenticate(r *http.Request) (Principal, error)
}

var (
	// ErrNoCredentials means the request carries no credential of the
	// authenticator's kind.
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrInvalidCredentials means a credential was present and is wrong,
	// expired, tampered with or unknown. Callers cannot tell these apart on
	// purpose: the difference would help an attacker.
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrUnavailable means a credential was present but could not be
	// checked, because something the check depends on (the identity
	// provider's keys) cannot be reached. It is the gateway's problem, not
	// the caller's, and worth a 503 rather than a 401.
	ErrUnavailable = errors.New("auth: credentials cannot be checked right now")
)

// RetryError means the caller must wait before trying again: it failed too
// often, or too many sign-ins are being checked at once (Busy). The gateway
// answers 429 with a Retry-After header.
type RetryError struct {
	// After is how long until the next attempt is allowed.
	After time.Duration
	// Busy means the credentials were not checked because too many others
	// were; the attempt did not count as a failure.
	Busy bool
}

// Error says why and how long to wait.
func (e *RetryError) Error() string {
	if e.Busy {
		return fmt.Sprintf("auth: too many sign-ins at once, retry in %v", e.After.Round(time.Second))
	}
	return fmt.Sprintf("auth: too many failed attempts, retry in %v", e.After.Round(time.Second))
}

// Chain tries authenticators in order; the first that does not return
// ErrNoCredentials decides, so a bad credential of one kind stops the chain
// rather than falling through to a more lenient authenticator. When every
// authenticator finds nothing of its kind, a request that presents a
// credential all the same (an Authorization or X-Api-Key header) is
// refused with ErrInvalidCredentials, and only a request that presents
// none gets ErrNoCredentials: a bearer token no authenticator recognises
// is a credential that is not valid, not a missing one. The answer is then
// the same whichever authenticators are configured, so it does not tell a
// caller which kinds of credential the gateway would take.
type Chain []Authenticator

// Authenticate returns the answer of the first authenticator that finds a
// credential of its kind.
func (c Chain) Authenticate(r *http.Request) (Principal, error) {
	for _, a := range c {
		p, err := a.Authenticate(r)
		if errors.Is(err, ErrNoCredentials) {
			continue
		}
		return p, err
	}
	if r.Header.Get("Authorization") != "" || r.Header.Get("X-Api-Key") != "" {
		return Principal{}, fmt.Errorf("%w: a credential of no kind this gateway accepts", ErrInvalidCredentials)
	}
	return Principal{}, ErrNoCredentials
}

// None authenticates everyone as the anonymous principal. The gateway uses
// it only when an operator configures an open gateway explicitly.
type None struct{}

// Authenticate returns Principal{ID: "anonymous", Method: "none"}.
func (None) Authenticate(*http.Request) (Principal, error) {
	return Principal{ID: anonymous, Method: "none"}, nil
}

type clientIPKey struct{}

// WithClientIP returns a context that tells authenticators the caller's real
// address, for when the gateway knows better than r.RemoteAddr (behind a
// proxy or CloudFront). Failed sign-ins are counted per address.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// clientIP is the caller's address: the one WithClientIP put on the
// request's context, else the host of r.RemoteAddr.
func clientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// addressKey is the bucket failed attempts from ip count against. An IPv6
// client usually holds a whole /64, so counting single addresses would let
// it step around the limit; IPv4-mapped addresses count as their IPv4 form.
func addressKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// authorization returns the scheme and the credentials of the request's
// Authorization header. The scheme is case-insensitive (RFC 9110 11.1).
func authorization(r *http.Request) (scheme, credentials string, ok bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false
	}
	scheme, credentials, _ = strings.Cut(strings.TrimSpace(h), " ")
	return scheme, strings.TrimSpace(credentials), true
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := authorization(r)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
