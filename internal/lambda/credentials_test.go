package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/gateway"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/upstream"
)

// oacSignature is Authorization as Origin Access Control writes it.
const oacSignature = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20250101/eu-west-1/lambda/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// signedEvent is a GET of path as a function URL sends it: with headers
// added, and, when iam, with the authorizer block of an AWS_IAM function
// URL that verified its caller's signature.
func signedEvent(path string, iam bool, headers map[string]string, cookies ...string) []byte {
	var ev map[string]any
	_ = json.Unmarshal(functionURLEvent("GET", path, ""), &ev)
	h := ev["headers"].(map[string]any)
	for k, v := range headers {
		h[k] = v
	}
	if len(cookies) > 0 {
		ev["cookies"] = cookies
	}
	if iam {
		ev["requestContext"].(map[string]any)["authorizer"] = map[string]any{"iam": map[string]any{
			"accessKey": "ASIAEXAMPLE", "accountId": "123456789012", "callerId": "AROAEXAMPLE:cloudfront",
			"userArn": "arn:aws:sts::123456789012:assumed-role/cloudfront/cloudfront", "userId": "AROAEXAMPLE:cloudfront",
		}}
	}
	b, _ := json.Marshal(ev)
	return b
}

func TestNewRequestCarriesTheEdgesCopyOfAuthorization(t *testing.T) {
	r, err := newRequest(context.Background(), signedEvent("/agents", true, map[string]string{
		"authorization": oacSignature, "x-agentgate-authorization": "Bearer agt1.token",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Header.Get(gateway.EdgeAuthorizationHeader); got != "Bearer agt1.token" {
		t.Fatalf("%s = %q, want the edge's copy", gateway.EdgeAuthorizationHeader, got)
	}
}

// refusingInvoker is an agent the credential tests never reach.
type refusingInvoker struct{}

func (refusingInvoker) Invoke(context.Context, upstream.Request) (*upstream.Response, error) {
	return nil, errors.New("not invoked in these tests")
}

func (refusingInvoker) StopSession(context.Context, string) error { return nil }

func TestBehindOriginAccessControlTheViewersCredentialsComeInTheEdgesCopy(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	login, err := auth.NewPasswords(auth.PasswordConfig{Users: map[string]string{"ada": string(hash)}, TokenKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := login.Login("ada", "correct horse", "203.0.113.7")
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := session.NewIssuer(session.RandomKey())
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{
		Agents:       map[string]upstream.Invoker{"demo": refusingInvoker{}, "ada-desk": refusingInvoker{}},
		DefaultAgent: "demo",
		Access:       map[string][]string{"ada-desk": {"user:ada"}},
		Sessions:     issuer,
		Auth:         login,
		Login:        login,
	})
	if err != nil {
		t.Fatal(err)
	}
	api := newRuntimeAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- (&Server{API: api.addr, Handler: gw, Abort: gw.Abort}).Serve(ctx) }()
	defer func() { cancel(); <-served }()

	const basic = "Basic YWRhOmNvcnJlY3QgaG9yc2U=" // ada:correct horse
	ada := []string{"ada-desk", "demo"}
	tests := []struct {
		name    string
		iam     bool
		headers map[string]string
		cookies []string
		code    string
		want    []string
	}{
		{"OAC's signature alone is no credential", true,
			map[string]string{"authorization": oacSignature}, nil, "unauthenticated", nil},
		{"the login cookie signs in beside OAC's signature", true,
			map[string]string{"authorization": oacSignature}, []string{"agentgate_session=" + token}, "", ada},
		{"Basic credentials in the edge's copy sign in", true,
			map[string]string{"authorization": oacSignature, "x-agentgate-authorization": basic}, nil, "", ada},
		{"a login token in the edge's copy signs in", true,
			map[string]string{"authorization": oacSignature, "x-agentgate-authorization": "Bearer " + token}, nil, "", ada},
		{"without IAM auth, a copy the caller sent is ignored", false,
			map[string]string{"x-agentgate-authorization": basic}, nil, "unauthenticated", nil},
		{"without IAM auth, Authorization is the viewer's own", false,
			map[string]string{"authorization": basic}, nil, "", ada},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := api.invoke(signedEvent("/agents", tt.iam, tt.headers, tt.cookies...), "")
			p, _ := resp.prelude(t)
			body, _ := resp.wait(t)
			var out struct {
				Agents []struct{ Name string }
				Error  struct{ Code string }
			}
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatalf("%d %q", p.StatusCode, body)
			}
			var names []string
			for _, a := range out.Agents {
				names = append(names, a.Name)
			}
			wantStatus := http.StatusOK
			if tt.code != "" {
				wantStatus = http.StatusUnauthorized
			}
			if p.StatusCode != wantStatus || out.Error.Code != tt.code || !slices.Equal(names, tt.want) {
				t.Fatalf("got %d %q shown %q, want %d %q shown %q", p.StatusCode, out.Error.Code, names, wantStatus, tt.code, tt.want)
			}
		})
	}
}
