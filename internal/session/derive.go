package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// Scopes name the kinds of client-chosen conversation names Derive maps to
// session ids, so that the same string used as names of two kinds stands
// for two sessions.
const (
	// ScopeChat is the AI SDK's chat id (useChat's id).
	ScopeChat = "chat"
	// ScopeAGUI is an AG-UI thread id (RunAgentInput's threadId).
	ScopeAGUI = "agui"
)

// Derive returns the session id that a conversation's own name, chosen by
// the client (an AI SDK chat id, an AG-UI thread id), stands for: the same principal, scope and
// name give the same id on every instance holding the signing key, with no
// store and no lookup.
//
// The id has the shape of an issued one. Its random part is, in place of
// random bytes, the first 16 bytes of HMAC-SHA256 under the signing key
// over "agentgate session derive v1" and principal, scope and name, each
// after its length; its MAC binds it to principal as New's does. So Check
// accepts it for principal and refuses it as foreign for anyone else,
// another principal's use of the same name derives another session, and
// without the key nobody can tell the id from the name. After a key
// rotation the same name derives a new id, so the conversation starts
// afresh (the old id still passes Check under the previous key).
func (is *Issuer) Derive(principal, scope, name string) string {
	h := hmac.New(sha256.New, is.keys[0])
	h.Write([]byte("agentgate session derive v1\x00"))
	for _, s := range []string{principal, scope, name} {
		// Each field after its length: a name may hold any byte.
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	rs := enc.EncodeToString(h.Sum(nil)[:randBytes])
	return version + rs + enc.EncodeToString(mac(is.keys[0], principal, rs))
}
