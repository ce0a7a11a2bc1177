package auth_test

import (
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/agentgate/agentgate/internal/auth"
)

// An operator creates a key with GenerateAPIKey, hands the key to its
// holder and puts only the hash in the configuration.
func ExampleAPIKeys() {
	key, hash, err := auth.GenerateAPIKey()
	if err != nil {
		panic(err)
	}
	keys, err := auth.NewAPIKeys([]auth.APIKey{{Name: "ci-bot", Hash: hash}})
	if err != nil {
		panic(err)
	}

	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	p, err := keys.Authenticate(r)
	fmt.Println(p.ID, p.Method, err)
	// Output: key:ci-bot apikey <nil>
}

// The gateway tries each configured authenticator in turn. A request with
// no credentials at all reaches None; a bad credential of any kind stops
// the chain before it.
func ExampleChain() {
	_, hash, _ := auth.GenerateAPIKey()
	keys, _ := auth.NewAPIKeys([]auth.APIKey{{Name: "ci-bot", Hash: hash}})
	chain := auth.Chain{keys, auth.None{}}

	anonymous := httptest.NewRequest("GET", "/", nil)
	p, err := chain.Authenticate(anonymous)
	fmt.Println(p.ID, err)

	wrongKey, _, _ := auth.GenerateAPIKey()
	bad := httptest.NewRequest("GET", "/", nil)
	bad.Header.Set("X-Api-Key", wrongKey)
	_, err = chain.Authenticate(bad)
	fmt.Println(errors.Is(err, auth.ErrInvalidCredentials))
	// Output:
	// anonymous <nil>
	// true
}
