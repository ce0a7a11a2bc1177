package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// stub answers with a fixed principal or error and counts its calls.
type stub struct {
	id    string
	err   error
	calls int
}

func (s *stub) Authenticate(*http.Request) (Principal, error) {
	s.calls++
	if s.err != nil {
		return Principal{}, s.err
	}
	return Principal{ID: s.id, Method: "stub"}, nil
}

func TestChain(t *testing.T) {
	bad := fmt.Errorf("%w: test", ErrInvalidCredentials)
	retry := &RetryError{After: time.Minute}
	tests := []struct {
		name      string
		chain     []*stub
		wantID    string
		wantErr   error
		wantCalls []int
	}{
		{"an empty chain finds no credentials", nil, "", ErrNoCredentials, nil},
		{"the first authenticator that finds a credential decides", []*stub{{id: "a"}, {id: "b"}}, "a", nil, []int{1, 0}},
		{"an authenticator that finds nothing passes to the next", []*stub{{err: ErrNoCredentials}, {id: "b"}}, "b", nil, []int{1, 1}},
		{"a wrapped ErrNoCredentials also passes on", []*stub{{err: fmt.Errorf("x: %w", ErrNoCredentials)}, {id: "b"}}, "b", nil, []int{1, 1}},
		{"when nobody finds a credential, there is none", []*stub{{err: ErrNoCredentials}, {err: ErrNoCredentials}}, "", ErrNoCredentials, []int{1, 1}},
		{"a bad credential stops the chain", []*stub{{err: bad}, {id: "anonymous"}}, "", ErrInvalidCredentials, []int{1, 0}},
		{"a slow-down stops the chain", []*stub{{err: retry}, {id: "anonymous"}}, "", retry, []int{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Chain
			for _, s := range tt.chain {
				c = append(c, s)
			}
			got, err := c.Authenticate(request())
			if !isKind(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", got.ID, tt.wantID)
			}
			for i, s := range tt.chain {
				if s.calls != tt.wantCalls[i] {
					t.Errorf("authenticator %d called %d times, want %d", i, s.calls, tt.wantCalls[i])
				}
			}
		})
	}
}

