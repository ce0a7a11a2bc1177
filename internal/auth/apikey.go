package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

const (
	// apiKeyPrefix makes keys recognisable: to the Bearer header parser, so
	// that JWTs and login tokens pass through to their own authenticators,
	// and to secret scanners, so that a leaked key is found.
	apiKeyPrefix = "agk_"
	apiKeyBytes  = 32
	apiKeyLen    = len(apiKeyPrefix) + 43 // base64url of 32 bytes, unpadded
	hashPrefix   = "sha256:"
)

// APIKey is one configured key: the principal it stands for and the hash of
// its secret (GenerateAPIKey makes both halves).
type APIKey struct {
	// Name identifies the key's holder; the principal is "key:"+Name, so
	// Name may be at most 124 bytes, without control characters or white
	// space at either end.
	Name string
	// Hash is "sha256:" followed by 64 lowercase hex digits.
	Hash string
}

// GenerateAPIKey returns a new random key, to hand to its holder once, and
// its hash, to put in the configuration.
func GenerateAPIKey() (key, hash string, err error) {
	b := make([]byte, apiKeyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("auth: generate API key: %w", err)
	}
	key = apiKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, hashAPIKey(key), nil
}

// hashAPIKey returns the stored form of key. A fast hash is right here,
// unlike for passwords: a key carries 256 random bits, so nobody can search
// that space however cheap each guess is, and a slow hash would only cost
// CPU on every request. Passwords are guessable, which is what argon2id's
// cost defends.
func hashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// APIKeys authenticates "Authorization: Bearer agk_..." and
// "X-Api-Key: agk_..." headers against a set of key hashes.
type APIKeys struct {
	// byHash maps the SHA-256 of a key to its name. Looking up the hash
	// rather than comparing keys means response time depends only on the
	// hash of what the caller sent, never on how much of a real key it
	// guessed right.
	byHash map[[sha256.Size]byte]string
}

// NewAPIKeys returns an authenticator for keys. Every name must be
// non-empty and unique and every hash well-formed and unique; errors name
// the offending entry, as in "apiKeys[2].hash: ...".
func NewAPIKeys(keys []APIKey) (*APIKeys, error) {
	a := &APIKeys{byHash: make(map[[sha256.Size]byte]string, len(keys))}
	names := make(map[string]int, len(keys))
	hashes := make(map[[sha256.Size]byte]int, len(keys))
	for i, k := range keys {
		if strings.TrimSpace(k.Name) == "" {
			return nil, fmt.Errorf("apiKeys[%d].name: must not be empty", i)
		}
		if err := checkAPIKeyName(k.Name); err != nil {
			return nil, fmt.Errorf("apiKeys[%d].name: %w", i, err)
		}
		if j, dup := names[k.Name]; dup {
			return nil, fmt.Errorf("apiKeys[%d].name: %q is already the name of apiKeys[%d]", i, k.Name, j)
		}
		sum, err := parseAPIKeyHash(k.Hash)
		if err != nil {
			return nil, fmt.Errorf("apiKeys[%d].hash: %w", i, err)
		}
		if j, dup := hashes[sum]; dup {
			return nil, fmt.Errorf("apiKeys[%d].hash: the same as apiKeys[%d].hash; one key cannot stand for two names", i, j)
		}
		names[k.Name], hashes[sum] = i, i
		a.byHash[sum] = k.Name
	}
	return a, nil
}

// checkAPIKeyName says what is wrong with an API key's name, if anything.
func checkAPIKeyName(name string) error {
	if err := checkPrincipalName(keyPrefix, name); err != nil {
		return fmt.Errorf("key name %w", err)
	}
	return nil
}

// parseAPIKeyHash decodes a "sha256:<hex>" hash. Its errors never repeat
// the value, which may be a key pasted by mistake.
func parseAPIKeyHash(h string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if strings.HasPrefix(h, apiKeyPrefix) {
		return sum, errors.New(`this is a key, not its hash; store only the "sha256:..." hash`)
	}
	hexSum, ok := strings.CutPrefix(h, hashPrefix)
	if !ok {
		return sum, errors.New(`must start with "sha256:"`)
	}
	if len(hexSum) != 2*sha256.Size || strings.ToLower(hexSum) != hexSum {
		return sum, fmt.Errorf(`must be "sha256:" followed by %d lowercase hex digits`, 2*sha256.Size)
	}
	if _, err := hex.Decode(sum[:], []byte(hexSum)); err != nil {
		return sum, fmt.Errorf(`must be "sha256:" followed by %d lowercase hex digits`, 2*sha256.Size)
	}
	return sum, nil
}

// Authenticate looks for a key in X-Api-Key, then in a Bearer header. A
// Bearer value without the "agk_" prefix is not an API key, so it answers
// ErrNoCredentials and leaves it to the JWT and login-token authenticators;
// anything in X-Api-Key is meant as a key and is judged.
func (a *APIKeys) Authenticate(r *http.Request) (Principal, error) {
	key := r.Header.Get("X-Api-Key")
	if key == "" {
		token, ok := bearer(r)
		if !ok || !strings.HasPrefix(token, apiKeyPrefix) {
			return Principal{}, ErrNoCredentials
		}
		key = token
	}
	if !wellFormedAPIKey(key) {
		return Principal{}, fmt.Errorf("%w: malformed API key", ErrInvalidCredentials)
	}
	name, ok := a.byHash[sha256.Sum256([]byte(key))]
	if !ok {
		return Principal{}, fmt.Errorf("%w: unknown API key", ErrInvalidCredentials)
	}
	return Principal{ID: keyPrefix + name, Method: "apikey"}, nil
}

// wellFormedAPIKey reports whether key has the shape GenerateAPIKey gives,
// so that junk is refused before it is hashed.
func wellFormedAPIKey(key string) bool {
	if len(key) != apiKeyLen || !strings.HasPrefix(key, apiKeyPrefix) {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(key[len(apiKeyPrefix):])
	return err == nil
}
