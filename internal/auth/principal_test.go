package auth

import (
	"slices"
	"strings"
	"testing"
)

func TestQualifyPrincipal(t *testing.T) {
	const issuer = "https://idp.example/realms/x"
	tag := issuerTag(issuer)
	longest := strings.Repeat("s", maxPrincipalLen-len("jwt:"+tag+":"))
	tests := []struct {
		name, entry, issuer string
		want                string // "" when an error is wanted
		wantErr             string
	}{
		{"an API key's holder stays as written", "key:ci-bot", issuer, "key:ci-bot", ""},
		{"a password user stays as written", "user:ada", "", "user:ada", ""},
		{"a JWT subject gains the issuer's tag", "jwt:ada", issuer, "jwt:" + tag + ":ada", ""},
		{"a JWT subject may itself hold colons", "jwt:key:ci-bot", issuer, "jwt:" + tag + ":key:ci-bot", ""},
		{"an entry already qualified is kept", "jwt:" + tag + ":ada", issuer, "jwt:" + tag + ":ada", ""},
		{"the longest subject that fits is allowed", "jwt:" + longest, issuer, "jwt:" + tag + ":" + longest, ""},
		{"anyone stays anyone", "*", "", "*", ""},
		{"the open gateway's caller stays anonymous", "anonymous", "", "anonymous", ""},
		{"a bare name is refused with how to write each kind", "ada", issuer, "", `"ada" names no kind of caller: write "key:NAME" for an API key, "user:NAME" for a password user, "jwt:SUB"`},
		{"an unknown kind is refused", "group:ops", issuer, "", "names no kind of caller"},
		{"an empty entry is refused", "", issuer, "", "names no kind of caller"},
		{"a JWT subject without an issuer configured is refused", "jwt:ada", "", "", "no JWT issuer is configured"},
		{"an empty JWT subject is refused", "jwt:", issuer, "", "the subject is empty"},
		{"a JWT subject too long for the runtime user id is refused", "jwt:" + longest + "s", issuer, "", "is too long"},
		{"a JWT subject with a newline is refused", "jwt:ada\n", issuer, "", "control character"},
		{"a JWT subject that is not UTF-8 is refused", "jwt:ada\xff", issuer, "", "not valid UTF-8"},
		{"an empty key name is refused", "key:", issuer, "", "key name is empty"},
		{"a key name with DEL is refused", "key:ci\x7fbot", issuer, "", "control character"},
		{"a user name no users file can hold is refused", "user:al ice", issuer, "", "user name contains a space"},
		{"a user name too long for the runtime user id is refused", "user:" + strings.Repeat("a", maxUserLen+1), issuer, "", "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := QualifyPrincipal(tt.entry, tt.issuer)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("QualifyPrincipal(%q) = %q, %v; want an error containing %q", tt.entry, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("QualifyPrincipal(%q) = %q, %v; want %q", tt.entry, got, err, tt.want)
			}
			if len(got) > maxPrincipalLen {
				t.Errorf("%q is longer than a runtime user id may be", got)
			}
		})
	}
}

func TestIssuerTag(t *testing.T) {
	// The tag is part of every JWT principal the operator writes in the
	// configuration, so it must never change: this is SHA-256("https://idp.example").
	if got, want := issuerTag("https://idp.example"), "512a336b79b5"; got != want {
		t.Errorf("issuerTag = %q, want %q", got, want)
	}
	if issuerTag("https://idp.example") == issuerTag("https://idp.example/") {
		t.Error("issuers that differ by a slash share a tag; the token's iss must match exactly, so they are different issuers")
	}
}