// TestChainOfEveryAuthenticator runs the chain the gateway builds: API
// keys, passwords, JWT, then None.
func TestChainOfEveryAuthenticator(t *testing.T) {
	key, hash, _ := GenerateAPIKey()
	unknownKey, _, _ := GenerateAPIKey()
	keys, err := NewAPIKeys([]APIKey{{Name: "ci-bot", Hash: hash}})
	if err != nil {
		t.Fatal(err)
	}
	pw := newPasswords(t)
	clock := pw.clock
	token, _, err := pw.Login("alice", alicePassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	rs := rsaKey("rs-1", 0)
	p := newIdP(t, rs)
	j := newJWT(t, p, clock)
	jwtToken := rs.sign(t, p.claimsAt(clock.Now()), nil)
	jwtID := "jwt:" + issuerTag(p.issuer) + ":user-123"
	expiredJWT := rs.sign(t, p.claimsAt(clock.Now().Add(-time.Hour)), nil)
	chain := Chain{keys, pw, j, None{}}

	tests := []struct {
		name    string
		headers []string
		want    Principal
		wantErr error
	}{
		{"an API key", []string{"Authorization", "Bearer " + key}, Principal{ID: "key:ci-bot", Method: "apikey"}, nil},
		{"a login token", []string{"Authorization", "Bearer " + token}, Principal{ID: "user:alice", Method: "password"}, nil},
		{"a login cookie", []string{"Cookie", pw.Cookie(token, time.Time{}).String()}, Principal{ID: "user:alice", Method: "password"}, nil},
		{"Basic credentials", []string{"Authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ=="}, Principal{ID: "user:alice", Method: "password"}, nil},
		{"a JWT", []string{"Authorization", "Bearer " + jwtToken}, Principal{ID: jwtID, Method: "jwt"}, nil},
		{"nothing at all falls through to None", nil, Principal{ID: "anonymous", Method: "none"}, nil},
		{"an unknown scheme falls through to None", []string{"Authorization", "Negotiate abc"}, Principal{ID: "anonymous", Method: "none"}, nil},
		{"an unknown API key does not fall through to None", []string{"Authorization", "Bearer " + unknownKey}, Principal{}, ErrInvalidCredentials},
		{"a tampered login token does not fall through to None", []string{"Authorization", "Bearer " + flip(token, len(tokenPrefix)+2)}, Principal{}, ErrInvalidCredentials},
		{"a wrong password does not fall through to None", []string{"Authorization", "Basic YWxpY2U6d3Jvbmc="}, Principal{}, ErrInvalidCredentials},
		{"an expired JWT does not fall through to None", []string{"Authorization", "Bearer " + expiredJWT}, Principal{}, ErrInvalidCredentials},
		{"an unsigned JWT does not fall through to None", []string{"Authorization", "Bearer " + strings.Join(strings.Split(jwtToken, ".")[:2], ".") + "."}, Principal{}, ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chain.Authenticate(request(tt.headers...))
			if !isKind(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got.ID != tt.want.ID || got.Method != tt.want.Method {
				t.Errorf("principal = %s (%s), want %s (%s)", got.ID, got.Method, tt.want.ID, tt.want.Method)
			}
			if (got.Claims != nil) != (got.Method == "jwt") {
				t.Errorf("a %q principal has claims %v; only a JWT's carry them", got.Method, got.Claims)
			}
		})
	}
}

// TestAnUnrecognisedCredentialIsNotValid: a credential that none of the
// configured authenticators takes is refused as not valid, not as
// missing, whichever they are, so the answer does not tell a caller which
// kinds of credential the gateway would take. Only a request with no
// credential at all has none.
func TestAnUnrecognisedCredentialIsNotValid(t *testing.T) {
	_, hash, _ := GenerateAPIKey()
	keys, err := NewAPIKeys([]APIKey{{Name: "ci-bot", Hash: hash}})
	if err != nil {
		t.Fatal(err)
	}
	pw := newPasswords(t)
	p := newIdP(t, rsaKey("rs-1", 0))
	j := newJWT(t, p, pw.clock)
	chains := []struct {
		name  string
		chain Chain
	}{
		{"API keys", Chain{keys}},
		{"passwords", Chain{pw}},
		{"JWT", Chain{j}},
		{"API keys, passwords and JWT", Chain{keys, pw, j}},
	}
	tests := []struct {
		name    string
		headers []string
		want    error
	}{
		{"a bearer token of no known kind is not valid", []string{"Authorization", "Bearer sk-proj-0123456789"}, ErrInvalidCredentials},
		{"a JWT-shaped bearer token is not valid", []string{"Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}, ErrInvalidCredentials},
		{"a bearer scheme without a token is not valid", []string{"Authorization", "Bearer"}, ErrInvalidCredentials},
		{"Basic credentials nobody takes are not valid", []string{"Authorization", "Basic YWxpY2U6d3Jvbmc="}, ErrInvalidCredentials},
		{"an unknown scheme is not valid", []string{"Authorization", "Negotiate abc"}, ErrInvalidCredentials},
		{"an X-Api-Key nobody takes is not valid", []string{"X-Api-Key", "not-a-key"}, ErrInvalidCredentials},
		{"no credential at all is none", nil, ErrNoCredentials},
		{"a cookie that is no login cookie is none", []string{"Cookie", "theme=dark"}, ErrNoCredentials},
	}
	for _, c := range chains {
		for _, tt := range tests {
			t.Run(c.name+": "+tt.name, func(t *testing.T) {
				_, err := c.chain.Authenticate(request(tt.headers...))
				if !isKind(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
			})
		}
	}
}

func TestRetryError(t *testing.T) {
	err := error(&RetryError{After: 90*time.Second + 400*time.Millisecond})
	if got, want := err.Error(), "auth: too many failed attempts, retry in 1m30s"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if errors.Is(err, ErrInvalidCredentials) {
		t.Error("a slow-down reads as invalid credentials; the gateway must answer 429, not 401")
	}
	busy := error(&RetryError{After: 2 * time.Second, Busy: true})
	if got, want := busy.Error(), "auth: too many sign-ins at once, retry in 2s"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name       string
		remoteAddr string
		fromCtx    string
		want       string
	}{
		{"the host of RemoteAddr by default", "192.0.2.1:5555", "", "192.0.2.1"},
		{"the address the gateway put on the context wins", "10.0.0.1:5555", "198.51.100.7", "198.51.100.7"},
		{"an IPv6 RemoteAddr", "[2001:db8::1]:5555", "", "2001:db8::1"},
		{"a RemoteAddr without a port", "192.0.2.1", "", "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request()
			r.RemoteAddr = tt.remoteAddr
			if tt.fromCtx != "" {
				r = r.WithContext(WithClientIP(context.Background(), tt.fromCtx))
			}
			if got := clientIP(r); got != tt.want {
				t.Errorf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAddressKey(t *testing.T) {
	tests := []struct{ name, ip, want string }{
		{"an IPv4 address is its own bucket", "192.0.2.1", "192.0.2.1"},
		{"an IPv4-mapped IPv6 address counts as IPv4", "::ffff:192.0.2.1", "192.0.2.1"},
		{"an IPv6 address counts as its /64", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"a zone does not make a new bucket", "fe80::1%eth0", "fe80::/64"},
		{"something that is not an address is kept as it is", "unknown", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := addressKey(tt.ip); got != tt.want {
				t.Errorf("addressKey(%q) = %q, want %q", tt.ip, got, tt.want)
			}
		})
	}
}

func TestNone(t *testing.T) {
	got, err := None{}.Authenticate(request("Authorization", "Bearer whatever"))
	if err != nil || !reflect.DeepEqual(got, Principal{ID: "anonymous", Method: "none"}) {
		t.Errorf("None = %+v, %v", got, err)
	}
}
