package identity

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestCheckHeaderName(t *testing.T) {
	tests := []struct {
		name, header string
		wantErr      string
	}{
		{"a custom header passes", "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Email", ""},
		{"the prefix compares without case", "x-amzn-bedrock-agentcore-runtime-custom-Tenant-Id", ""},
		{"another name does not reach an agent", "X-User-Email", "does not start with"},
		{"another X-Amzn header is refused by AgentCore", "X-Amzn-Email", "does not start with"},
		{"the prefix alone names nothing", HeaderPrefix, "at least one"},
		{"an underscore is outside the prefix's pattern", HeaderPrefix + "E_mail", "letters, digits and hyphens"},
		{"a space is no header name", HeaderPrefix + "E mail", "letters, digits and hyphens"},
		{"past 256 characters is too long to allow-list", HeaderPrefix + strings.Repeat("a", 256-len(HeaderPrefix)+1), "at most 256"},
		{"the principal header is the gateway's own", strings.ToLower(PrincipalHeader), "principal header"},
		{"so is the kind", PrincipalKindHeader, "principal header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckHeaderName(tt.header)
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckHeaderName(%q) = %v, want %q", tt.header, err, tt.wantErr)
			}
		})
	}
}

func TestValue(t *testing.T) {
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(`{"n": 12345678901234567890, "b": true, "groups": ["admin", "<dev>"], "o": {"z": 1, "a": "x"}}`))
	dec.UseNumber() // as the JWT authenticator decodes claims
	if err := dec.Decode(&claims); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		claim   any
		want    string
		wantErr string
	}{
		{"a string travels as itself", "ada@example.com", "ada@example.com", ""},
		{"UTF-8 travels as it is", "Zoë Ñúñez", "Zoë Ñúñez", ""},
		{"a number keeps every digit", claims["n"], "12345678901234567890", ""},
		{"a boolean is its JSON", claims["b"], "true", ""},
		{"a list is compact JSON, unescaped", claims["groups"], `["admin","<dev>"]`, ""},
		{"an object is compact JSON with sorted keys", claims["o"], `{"a":"x","z":1}`, ""},
		{"exactly 4 KB fits", strings.Repeat("a", MaxValueBytes), strings.Repeat("a", MaxValueBytes), ""},
		{"a byte more does not", strings.Repeat("a", MaxValueBytes+1), "", "4097 bytes"},
		{"a list past 4 KB does not either", []any{strings.Repeat("a", MaxValueBytes)}, "", "bytes"},
		{"a line break would split the request", "ada\r\nX-Evil: 1", "", "control character"},
		{"a tab inside is a control character too", "a\tb", "", "control character"},
		{"white space at either end would be trimmed", " ada", "", "white space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Value(tt.claim)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Value = %q, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Value = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNewForward(t *testing.T) {
	const email = HeaderPrefix + "Email"
	t.Run("claims are sorted and allow-listed after the principal headers", func(t *testing.T) {
		f, err := NewForward(map[string]string{"tenant": HeaderPrefix + "Tenant", "email": email})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{PrincipalHeader, PrincipalKindHeader, email, HeaderPrefix + "Tenant"}
		if got := f.AllowList(); !slices.Equal(got, want) {
			t.Fatalf("AllowList = %q, want %q", got, want)
		}
	})
	many := map[string]string{}
	for i := range MaxClaims + 1 {
		many[fmt.Sprintf("c%d", i)] = fmt.Sprintf("%sC%d", HeaderPrefix, i)
	}
	for _, tt := range []struct {
		name    string
		claims  map[string]string
		wantErr string
	}{
		{"an empty claim name is refused", map[string]string{"": email}, "claim name is empty"},
		{"a bad header is refused, naming the claim", map[string]string{"email": "X-Email"}, `claim "email"`},
		{"two claims in one header are refused, without case", map[string]string{"email": email, "mail": strings.ToUpper(email)}, "already carries"},
		{"more claims than a runtime can allow-list are refused", many, "at most 18"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewForward(tt.claims); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewForward = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	f, err := NewForward(map[string]string{
		"email": HeaderPrefix + "Email", "groups": HeaderPrefix + "Groups", "bio": HeaderPrefix + "Bio",
		"nickname": HeaderPrefix + "Nickname", "tenant": HeaderPrefix + "Tenant"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a caller without claims gets the principal headers only", func(t *testing.T) {
		h, left := f.Headers("key:ci-bot", "apikey", nil)
		want := http.Header{"X-Amzn-Bedrock-Agentcore-Runtime-Custom-Principal": {"key:ci-bot"},
			"X-Amzn-Bedrock-Agentcore-Runtime-Custom-Principal-Kind": {"apikey"}}
		if !equalHeaders(h, want) || left != nil {
			t.Fatalf("Headers = %v, %v; want %v", h, left, want)
		}
	})
	t.Run("claims go in their headers; a missing, null or empty one is left out quietly", func(t *testing.T) {
		h, left := f.Headers("jwt:0123456789ab:ada", "jwt", map[string]any{
			"email": "ada@example.com", "groups": []any{"ops"}, "nickname": "", "tenant": nil, "sub": "ada"})
		if left != nil {
			t.Fatalf("omissions %v, want none", left)
		}
		want := http.Header{"X-Amzn-Bedrock-Agentcore-Runtime-Custom-Principal": {"jwt:0123456789ab:ada"},
			"X-Amzn-Bedrock-Agentcore-Runtime-Custom-Principal-Kind": {"jwt"},
			"X-Amzn-Bedrock-Agentcore-Runtime-Custom-Email":          {"ada@example.com"},
			"X-Amzn-Bedrock-Agentcore-Runtime-Custom-Groups":         {`["ops"]`}}
		if !equalHeaders(h, want) {
			t.Fatalf("Headers = %v, want %v", h, want)
		}
	})
	t.Run("a claim that does not fit is left out whole and reported without its value", func(t *testing.T) {
		long := strings.Repeat("x", MaxValueBytes+1)
		h, left := f.Headers("jwt:0123456789ab:ada", "jwt", map[string]any{"email": "ada@example.com", "bio": long})
		if got := h.Get(HeaderPrefix + "Bio"); got != "" {
			t.Fatalf("the long claim went as %d bytes, want it left out", len(got))
		}
		if h.Get(HeaderPrefix+"Email") != "ada@example.com" {
			t.Fatal("the claim that fits was left out with the one that does not")
		}
		if len(left) != 1 || left[0].Claim.Name != "bio" || !strings.Contains(left[0].Err.Error(), "4097 bytes") || strings.Contains(left[0].Err.Error(), "xxx") {
			t.Fatalf("omissions %v, want bio's size, without its value", left)
		}
	})
}

func TestIsCustom(t *testing.T) {
	for name, want := range map[string]bool{
		PrincipalHeader: true, "x-amzn-bedrock-agentcore-runtime-custom-email": true, "X-Amzn-Bedrock-Agentcore-Runtime-Custom-": true,
		"X-Amzn-Bedrock-AgentCore-Runtime-User-Id": false, "X-Api-Key": false, "": false,
	} {
		if got := IsCustom(name); got != want {
			t.Errorf("IsCustom(%q) = %v, want %v", name, got, want)
		}
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
