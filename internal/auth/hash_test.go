package auth

import (
	"regexp"
	"strings"
	"testing"
)

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	phcForm := regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=2,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phcForm.MatchString(h) {
		t.Errorf("hash %q is not the PHC form $argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash>", h)
	}
	parsed, err := parseHash(h)
	if err != nil {
		t.Fatal(err)
	}
	if !parsed.verify("s3cret") {
		t.Error("the password does not verify against its hash")
	}
	if parsed.verify("s3cret ") {
		t.Error("another password verifies")
	}
	if again, _ := HashPassword("s3cret"); again == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestParseHash(t *testing.T) {
	argon := mustArgon(t, "pw")
	bcryptHash := mustBcrypt(t, "pw") // $2a$
	tests := []struct {
		name string
		hash string
		want string // "" when the hash is accepted and "pw" verifies
	}{
		{"an argon2id hash", argon, ""},
		{"a bcrypt $2a$ hash", bcryptHash, ""},
		{"a bcrypt $2b$ hash", "$2b$" + bcryptHash[4:], ""},
		{"a bcrypt $2y$ hash (htpasswd)", "$2y$" + bcryptHash[4:], ""},
		{"plain text", "pw", "not an argon2id"},
		{"an argon2i hash", strings.Replace(argon, "argon2id", "argon2i", 1), "argon2i and argon2d"},
		{"an argon2id hash missing a field", argon[:strings.LastIndexByte(argon, '$')], "malformed argon2id"},
		{"an argon2id hash of another version", strings.Replace(argon, "v=19", "v=16", 1), "version 16"},
		{"argon2id parameters out of order", strings.Replace(argon, "m=64,t=1,p=1", "t=1,m=64,p=1", 1), "parameters"},
		{"argon2id asking for 8 GiB", strings.Replace(argon, "m=64,", "m=8388608,", 1), "m must be"},
		{"argon2id with no passes", strings.Replace(argon, "t=1,", "t=0,", 1), "t must be"},
		{"argon2id with a salt that is not base64", strings.Replace(argon, "$v=19$m=64,t=1,p=1$", "$v=19$m=64,t=1,p=1$!!", 1), "salt"},
		{"a truncated bcrypt hash", bcryptHash[:59], "malformed bcrypt"},
		{"a bcrypt hash with cost 3", bcryptHash[:4] + "03" + bcryptHash[6:], "cost"},
		{"a bcrypt hash with a foreign character", bcryptHash[:59] + "!", "alphabet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseHash(tt.hash)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if !h.verify("pw") || h.verify("px") {
					t.Error("verification is wrong")
				}
				if h.String() != tt.hash {
					t.Errorf("String() = %q, want the hash back", h.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if len(tt.hash) > 8 && strings.Contains(err.Error(), tt.hash[len(tt.hash)-8:]) {
				t.Errorf("error %q repeats the hash", err)
			}
		})
	}
}

func TestDummyHashesMatchNothing(t *testing.T) {
	for _, hash := range []string{mustArgon(t, "pw"), mustBcrypt(t, "pw")} {
		h, _ := parseHash(hash)
		d, err := h.dummy()
		if err != nil {
			t.Fatal(err)
		}
		if d.cost() != h.cost() {
			t.Errorf("dummy of %q costs %q", h.cost(), d.cost())
		}
		if d.verify("pw") || d.verify("") {
			t.Errorf("a %s dummy matched a password", h.cost())
		}
		if _, err := parseHash(d.String()); err != nil {
			t.Errorf("dummy %s does not parse: %v", h.cost(), err)
		}
	}
}
