package agentcorelocal

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"
)

const (
	signingAlgorithm = "AWS4-HMAC-SHA256"
	signingService   = "bedrock-agentcore"
	amzDateFormat    = "20060102T150405Z"
	// maxClockSkew is how far X-Amz-Date may be from the emulator's clock,
	// as at AWS.
	maxClockSkew = 15 * time.Minute
)

// Messages AWS answers signature failures with.
const (
	msgMissingToken  = "Missing Authentication Token"
	msgInvalidToken  = "The security token included in the request is invalid."
	msgSignatureDiff = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

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

// authenticate verifies r's SigV4 signature against the configured key
// pair, region and service. payloadHash is the hex SHA-256 of the body as
// received and bodyLen its length. Every failure is an AccessDeniedException,
// the only authentication error the bedrockagentcore SDK models.
func (s *Server) authenticate(r *http.Request, payloadHash string, bodyLen int64) *apiError {
	header := r.Header.Get("Authorization")
	if header == "" {
		return accessDenied(msgMissingToken)
	}
	a, problem := parseAuthorization(header)
	if problem != "" {
		return accessDenied("%s", problem)
	}
	if a.accessKeyID != s.creds.AccessKeyID || r.Header.Get("X-Amz-Security-Token") != "" {
		return accessDenied(msgInvalidToken)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return accessDenied("Authorization header requires existence of a valid 'X-Amz-Date' header (%s). Authorization=%s", amzDateFormat, signingAlgorithm)
	}
	if apiErr := s.checkScope(a, amzDate, signedAt); apiErr != nil {
		return apiErr
	}
	if !slices.Contains(a.signedHeaders, "host") {
		return accessDenied("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != payloadHash {
		return accessDenied("The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	want, err := s.expectedSignature(r, a, payloadHash, bodyLen, signedAt)
	if err != nil || subtle.ConstantTimeCompare([]byte(want), []byte(a.signature)) != 1 {
		return accessDenied(msgSignatureDiff)
	}
	return nil
}

// checkScope checks the credential scope and the signing time.
func (s *Server) checkScope(a authorization, amzDate string, signedAt time.Time) *apiError {
	switch {
	case a.date != amzDate[:8]:
		return accessDenied("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, amzDate[:8], amzDate)
	case a.region != s.region:
		return accessDenied("Credential should be scoped to a valid region. ")
	case a.service != signingService:
		return accessDenied("Credential should be scoped to correct service: '%s'. ", signingService)
	case a.terminator != "aws4_request":
		return accessDenied("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'. ", a.terminator)
	}
	now := s.now().UTC()
	if signedAt.Before(now.Add(-maxClockSkew)) {
		return accessDenied("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-maxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat))
	}
	if signedAt.After(now.Add(maxClockSkew)) {
		return accessDenied("Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(maxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat))
	}
	return nil
}

// parseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX".
// It returns a message for the caller when the header is malformed.
func parseAuthorization(header string) (authorization, string) {
	alg, rest, _ := strings.Cut(header, " ")
	if alg != signingAlgorithm {
		return authorization{}, "Authorization header must use the " + signingAlgorithm + " algorithm (Signature Version 4)."
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
		return authorization{}, strings.Join(missing, " ") + " Authorization=" + signingAlgorithm
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
// r's escaped path: the SDK signs the URL-encoded ARN segment, which the
// decoded path would not reproduce.
func (s *Server) expectedSignature(r *http.Request, a authorization, payloadHash string, bodyLen int64, signedAt time.Time) (string, error) {
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
	if err := s.signer.SignHTTP(r.Context(), s.creds, req, payloadHash, signingService, s.region, signedAt); err != nil {
		return "", err
	}
	_, sig, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	return sig, nil
}
