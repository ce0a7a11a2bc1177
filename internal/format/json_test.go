package format

import (
	"bytes"
	"encoding/json"
	"testing"
)

// stdString is what encoding/json writes for s with HTML escaping off.
func stdString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

var jsonStrings = []string{
	"",
	"plain",
	`quote " backslash \ slash /`,
	"<html> & </html>",
	"\x00\x01\x07\b\f\n\r\t\x1f\x7f",
	"café ☕ 日本語 🎉",
	"line\u2028para\u2029end",
	"bad \xff utf-8 \xe2\x82 cut",
	"\xed\xa0\x80 surrogate",
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonStrings {
		if got, want := string(appendString(nil, s)), stdString(s); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendString(nil, s)), stdString(s); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}
