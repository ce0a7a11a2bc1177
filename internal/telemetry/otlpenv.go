package telemetry

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// otlpConfig says where and how the exporter sends spans.
type otlpConfig struct {
	// URL is the full traces URL spans are POSTed to.
	URL string
	// Header goes with every export.
	Header http.Header
	// Gzip compresses the request bodies.
	Gzip bool
	// Timeout bounds one export, retries included; 0 is no bound.
	Timeout time.Duration
	// TLS is for an https URL; nil trusts the system's roots and offers
	// no client certificate.
	TLS *tls.Config
}

const (
	// defaultOTLPURL is the protocol's default endpoint (specification/
	// protocol/exporter.md): plain http on the collector's OTLP/HTTP port.
	// otlptracehttp defaults to https, for compatibility with its own past;
	// a local collector listens in clear.
	defaultOTLPURL     = "http://localhost:4318/v1/traces"
	defaultOTLPTimeout = 10 * time.Second
	otlpTracesPath     = "/v1/traces"
)

// otlpEnv reads the OTEL_EXPORTER_OTLP_* variables.
type otlpEnv struct {
	getenv func(string) string
	log    *slog.Logger
}

// names returns the variables that can set key, the one for traces first:
// it overrides the generic one.
func (otlpEnv) names(key string) [2]string {
	return [2]string{"OTEL_EXPORTER_OTLP_TRACES_" + key, "OTEL_EXPORTER_OTLP_" + key}
}

// lookup returns the first of key's variables that is set and not blank,
// and its name.
func (e otlpEnv) lookup(key string) (name, value string) {
	for _, n := range e.names(key) {
		if v := strings.TrimSpace(e.getenv(n)); v != "" {
			return n, v
		}
	}
	return "", ""
}

// otlpConfigFromEnv resolves the exporter's configuration. endpoint is
// tracing.endpoint: a base URL, to which /v1/traces is added when it has
// no path, or the full traces URL. Without it, the OTEL_EXPORTER_OTLP_*
// variables getenv reads decide, as the OTLP exporter specification says
// (specification/protocol/exporter.md). A variable that cannot be used
// where the specification says to ignore it (a timeout, a compression) is
// logged and ignored; an endpoint, certificate or key that cannot be used
// is an error that names it.
func otlpConfigFromEnv(endpoint string, getenv func(string) string, readFile func(string) ([]byte, error), log *slog.Logger) (otlpConfig, error) {
	e := otlpEnv{getenv, log}
	u, err := e.url(endpoint)
	if err != nil {
		return otlpConfig{}, err
	}
	c := otlpConfig{URL: u.String(), Timeout: e.timeout(), Gzip: e.gzip()}
	if name, v := e.lookup("HEADERS"); v != "" {
		var bad []string
		c.Header, bad = parseOTLPHeaders(v)
		for _, b := range bad {
			log.Warn("tracing: a header is ignored", "variable", name, "problem", b)
		}
	}
	if name, v := e.lookup("PROTOCOL"); v != "" && v != "http/protobuf" {
		log.Warn("tracing: spans are exported as http/protobuf, the only protocol supported", "variable", name, "value", v)
	}
	if u.Scheme == "https" {
		if c.TLS, err = e.tls(readFile); err != nil {
			return otlpConfig{}, err
		}
	}
	return c, nil
}

// url resolves the traces URL. The traces variable is used as it is (a
// URL with no path gets the root path); the generic one is a base, to
// which v1/traces is added.
func (e otlpEnv) url(endpoint string) (*url.URL, error) {
	if endpoint != "" {
		u, err := parseOTLPURL(endpoint)
		if err != nil {
			return nil, fmt.Errorf("tracing.endpoint: %w", err)
		}
		if strings.Trim(u.Path, "/") == "" {
			u.Path, u.RawPath = otlpTracesPath, ""
		}
		return u, nil
	}
	n := e.names("ENDPOINT")
	traces, generic := n[0], n[1]
	if v := strings.TrimSpace(e.getenv(traces)); v != "" {
		u, err := parseOTLPURL(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", traces, err)
		}
		if u.Path == "" {
			u.Path = "/"
		}
		return u, nil
	}
	if v := strings.TrimSpace(e.getenv(generic)); v != "" {
		u, err := parseOTLPURL(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", generic, err)
		}
		u.Path = strings.TrimSuffix(u.Path, "/") + otlpTracesPath
		if u.RawPath != "" {
			u.RawPath = strings.TrimSuffix(u.RawPath, "/") + otlpTracesPath
		}
		return u, nil
	}
	return url.Parse(defaultOTLPURL)
}

