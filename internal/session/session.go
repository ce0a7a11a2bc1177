// Package session issues runtime session ids bound to the principal that
// started them. An id carries an HMAC over the principal and its random
// part, so any gateway instance holding the key can tell, without a shared
// store, whether an id belongs to the caller. Derive maps a conversation
// name the client chose (an AI SDK chat id) to such an id, again with no
// store. A Fingerprint names a conversation by its messages, for clients
// that send the whole conversation and no id at all: the gateway keeps the
// fingerprint as the key to the conversation's session.
package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

const (
	version   = "s1"
	randBytes = 16
	macBytes  = 16
)

// enc is strict: 16 bytes take 22 characters, whose last holds 2 spare
// bits, and a lenient decoder would read four spellings of each last
// character, so 16 of every MAC, as the same id. Upstream they are
// different sessions, and a stop ends only the one spelled.
var enc = base64.RawURLEncoding.Strict()

// IDLen is the length of every id an Issuer makes; AgentCore wants 33 to 256.
var IDLen = len(version) + enc.EncodedLen(randBytes) + enc.EncodedLen(macBytes)

// ErrMalformed means the id is not one this gateway issues.
var ErrMalformed = errors.New("session: malformed id")

// ErrForeign means the id is well-formed but belongs to another principal
// (or was signed with a key this gateway does not hold).
var ErrForeign = errors.New("session: id belongs to another principal")

// Issuer makes and checks session ids.
type Issuer struct {
	keys [][]byte // keys[0] signs; all verify
}

// NewIssuer returns an Issuer that signs with key and also accepts ids
// signed with any of previous (key rotation). An empty key is refused.
func NewIssuer(key []byte, previous ...[]byte) (*Issuer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("session: key must be at least 32 bytes, got %d", len(key))
	}
	is := &Issuer{keys: [][]byte{key}}
	for _, k := range previous {
		if len(k) > 0 {
			is.keys = append(is.keys, k)
		}
	}
	return is, nil
}

// RandomKey returns a fresh 32-byte key.
func RandomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails
	return k
}

// New issues a fresh id for principal.
func (is *Issuer) New(principal string) string {
	r := make([]byte, randBytes)
	_, _ = rand.Read(r)
	rs := enc.EncodeToString(r)
	return version + rs + enc.EncodeToString(mac(is.keys[0], principal, rs))
}

// Check reports whether id was issued to principal: nil, ErrMalformed or
// ErrForeign.
func (is *Issuer) Check(principal, id string) error {
	if len(id) != IDLen || id[:len(version)] != version {
		return ErrMalformed
	}
	rs := id[len(version) : len(version)+enc.EncodedLen(randBytes)]
	got, err := enc.DecodeString(id[len(version)+len(rs):])
	if err != nil {
		return ErrMalformed
	}
	if _, err := enc.DecodeString(rs); err != nil {
		return ErrMalformed
	}
	for _, k := range is.keys {
		if hmac.Equal(got, mac(k, principal, rs)) {
			return nil
		}
	}
	return ErrForeign
}

func mac(key []byte, principal, random string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("agentgate session v1\x00"))
	h.Write([]byte(principal))
	h.Write([]byte{0})
	h.Write([]byte(random))
	return h.Sum(nil)[:macBytes]
}
