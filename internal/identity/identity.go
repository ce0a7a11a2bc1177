// Package identity is what the gateway tells an agent about its caller:
// the AgentCore Runtime custom headers that carry the verified principal,
// its kind and the JWT claims an operator forwards, and the rules a value
// must meet to travel in one. The gateway writes them (Forward.Headers),
// the agent server reads them, and config checks the header names an
// operator chooses.
//
// The rules follow AgentCore's developer guide, "Pass custom headers to
// Amazon Bedrock AgentCore Runtime" (runtime-header-allowlist), and the
// control plane's RequestHeaderConfiguration: a runtime passes on only the
// headers it allow-lists, at most 20; names starting X-Amzn- are refused
// except the prefix X-Amzn-Bedrock-AgentCore-Runtime-Custom-; a header
// value reaches the agent only if it is not greater than 4 KB.
package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// HeaderPrefix starts the name of every header the gateway sends an
	// agent about its caller: AgentCore's own prefix for custom headers.
	HeaderPrefix = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-"
	// PrincipalHeader carries the caller's principal ID, as the gateway's
	// allow-lists and limits name it: key:NAME, user:NAME, jwt:TAG:SUB or
	// anonymous.
	PrincipalHeader = HeaderPrefix + "Principal"
	// PrincipalKindHeader carries how the caller signed in: apikey,
	// password, jwt or none.
	PrincipalKindHeader = HeaderPrefix + "Principal-Kind"

	// MaxHeaders is how many headers one runtime may allow-list.
	MaxHeaders = 20
	// MaxClaims is how many claims one agent may be sent: the principal
	// headers take two of the runtime's MaxHeaders.
	MaxClaims = MaxHeaders - 2
	// MaxValueBytes is the largest header value AgentCore passes on (4 KB).
	MaxValueBytes = 4 << 10
	// maxNameLen is the longest name an allow-list takes.
	maxNameLen = 256
)

// IsCustom reports whether name, in any case, is an AgentCore custom
// header: one an agent takes as the word of whoever invoked its runtime.
func IsCustom(name string) bool {
	return len(name) >= len(HeaderPrefix) && strings.EqualFold(name[:len(HeaderPrefix)], HeaderPrefix)
}

// CheckHeaderName says what is wrong with name as the header of a
// forwarded claim, if anything. It must be HeaderPrefix followed by
// letters, digits and hyphens (the allow-list's pattern for that prefix),
// at most 256 characters, and not one of the principal headers.
func CheckHeaderName(name string) error {
	rest, ok := "", IsCustom(name)
	if ok {
		rest = name[len(HeaderPrefix):]
	}
	switch {
	case !ok:
		return fmt.Errorf("%q does not start with %s, the only prefix AgentCore passes on to an agent", name, HeaderPrefix)
	case rest == "" || strings.ContainsFunc(rest, notNameRune):
		return fmt.Errorf("%q: after %s come letters, digits and hyphens only, at least one", name, HeaderPrefix)
	case len(name) > maxNameLen:
		return fmt.Errorf("%q is %d characters; an allow-listed header name has at most %d", name, len(name), maxNameLen)
	case strings.EqualFold(name, PrincipalHeader), strings.EqualFold(name, PrincipalKindHeader):
		return fmt.Errorf("%q is the gateway's own principal header", name)
	}
	return nil
}

func notNameRune(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
}

// CheckValue says why v cannot travel as a header value unchanged, if it
// cannot: longer than MaxValueBytes, not UTF-8, a control character (which
// would break the request), or white space at either end (which HTTP
// trims, so the agent would read another value). An empty value is fine.
func CheckValue(v string) error {
	switch {
	case len(v) > MaxValueBytes:
		return fmt.Errorf("is %d bytes; AgentCore passes on header values of at most %d", len(v), MaxValueBytes)
	case !utf8.ValidString(v):
		return errors.New("is not valid UTF-8")
	case strings.ContainsFunc(v, unicode.IsControl):
		return errors.New("contains a control character")
	case strings.TrimSpace(v) != v:
		return errors.New("starts or ends with white space")
	}
	return nil
}

