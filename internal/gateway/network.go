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
	// TrustedProxies may name the client in X-Forwarded-For or
	// CloudFront-Viewer-Address.
	TrustedProxies []netip.Prefix
	// CORSOrigins may call from browser pages; "*" allows any origin
	// (without credentials).
	CORSOrigins []string
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
}

// clientAddr finds the caller's address. Forwarding headers count only
// when the peer is a trusted proxy; in X-Forwarded-For the client is the
// right-most address that is not itself a trusted proxy, since anything to
// its left was written by the client.
func (n *Network) clientAddr(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if !peer.IsValid() || !contains(n.TrustedProxies, peer) {
		return peer
	}
	if v := r.Header.Get("CloudFront-Viewer-Address"); v != "" {
		// ip:port, with IPv6 in its plain form (2001:db8::1:443).
		if i := strings.LastIndexByte(v, ':'); i > 0 {
			if _, err := strconv.Atoi(v[i+1:]); err == nil {
				if a, err := netip.ParseAddr(v[:i]); err == nil {
					return a.Unmap()
				}
			}
		}
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !contains(n.TrustedProxies, a) {
			return a
		}
	}
	return peer
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
		a := n.clientAddr(r)
		info(r.Context()).clientIP = a.String()
		if !isProbe(r.URL.Path) && (contains(n.Deny, a) || (len(n.Allow) > 0 && !contains(n.Allow, a))) {
			s.writeError(w, r, &apiError{Status: http.StatusForbidden, Code: "ip_forbidden", Message: "requests from this address are not allowed"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withCORS answers preflights and marks responses for configured origins
// only; other origins get no CORS headers, so browsers refuse them.
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
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key, "+SessionHeader+", Traceparent, Tracestate")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
