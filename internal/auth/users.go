package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrUserExists means AppendUser was asked to add a user the file already
// has; ReplaceUser is the way to change a password.
var ErrUserExists = errors.New("auth: user already exists")

// maxUserLen bounds user names so that "user:"+name fits in a runtime user
// id (maxPrincipalLen).
const maxUserLen = maxPrincipalLen - len(userPrefix)

// checkUserName says what is wrong with a user name, if anything. Names
// cannot hold ':' (the users file's separator, and HTTP Basic's) or spaces
// and control characters, which would make logs ambiguous; nor may they
// start with '#', which the users file reads as a comment.
func checkUserName(user string) error {
	switch {
	case user == "":
		return errors.New("user name is empty")
	case len(user) > maxUserLen:
		return fmt.Errorf("user name is longer than %d bytes", maxUserLen)
	case !utf8.ValidString(user):
		return errors.New("user name is not valid UTF-8")
	case strings.HasPrefix(user, "#"):
		return errors.New(`user name starts with "#"`)
	case strings.ContainsRune(user, ':'):
		return errors.New(`user name contains ":"`)
	case strings.ContainsFunc(user, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return errors.New("user name contains a space or control character")
	}
	return nil
}

// LoadUsersFile reads a users file: one "user:hash" per line, where hash is
// an argon2id PHC string (HashPassword) or a bcrypt hash; blank lines and
// lines starting with '#' are skipped. Errors name the file and line.
func LoadUsersFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: users file: %w", err)
	}
	users, _, err := parseUsers(b)
	if err != nil {
		return nil, fmt.Errorf("auth: users file %s:%w", path, err)
	}
	return users, nil
}

// ParseUsers reads a users file's content, as LoadUsersFile reads the file:
// for users that come from elsewhere than a file (a secret). Errors name the
// line, never a hash.
func ParseUsers(b []byte) (map[string]string, error) {
	users, _, err := parseUsers(b)
	if err != nil {
		return nil, fmt.Errorf("auth: users line %w", err)
	}
	return users, nil
}

// parseUsers parses a users file and also returns the line each user is on
// (1-based). Errors start with the line number.
func parseUsers(b []byte) (users map[string]string, lines map[string]int, err error) {
	users, lines = make(map[string]string), make(map[string]int)
	n := 0
	for line := range strings.Lines(string(b)) {
		n++
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, nil, fmt.Errorf(`%d: want "user:hash"`, n)
		}
		if err := checkUserName(user); err != nil {
			return nil, nil, fmt.Errorf("%d: %w", n, err)
		}
		if first, dup := lines[user]; dup {
			return nil, nil, fmt.Errorf("%d: user %q is already on line %d", n, user, first)
		}
		if _, err := parseHash(hash); err != nil {
			return nil, nil, fmt.Errorf("%d: user %q: %w", n, user, err)
		}
		users[user], lines[user] = hash, n
	}
	return users, lines, nil
}

// AppendUser adds user with hash to the users file at path, creating it if
// needed. It refuses a user the file already has (ErrUserExists), so that a
// typo cannot silently take over someone's account; ReplaceUser changes a
// password.
func AppendUser(path, user, hash string) error {
	return writeUser(path, user, hash, false)
}

// ReplaceUser sets user's hash in the users file at path, in place if the
// user is there and appended if not.
func ReplaceUser(path, user, hash string) error {
	return writeUser(path, user, hash, true)
}

// writeUser rewrites the users file through a temporary file and a rename,
// so that a crash or a full disk never leaves half a file for the gateway to
// read. The file is written 0600: the hashes are slow to crack, not
// impossible.
func writeUser(path, user, hash string, replace bool) error {
	if err := checkUserName(user); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if _, err := parseHash(hash); err != nil {
		return fmt.Errorf("auth: user %q: %w", user, err)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("auth: users file: %w", err)
	}
	_, lines, err := parseUsers(old)
	if err != nil {
		return fmt.Errorf("auth: users file %s:%w", path, err)
	}
	entry := user + ":" + hash + "\n"
	var out []byte
	switch n, exists := lines[user]; {
	case exists && !replace:
		return fmt.Errorf("%w: %q is on line %d of %s", ErrUserExists, user, n, path)
	case exists:
		out = replaceLine(old, n, entry)
	default:
		out = append(out, old...)
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
			out = append(out, '\n')
		}
		out = append(out, entry...)
	}
	return writeFileAtomic(path, out)
}

// replaceLine returns b with its nth line (1-based) replaced by line.
func replaceLine(b []byte, n int, line string) []byte {
	var out []byte
	i := 0
	for l := range strings.Lines(string(b)) {
		i++
		if i == n {
			l = line
		}
		out = append(out, l...)
	}
	return out
}

func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("auth: users file: %w", err)
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("auth: users file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("auth: users file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("auth: users file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("auth: users file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("auth: users file: %w", err)
	}
	return nil
}