// Value renders a claim, as a JWT's JSON decodes it, for a header: a
// string as itself, anything else (a number, a boolean, a list, an object)
// as its compact JSON. The error says why it cannot travel (CheckValue).
func Value(claim any) (string, error) {
	if s, ok := claim.(string); ok {
		return s, CheckValue(s)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(claim); err != nil {
		return "", fmt.Errorf("cannot be written as JSON: %w", err)
	}
	v := strings.TrimSuffix(b.String(), "\n")
	return v, CheckValue(v)
}

// Claim is one forwarded claim and the header that carries it.
type Claim struct {
	Name, Header string
}

// Forward is what one agent is told about its callers: the principal
// headers always, and these claims when the caller's credential has them.
type Forward []Claim

// NewForward returns the forwarding that claims describes (claim name →
// header name), sorted by claim. It checks the count, every name, and that
// no two claims share a header; the error names the first claim at fault.
func NewForward(claims map[string]string) (Forward, error) {
	f := make(Forward, 0, len(claims))
	for name, header := range claims {
		f = append(f, Claim{Name: name, Header: header})
	}
	slices.SortFunc(f, func(a, b Claim) int { return strings.Compare(a.Name, b.Name) })
	if len(f) > MaxClaims {
		return nil, fmt.Errorf("%d claims; an agent takes at most %d (a runtime allow-lists %d headers, two of them the principal's)", len(f), MaxClaims, MaxHeaders)
	}
	seen := map[string]string{}
	for _, c := range f {
		if c.Name == "" {
			return nil, errors.New("a claim name is empty")
		}
		if err := CheckHeaderName(c.Header); err != nil {
			return nil, fmt.Errorf("claim %q: %w", c.Name, err)
		}
		if other, ok := seen[strings.ToLower(c.Header)]; ok {
			return nil, fmt.Errorf("claim %q: %s already carries the claim %q (header names compare without case)", c.Name, c.Header, other)
		}
		seen[strings.ToLower(c.Header)] = c.Name
	}
	return f, nil
}

// AllowList is the runtime's requestHeaderAllowlist that lets every header
// of f through: the principal headers, then each claim's.
func (f Forward) AllowList() []string {
	names := []string{PrincipalHeader, PrincipalKindHeader}
	for _, c := range f {
		names = append(names, c.Header)
	}
	return names
}

// Omission is a claim the caller's credential holds that could not travel.
type Omission struct {
	Claim Claim
	// Err says why, never with the value.
	Err error
}

// The principal headers' names as http.Header keeps them, made once: the
// canonical form of "AgentCore" differs, so each call would make it anew.
var (
	principalKey     = http.CanonicalHeaderKey(PrincipalHeader)
	principalKindKey = http.CanonicalHeaderKey(PrincipalKindHeader)
)

// Headers returns the headers that tell the agent who is asking: the
// principal, its kind and each claim of f that claims holds. A claim the
// credential lacks, or holds as null or "", is left out quietly; one that
// cannot travel unchanged (CheckValue) is left out and returned among the
// omissions, for the caller to log: a value is never cut to fit.
func (f Forward) Headers(principal, kind string, claims map[string]any) (http.Header, []Omission) {
	h := make(http.Header, 2+len(f))
	// A principal ID is at most 128 bytes without control characters or
	// white space at either end (auth checks it at sign-in).
	h[principalKey] = []string{principal}
	h[principalKindKey] = []string{kind}
	var left []Omission
	for _, c := range f {
		raw, ok := claims[c.Name]
		if !ok || raw == nil || raw == "" {
			continue
		}
		v, err := Value(raw)
		if err != nil {
			left = append(left, Omission{Claim: c, Err: err})
			continue
		}
		h.Set(c.Header, v)
	}
	return h, left
}
