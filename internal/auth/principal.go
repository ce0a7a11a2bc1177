package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Each authenticator names its callers in a name space of its own, so that
// a name one of them vouches for can never be spelled by another: a JWT
// whose subject is "key:ci-bot" is "jwt:<tag>:key:ci-bot", not the API key
// ci-bot. The prefixes are fixed and the JWT tag has a fixed length, so an
// ID reads back unambiguously.
const (
	keyPrefix  = "key:"
	userPrefix = "user:"
	jwtPrefix  = "jwt:"
	// anonymous is what None calls everyone. It has no prefix, so no other
	// kind of ID can equal it.
	anonymous = "anonymous"
	// issuerTagLen is how many hex digits of the issuer's SHA-256 name it:
	// 48 bits, so two issuers one gateway trusts do not share a tag by
	// accident.
	issuerTagLen = 12
)

// maxPrincipalLen bounds a principal ID in bytes, because the gateway sends
// it upstream as the runtime user id (X-Amzn-Bedrock-AgentCore-Runtime-User-Id).
// InvokeAgentRuntime documents no limit for that header, but the runtime
// hands the value to AgentCore Identity, whose GetWorkloadAccessTokenForUserId
// takes a userId of 1 to 128 characters; an ID that the runtime cannot use
// is refused at sign-in rather than failing every call upstream.
const maxPrincipalLen = 128

// issuerTag is the short, stable name of a JWT issuer in principal IDs:
// the first 12 hex digits of the SHA-256 of the issuer URL exactly as
// configured (JWTConfig.Issuer, which the token's iss must equal).
func issuerTag(issuer string) string {
	sum := sha256.Sum256([]byte(issuer))
	return hex.EncodeToString(sum[:])[:issuerTagLen]
}

// jwtPrincipal is the ID of the caller whose principal claim is sub in a
// token from the issuer tagged tag.
func jwtPrincipal(tag, sub string) string { return jwtPrefix + tag + ":" + sub }

// checkPrincipalName says what is wrong with name as the part of a
// principal ID after prefix, if anything. The ID travels as an HTTP header
// upstream: control characters would break the request (or split it), and
// white space at either end would be trimmed there, making two IDs one.
func checkPrincipalName(prefix, name string) error {
	switch {
	case name == "":
		return errors.New("is empty")
	case len(prefix)+len(name) > maxPrincipalLen:
		return fmt.Errorf("is too long: the principal would be %d bytes, and a runtime user id takes at most %d", len(prefix)+len(name), maxPrincipalLen)
	case !utf8.ValidString(name):
		return errors.New("is not valid UTF-8")
	case strings.ContainsFunc(name, unicode.IsControl):
		return errors.New("contains a control character")
	case strings.TrimSpace(name) != name:
		return errors.New("starts or ends with white space")
	}
	return nil
}

// QualifyPrincipal turns an entry of an agent's principals list, as an
// operator writes it, into the form Principal.ID takes, so that the two can
// be compared:
//
//   - "key:NAME", an API key's holder, and "user:NAME", a password user,
//     stay as they are;
//   - "jwt:SUB", the caller whose JWT carries SUB in the principal claim,
//     becomes "jwt:TAG:SUB", where TAG names jwtIssuer (the first 12 hex
//     digits of its SHA-256); it is an error when jwtIssuer is "", that is
//     when no JWT issuer is configured. An entry already in that form is
//     returned as it is;
//   - "anonymous", everyone let in by an open gateway, and "*", anyone,
//     stay as they are.
//
// Anything else, such as a bare "ada", is an error that says how to write
// each kind. So is a name that no authenticator would ever let in.
func QualifyPrincipal(entry, jwtIssuer string) (string, error) {
	kind, name, _ := strings.Cut(entry, ":")
	switch kind + ":" {
	case keyPrefix:
		if err := checkAPIKeyName(name); err != nil {
			return "", fmt.Errorf("%q: %w", entry, err)
		}
		return entry, nil
	case userPrefix:
		if err := checkUserName(name); err != nil {
			return "", fmt.Errorf("%q: %w", entry, err)
		}
		return entry, nil
	case jwtPrefix:
		if jwtIssuer == "" {
			return "", fmt.Errorf("%q names a JWT subject, but no JWT issuer is configured", entry)
		}
		tag := issuerTag(jwtIssuer)
		if qualified, ok := strings.CutPrefix(name, tag+":"); ok {
			name = qualified
		}
		if err := checkPrincipalName(jwtPrincipal(tag, ""), name); err != nil {
			return "", fmt.Errorf("%q: the subject %w", entry, err)
		}
		return jwtPrincipal(tag, name), nil
	}
	if entry == "*" || entry == anonymous {
		return entry, nil
	}
	return "", fmt.Errorf(`%q names no kind of caller: write "key:NAME" for an API key, "user:NAME" for a password user, "jwt:SUB" for a JWT subject, "anonymous" for callers of an open gateway, or "*" for anyone`, entry)
}
