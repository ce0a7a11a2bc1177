package event

import (
	"bytes"
	"testing"
)

// mayMatterBytewise is MayMatter as one plain scan: the reference its
// faster scan must agree with.
func mayMatterBytewise(data []byte) bool {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return false
	}
	return mayMatterFrom(data, 0)
}

// FuzzMayMatterScans holds MayMatter's eight-at-a-time scan to the plain
// one, whatever the data: every word at every offset, in any case.
func FuzzMayMatterScans(f *testing.F) {
	for _, s := range []string{`{"error":1}`, `{"x":"ERROR"}`, `{"Exception":{}}`, `{"metadata":{"usage":{}}}`,
		`{"a":"\u0065rror"}`, `{"k":"mEtadata"}`, `{"text":"The answer is 42, as the calculator says."}`,
		`{"x":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxerror"}`, `{"ab":"rr xc ad \\ \u00"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := MayMatter(data), mayMatterBytewise(data); got != want {
			t.Fatalf("MayMatter(%q) = %v, the plain scan says %v", data, got, want)
		}
	})
}

// TestMayMatterFindsEveryWordAtEveryOffset: each word MayMatter looks
// for, in several cases, at every position of objects of many lengths,
// where the eight-at-a-time scan meets it at each offset in a word and
// across the tail.
func TestMayMatterFindsEveryWordAtEveryOffset(t *testing.T) {
	words := []string{"error", "ERROR", "eRrOr", "exception", "EXCEPTION", "ExCePtIoN", "metadata", `\u0065`, `\u007A`}
	misses := []string{"metaData", "erro", "xception", "etadata", `\u0030`, `\u00`}
	for _, w := range append(words, misses...) {
		for n := 0; n < 40; n++ {
			for at := 1; at+len(w) <= n; at++ {
				b := bytes.Repeat([]byte{'.'}, n)
				b[0] = '{'
				copy(b[at:], w)
				if got, want := MayMatter(b), mayMatterBytewise(b); got != want {
					t.Fatalf("MayMatter(%q) = %v, the plain scan says %v", b, got, want)
				}
			}
		}
	}
	for _, w := range words {
		if !MayMatter([]byte(`{"k":"` + w + `"}`)) {
			t.Errorf("MayMatter misses %s", w)
		}
	}
}
