package main

import (
	"fmt"
	"strings"
	"testing"
)

// AWS WAF takes regular expressions in PCRE syntax but not all of it
// ("Supported regular expression syntax in AWS WAF", AWS WAF Developer
// Guide), and the API refuses the rest only at deploy time. The guide lists
// what it does not support: back-references and capturing subexpressions;
// subroutine references and recursion; conditional patterns; backtracking
// control verbs; the \C, \R and \K directives; callouts and embedded code;
// atomic groups and possessive quantifiers; large quantifier values;
// excessive wildcard or nested repetition; a large number of | branches. It
// supports "some zero-width assertions, but not all", so look-around is
// refused here too. Where the guide gives no number, the bounds below are
// this checker's own, chosen well inside what PCRE itself takes.
const (
	// maxRegexLength is the API's limit on RegexString.
	maxRegexLength = 512
	// maxQuantifier bounds {n,m}.
	maxQuantifier = 255
	// maxBranches bounds the | in one pattern.
	maxBranches = 32
)

// wafRegexProblems lists what in pattern AWS WAF does not support, or
// nothing. It reads the pattern token by token: escapes, character classes,
// groups and quantifiers, so that a literal \( or [(] is not mistaken for a
// group.
func wafRegexProblems(pattern string) []string {
	var problems []string
	bad := func(at int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("at %d: ", at)+fmt.Sprintf(format, args...))
	}
	if len(pattern) > maxRegexLength {
		bad(0, "%d characters, past WAF's %d", len(pattern), maxRegexLength)
	}
	// open holds, for each group open, whether it repeats something
	// inside; closedAt and closedRepeats are the last group closed, so that
	// a quantifier right after it is a repetition of repetition.
	var open []bool
	closedAt, closedRepeats := -1, false
	branches := 0
	afterAtom := false
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '\\':
			if i+1 >= len(pattern) {
				bad(i, "a trailing backslash")
				return problems
			}
			i++
			switch e := pattern[i]; {
			case e >= '1' && e <= '9':
				bad(i-1, "back-reference \\%c", e)
			case e == 'g' || e == 'k':
				bad(i-1, "back-reference or subroutine \\%c", e)
			case e == 'C' || e == 'R' || e == 'K':
				bad(i-1, "the \\%c directive", e)
			case e == 'Q':
				end := strings.Index(pattern[i:], `\E`)
				if end < 0 {
					i = len(pattern)
				} else {
					i += end + 1
				}
			case strings.IndexByte("xpPoN", e) >= 0 && i+1 < len(pattern) && pattern[i+1] == '{':
				if end := strings.IndexByte(pattern[i:], '}'); end >= 0 {
					i += end
				}
			}
			afterAtom = true
		case '[':
			i = classEnd(pattern, i)
			afterAtom = true
		case '(':
			rest := pattern[i+1:]
			switch {
			case strings.HasPrefix(rest, "*"):
				bad(i, "a backtracking control verb or option (*...)")
			case !strings.HasPrefix(rest, "?"):
				bad(i, "a capturing group: write (?:...)")
			case strings.HasPrefix(rest, "?:"), strings.HasPrefix(rest, "?#"):
			case strings.HasPrefix(rest, "?="), strings.HasPrefix(rest, "?!"),
				strings.HasPrefix(rest, "?<="), strings.HasPrefix(rest, "?<!"):
				bad(i, "look-around")
			case strings.HasPrefix(rest, "?<"), strings.HasPrefix(rest, "?P<"), strings.HasPrefix(rest, "?'"):
				bad(i, "a named capturing group")
			case strings.HasPrefix(rest, "?P="):
				bad(i, "a named back-reference")
			case strings.HasPrefix(rest, "?>"):
				bad(i, "an atomic group")
			case strings.HasPrefix(rest, "?|"):
				bad(i, "a branch reset group, which captures")
			case strings.HasPrefix(rest, "?("):
				bad(i, "a conditional pattern")
			case strings.HasPrefix(rest, "?C"), strings.HasPrefix(rest, "?{"), strings.HasPrefix(rest, "??{"):
				bad(i, "a callout or embedded code")
			case strings.HasPrefix(rest, "?R"), strings.HasPrefix(rest, "?&"), strings.HasPrefix(rest, "?P>"),
				len(rest) > 1 && (rest[1] == '+' || rest[1] == '-' || (rest[1] >= '0' && rest[1] <= '9')) && !isFlags(rest[1:]):
				bad(i, "a subroutine call or recursion")
			case isFlags(rest[1:]):
				// Option setting, (?i) or (?i:...).
			default:
				bad(i, "an unknown group (%.4s)", pattern[i:])
			}
			switch {
			case strings.HasPrefix(rest, "?#"): // a comment, skipped whole
				if end := strings.IndexByte(rest, ')'); end >= 0 {
					i += end + 1
				}
				continue
			case isFlags(rest[1:]):
				end := strings.IndexAny(rest, ":)")
				i += end + 1
				if rest[end] == ')' { // (?i) sets options and opens nothing
					continue
				}
			case strings.HasPrefix(rest, "?"):
				i++ // past the ?, read as no quantifier
			}
			open = append(open, false)
			afterAtom = false
		case ')':
			if len(open) == 0 {
				bad(i, "an unbalanced )")
				continue
			}
			closedAt, closedRepeats = i, open[len(open)-1]
			open = open[:len(open)-1]
			afterAtom = true
		case '|':
			branches++
			afterAtom = false
		case '*', '+', '?', '{':
			q, end, ok := quantifier(pattern, i)
			if !ok {
				afterAtom = true // a literal {
				continue
			}
			if !afterAtom {
				bad(i, "a quantifier with nothing to repeat")
			}
			if q > maxQuantifier {
				bad(i, "a quantifier of %d, past this checker's %d", q, maxQuantifier)
			}
			if closedAt == i-1 && closedRepeats {
				bad(i, "a repeated group that repeats inside")
			}
			i = end
			if i+1 < len(pattern) && pattern[i+1] == '+' {
				bad(i+1, "a possessive quantifier")
				i++
			} else if i+1 < len(pattern) && pattern[i+1] == '?' {
				i++ // lazy
			}
			if len(open) > 0 {
				open[len(open)-1] = true
			}
			afterAtom = false
		default:
			afterAtom = true
		}
	}
	if len(open) > 0 {
		bad(len(pattern), "%d unclosed groups", len(open))
	}
	if branches+1 > maxBranches {
		bad(0, "%d branches, past this checker's %d", branches+1, maxBranches)
	}
	return problems
}

