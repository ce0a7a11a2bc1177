// Package sigv4 verifies AWS Signature Version 4 on requests to agentgate's
// local stand-ins for AWS services (agentcorelocal, secretslocal): it
// recomputes a request's signature, as AWS does, with the signer the SDK
// signs with, so the real SDK clients work against the stand-ins and a
// request signed wrong is refused as AWS would refuse it. Each stand-in turns
// a *Error into the error its own service answers with.
package sigv4

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	algorithm     = "AWS4-HMAC-SHA256"
	amzDateFormat = "20060102T150405Z"
	// maxClockSkew is how far X-Amz-Date may be from the verifier's clock,
	// as at AWS.
	maxClockSkew = 15 * time.Minute
)

// Messages AWS answers signature failures with.
const (
	msgMissingToken  = "Missing Authentication Token"
	msgInvalidToken  = "The security token included in the request is invalid."
	msgSignatureDiff = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// Problem says what is wrong with a request's signature, for a service to
// choose its error code.
type Problem int

// The problems Verify finds.
const (
	// Missing: the request carries no Authorization header.
	Missing Problem = iota + 1
	// Malformed: the Authorization header, X-Amz-Date or the credential
	// scope is not as SigV4 wants, or Host is not signed.
	Malformed
	// Expired: X-Amz-Date is more than 15 minutes from now.
	Expired
	// UnknownKey: the access key id is not the verifier's, or the request
	// carries a session token the verifier never issued.
	UnknownKey
	// Mismatch: the signature, or the claimed payload hash, is not what
	// the request's content gives.
	Mismatch
)

// Error is a refused signature: its problem and the message AWS gives it.
type Error struct {
	Problem Problem
	Message string
}

func (e *Error) Error() string { return e.Message }

func refuse(p Problem, format string, args ...any) *Error {
	return &Error{Problem: p, Message: fmt.Sprintf(format, args...)}
}

// Verifier checks signatures made with one key pair for one region and
// service. Its zero value is not usable; create it with New.
type Verifier struct {
	creds   aws.Credentials
	region  string
	service string
	signer  *v4.Signer
	// Now tells the time the signing date is checked against; time.Now
	// when nil.
	Now func() time.Time
}

// New returns a Verifier of signatures by the key pair creds, scoped to
// region and service (the signing name, e.g. "secretsmanager").
func New(creds aws.Credentials, region, service string) *Verifier {
	return &Verifier{creds: creds, region: region, service: service, signer: v4.NewSigner()}
}

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKeyID   string
	date          string // YYYYMMDD of the credential scope
	region        string
	service       string
	terminator    string
	signedHeaders []string // lower case, as signed
	signature     string
}

// Verify checks r's SigV4 signature. payloadHash is the hex SHA-256 of the
// body as received and bodyLen its length: the caller reads the body, since
// the signature covers it. A refusal is an *Error.
func (v *Verifier) Verify(r *http.Request, payloadHash string, bodyLen int64) error {
	header := r.Header.Get("Authorization")
	if header == "" {
		return refuse(Missing, msgMissingToken)
	}
	a, problem := parseAuthorization(header)
	if problem != "" {
		return refuse(Malformed, "%s", problem)
	}
	if a.accessKeyID != v.creds.AccessKeyID || r.Header.Get("X-Amz-Security-Token") != v.creds.SessionToken {
		return refuse(UnknownKey, msgInvalidToken)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return refuse(Malformed, "Authorization header requires existence of a valid 'X-Amz-Date' header (%s). Authorization=%s", amzDateFormat, algorithm)
	}
	if err := v.checkScope(a, amzDate, signedAt); err != nil {
		return err
	}
	if !slices.Contains(a.signedHeaders, "host") {
		return refuse(Malformed, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != payloadHash {
		return refuse(Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	want, err := v.expectedSignature(r, a, payloadHash, bodyLen, signedAt)
	if err != nil || subtle.ConstantTimeCompare([]byte(want), []byte(a.signature)) != 1 {
		return refuse(Mismatch, msgSignatureDiff)
	}
	return nil
}

// checkScope checks the credential scope and the signing time.
func (v *Verifier) checkScope(a authorization, amzDate string, signedAt time.Time) *Error {
	switch {
	case a.date != amzDate[:8]:
		return refuse(Malformed, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, amzDate[:8], amzDate)
	case a.region != v.region:
		return refuse(Malformed, "Credential should be scoped to a valid region. ")
	case a.service != v.service:
		return refuse(Malformed, "Credential should be scoped to correct service: '%s'. ", v.service)
	case a.terminator != "aws4_request":
		return refuse(Malformed, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'. ", a.terminator)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	at := now().UTC()
	if signedAt.Before(at.Add(-maxClockSkew)) {
		return refuse(Expired, "Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, at.Add(-maxClockSkew).Format(amzDateFormat), at.Format(amzDateFormat))
	}
	if signedAt.After(at.Add(maxClockSkew)) {
		return refuse(Expired, "Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, at.Add(maxClockSkew).Format(amzDateFormat), at.Format(amzDateFormat))
	}
	return nil
}

// parseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX".
// It returns a message for the caller when the header is malformed.
func parseAuthorization(header string) (authorization, string) {
	alg, rest, _ := strings.Cut(header, " ")
	if alg != algorithm {
		return authorization{}, "Authorization header must use the " + algorithm + " algorithm (Signature Version 4)."
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		params[k] = v
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[k] == "" {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return authorization{}, strings.Join(missing, " ") + " Authorization=" + algorithm
	}
	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 || scope[1] == "" || len(scope[1]) != 8 {
		return authorization{}, "Authorization header has a malformed 'Credential' parameter; expected ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request."
	}
	return authorization{
		accessKeyID:   scope[0],
		date:          scope[1],
		region:        scope[2],
		service:       scope[3],
		terminator:    scope[4],
		signedHeaders: strings.Split(params["SignedHeaders"], ";"),
		signature:     params["Signature"],
	}, ""
}

// expectedSignature signs again, with the aws/signer/v4 the SDK signs with,
// a copy of r that holds exactly the headers r says it signed. The copy keeps
// r's escaped path: the SDK signs URL-encoded path segments (an ARN), which
// the decoded path would not reproduce.
func (v *Verifier) expectedSignature(r *http.Request, a authorization, payloadHash string, bodyLen int64, signedAt time.Time) (string, error) {
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	if r.TLS != nil {
		u.Scheme = "https"
	}
	req := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	for _, name := range a.signedHeaders {
		switch name {
		case "host": // the signer always signs req.Host
		case "content-length": // the signer signs req.ContentLength
			req.ContentLength = bodyLen
		default:
			if values := r.Header.Values(name); len(values) > 0 {
				req.Header[http.CanonicalHeaderKey(name)] = values
			}
		}
	}
	if err := v.signer.SignHTTP(r.Context(), v.creds, req, payloadHash, v.service, v.region, signedAt); err != nil {
		return "", err
	}
	_, sig, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	return sig, nil
}
