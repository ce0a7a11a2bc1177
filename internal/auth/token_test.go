package auth

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseToken(t *testing.T) {
	key := tokenKey(testTokenKey)
	other := tokenKey([]byte("another key, 32 bytes or longer!"))
	claims := tokenClaims{Sub: "alice", IAT: 1, Exp: 2, Ver: "v"}
	token, err := signToken(key, claims)
	if err != nil {
		t.Fatal(err)
	}
	dot := strings.LastIndexByte(token, '.')
	tests := []struct {
		name  string
		token string
		keys  [][]byte
		want  error
	}{
		{"a token signed with the key parses", token, [][]byte{key}, nil},
		{"a token signed with a previous key parses", token, [][]byte{other, key}, nil},
		{"a token signed with another key does not", token, [][]byte{other}, errTokenSignature},
		{"the version prefix is required", "agt2" + token[4:], [][]byte{key}, errTokenMalformed},
		{"the prefix alone is malformed", "agt1.", [][]byte{key}, errTokenMalformed},
		{"a token without a payload is malformed", "agt1.." + token[dot+1:], [][]byte{key}, errTokenMalformed},
		{"a token with an extra segment is malformed", token[:dot] + ".x" + token[dot:], [][]byte{key}, errTokenMalformed},
		{"a short signature is malformed", token[:len(token)-2], [][]byte{key}, errTokenMalformed},
		{"a padded signature is malformed", token + "=", [][]byte{key}, errTokenMalformed},
		{"an overlong token is malformed", tokenPrefix + strings.Repeat("A", maxTokenLen) + token[dot:], [][]byte{key}, errTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, signer, err := parseToken(tt.token, tt.keys)
			if err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && (got != claims || string(signer) != string(key)) {
				t.Errorf("claims = %+v, want %+v from the right key", got, claims)
			}
		})
	}
}

// FuzzParseToken feeds parseToken arbitrary strings: it must never panic,
// and anything it accepts must carry a valid MAC. It also signs claims with
// a fuzzed user name and checks they come back unchanged.
func FuzzParseToken(f *testing.F) {
	key := tokenKey(testTokenKey)
	token, _ := signToken(key, tokenClaims{Sub: "alice", IAT: 1, Exp: 2, Ver: "v"})
	for _, seed := range []string{token, "", "agt1.", "agt1..", "agt1.e30.", token + ".", "agt1.." + token[5:], strings.Repeat(".", 10)} {
		f.Add(seed, "alice")
	}
	f.Fuzz(func(t *testing.T, token, user string) {
		if c, signer, err := parseToken(token, [][]byte{key}); err == nil {
			if signer == nil || c.Sub == "" || !strings.HasPrefix(token, tokenPrefix) {
				t.Fatalf("accepted %q as %+v", token, c)
			}
			dot := strings.LastIndexByte(token, '.')
			if b64.EncodeToString(mac(key, token[:dot])) != token[dot+1:] {
				t.Fatalf("accepted %q without its MAC", token)
			}
		}
		if user == "" {
			return
		}
		want := tokenClaims{Sub: user, IAT: 10, Exp: 20, Ver: "v"}
		signed, err := signToken(key, want)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := parseToken(signed, [][]byte{key})
		switch {
		case len(signed) > maxTokenLen:
			if err == nil {
				t.Fatalf("accepted a %d-byte token", len(signed))
			}
		case err != nil:
			t.Fatalf("parseToken(signToken(%q)): %v", user, err)
		case utf8.ValidString(user) && got.Sub != user:
			t.Fatalf("sub = %q, want %q", got.Sub, user)
		}
	})
}