// isFlags reports whether s starts with inline options: letters of imsxnJU,
// an optional - and more, then ) or :.
func isFlags(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case strings.IndexByte("imsxnJU-", c) >= 0:
		case c == ')' || c == ':':
			return i > 0
		default:
			return false
		}
	}
	return false
}

// classEnd returns the index of the ] closing the character class that
// starts at start, skipping escapes and [:name:].
func classEnd(pattern string, start int) int {
	i := start + 1
	if i < len(pattern) && pattern[i] == '^' {
		i++
	}
	if i < len(pattern) && pattern[i] == ']' {
		i++
	}
	for ; i < len(pattern); i++ {
		switch {
		case pattern[i] == '\\':
			i++
		case strings.HasPrefix(pattern[i:], "[:"):
			if end := strings.Index(pattern[i:], ":]"); end >= 0 {
				i += end + 1
			}
		case pattern[i] == ']':
			return i
		}
	}
	return len(pattern) - 1
}

// quantifier reads the quantifier at i: its largest bound (0 when
// unbounded), where it ends, and whether it is one ({ not followed by a
// count is a literal).
func quantifier(pattern string, i int) (bound, end int, ok bool) {
	if pattern[i] != '{' {
		return 0, i, true
	}
	close := strings.IndexByte(pattern[i:], '}')
	if close < 0 {
		return 0, i, false
	}
	body := pattern[i+1 : i+close]
	lo, hi, comma := strings.Cut(body, ",")
	if !digits(lo) || (comma && hi != "" && !digits(hi)) {
		return 0, i, false
	}
	for _, n := range []string{lo, hi} {
		var v int
		if _, err := fmt.Sscan(n, &v); err == nil && v > bound {
			bound = v
		}
	}
	return bound, i + close, true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func TestTheWAFRegexCheckerRefusesWhatWAFDoesNotSupport(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    string // part of the first problem; "" for none
	}{
		{`^0*(?:[1-9][0-9]{7,}|[2-9][0-9]{6})$`, ""},
		{`^[a-z(]+\(x\)$`, ""},
		{`(?i)^abc$`, ""},
		{`(?i:abc)|d`, ""},
		{`[[:alpha:]](?#a comment)\x{41}`, ""},
		{`^0*([1-9][0-9]{7,}|[2-9][0-9]{6})$`, "capturing group"},
		{`(?<n>a)`, "named capturing"},
		{`(?P<n>a)`, "named capturing"},
		{`(?:a)\1`, "back-reference"},
		{`\k<n>`, "back-reference"},
		{`a(?=b)`, "look-around"},
		{`a(?!b)`, "look-around"},
		{`(?<=a)b`, "look-around"},
		{`(?<!a)b`, "look-around"},
		{`(?>ab)`, "atomic"},
		{`a++`, "possessive"},
		{`a{2}+`, "possessive"},
		{`(?(1)a|b)`, "conditional"},
		{`(?R)`, "subroutine"},
		{`(?1)`, "subroutine"},
		{`(*PRUNE)a`, "verb"},
		{`a\Kb`, `\K`},
		{`a\Rb`, `\R`},
		{`(?C1)a`, "callout"},
		{`a{1000}`, "quantifier of 1000"},
		{`(?:a+)+`, "repeats inside"},
		{strings.Repeat("a|", 40) + "a", "branches"},
		{strings.Repeat("a", 513), "characters"},
	} {
		got := wafRegexProblems(tc.pattern)
		switch {
		case tc.want == "" && len(got) > 0:
			t.Errorf("%q: %v, want none", tc.pattern, got)
		case tc.want != "" && (len(got) == 0 || !strings.Contains(strings.Join(got, "; "), tc.want)):
			t.Errorf("%q: %v, want one about %q", tc.pattern, got, tc.want)
		}
	}
}