// parseOTLPURL accepts an absolute http or https URL.
func parseOTLPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http or https URL with a host", s)
	}
	return u, nil
}

// timeout is the first valid timeout variable's, in milliseconds; one that
// is not a non-negative integer is logged and ignored, as the
// specification's common configuration rules say.
func (e otlpEnv) timeout() time.Duration {
	for _, n := range e.names("TIMEOUT") {
		v := strings.TrimSpace(e.getenv(n))
		if v == "" {
			continue
		}
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			e.log.Warn("tracing: a timeout that is not a number of milliseconds is ignored", "variable", n, "value", v)
			continue
		}
		return time.Duration(min(ms, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond
	}
	return defaultOTLPTimeout
}

func (e otlpEnv) gzip() bool {
	name, v := e.lookup("COMPRESSION")
	switch v {
	case "", "none":
		return false
	case "gzip":
		return true
	}
	e.log.Warn("tracing: unknown compression ignored; gzip and none are supported", "variable", name, "value", v)
	return false
}

// tls builds the client's TLS configuration from the certificate
// variables, or returns nil when none is set.
func (e otlpEnv) tls(readFile func(string) ([]byte, error)) (*tls.Config, error) {
	var c tls.Config
	if name, path := e.lookup("CERTIFICATE"); path != "" {
		pem, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", name, path)
		}
	}
	certName, certPath := e.lookup("CLIENT_CERTIFICATE")
	keyName, keyPath := e.lookup("CLIENT_KEY")
	switch {
	case certPath == "" && keyPath == "":
	case certPath == "":
		return nil, fmt.Errorf("%s is set, but no client certificate: set OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE or OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", keyName)
	case keyPath == "":
		return nil, fmt.Errorf("%s is set, but no client key: set OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY or OTEL_EXPORTER_OTLP_CLIENT_KEY", certName)
	default:
		cert, err := readFile(certPath)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", certName, err)
		}
		key, err := readFile(keyPath)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyName, err)
		}
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%s, %s: %w", certName, keyName, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	if c.RootCAs == nil && c.Certificates == nil {
		return nil, nil
	}
	return &c, nil
}

// parseOTLPHeaders reads key1=value1,key2=value2, the W3C baggage format
// the specification names, without its ;-properties: keys are HTTP
// tokens, values are percent-decoded, both are trimmed of blanks. A
// member that is not key=value, whose key is not a token or whose value
// does not decode or would not be a valid header value is left out, and
// bad describes it by position and key only: values are often
// credentials.
func parseOTLPHeaders(s string) (h http.Header, bad []string) {
	h = make(http.Header)
	for i, member := range strings.Split(s, ",") {
		if strings.TrimSpace(member) == "" {
			continue
		}
		k, v, ok := strings.Cut(member, "=")
		k = strings.TrimSpace(k)
		if !ok {
			bad = append(bad, fmt.Sprintf("member %d is not key=value", i+1))
			continue
		}
		if !isToken(k) {
			bad = append(bad, fmt.Sprintf("member %d: its key is not an HTTP header name", i+1))
			continue
		}
		v, err := url.PathUnescape(v)
		if err != nil {
			bad = append(bad, fmt.Sprintf("member %d (%s): its value is not percent-encoded", i+1, k))
			continue
		}
		v = strings.TrimSpace(v)
		if !isHeaderValue(v) {
			bad = append(bad, fmt.Sprintf("member %d (%s): its value holds a control character", i+1, k))
			continue
		}
		h.Set(k, v)
	}
	return h, bad
}

// isToken reports whether s is an RFC 9110 token, as a header name must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isHeaderValue reports whether s holds no control character but tab.
func isHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
