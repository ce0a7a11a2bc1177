// Package auth owns how the gateway tells who is calling. Each kind of
// credential has its own Authenticator in a file of its own: API keys
// (apikey.go), user IDs and passwords with the short-lived login tokens they
// are exchanged for (password.go), and OIDC/JWT bearer tokens from an
// outside identity provider (jwt.go). A Chain tries them in order, and None
// lets everyone in when the operator asks for an open gateway.
//
// Authenticators speak in three outcomes, so that the gateway can translate
// them into public errors in one place: a Principal; ErrNoCredentials when
// the request carries nothing of that authenticator's kind, so the next one
// may try; or an error that means a credential of that kind was present and
// is bad (wrapping ErrInvalidCredentials), that the caller must slow down
// (*RetryError), or that the credential could not be checked right now
// (ErrUnavailable). The Chain turns a credential that no authenticator
// takes into ErrInvalidCredentials: only a request that carries none has
// no credentials.
//
// Secrets are stored only as hashes, compared in constant time, and never
// appear in error strings. Login tokens carry a random id, so that logging
// out can revoke one through a record every instance shares (Revocations).
package auth