// regexes returns every regular expression a template gives WAF: each
// RegexString (RegexMatchStatement, anywhere in a WebACL or rule group) and
// each entry of a RegexPatternSet.
func (tpl template) regexes() []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && k == "RegexString" {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for typ, list := range map[string]string{"AWS::WAFv2::WebACL": "", "AWS::WAFv2::RuleGroup": "", "AWS::WAFv2::RegexPatternSet": "RegularExpressionList"} {
		for _, props := range tpl.resources(typ) {
			if list == "" {
				walk(props)
				continue
			}
			for _, e := range props[list].([]any) {
				out = append(out, e.(string))
			}
		}
	}
	return out
}

func TestEveryRegexTheTemplatesGiveWAFIsInItsSupportedSubset(t *testing.T) {
	deployments := map[string]deployment{"the example settings": exampleDeployment(t)}
	deployments["a body cap under the inspection limit"] = synth(t, func(s *Settings) {
		gatewayYAML(t, s, "defaultAgent: demo\nagents: {demo: {arn: "+exampleARN+"}}\nauth: {none: true}\nlimits: {maxBodyBytes: 8192}")
	})
	deployments["the largest body cap"] = synth(t, func(s *Settings) {
		gatewayYAML(t, s, "defaultAgent: demo\nagents: {demo: {arn: "+exampleARN+"}}\nauth: {none: true}\nlimits: {maxBodyBytes: 9223372036854775807}")
	})
	for name, d := range deployments {
		var seen int
		for _, tpl := range []template{d.main, d.edge} {
			for _, re := range tpl.regexes() {
				seen++
				if problems := wafRegexProblems(re); len(problems) > 0 {
					t.Errorf("%s: WAF would refuse %q: %s", name, re, strings.Join(problems, "; "))
				}
			}
		}
		if seen == 0 {
			t.Errorf("%s: no regex found: the walk misses where the templates put them", name)
		}
	}
}
