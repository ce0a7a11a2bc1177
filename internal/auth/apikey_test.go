package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

func TestGenerateAPIKey(t *testing.T) {
	key, hash, err := GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^agk_[A-Za-z0-9_-]{43}$`).MatchString(key) {
		t.Errorf("key %q is not agk_ and 43 base64url characters", key)
	}
	sum := sha256.Sum256([]byte(key))
	if want := "sha256:" + hex.EncodeToString(sum[:]); hash != want {
		t.Errorf("hash = %q, want %q", hash, want)
	}
	if again, _, _ := GenerateAPIKey(); again == key {
		t.Error("two keys are equal")
	}
}

func TestAPIKeysAuthenticate(t *testing.T) {
	key, hash, err := GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	other, otherHash, _ := GenerateAPIKey()
	unknown, _, _ := GenerateAPIKey()
	a, err := NewAPIKeys([]APIKey{{Name: "ci-bot", Hash: hash}, {Name: "ops", Hash: otherHash}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		headers []string
		want    error
		id      string
	}{
		{"a key in a Bearer header authenticates", []string{"Authorization", "Bearer " + key}, nil, "key:ci-bot"},
		{"a key in X-Api-Key authenticates", []string{"X-Api-Key", key}, nil, "key:ci-bot"},
		{"each key names its own holder", []string{"X-Api-Key", other}, nil, "key:ops"},
		{"the Bearer scheme is case-insensitive", []string{"Authorization", "BEARER " + key}, nil, "key:ci-bot"},
		{"X-Api-Key is read before Authorization", []string{"X-Api-Key", key, "Authorization", "Bearer eyJ.e30.x"}, nil, "key:ci-bot"},
		{"a request without a key has no credentials", nil, ErrNoCredentials, ""},
		{"a bearer token without the agk_ prefix is left to others", []string{"Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig"}, ErrNoCredentials, ""},
		{"a login token is left to others", []string{"Authorization", "Bearer agt1.e30.sig"}, ErrNoCredentials, ""},
		{"Basic credentials are left to others", []string{"Authorization", "Basic YWxpY2U6cHc="}, ErrNoCredentials, ""},
		{"an unknown key is refused", []string{"Authorization", "Bearer " + unknown}, ErrInvalidCredentials, ""},
		{"an unknown key in X-Api-Key is refused", []string{"X-Api-Key", unknown}, ErrInvalidCredentials, ""},
		{"a key with one character changed is refused", []string{"X-Api-Key", flip(key, 10)}, ErrInvalidCredentials, ""},
		{"a truncated key is refused", []string{"Authorization", "Bearer " + key[:len(key)-1]}, ErrInvalidCredentials, ""},
		{"anything in X-Api-Key is meant as a key and judged", []string{"X-Api-Key", "hunter2"}, ErrInvalidCredentials, ""},
		{"the hash itself is not a key", []string{"X-Api-Key", hash}, ErrInvalidCredentials, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Authenticate(request(tt.headers...))
			if !isKind(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got.ID != tt.id || (err == nil && got.Method != "apikey") {
				t.Errorf("principal = %+v, want %q by apikey", got, tt.id)
			}
			if err != nil && (strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "hunter2")) {
				t.Errorf("error %q repeats the key", err)
			}
		})
	}
}

func TestNewAPIKeys(t *testing.T) {
	key, hash, _ := GenerateAPIKey()
	_, hash2, _ := GenerateAPIKey()
	tests := []struct {
		name string
		keys []APIKey
		want string
	}{
		{"no keys at all is fine", nil, ""},
		{"named keys with distinct hashes are fine", []APIKey{{"a", hash}, {"b", hash2}}, ""},
		{"an empty name is refused", []APIKey{{"a", hash}, {" ", hash2}}, "apiKeys[1].name: must not be empty"},
		{"the longest name that fits a runtime user id is fine", []APIKey{{strings.Repeat("n", maxPrincipalLen-len("key:")), hash}}, ""},
		{"a name too long for a runtime user id is refused", []APIKey{{strings.Repeat("n", maxPrincipalLen-len("key:")+1), hash}}, "apiKeys[0].name: key name is too long"},
		{"a name with a newline is refused", []APIKey{{"ci\nbot", hash}}, "apiKeys[0].name: key name contains a control character"},
		{"a name with a trailing space is refused", []APIKey{{"ci-bot ", hash}}, "apiKeys[0].name: key name starts or ends with white space"},
		{"a repeated name is refused", []APIKey{{"a", hash}, {"a", hash2}}, `apiKeys[1].name: "a" is already the name of apiKeys[0]`},
		{"a hash without its prefix is refused", []APIKey{{"a", hash}, {"b", hash2}, {"c", strings.TrimPrefix(hash, "sha256:")}}, `apiKeys[2].hash: must start with "sha256:"`},
		{"a short hash is refused", []APIKey{{"a", hash[:20]}}, "apiKeys[0].hash: must be"},
		{"uppercase hex is refused", []APIKey{{"a", "sha256:" + strings.ToUpper(hash[7:])}}, "apiKeys[0].hash: must be"},
		{"hex with a foreign character is refused", []APIKey{{"a", hash[:len(hash)-1] + "g"}}, "apiKeys[0].hash: must be"},
		{"a key pasted instead of its hash is refused", []APIKey{{"a", key}}, "apiKeys[0].hash: this is a key, not its hash"},
		{"one hash for two names is refused", []APIKey{{"a", hash}, {"b", hash}}, "apiKeys[1].hash: the same as apiKeys[0].hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewAPIKeys(tt.keys)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), hash[7:20]) {
				t.Errorf("error %q repeats the key or hash", err)
			}
		})
	}
}
