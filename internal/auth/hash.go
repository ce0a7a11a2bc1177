package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// argonParams are argon2id's cost parameters and output sizes.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	saltLen int
	keyLen  int
}

// defaultArgon follows RFC 9106's second recommended option, with the
// memory halved to 64 MiB so that a small gateway instance can check a few
// passwords at once; two passes make up some of the difference.
var defaultArgon = argonParams{memory: 64 * 1024, time: 2, threads: 2, saltLen: 16, keyLen: 32}

// phc is the unpadded standard base64 that PHC strings use.
var phc = base64.RawStdEncoding

// bcryptMaxPassword is where bcrypt stops reading a password. Longer
// passwords are refused rather than truncated, so that a password cannot be
// matched by its first 72 bytes alone.
const bcryptMaxPassword = 72

// HashPassword returns an argon2id hash of pw in PHC string form:
// $argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash>.
func HashPassword(pw string) (string, error) {
	return hashArgon2id(pw, defaultArgon)
}

func hashArgon2id(pw string, p argonParams) (string, error) {
	salt := make([]byte, p.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(p.keyLen))
	return formatArgon2id(p, salt, key), nil
}

func formatArgon2id(p argonParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, phc.EncodeToString(salt), phc.EncodeToString(key))
}

// passwordHash is a parsed stored hash.
type passwordHash interface {
	// verify reports whether pw matches, in time that does not depend on
	// how much of it matches.
	verify(pw string) bool
	// cost names the algorithm and its parameters: two hashes with the same
	// cost take the same work to verify.
	cost() string
	// dummy returns a hash with the same cost that no password matches.
	dummy() (passwordHash, error)
	// String returns the hash in its stored form.
	String() string
}

// parseHash parses an argon2id PHC string or a bcrypt hash. Its errors
// describe the problem without repeating the hash.
func parseHash(h string) (passwordHash, error) {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		return parseArgon2id(h)
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		return parseBcrypt(h)
	case strings.HasPrefix(h, "$argon2i$"), strings.HasPrefix(h, "$argon2d$"):
		return nil, errors.New("argon2i and argon2d hashes are not supported; use argon2id (agentgate passwd)")
	}
	return nil, errors.New("not an argon2id ($argon2id$) or bcrypt ($2a$, $2b$, $2y$) hash")
}

type argon2idHash struct {
	p    argonParams
	salt []byte
	key  []byte
}

// Bounds on what a stored argon2id hash may ask for: a typo in the users
// file must not make every sign-in take gigabytes or minutes.
const (
	argonMaxMemory = 4 * 1024 * 1024 // KiB: 4 GiB
	argonMaxTime   = 64
)

func parseArgon2id(h string) (*argon2idHash, error) {
	bad := func(why string) (*argon2idHash, error) {
		return nil, fmt.Errorf("malformed argon2id hash: %s", why)
	}
	// "", "argon2id", "v=19", "m=...,t=...,p=...", salt, key
	parts := strings.Split(h, "$")
	if len(parts) != 6 {
		return bad("want $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || fmt.Sprintf("v=%d", version) != parts[2] {
		return bad("version field")
	}
	if version != argon2.Version {
		return bad(fmt.Sprintf("version %d, want %d", version, argon2.Version))
	}
	var p argonParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.memory, p.time, p.threads) != parts[3] {
		return bad("parameters must read m=<KiB>,t=<passes>,p=<lanes>")
	}
	switch {
	case p.time < 1 || p.time > argonMaxTime:
		return bad(fmt.Sprintf("t must be 1 to %d", argonMaxTime))
	case p.threads < 1:
		return bad("p must be at least 1")
	case p.memory < 8*uint32(p.threads) || p.memory > argonMaxMemory:
		return bad(fmt.Sprintf("m must be 8*p to %d KiB", argonMaxMemory))
	}
	salt, err := phc.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return bad("salt must be at least 8 bytes of unpadded base64")
	}
	key, err := phc.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return bad("hash must be 16 to 64 bytes of unpadded base64")
	}
	p.saltLen, p.keyLen = len(salt), len(key)
	return &argon2idHash{p: p, salt: salt, key: key}, nil
}

func (h *argon2idHash) verify(pw string) bool {
	got := argon2.IDKey([]byte(pw), h.salt, h.p.time, h.p.memory, h.p.threads, uint32(h.p.keyLen))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

func (h *argon2idHash) cost() string {
	return fmt.Sprintf("argon2id m=%d,t=%d,p=%d salt=%d key=%d", h.p.memory, h.p.time, h.p.threads, h.p.saltLen, h.p.keyLen)
}

// dummy needs no hashing: a random key is matched by no password anyone
// can find, and verifying against it costs exactly what verifying h does.
func (h *argon2idHash) dummy() (passwordHash, error) {
	d := &argon2idHash{p: h.p, salt: make([]byte, h.p.saltLen), key: make([]byte, h.p.keyLen)}
	if _, err := rand.Read(d.salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(d.key); err != nil {
		return nil, err
	}
	return d, nil
}

func (h *argon2idHash) String() string { return formatArgon2id(h.p, h.salt, h.key) }

type bcryptHash struct {
	raw    []byte
	rounds int
}

// bcryptLen is the length of "$2b$10$" plus a 22-character salt and a
// 31-character hash.
const bcryptLen = 60

const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func parseBcrypt(h string) (*bcryptHash, error) {
	if len(h) != bcryptLen || h[6] != '$' {
		return nil, errors.New("malformed bcrypt hash: want $2b$<cost>$ and 53 characters")
	}
	for _, c := range h[7:] {
		if !strings.ContainsRune(bcryptAlphabet, c) {
			return nil, errors.New("malformed bcrypt hash: salt and hash must use bcrypt's base64 alphabet")
		}
	}
	cost, err := bcrypt.Cost([]byte(h))
	if err != nil {
		return nil, fmt.Errorf("malformed bcrypt hash: cost must be %d to %d", bcrypt.MinCost, bcrypt.MaxCost)
	}
	return &bcryptHash{raw: []byte(h), rounds: cost}, nil
}

func (h *bcryptHash) verify(pw string) bool {
	// Even a password bcrypt would truncate is hashed, so that refusing it
	// takes as long as any other wrong password.
	ok := bcrypt.CompareHashAndPassword(h.raw, []byte(pw)) == nil
	return ok && len(pw) <= bcryptMaxPassword
}

func (h *bcryptHash) cost() string { return fmt.Sprintf("bcrypt cost=%d", h.rounds) }

// dummy hashes a random password once, when the authenticator is built.
func (h *bcryptHash) dummy() (passwordHash, error) {
	pw := make([]byte, 18)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	raw, err := bcrypt.GenerateFromPassword([]byte(base64.RawStdEncoding.EncodeToString(pw)), h.rounds)
	if err != nil {
		return nil, err
	}
	return &bcryptHash{raw: raw, rounds: h.rounds}, nil
}

func (h *bcryptHash) String() string { return string(h.raw) }
