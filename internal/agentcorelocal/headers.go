package agentcorelocal

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
)

// Which request headers reach the agent container, after AgentCore's
// developer guide, "Pass custom headers to Amazon Bedrock AgentCore
// Runtime" (runtime-header-allowlist), and the control plane's
// RequestHeaderConfiguration:
//
//   - a runtime passes on only the headers in its requestHeaderAllowlist,
//     which holds 1 to 20 names of the pattern [A-Za-z][A-Za-z0-9_-]{0,255};
//     with none configured, none pass (the CDK's "Default: No request
//     headers allowed");
//   - a name may be any valid header name outside the restricted list
//     below; names starting x-amz- are reserved for SigV4 signing, and
//     names starting x-amzn- are refused except the legacy prefix
//     X-Amzn-Bedrock-AgentCore-Runtime-Custom-; names compare without case;
//   - Authorization may be listed only by a runtime with a
//     customJWTAuthorizer, which the emulator, SigV4 only, does not emulate;
//   - a header value passes only if it is not greater than 4 KB.
//
// Besides those, the agent gets the data plane's own headers
// (forwardedRequestHeaders), as the service contract has it.
const (
	maxAllowlistedHeaders = 20
	maxHeaderValueBytes   = 4 << 10
	customHeaderPrefix    = "x-amzn-bedrock-agentcore-runtime-custom-"
)

var headerNamePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,255}$`) })

// restrictedHeaders may not be allow-listed: the guide's restricted headers,
// by its categories, lower-cased.
var restrictedHeaders = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, group := range []string{
		// Authentication and authorization
		"Proxy-Authorization WWW-Authenticate",
		// Content negotiation
		"Accept Accept-Charset Accept-Encoding Accept-Language Content-Type Content-Length Content-Encoding Content-Language Content-Location Content-Range",
		// Caching
		"Cache-Control ETag Expires If-Match If-Modified-Since If-None-Match If-Range If-Unmodified-Since Last-Modified Pragma Vary",
		// Connection management
		"Connection Keep-Alive Proxy-Connection Upgrade",
		// Request context
		"Host User-Agent Referer From",
		// Range and transfer
		"Range Accept-Ranges Transfer-Encoding TE Trailer",
		// Server information
		"Server Date Location Retry-After",
		// Cookies
		"Set-Cookie Cookie",
		// Security
		"Content-Security-Policy Content-Security-Policy-Report-Only Strict-Transport-Security X-Content-Type-Options X-Frame-Options X-XSS-Protection Referrer-Policy Permissions-Policy Cross-Origin-Embedder-Policy Cross-Origin-Opener-Policy Cross-Origin-Resource-Policy",
		// CORS
		"Access-Control-Allow-Origin Access-Control-Allow-Methods Access-Control-Allow-Headers Access-Control-Allow-Credentials Access-Control-Expose-Headers Access-Control-Max-Age Access-Control-Request-Method Access-Control-Request-Headers Origin",
		// Client hints
		"Accept-CH Accept-CH-Lifetime DPR Width Viewport-Width Downlink ECT RTT Save-Data",
		// Experimental and proposed
		"Clear-Site-Data Feature-Policy Expect-CT Public-Key-Pins Public-Key-Pins-Report-Only",
		// Proxies
		"Via Forwarded X-Forwarded-For X-Forwarded-Host X-Forwarded-Proto X-Real-IP X-Requested-With X-CSRF-Token",
		// IP spoofing and URL manipulation
		"True-Client-IP X-Client-IP X-Cluster-Client-IP X-Originating-IP X-Source-IP X-Original-URL X-Original-Host X-Rewrite-URL",
		// CDNs
		"CF-Ray CF-Connecting-IP X-Amz-Cf-Id X-Cache X-Served-By",
		// Server push and WebSocket
		"Link Sec-WebSocket-Key Sec-WebSocket-Accept Sec-WebSocket-Version Sec-WebSocket-Protocol Sec-WebSocket-Extensions",
	} {
		for _, name := range strings.Fields(group) {
			m[strings.ToLower(name)] = true
		}
	}
	return m
})

// allowlistProblems returns what is wrong with a runtime's header
// allow-list, one error per bad entry, each starting with its field name.
func allowlistProblems(allow []string) []error {
	var problems []error
	bad := func(field, format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if len(allow) > maxAllowlistedHeaders {
		bad("headerAllowlist", "%d headers; AgentCore allows at most %d per runtime", len(allow), maxAllowlistedHeaders)
	}
	seen := map[string]bool{}
	for i, name := range allow {
		field := fmt.Sprintf("headerAllowlist[%d]", i)
		lower := strings.ToLower(name)
		switch {
		case !headerNamePattern().MatchString(name):
			bad(field, "%q is not a header name AgentCore accepts ([A-Za-z][A-Za-z0-9_-]{0,255})", name)
		case lower == "authorization":
			bad(field, "Authorization reaches an agent only on a runtime with a JWT authorizer, which the emulator does not emulate")
		case restrictedHeaders()[lower]:
			bad(field, "%s is one of AgentCore's restricted headers", name)
		case strings.HasPrefix(lower, "x-amz-"):
			bad(field, "%s: headers starting x-amz- are reserved for SigV4", name)
		case strings.HasPrefix(lower, "x-amzn-") && !strings.HasPrefix(lower, customHeaderPrefix):
			bad(field, "%s: headers starting x-amzn- are refused, except X-Amzn-Bedrock-AgentCore-Runtime-Custom-*", name)
		case seen[lower]:
			bad(field, "%s is listed twice (names compare without case)", name)
		}
		seen[lower] = true
	}
	return problems
}

// copyAllowlisted copies to the agent's request the caller's headers that
// the runtime allow-lists, each value only if it is within 4 KB. A header
// the data plane already forwards (traceparent, say) is not added twice.
func copyAllowlisted(dst, src http.Header, allow []string) {
	for _, name := range allow {
		if _, done := dst[http.CanonicalHeaderKey(name)]; done || strings.EqualFold(name, FaultHeader) {
			continue
		}
		for _, v := range src.Values(name) {
			if len(v) <= maxHeaderValueBytes {
				dst.Add(name, v)
			}
		}
	}
}
