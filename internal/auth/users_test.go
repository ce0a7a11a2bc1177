package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeUsers(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadUsersFile(t *testing.T) {
	alice, bob := mustArgon(t, "a"), mustBcrypt(t, "b")
	tests := []struct {
		name    string
		content string
		want    map[string]string
		wantErr string
	}{
		{"users, comments and blank lines", "# team\nalice:" + alice + "\n\n  # ops\nbob:" + bob + "\n", map[string]string{"alice": alice, "bob": bob}, ""},
		{"CRLF line ends and no final newline", "alice:" + alice + "\r\nbob:" + bob, map[string]string{"alice": alice, "bob": bob}, ""},
		{"an empty file", "", map[string]string{}, ""},
		{"a line without a colon", "alice:" + alice + "\n# x\nbob " + bob + "\n", nil, `:3: want "user:hash"`},
		{"a line with a bad hash", "alice:" + alice + "\nbob:plaintext\n", nil, `:2: user "bob": not an argon2id`},
		{"a duplicate user", "alice:" + alice + "\nbob:" + bob + "\nalice:" + bob + "\n", nil, `:3: user "alice" is already on line 1`},
		{"a user name with a space", "al ice:" + alice + "\n", nil, ":1: user name contains a space"},
		{"an empty user name", ":" + alice + "\n", nil, ":1: user name is empty"},
		{"the longest user name that fits a runtime user id", strings.Repeat("a", maxPrincipalLen-len("user:")) + ":" + alice + "\n", map[string]string{strings.Repeat("a", maxPrincipalLen-len("user:")): alice}, ""},
		{"a user name too long for a runtime user id", strings.Repeat("a", maxPrincipalLen-len("user:")+1) + ":" + alice + "\n", nil, ":1: user name is longer than 123 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeUsers(t, tt.content)
			got, err := LoadUsersFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), path+tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, path+tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d users, want %d", len(got), len(tt.want))
			}
			for u, h := range tt.want {
				if got[u] != h {
					t.Errorf("%s: hash %q, want %q", u, got[u], h)
				}
			}
		})
	}

	t.Run("a missing file says so", func(t *testing.T) {
		_, err := LoadUsersFile(filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want os.ErrNotExist", err)
		}
	})
}

func TestAppendUser(t *testing.T) {
	alice, bob, alice2 := mustArgon(t, "a"), mustBcrypt(t, "b"), mustArgon(t, "a2")
	tests := []struct {
		name    string
		initial *string // nil: no file yet
		write   func(path string) error
		want    string
		wantErr error
	}{
		{"the first user creates the file", nil,
			func(p string) error { return AppendUser(p, "alice", alice) },
			"alice:" + alice + "\n", nil},
		{"a user is appended after the comments", ptr("# team\nalice:" + alice + "\n"),
			func(p string) error { return AppendUser(p, "bob", bob) },
			"# team\nalice:" + alice + "\nbob:" + bob + "\n", nil},
		{"a file without a final newline gets one first", ptr("alice:" + alice),
			func(p string) error { return AppendUser(p, "bob", bob) },
			"alice:" + alice + "\nbob:" + bob + "\n", nil},
		{"an existing user is refused", ptr("alice:" + alice + "\n"),
			func(p string) error { return AppendUser(p, "alice", alice2) },
			"alice:" + alice + "\n", ErrUserExists},
		{"replacing changes the user's line in place", ptr("# team\nalice:" + alice + "\n# ops\nbob:" + bob + "\n"),
			func(p string) error { return ReplaceUser(p, "alice", alice2) },
			"# team\nalice:" + alice2 + "\n# ops\nbob:" + bob + "\n", nil},
		{"replacing a user who is not there adds them", ptr("alice:" + alice + "\n"),
			func(p string) error { return ReplaceUser(p, "bob", bob) },
			"alice:" + alice + "\nbob:" + bob + "\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users")
			if tt.initial != nil {
				if err := os.WriteFile(path, []byte(*tt.initial), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := tt.write(path)
			if !isKind(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("file is\n%s\nwant\n%s", b, tt.want)
			}
			if tt.wantErr != nil {
				return
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
			if _, err := LoadUsersFile(path); err != nil {
				t.Errorf("the written file does not load: %v", err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("left %d files behind, want only the users file", len(entries))
			}
		})
	}

	refusals := []struct {
		name, user, hash, want string
	}{
		{"a user name with a colon is refused", "a:b", alice, `user name contains ":"`},
		{"a user name starting with # is refused", "#alice", alice, `starts with "#"`},
		{"a plain-text password is refused as a hash", "alice", "hunter2", "not an argon2id"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users")
			err := AppendUser(path, tt.user, tt.hash)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q repeats the value", err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused user still created the file")
			}
		})
	}

	t.Run("a corrupt file is not appended to", func(t *testing.T) {
		path := writeUsers(t, "alice:"+alice+"\ngarbage\n")
		err := AppendUser(path, "bob", bob)
		if err == nil || !strings.Contains(err.Error(), path+":2:") {
			t.Fatalf("err = %v, want one naming line 2", err)
		}
	})
}

func ptr(s string) *string { return &s }
