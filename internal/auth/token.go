package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Login tokens are "agt1." + base64url(JSON claims) + "." +
// base64url(HMAC-SHA256 over everything before the second dot). This is a
// JWT in spirit, without the header: the version prefix fixes the algorithm,
// so there is no "alg" for an attacker to choose, and the prefix tells the
// authenticators apart at a glance. A token is good until it expires on any
// gateway instance that holds the key, unless its id has been revoked
// (PasswordConfig.Revocations); rotation keeps old keys verifying
// (PasswordConfig.PreviousTokenKeys).
const tokenPrefix = "agt1."

// maxTokenLen bounds what is decoded and MACed: a token holds a user name
// of at most maxUserLen bytes and four short claims.
const maxTokenLen = 4096

var b64 = base64.RawURLEncoding.Strict()

// tokenClaims is a token's payload.
type tokenClaims struct {
	Sub string `json:"sub"`
	IAT int64  `json:"iat"`
	Exp int64  `json:"exp"`
	// Ver is a fingerprint of the user's password hash when the token was
	// issued, so that changing a password (or removing the user) ends the
	// user's sessions without a revocation list.
	Ver string `json:"ver"`
	// JTI names this one token, so that logging out can revoke it: 16
	// random bytes, base64url.
	JTI string `json:"jti,omitempty"`
}

// newTokenID returns a random token id.
func newTokenID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return b64.EncodeToString(b), nil
}

var (
	errTokenMalformed = errors.New("malformed login token")
	errTokenSignature = errors.New("login token signature does not match")
)

// tokenKey derives the MAC key from a configured key. The derivation binds
// it to this one use, so a secret also configured elsewhere (session ids,
// the origin lock) never yields MACs that are valid here or there.
func tokenKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("agentgate auth login token v1"))
	return m.Sum(nil)
}

// signToken returns the token for c, MACed with key (from tokenKey).
func signToken(key []byte, c tokenClaims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signed := tokenPrefix + b64.EncodeToString(payload)
	return signed + "." + b64.EncodeToString(mac(key, signed)), nil
}

func mac(key []byte, signed string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signed))
	return m.Sum(nil)
}

// parseToken checks token's MAC against each of keys and returns its
// claims and the key that signed it. It checks the MAC before it decodes
// the claims, so nothing an attacker makes up reaches the JSON decoder. It
// does not check times.
func parseToken(token string, keys [][]byte) (tokenClaims, []byte, error) {
	var c tokenClaims
	if len(token) > maxTokenLen || !strings.HasPrefix(token, tokenPrefix) {
		return c, nil, errTokenMalformed
	}
	dot := strings.LastIndexByte(token, '.')
	if dot < len(tokenPrefix) {
		return c, nil, errTokenMalformed
	}
	signed, sig64 := token[:dot], token[dot+1:]
	if payload64 := signed[len(tokenPrefix):]; payload64 == "" || strings.ContainsRune(payload64, '.') {
		return c, nil, errTokenMalformed
	}
	sig, err := b64.DecodeString(sig64)
	if err != nil || len(sig) != sha256.Size {
		return c, nil, errTokenMalformed
	}
	var key []byte
	for _, k := range keys {
		// Every key is tried even after a match, so the time taken does not
		// say which key signed.
		if hmac.Equal(sig, mac(k, signed)) && key == nil {
			key = k
		}
	}
	if key == nil {
		return c, nil, errTokenSignature
	}
	payload, err := b64.DecodeString(signed[len(tokenPrefix):])
	if err != nil {
		return c, nil, errTokenMalformed
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Sub == "" {
		return c, nil, errTokenMalformed
	}
	return c, key, nil
}

// expiresAt is when a token with these claims stops being accepted.
func (c tokenClaims) expiresAt() time.Time { return time.Unix(c.Exp, 0) }
