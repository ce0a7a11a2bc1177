package upstream

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

// signer signs the data plane's requests with SigV4 (header signing, the
// payload's hash given), exactly as the SDK's aws/signer/v4 signs them:
// the same canonical request, string to sign and Authorization. That
// signer builds each request's canonical form through maps, sorted
// string slices and string joins, ~100 allocations a request and a sixth
// of the gateway's CPU per stream start; this one writes into one buffer.
// TestSignerSignsAsTheSDK holds every signature to the SDK's over random
// requests, and NewAgentCore checks a probe against it at start, falling
// back to the SDK's signer should the two ever differ.
type signer struct {
	service, region string

	mu     sync.Mutex
	key    []byte // the signing key of keyFor
	keyFor string // secret + "/" + date
}

// ignoredHeader reports whether the signature leaves out the header k (its
// key in the header map), as the SDK's signer does.
func ignoredHeader(k string) bool {
	switch k {
	case "Authorization", "User-Agent", "X-Amzn-Trace-Id", "Expect", "Transfer-Encoding":
		return true
	}
	return false
}

// lowerNames holds the lower-case form of the headers every request
// carries, so that signing them allocates nothing.
var lowerNames = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Content-Type", "Accept", headerSessionID, headerUserID, "Traceparent", "Tracestate", "Baggage",
		"Amz-Sdk-Invocation-Id", "Amz-Sdk-Request", "X-Amz-Date", "X-Amz-Security-Token", "Content-Length"} {
		m[k] = strings.ToLower(k)
	}
	return m
}()

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// sign adds X-Amz-Date, X-Amz-Security-Token (with a session token) and
// Authorization to req. canonicalURI and canonicalQuery are the request's
// path and query in SigV4's canonical form (canonicalPath, and the query
// as the URL already carries it, which the caller builds canonical).
func (s *signer) sign(req *http.Request, creds aws.Credentials, payloadHash, canonicalURI string, now time.Time) {
	now = now.UTC()
	var dateBuf [16]byte
	amzDate := string(now.AppendFormat(dateBuf[:0], "20060102T150405Z"))
	h := req.Header
	h["X-Amz-Date"] = []string{amzDate}
	if creds.SessionToken != "" {
		h["X-Amz-Security-Token"] = []string{creds.SessionToken}
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if port := portOnly(host); port != "" && isDefaultPort(req.URL.Scheme, port) {
		host = stripPort(host)
		req.Host = host
	}

	type header struct {
		name   string // lower case
		values []string
	}
	var arr [24]header
	headers := append(arr[:0], header{"host", nil})
	if req.ContentLength > 0 {
		headers = append(headers, header{"content-length", []string{strconv.FormatInt(req.ContentLength, 10)}})
	}
	for k, v := range h {
		if ignoredHeader(k) || strings.EqualFold(k, "content-length") {
			continue
		}
		lower, ok := lowerNames[k]
		if !ok {
			lower = strings.ToLower(k)
		}
		headers = append(headers, header{lower, v})
	}
	slices.SortFunc(headers, func(a, b header) int { return strings.Compare(a.name, b.name) })
	// Keys that differ only in case are one header to SigV4, their values
	// joined (the SDK's order among them is its map's: unspecified).
	merged := headers[:1]
	for _, x := range headers[1:] {
		if last := &merged[len(merged)-1]; last.name == x.name {
			last.values = append(slices.Clip(last.values), x.values...)
			continue
		}
		merged = append(merged, x)
	}
	headers = merged

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := (*bp)[:0]
	b = append(b, req.Method...)
	b = append(b, '\n')
	b = append(b, canonicalURI...)
	b = append(b, '\n')
	b = append(b, req.URL.RawQuery...)
	b = append(b, '\n')
	for _, x := range headers {
		b = append(b, x.name...)
		b = append(b, ':')
		if x.name == "host" {
			b = append(b, stripExcessSpaces(host)...)
		} else {
			for j, v := range x.values {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendCleanValue(b, v)
			}
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	signedStart := len(b)
	for i, x := range headers {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, x.name...)
	}
	signedHeaders := string(b[signedStart:])
	b = append(b, '\n')
	b = append(b, payloadHash...)
	canonicalHash := sha256.Sum256(b)

	date := amzDate[:8]
	b = b[:0]
	b = append(b, "AWS4-HMAC-SHA256\n"...)
	b = append(b, amzDate...)
	b = append(b, '\n')
	scopeStart := len(b)
	b = append(b, date...)
	b = append(b, '/')
	b = append(b, s.region...)
	b = append(b, '/')
	b = append(b, s.service...)
	b = append(b, "/aws4_request"...)
	scope := b[scopeStart:]
	b = append(b, '\n')
	b = hex.AppendEncode(b, canonicalHash[:])
	mac := hmac.New(sha256.New, s.signingKey(creds.SecretAccessKey, date))
	mac.Write(b)
	var sum [sha256.Size]byte

	auth := make([]byte, 0, 64+len(creds.AccessKeyID)+len(scope)+len(signedHeaders)+2*sha256.Size)
	auth = append(auth, "AWS4-HMAC-SHA256 Credential="...)
	auth = append(auth, creds.AccessKeyID...)
	auth = append(auth, '/')
	auth = append(auth, scope...)
	auth = append(auth, ", SignedHeaders="...)
	auth = append(auth, signedHeaders...)
	auth = append(auth, ", Signature="...)
	auth = hex.AppendEncode(auth, mac.Sum(sum[:0]))
	h["Authorization"] = []string{string(auth)}
	*bp = b
}

// signingKey returns the key derived from secret for date, the region and
// the service, kept until either changes.
func (s *signer) signingKey(secret, date string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.keyFor) == len(secret)+1+len(date) && strings.HasPrefix(s.keyFor, secret) && strings.HasSuffix(s.keyFor, date) && s.keyFor[len(secret)] == '/' {
		return s.key
	}
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, s.region)
	k = hmacSHA256(k, s.service)
	s.key, s.keyFor = hmacSHA256(k, "aws4_request"), secret+"/"+date
	return s.key
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// canonicalPath is SigV4's canonical URI of a request's escaped path: each
// byte outside the unreserved set escaped again, slashes kept.
func canonicalPath(escapedPath string) string {
	if escapedPath == "" {
		return "/"
	}
	return httpbinding.EscapePath(escapedPath, false)
}

// appendCleanValue appends v as SigV4 canonicalises a header value: runs
// of spaces made one, then white space trimmed at both ends.
func appendCleanValue(b []byte, v string) []byte {
	if strings.Contains(v, "  ") || (v != "" && (isSpace(v[0]) || isSpace(v[len(v)-1]))) {
		return append(b, strings.TrimSpace(stripExcessSpaces(v))...)
	}
	return append(b, v...)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// stripExcessSpaces trims spaces (only) from both ends of str and makes
// each run of spaces inside it one, as the SDK's signer does.
func stripExcessSpaces(str string) string {
	str = strings.Trim(str, " ")
	if !strings.Contains(str, "  ") {
		return str
	}
	buf := make([]byte, 0, len(str))
	for i := 0; i < len(str); i++ {
		if str[i] == ' ' && i > 0 && str[i-1] == ' ' {
			continue
		}
		buf = append(buf, str[i])
	}
	return string(buf)
}

func stripPort(hostport string) string {
	colon := strings.IndexByte(hostport, ':')
	if colon == -1 {
		return hostport
	}
	if i := strings.IndexByte(hostport, ']'); i != -1 {
		return strings.TrimPrefix(hostport[:i], "[")
	}
	return hostport[:colon]
}

func portOnly(hostport string) string {
	colon := strings.IndexByte(hostport, ':')
	if colon == -1 {
		return ""
	}
	if i := strings.Index(hostport, "]:"); i != -1 {
		return hostport[i+len("]:"):]
	}
	if strings.Contains(hostport, "]") {
		return ""
	}
	return hostport[colon+len(":"):]
}

func isDefaultPort(scheme, port string) bool {
	scheme = strings.ToLower(scheme)
	return scheme == "http" && port == "80" || scheme == "https" && port == "443"
}
