package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/agentgate/agentgate/internal/gateway"
)

// ErrNotURLEvent is returned for an invocation whose event is not a
// function URL request in payload format 2.0.
var ErrNotURLEvent = errors.New("lambda: the event is not a function URL request (payload format 2.0)")

// urlEvent is what agentgate reads of a function URL event, payload format
// 2.0. Headers holds one value per name, repeated ones joined by commas;
// cookies come apart from the headers.
type urlEvent struct {
	Version         string            `json:"version"`
	RawPath         string            `json:"rawPath"`
	RawQueryString  string            `json:"rawQueryString"`
	Cookies         []string          `json:"cookies"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	RequestContext  struct {
		DomainName string `json:"domainName"`
		// Authorizer.IAM is there when the function URL's AWS_IAM auth
		// verified the caller's SigV4 signature.
		Authorizer struct {
			IAM *struct{} `json:"iam"`
		} `json:"authorizer"`
		HTTP struct {
			Method   string `json:"method"`
			Protocol string `json:"protocol"`
			SourceIP string `json:"sourceIp"`
		} `json:"http"`
	} `json:"requestContext"`
}

// newRequest turns a function URL event into the request a handler serves,
// as net/http's server would have read it: RequestURI, Host apart from the
// headers, the caller's address in RemoteAddr, cookies in Cookie. It drops
// Accept-Encoding: nothing in Lambda mode may compress (a compressed
// streamed answer gives intermittent 502s at the function URL).
//
// A request the function URL's AWS_IAM auth verified is marked
// gateway.WithEdgeSigned: its Authorization header is the signature of the
// caller, which only the distribution's Origin Access Control may be (the
// function's resource policy names the distribution), and the viewer's
// own Authorization travels in gateway.EdgeAuthorizationHeader.
func newRequest(ctx context.Context, payload []byte) (*http.Request, error) {
	var ev urlEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotURLEvent, err)
	}
	method := ev.RequestContext.HTTP.Method
	if ev.Version != "2.0" || method == "" || !strings.HasPrefix(ev.RawPath, "/") {
		return nil, ErrNotURLEvent
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, fmt.Errorf("%w: body: %w", ErrNotURLEvent, err)
		}
	}
	target := ev.RawPath
	if ev.RawQueryString != "" {
		target += "?" + ev.RawQueryString
	}
	if ev.RequestContext.Authorizer.IAM != nil {
		ctx = gateway.WithEdgeSigned(ctx)
	}
	host := ev.RequestContext.DomainName
	if h := headerValue(ev.Headers, "host"); h != "" {
		host = h
	}
	r, err := http.NewRequestWithContext(ctx, method, "https://"+host+target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotURLEvent, err)
	}
	r.RequestURI = target
	if p := ev.RequestContext.HTTP.Protocol; p != "" {
		if major, minor, ok := http.ParseHTTPVersion(p); ok {
			r.Proto, r.ProtoMajor, r.ProtoMinor = p, major, minor
		}
	}
	if ip := ev.RequestContext.HTTP.SourceIP; ip != "" {
		r.RemoteAddr = net.JoinHostPort(ip, "0")
	}
	for k, v := range ev.Headers {
		r.Header.Add(k, v)
	}
	r.Header.Del("Host")
	r.Header.Del("Accept-Encoding")
	if len(ev.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	return r, nil
}

// headerValue finds a header whatever the case of its name: function URLs
// send lower case, other callers of the Runtime API may not.
func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