// TestPrincipalsCannotImpersonate signs in as an API key, a password user
// and JWTs whose subjects spell the others' names, and checks that no JWT
// ends up with the ID of another caller or on an access list written for
// another caller.
func TestPrincipalsCannotImpersonate(t *testing.T) {
	key, hash, _ := GenerateAPIKey()
	keys, err := NewAPIKeys([]APIKey{{Name: "ci-bot", Hash: hash}})
	if err != nil {
		t.Fatal(err)
	}
	pw := newPasswords(t, func(c *PasswordConfig) { c.Users = map[string]string{"ada": mustArgon(t, alicePassword)} })
	token, _, err := pw.Login("ada", alicePassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	rs := rsaKey("rs-1", 0)
	p := newIdP(t, rs)
	j := newJWT(t, p, pw.clock)
	chain := Chain{keys, pw, j, None{}}
	signIn := func(headers ...string) Principal {
		t.Helper()
		got, err := chain.Authenticate(request(headers...))
		if err != nil {
			t.Fatalf("signing in: %v", err)
		}
		return got
	}
	others := []string{
		signIn("Authorization", "Bearer "+key).ID,
		signIn("Authorization", "Bearer "+token).ID,
		signIn().ID,
	}
	var allowed []string
	for _, entry := range []string{"key:ci-bot", "user:ada", "anonymous"} {
		id, err := QualifyPrincipal(entry, p.issuer)
		if err != nil {
			t.Fatal(err)
		}
		allowed = append(allowed, id)
	}
	if !slices.Equal(others, allowed) {
		t.Fatalf("the API key, the password user and None sign in as %q, but their access-list entries read %q", others, allowed)
	}

	for _, sub := range []string{"key:ci-bot", "ada", "user:ada", "anonymous", "jwt:ada", "*"} {
		t.Run("a JWT with subject "+sub, func(t *testing.T) {
			claims := p.claimsAt(pw.clock.Now())
			claims["sub"] = sub
			got := signIn("Authorization", "Bearer "+rs.sign(t, claims, nil))
			if slices.Contains(allowed, got.ID) {
				t.Errorf("signs in as %q, which is another caller's ID", got.ID)
			}
			if want, _ := QualifyPrincipal("jwt:"+sub, p.issuer); got.ID != want {
				t.Errorf("signs in as %q, want %q", got.ID, want)
			}
		})
	}
}

func TestJWTPrincipalClaimValues(t *testing.T) {
	clock := newClock()
	rs := rsaKey("rs-1", 0)
	p := newIdP(t, rs)
	j := newJWT(t, p, clock)
	prefix := "jwt:" + issuerTag(p.issuer) + ":"
	longest := strings.Repeat("a", maxPrincipalLen-len(prefix))
	tests := []struct {
		name string
		sub  any
		want error
	}{
		{"an ordinary subject is accepted", "248289761001", nil},
		{"a subject of non-ASCII letters is accepted", "zoë", nil},
		{"the longest subject that fits a runtime user id is accepted", longest, nil},
		{"a subject one byte longer is refused", longest + "a", ErrInvalidCredentials},
		{"a subject with CR LF is refused", "ada\r\nX-Injected: 1", ErrInvalidCredentials},
		{"a subject with a NUL is refused", "ada\x00", ErrInvalidCredentials},
		{"a subject with DEL is refused", "ada\x7f", ErrInvalidCredentials},
		{"a subject with a C1 control character is refused", "ada\u0085", ErrInvalidCredentials},
		{"a subject with a tab is refused", "a\tda", ErrInvalidCredentials},
		{"a subject with a trailing space is refused", "ada ", ErrInvalidCredentials},
		{"an empty subject is refused", "", ErrInvalidCredentials},
		{"a subject that is not a string is refused", []string{"ada"}, ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := p.claimsAt(clock.Now())
			claims["sub"] = tt.sub
			got, err := j.Authenticate(request("Authorization", "Bearer "+rs.sign(t, claims, nil)))
			if !isKind(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && got.ID != prefix+tt.sub.(string) {
				t.Errorf("ID = %q, want %q", got.ID, prefix+tt.sub.(string))
			}
		})
	}
}
