package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

// Response ids (OpenAI's Responses API) name one answer in a session:
//
//	"resp_" + session id + random part + MAC
//
// The MAC is an HMAC over the principal, the session id and the random
// part, under the same keys as session ids but a domain of its own, so a
// response id is never a session id and never verifies for another
// principal. Nothing is stored: any instance holding the key reads the
// session back from the id (previous_response_id continues it).
const (
	responsePrefix    = "resp_"
	responseRandBytes = 12
)

// ResponseIDLen is the length of every response id an Issuer makes.
var ResponseIDLen = len(responsePrefix) + IDLen + enc.EncodedLen(responseRandBytes) + enc.EncodedLen(macBytes)

// NewResponseID issues a fresh response id for an answer in sessionID,
// which must be principal's (Check).
func (is *Issuer) NewResponseID(principal, sessionID string) string {
	r := make([]byte, responseRandBytes)
	_, _ = rand.Read(r) // crypto/rand.Read never fails
	rs := enc.EncodeToString(r)
	return responsePrefix + sessionID + rs + enc.EncodeToString(responseMAC(is.keys[0], principal, sessionID, rs))
}

// ResponseSession returns the session of a response id issued to
// principal: ErrMalformed when id is not shaped as a response id this
// gateway issues, ErrForeign when it was issued to another principal or
// under a key this gateway does not hold (a forgery reads the same).
func (is *Issuer) ResponseSession(principal, id string) (string, error) {
	rest, ok := strings.CutPrefix(id, responsePrefix)
	if !ok || len(id) != ResponseIDLen {
		return "", ErrMalformed
	}
	sid, rest := rest[:IDLen], rest[IDLen:]
	rs, m := rest[:enc.EncodedLen(responseRandBytes)], rest[enc.EncodedLen(responseRandBytes):]
	got, err := enc.DecodeString(m)
	if err != nil || !wellFormed(sid) {
		return "", ErrMalformed
	}
	if _, err := enc.DecodeString(rs); err != nil {
		return "", ErrMalformed
	}
	for _, k := range is.keys {
		if hmac.Equal(got, responseMAC(k, principal, sid, rs)) {
			// The session id was principal's when the response id was
			// made; checking it again keeps one rule for what a session
			// id is.
			if err := is.Check(principal, sid); err != nil {
				return "", err
			}
			return sid, nil
		}
	}
	return "", ErrForeign
}

// wellFormed reports whether sid has the shape of a session id, without
// checking whose it is.
func wellFormed(sid string) bool {
	if len(sid) != IDLen || sid[:len(version)] != version {
		return false
	}
	parts := sid[len(version):]
	n := enc.EncodedLen(randBytes)
	_, err1 := enc.DecodeString(parts[:n])
	_, err2 := enc.DecodeString(parts[n:])
	return err1 == nil && err2 == nil
}

func responseMAC(key []byte, principal, sessionID, random string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("agentgate response v1\x00"))
	h.Write([]byte(principal))
	h.Write([]byte{0})
	h.Write([]byte(sessionID))
	h.Write([]byte{0})
	h.Write([]byte(random))
	return h.Sum(nil)[:macBytes]
}
