package session

import (
	"errors"
	"strings"
	"testing"
)

func TestResponseIDs(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	is, err := NewIssuer(key)
	if err != nil {
		t.Fatal(err)
	}
	sid := is.New("alice")
	id := is.NewResponseID("alice", sid)
	if !strings.HasPrefix(id, "resp_") || len(id) != ResponseIDLen || ResponseIDLen != 89 {
		t.Fatalf("response id %q (ResponseIDLen %d): want resp_ and the 89 characters the README states", id, ResponseIDLen)
	}
	if other := is.NewResponseID("alice", sid); other == id {
		t.Fatal("two answers in one session got the same response id")
	}
	bobs := is.New("bob")
	rotated, _ := NewIssuer([]byte(strings.Repeat("n", 32)), key)
	stranger, _ := NewIssuer([]byte(strings.Repeat("x", 32)))
	flip := func(s string, at int) string {
		c := byte('A')
		if s[at] == 'A' {
			c = 'B'
		}
		return s[:at] + string(c) + s[at+1:]
	}
	tests := []struct {
		name      string
		issuer    *Issuer
		principal string
		id        string
		want      error
	}{
		{"the owner's response id gives its session back", is, "alice", id, nil},
		{"another principal's response id is foreign", is, "bob", id, ErrForeign},
		{"a response id with another session spliced in is foreign", is, "alice", "resp_" + bobs + id[5+IDLen:], ErrForeign},
		{"a response id with a changed random part is foreign", is, "alice", flip(id, 5+IDLen+3), ErrForeign},
		{"a response id made under a previous key still reads after rotation", rotated, "alice", id, nil},
		{"a response id made under an unknown key is foreign", stranger, "alice", id, ErrForeign},
		{"a session id is not a response id", is, "alice", sid, ErrMalformed},
		{"a response id without its prefix is malformed", is, "alice", "resq_" + id[5:], ErrMalformed},
		{"a short response id is malformed", is, "alice", id[:len(id)-1], ErrMalformed},
		{"a response id with bytes outside base64url is malformed", is, "alice", id[:len(id)-1] + ".", ErrMalformed},
		{"a response id whose session part is not a session id is malformed", is, "alice", "resp_x1" + id[7:], ErrMalformed},
		{"an OpenAI response id is malformed", is, "alice", "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", ErrMalformed},
		{"an empty id is malformed", is, "alice", "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.issuer.ResponseSession(tt.principal, tt.id)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ResponseSession = %q, %v; want %v", got, err, tt.want)
			}
			if err == nil && got != sid {
				t.Fatalf("ResponseSession = %q, want the session %q", got, sid)
			}
			if err != nil && got != "" {
				t.Fatalf("ResponseSession gave %q with its error", got)
			}
		})
	}
}
