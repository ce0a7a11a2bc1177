package gateway

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Network holds the address rules and CORS origins.
type Network struct {
	// Allow, when not empty, admits only these clients.
	Allow []netip.Prefix
	// Deny refuses these clients; it wins over Allow.
	Deny []netip.Prefix
	// TrustedProxies may name the client in X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// CloudFrontProxies may name the client in CloudFront-Viewer-Address.
	// It is a list of its own because any client can send the header: only
	// a peer that is CloudFront (which overwrites it) may be believed, and
	// a trusted proxy of another kind passes the client's own value on.
	CloudFrontProxies []netip.Prefix
	// CORSOrigins may call from browser pages; "*" allows any origin
	// (without credentials).
	CORSOrigins []string
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
}

// clientAddr finds the caller's address. CloudFront-Viewer-Address counts
// only from a CloudFront proxy, X-Forwarded-For only from a trusted proxy.
// In X-Forwarded-For the client is the right-most address that is not
// itself a trusted proxy, since anything to its left was written by the
// client. A hop there that is not an address (unknown, garbage) is where
// the chain stops being believable: the client is then unknown, never the
// proxy that sent it, which would lend it the proxy's standing. A hop
// with a port (1.2.3.4:5555, [2001:db8::1]:443) is read as its address.
func (n *Network) clientAddr(r *http.Request) (addr netip.Addr, known bool) {
	peer := peerAddr(r)
	if !peer.IsValid() {
		return peer, false
	}
	if contains(n.CloudFrontProxies, peer) {
		if a, ok := viewerAddr(r.Header.Get("CloudFront-Viewer-Address")); ok {
			return a, true
		}
	}
	if !contains(n.TrustedProxies, peer) {
		return peer, true
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	if len(hops) == 1 && strings.TrimSpace(hops[0]) == "" {
		return peer, true // the proxy forwarded nothing: it is the client
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := hopAddr(strings.TrimSpace(hops[i]))
		if !ok {
			return netip.Addr{}, false
		}
		if !contains(n.TrustedProxies, a) {
			return a, true
		}
	}
	return peer, true // every hop is a trusted proxy
}

// viewerAddr reads CloudFront-Viewer-Address: ip:port, with IPv6 in its
// plain form (2001:db8::1:443).
func viewerAddr(v string) (netip.Addr, bool) {
	i := strings.LastIndexByte(v, ':')
	if i <= 0 {
		return netip.Addr{}, false
	}
	if _, err := strconv.Atoi(v[i+1:]); err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(v[:i])
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// hopAddr reads one X-Forwarded-For hop: an address, or an address and a
// port as some proxies write them.
func hopAddr(h string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// withNetwork resolves the client's address and applies the allow and
// deny lists before anything else is spent on the request.
func (s *Server) withNetwork(next http.Handler) http.Handler {
	n := &s.opts.Network
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, known := n.clientAddr(r)
		ip := a.String()
		if !known {
			// Every unknown client shares one name, so per-address limits
			// (sign-in failures) hold them all to one allowance.
			ip = "unknown"
		}
		state(r.Context()).clientIP = ip
		if !isProbe(r.URL.Path) && (contains(n.Deny, a) || (len(n.Allow) > 0 && !contains(n.Allow, a))) {
			s.writeError(w, r, &apiError{Status: http.StatusForbidden, Code: "ip_forbidden", Message: "requests from this address are not allowed"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withCORS answers preflights and marks responses for configured origins
// only; other origins get no CORS headers, so browsers refuse them. Behind
// the edge a preflight's headers arrive packed in EdgeFetchHeader, which
// withEdgeCredentials unpacks before this runs.
func (s *Server) withCORS(next http.Handler) http.Handler {
	origins := s.opts.Network.CORSOrigins
	if len(origins) == 0 {
		return next
	}
	anyOrigin := slices.Contains(origins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		allowed := slices.Contains(origins, origin)
		if allowed || anyOrigin {
			if allowed {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
			} else {
				h.Set("Access-Control-Allow-Origin", "*")
			}
			h.Set("Access-Control-Expose-Headers", SessionHeader+", "+RequestIDHeader+", Retry-After")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed && !anyOrigin {
				s.writeError(w, r, &apiError{Status: http.StatusForbidden, Code: "cors_forbidden", Message: "this origin may not call the gateway"})
				return
			}
			h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			if allow := allowHeaders(r.Header.Values("Access-Control-Request-Headers")); allow != "" {
				h.Set("Access-Control-Allow-Headers", allow)
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// defaultAllowHeaders answers a preflight that names no headers.
const defaultAllowHeaders = "Authorization, Content-Type, X-Api-Key, " + SessionHeader + ", Traceparent, Tracestate"

// deniedRequestHeaders are never allowed to a page: the ones that would
// let a script pose as the browser (Cookie, Host) or meddle with the
// connection (the hop-by-hop headers of RFC 9110 and their older kin).
var deniedRequestHeaders = []string{"cookie", "host", "connection", "keep-alive", "proxy-authenticate",
	"proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}

// maxAllowHeaders bounds the names a preflight is allowed, and so the
// work of allowing them: browsers ask for a handful.
const maxAllowHeaders = 64

// allowHeaders answers a preflight's Access-Control-Request-Headers: the
// headers it names, but the denied ones and any that is not a header name,
// so that a client library's own headers (the OpenAI SDK's X-Stainless-*,
// a tracing header) pass without a list to keep up to date. A preflight
// that names none gets the headers agentgate reads.
func allowHeaders(requested []string) string {
	if len(requested) == 0 {
		return defaultAllowHeaders
	}
	var allow []string
	for _, v := range requested {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "" && isToken(name) && !slices.Contains(deniedRequestHeaders, name) && !slices.Contains(allow, name) {
				allow = append(allow, name)
			}
			if len(allow) == maxAllowHeaders {
				return strings.Join(allow, ", ")
			}
		}
	}
	return strings.Join(allow, ", ")
}

// isToken reports whether s is an HTTP token (RFC 9110, 5.6.2), the shape
// of a header name.
func isToken(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
