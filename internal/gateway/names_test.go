package gateway

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzValidAgentName checks the hand-written name check against the rule
// it implements, written as a regular expression.
func FuzzValidAgentName(f *testing.F) {
	rule := regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	for _, seed := range []string{"demo", "a", "", "-a", "a-b.c_d", "A", "a/b", "é", strings.Repeat("a", 63), strings.Repeat("a", 64), "0", "a\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidAgentName(s), rule.MatchString(s); got != want {
			t.Fatalf("ValidAgentName(%q) = %v, want %v", s, got, want)
		}
	})
}
