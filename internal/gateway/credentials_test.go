package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/auth/authtest"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/upstream"
)

const (
	edgeSecret = "0123456789abcdef-edge"
	adaBasic   = "Basic YWRhOmNvcnJlY3QgaG9yc2U=" // ada:correct horse
	// oacSignature is Authorization as Origin Access Control writes it.
	oacSignature = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20250101/eu-west-1/lambda/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// edgeCallers is a gateway that knows two callers: grace by a JWT from a
// provider on loopback, ada by password (Basic, login token, cookie). Each
// has an agent of her own besides demo, so the agents a caller is shown
// name who she signed in as.
type edgeCallers struct {
	idp      *authtest.IdP
	login    *auth.Passwords
	adaToken string
	access   map[string][]string
}

func newEdgeCallers(t *testing.T) *edgeCallers {
	t.Helper()
	c := &edgeCallers{idp: authtest.NewIdP(t, "agentgate-test")}
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	c.login, err = auth.NewPasswords(auth.PasswordConfig{Users: map[string]string{"ada": string(hash)}, TokenKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	if c.adaToken, _, err = c.login.Login("ada", "correct horse", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	grace, err := auth.QualifyPrincipal("jwt:grace", c.idp.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.access = map[string][]string{"ada-desk": {"user:ada"}, "grace-desk": {grace}}
	return c
}

// serve starts the gateway on loopback, behind the origin lock when locked;
// signed makes every request one the transport verified as the edge's, as
// the Lambda adapter marks them.
func (c *edgeCallers) serve(t *testing.T, locked, signed bool, edit ...func(*Options)) string {
	t.Helper()
	j, err := auth.NewJWT(t.Context(), auth.JWTConfig{Issuer: c.idp.URL, Audience: "agentgate-test", Algorithms: []string{"ES256"}})
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := session.NewIssuer(session.RandomKey())
	if err != nil {
		t.Fatal(err)
	}
	inv := &pipeInvoker{}
	opts := Options{
		Agents:       map[string]upstream.Invoker{"demo": inv, "ada-desk": inv, "grace-desk": inv},
		DefaultAgent: "demo",
		Access:       c.access,
		Sessions:     issuer,
		Auth:         auth.Chain{j, c.login},
		Login:        c.login,
	}
	if locked {
		opts.OriginHeader, opts.OriginSecret = "X-Origin-Verify", edgeSecret
	}
	for _, e := range edit {
		e(&opts)
	}
	gw, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = gw
	if signed {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gw.ServeHTTP(w, r.WithContext(WithEdgeSigned(r.Context())))
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// agents asks GET /agents with header and returns the status, the error
// code, and the agents shown.
func agents(t *testing.T, url string, header ...string) (int, string, []string) {
	t.Helper()
	resp, body := get(t, url+"/agents", header...)
	var out struct {
		Agents []struct{ Name string }
		Error  struct{ Code string }
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("GET /agents: %d %q", resp.StatusCode, body)
	}
	var names []string
	for _, a := range out.Agents {
		names = append(names, a.Name)
	}
	return resp.StatusCode, out.Error.Code, names
}

func TestTheEdgesCopyOfAuthorizationCountsOnlyFromATrustedSender(t *testing.T) {
	c := newEdgeCallers(t)
	grace, ada := []string{"demo", "grace-desk"}, []string{"ada-desk", "demo"}
	copied := func(v string) []string { return []string{EdgeAuthorizationHeader, v} }
	lock := []string{"X-Origin-Verify", edgeSecret}
	cookie := []string{"Cookie", "agentgate_session=" + c.adaToken}
	with := func(parts ...[]string) []string { return slices.Concat(parts...) }
	tests := []struct {
		name           string
		locked, signed bool
		header         []string
		code           string
		want           []string
	}{
		{"behind the origin lock, a JWT in the edge's copy signs its subject in", true, false,
			with(lock, copied("Bearer "+c.idp.Token(t, "grace"))), "", grace},
		{"behind the origin lock, Basic credentials in the edge's copy sign the user in", true, false,
			with(lock, copied(adaBasic)), "", ada},
		{"behind the origin lock, a login token as bearer in the edge's copy signs the user in", true, false,
			with(lock, copied("Bearer "+c.adaToken)), "", ada},
		{"behind the origin lock, the edge's copy takes the place of an Authorization beside it", true, false,
			with(lock, copied(adaBasic), []string{"Authorization", "Basic YWRhOndyb25n"}), "", ada},
		{"behind the origin lock, without a copy Authorization is read as sent", true, false,
			with(lock, []string{"Authorization", adaBasic}), "", ada},
		{"without the origin lock, the copy is ignored", false, false,
			copied(adaBasic), "unauthenticated", nil},
		{"without the origin lock, a copy never stands in for a bad Authorization", false, false,
			with(copied("Bearer "+c.idp.Token(t, "grace")), []string{"Authorization", "Basic YWRhOndyb25n"}), "invalid_credentials", nil},
		{"without the origin lock, Authorization is read and the copy ignored", false, false,
			with(copied("Bearer "+c.idp.Token(t, "grace")), []string{"Authorization", adaBasic}), "", ada},
		{"signed by the edge, its signature in Authorization is no credential", false, true,
			[]string{"Authorization", oacSignature}, "unauthenticated", nil},
		{"signed by the edge, the login cookie signs the user in beside the signature", false, true,
			with([]string{"Authorization", oacSignature}, cookie), "", ada},
		{"signed by the edge, a JWT in the edge's copy signs its subject in", false, true,
			with([]string{"Authorization", oacSignature}, copied("Bearer "+c.idp.Token(t, "grace"))), "", grace},
		{"signed by the edge, Basic credentials in the edge's copy sign the user in", false, true,
			with([]string{"Authorization", oacSignature}, copied(adaBasic)), "", ada},
	}
	servers := map[[2]bool]string{}
	for _, tt := range tests {
		key := [2]bool{tt.locked, tt.signed}
		if _, ok := servers[key]; !ok {
			servers[key] = c.serve(t, tt.locked, tt.signed)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code, names := agents(t, servers[[2]bool{tt.locked, tt.signed}], tt.header...)
			wantStatus := http.StatusOK
			if tt.code != "" {
				wantStatus = http.StatusUnauthorized
			}
			if status != wantStatus || code != tt.code || !slices.Equal(names, tt.want) {
				t.Fatalf("got %d %q shown %q, want %d %q shown %q", status, code, names, wantStatus, tt.code, tt.want)
			}
		})
	}
}

func TestSigningOutThroughTheEdgeRevokesTheTokenInTheCopy(t *testing.T) {
	c := newEdgeCallers(t)
	url := c.serve(t, true, false)
	header := []string{"X-Origin-Verify", edgeSecret, EdgeAuthorizationHeader, "Bearer " + c.adaToken}
	req, err := http.NewRequest(http.MethodPost, url+"/auth/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d, want 204", resp.StatusCode)
	}
	if status, code, _ := agents(t, url, header...); status != http.StatusUnauthorized || code != "invalid_credentials" {
		t.Fatalf("the signed-out token still answers %d %q", status, code)
	}
}

// TestTheEdgesPackedFetchHeadersCountOnlyFromATrustedSender: the edge packs
// the browser's Sec-Fetch-* and CORS preflight headers into one header; a
// trusted sender's packing is read as those headers (a script's 401 gets no
// Basic challenge, an OPTIONS is a preflight), anyone else's is ignored.
func TestTheEdgesPackedFetchHeadersCountOnlyFromATrustedSender(t *testing.T) {
	c := newEdgeCallers(t)
	for _, tt := range []struct {
		name           string
		locked, signed bool
		header         []string
		trusted        bool
	}{ // a preflight from an origin the gateway does not allow is refused with cors_forbidden
		{"behind the origin lock", true, false, []string{"X-Origin-Verify", edgeSecret}, true},
		{"signed by the edge", false, true, nil, true},
		{"from anyone", false, false, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := c.serve(t, tt.locked, tt.signed, func(o *Options) { o.Network.CORSOrigins = []string{"https://app.example"} })
			resp, _ := get(t, url+"/agents", append(tt.header, EdgeFetchHeader, "sec-fetch-mode=cors&sec-fetch-site=same-origin")...)
			basic := slices.ContainsFunc(resp.Header.Values("WWW-Authenticate"), func(v string) bool { return strings.HasPrefix(v, "Basic") })
			if resp.StatusCode != http.StatusUnauthorized || basic == tt.trusted {
				t.Errorf("a script's 401: status %d, Basic challenge %v; want 401 and a challenge only when the packing is not trusted", resp.StatusCode, basic)
			}
			req, err := http.NewRequest(http.MethodOptions, url+"/agents/demo/invocations", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", "https://elsewhere.example")
			req.Header.Set(EdgeFetchHeader, "access-control-request-method=POST&access-control-request-headers="+neturl.QueryEscape("content-type, x-api-key"))
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			pre, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(pre.Body)
			pre.Body.Close()
			preflight := bytes.Contains(body, []byte(`"cors_forbidden"`))
			if preflight != tt.trusted {
				t.Errorf("OPTIONS with a packed preflight: %d %s; read as a preflight %v, want %v", pre.StatusCode, body, preflight, tt.trusted)
			}
		})
	}
}
