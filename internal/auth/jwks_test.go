package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestKeyFits(t *testing.T) {
	rsa2048 := &rsaKeys()[0].PublicKey
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name string
		key  any
		alg  string
		want bool
	}{
		{"an RSA key verifies RS256", rsa2048, "RS256", true},
		{"an RSA key verifies PS512", rsa2048, "PS512", true},
		{"an RSA key is never an HMAC secret", rsa2048, "HS256", false},
		{"an RSA key does not verify ES256", rsa2048, "ES256", false},
		{"an RSA key under 2048 bits is refused", &small.PublicKey, "RS256", false},
		{"a P-256 key verifies ES256", &p256.PublicKey, "ES256", true},
		{"a P-256 key does not verify ES384", &p256.PublicKey, "ES384", false},
		{"a P-384 key verifies ES384", &p384.PublicKey, "ES384", true},
		{"an EC key is never an HMAC secret", &p256.PublicKey, "HS256", false},
		{"an Ed25519 key verifies EdDSA", edPub, "EdDSA", true},
		{"an Ed25519 key does not verify RS256", edPub, "RS256", false},
		{"a symmetric key verifies nothing", []byte("secret"), "HS256", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keyFits(tt.key, tt.alg); got != tt.want {
				t.Errorf("keyFits = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	rs := &rsaKeys()[0].PublicKey
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	raw := func(k jose.JSONWebKey) json.RawMessage {
		b, err := k.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	set := []json.RawMessage{
		raw(jose.JSONWebKey{Key: rs, KeyID: "sig", Algorithm: "RS256", Use: "sig"}),
		raw(jose.JSONWebKey{Key: rs, KeyID: "enc", Algorithm: "RSA-OAEP", Use: "enc"}),
		raw(jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "oct", Algorithm: "HS256"}),
		raw(jose.JSONWebKey{Key: p256, KeyID: "private-ec"}),
		json.RawMessage(`{"kty":"OKP","crv":"Ed448","x":"AAAA","kid":"unknown-curve"}`),
		json.RawMessage(`{"kty":"RSA","kid":"broken"}`),
	}
	keys := parseJWKS(set)
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.KeyID)
		if !k.IsPublic() {
			t.Errorf("key %q kept its private half", k.KeyID)
		}
	}
	if len(kids) != 2 || kids[0] != "sig" || kids[1] != "private-ec" {
		t.Errorf("kept %q, want the signing key and the public half of the EC key", kids)
	}

	t.Run("a key's declared alg must match the token's", func(t *testing.T) {
		if got := fitting(keys, "sig", "RS512"); len(got) != 0 {
			t.Errorf("an RS256 key was offered for RS512")
		}
		if got := fitting(keys, "sig", "RS256"); len(got) != 1 {
			t.Errorf("the RS256 key was not offered for RS256")
		}
	})
	t.Run("a token without kid gets every key that fits its alg", func(t *testing.T) {
		if got := fitting(keys, "", "ES256"); len(got) != 1 {
			t.Errorf("got %d keys, want 1", len(got))
		}
	})
}
