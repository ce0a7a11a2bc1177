package telemetry

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestOTLPEndpointResolution(t *testing.T) {
	const (
		traces  = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
		generic = "OTEL_EXPORTER_OTLP_ENDPOINT"
	)
	for _, tc := range []struct {
		name     string
		endpoint string
		env      map[string]string
		want     string
	}{
		{"nothing set gives the protocol's default", "", nil, "http://localhost:4318/v1/traces"},
		{"tracing.endpoint without a path gets /v1/traces", "http://c:4318", nil, "http://c:4318/v1/traces"},
		{"tracing.endpoint with a bare / gets /v1/traces", "http://c:4318/", nil, "http://c:4318/v1/traces"},
		{"tracing.endpoint with a path is used as it is", "https://c/otlp/spans", nil, "https://c/otlp/spans"},
		{"tracing.endpoint wins over the variables", "http://mine:4318", map[string]string{traces: "http://t:4318/x", generic: "http://g:4318"}, "http://mine:4318/v1/traces"},
		{"the traces variable is used as it is", "", map[string]string{traces: "https://t.example/v1/traces"}, "https://t.example/v1/traces"},
		{"the traces variable without a path gets the root path", "", map[string]string{traces: "http://t:4318"}, "http://t:4318/"},
		{"the traces variable wins over the generic one", "", map[string]string{traces: "http://t:4318/x", generic: "http://g:4318"}, "http://t:4318/x"},
		{"the generic variable is a base for v1/traces", "", map[string]string{generic: "http://g:4318"}, "http://g:4318/v1/traces"},
		{"the generic variable's path is kept", "", map[string]string{generic: "http://g:4318/mycollector/"}, "http://g:4318/mycollector/v1/traces"},
		{"the generic variable's path without a slash is kept", "", map[string]string{generic: "https://g/otlp"}, "https://g/otlp/v1/traces"},
		{"blanks around a variable are trimmed", "", map[string]string{generic: "  http://g:4318 "}, "http://g:4318/v1/traces"},
		{"a blank traces variable counts as unset", "", map[string]string{traces: "  ", generic: "http://g:4318"}, "http://g:4318/v1/traces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := otlpConfigFromEnv(tc.endpoint, envMap(tc.env), os.ReadFile, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if c.URL != tc.want {
				t.Fatalf("URL %s, want %s", c.URL, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, endpoint string
		env            map[string]string
		want           string
	}{
		{"a tracing.endpoint with no scheme", "collector:4318", nil, "tracing.endpoint"},
		{"a generic variable with no scheme", "", map[string]string{generic: "collector:4318"}, generic},
		{"a traces variable for gRPC's unix scheme", "", map[string]string{traces: "unix:///run/otel.sock"}, traces},
		{"a URL that does not parse", "", map[string]string{generic: "http://[::1"}, generic},
	} {
		t.Run(tc.name+" is an error naming it", func(t *testing.T) {
			_, err := otlpConfigFromEnv(tc.endpoint, envMap(tc.env), os.ReadFile, slog.New(slog.DiscardHandler))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want+":") {
				t.Fatalf("err %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestOTLPTimeoutAndCompressionVariables(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		timeout  time.Duration
		gzip     bool
		warnings int
	}{
		{"nothing set: 10s, no compression", nil, 10 * time.Second, false, 0},
		{"the generic timeout in milliseconds", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, 2500 * time.Millisecond, false, 0},
		{"the traces timeout wins", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "300"}, 300 * time.Millisecond, false, 0},
		{"an invalid traces timeout leaves the generic one", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "5s"}, 2500 * time.Millisecond, false, 1},
		{"a negative timeout is ignored", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "-1"}, 10 * time.Second, false, 1},
		{"a zero timeout is no limit", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "0"}, 0, false, 0},
		{"gzip", map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}, 10 * time.Second, true, 0},
		{"the traces compression wins", map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none"}, 10 * time.Second, false, 0},
		{"an unknown compression is none", map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, 10 * time.Second, false, 1},
		{"another protocol is warned of", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, 10 * time.Second, false, 1},
		{"insecure is for gRPC and ignored", map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "true"}, 10 * time.Second, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged bytes.Buffer
			c, err := otlpConfigFromEnv("", envMap(tc.env), os.ReadFile, slog.New(slog.NewTextHandler(&logged, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if c.Timeout != tc.timeout || c.Gzip != tc.gzip || c.URL != defaultOTLPURL {
				t.Errorf("timeout %v gzip %v URL %s, want %v %v %s", c.Timeout, c.Gzip, c.URL, tc.timeout, tc.gzip, defaultOTLPURL)
			}
			if n := strings.Count(logged.String(), "level=WARN"); n != tc.warnings {
				t.Errorf("%d warnings, want %d: %s", n, tc.warnings, logged.String())
			}
		})
	}
}

func TestParseOTLPHeaders(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want http.Header
		bad  int
	}{
		{"api-key=secret", http.Header{"Api-Key": {"secret"}}, 0},
		{"a=1,b=2", http.Header{"A": {"1"}, "B": {"2"}}, 0},
		{" a = 1 , b=2 ", http.Header{"A": {"1"}, "B": {"2"}}, 0},
		{"Authorization=Basic%20dXNlcjpwYXNz", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, 0},
		{"k=a=b", http.Header{"K": {"a=b"}}, 0},
		{"k=", http.Header{"K": {""}}, 0},
		{"a=1,a=2", http.Header{"A": {"2"}}, 0},
		{"a=1,,b=2,", http.Header{"A": {"1"}, "B": {"2"}}, 0},
		{"novalue,b=2", http.Header{"B": {"2"}}, 1},
		{"bad key=1,b=2", http.Header{"B": {"2"}}, 1},
		{"=1", http.Header{}, 1},
		{"k=%zz", http.Header{}, 1},
		{"k=line%0Abreak", http.Header{}, 1},
		{"", http.Header{}, 0},
	} {
		got, bad := parseOTLPHeaders(tc.in)
		if !reflect.DeepEqual(got, tc.want) || len(bad) != tc.bad {
			t.Errorf("parseOTLPHeaders(%q) = %v, %q; want %v and %d problems", tc.in, got, bad, tc.want, tc.bad)
		}
	}
	t.Run("a problem never repeats a value", func(t *testing.T) {
		_, bad := parseOTLPHeaders("k=s3cret%zz,s3cret,x y=s3cret")
		if len(bad) != 3 || strings.Contains(strings.Join(bad, " "), "s3cret") {
			t.Fatalf("problems %q", bad)
		}
	})
}

// FuzzParseOTLPHeaders checks that any variable parses without a panic
// into headers net/http can send.
func FuzzParseOTLPHeaders(f *testing.F) {
	for _, s := range []string{"a=1,b=2", "Authorization=Bearer%20x", "=,=,", "k=%", "k=%0d%0a", " , ", "a=b=c;prop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, _ := parseOTLPHeaders(s)
		for k, vs := range h {
			if !isToken(k) {
				t.Fatalf("key %q is not a token", k)
			}
			for _, v := range vs {
				if !isHeaderValue(v) {
					t.Fatalf("value %q of %s holds a control character", v, k)
				}
			}
		}
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = h
		if err := req.Write(new(bytes.Buffer)); err != nil {
			t.Fatalf("net/http will not send %q: %v", h, err)
		}
	})
}

func TestExporterTLSFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newTestCA(t)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	clientDER, clientKey := newTestLeaf(t, ca, caKey, x509.ExtKeyUsageClientAuth)
	writePEM(t, filepath.Join(dir, "client.pem"), "CERTIFICATE", clientDER)
	writePEM(t, filepath.Join(dir, "client.key"), "PRIVATE KEY", clientKey)

	c := &collector{t: t}
	c.Server = httptest.NewUnstartedServer(c)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	c.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	c.StartTLS()
	t.Cleanup(c.Close)
	serverCA := filepath.Join(dir, "server-ca.pem")
	writePEM(t, serverCA, "CERTIFICATE", c.Certificate().Raw)

	export := func(env map[string]string) error {
		env["OTEL_EXPORTER_OTLP_ENDPOINT"] = c.URL
		cfg, err := otlpConfigFromEnv("", envMap(env), os.ReadFile, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		e := testExporter(t, cfg, nil)
		return e.ExportSpans(context.Background(), stubSpans("a"))
	}
	t.Run("the certificate and client pair reach a collector that asks for both", func(t *testing.T) {
		err := export(map[string]string{
			"OTEL_EXPORTER_OTLP_CERTIFICATE":               filepath.Join(dir, "ca.pem"),
			"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE":        serverCA,
			"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": filepath.Join(dir, "client.pem"),
			"OTEL_EXPORTER_OTLP_CLIENT_KEY":                filepath.Join(dir, "client.key"),
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("without the collector's CA the export fails at once", func(t *testing.T) {
		before := len(c.exports())
		err := export(map[string]string{
			"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": filepath.Join(dir, "client.pem"),
			"OTEL_EXPORTER_OTLP_CLIENT_KEY":         filepath.Join(dir, "client.key"),
		})
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err %v, want a certificate failure", err)
		}
		if len(c.exports()) != before {
			t.Error("an export reached the collector")
		}
	})
	for _, tc := range []struct {
		name, want string
		env        map[string]string
	}{
		{"a certificate file that is missing", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": filepath.Join(dir, "none.pem")}},
		{"a certificate file with no PEM", "OTEL_EXPORTER_OTLP_CERTIFICATE", map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": filepath.Join(dir, "client.key")}},
		{"a client key without its certificate", "OTEL_EXPORTER_OTLP_CLIENT_KEY", map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_KEY": filepath.Join(dir, "client.key")}},
		{"a client certificate without its key", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": filepath.Join(dir, "client.pem")}},
		{"a client pair that does not match", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": serverCA, "OTEL_EXPORTER_OTLP_CLIENT_KEY": filepath.Join(dir, "client.key")}},
	} {
		t.Run(tc.name+" is an error naming it", func(t *testing.T) {
			tc.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "https://collector.example"
			_, err := otlpConfigFromEnv("", envMap(tc.env), os.ReadFile, slog.New(slog.DiscardHandler))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %s", err, tc.want)
			}
			tc.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector.example"
			if _, err := otlpConfigFromEnv("", envMap(tc.env), os.ReadFile, slog.New(slog.DiscardHandler)); err != nil {
				t.Errorf("with an http endpoint, where TLS files are not used: %v", err)
			}
		})
	}
}

func newTestCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

// newTestLeaf returns a certificate signed by ca and its PKCS #8 key.
func newTestLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage) (der, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "agentgate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if der, err = x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey); err != nil {
		t.Fatal(err)
	}
	if key, err = x509.MarshalPKCS8PrivateKey(k); err != nil {
		t.Fatal(err)
	}
	return der, key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
