package session

import (
	"errors"
	"strings"
	"testing"
)

func TestIssuer(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	is, err := NewIssuer(key)
	if err != nil {
		t.Fatal(err)
	}
	id := is.New("alice")
	if len(id) < 33 || len(id) > 256 {
		t.Fatalf("id %q has %d characters, AgentCore wants 33 to 256", id, len(id))
	}
	for _, c := range id {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", c) {
			t.Fatalf("id %q holds %q, outside [A-Za-z0-9_-]", id, c)
		}
	}
	if other := is.New("alice"); other == id {
		t.Fatal("two ids for the same principal are equal")
	}
	rotated, _ := NewIssuer([]byte(strings.Repeat("n", 32)), key)
	stranger, _ := NewIssuer([]byte(strings.Repeat("x", 32)))
	flip := []byte(id)
	if flip[5] == 'A' {
		flip[5] = 'B'
	} else {
		flip[5] = 'A'
	}
	tests := []struct {
		name      string
		issuer    *Issuer
		principal string
		id        string
		want      error
	}{
		{"the owner's id is accepted", is, "alice", id, nil},
		{"another principal's id is refused", is, "bob", id, ErrForeign},
		{"an id with a changed random part is refused", is, "alice", string(flip), ErrForeign},
		{"an id signed with a previous key is accepted after rotation", rotated, "alice", id, nil},
		{"an id signed with an unknown key is refused", stranger, "alice", id, ErrForeign},
		{"a short id is malformed", is, "alice", id[:IDLen-1], ErrMalformed},
		{"an id with a foreign prefix is malformed", is, "alice", "x1" + id[2:], ErrMalformed},
		{"an id with bytes outside base64url is malformed", is, "alice", id[:IDLen-1] + "\n", ErrMalformed},
		{"an empty id is malformed", is, "alice", "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.issuer.Check(tt.principal, tt.id); !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewIssuerRefusesShortKey(t *testing.T) {
	if _, err := NewIssuer([]byte("short")); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
}

// TestOneSpellingPerID: the last character of each base64 part carries
// spare bits. Only the canonical spelling (spare bits zero) is an id; the
// others, which decode to the same bytes, are malformed, so one session
// cannot be forwarded under several names.
func TestOneSpellingPerID(t *testing.T) {
	is, err := NewIssuer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for range 20 {
		id := is.New("alice")
		if len(id) != 46 || IDLen != 46 {
			t.Fatalf("id %q has %d characters (IDLen %d), want the 46 the README states", id, len(id), IDLen)
		}
		accepted := 0
		for _, at := range []int{len(version) + 21, len(id) - 1} { // the last character of each part
			for _, c := range alphabet {
				spelled := id[:at] + string(c) + id[at+1:]
				if is.Check("alice", spelled) == nil {
					accepted++
				}
			}
		}
		if accepted != 2 {
			t.Fatalf("%d spellings of %q accepted, want only the id itself (once per position)", accepted, id)
		}
	}
}

func TestDerive(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	is, _ := NewIssuer(key)
	id := is.Derive("alice", ScopeChat, "chat-1")
	if len(id) != IDLen || is.Check("alice", id) != nil {
		t.Fatalf("derived id %q (%d characters) is not one Check accepts for its principal", id, len(id))
	}
	other, _ := NewIssuer(key)
	rotated, _ := NewIssuer([]byte(strings.Repeat("n", 32)), key)
	tests := []struct {
		name string
		got  string
		same bool
	}{
		{"the same chat gives the same id", is.Derive("alice", ScopeChat, "chat-1"), true},
		{"another instance with the key gives the same id", other.Derive("alice", ScopeChat, "chat-1"), true},
		{"another chat gives another id", is.Derive("alice", ScopeChat, "chat-2"), false},
		{"another principal's chat of the same id is another session", is.Derive("bob", ScopeChat, "chat-1"), false},
		{"another scope gives another id", is.Derive("alice", ScopeAGUI, "chat-1"), false},
		{"fields do not run into each other", is.Derive("alice", ScopeChat+"\x00", "\x00chat-1"), false},
		{"a rotated key gives another id", rotated.Derive("alice", ScopeChat, "chat-1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.got == id) != tt.same {
				t.Fatalf("Derive gave %q, first %q: want same %v", tt.got, id, tt.same)
			}
		})
	}
	if err := is.Check("bob", id); !errors.Is(err, ErrForeign) {
		t.Errorf("Check of alice's derived id for bob = %v, want ErrForeign", err)
	}
	if err := rotated.Check("alice", id); err != nil {
		t.Errorf("after rotation the derived id is refused: %v", err)
	}
}
