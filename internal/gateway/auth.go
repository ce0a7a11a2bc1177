package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/identity"
)

// principal returns the authenticated caller of ctx.
func principal(ctx context.Context) auth.Principal { return state(ctx).principal }

// clientIP is the caller's address, as withNetwork resolved it.
func clientIP(r *http.Request) string { return state(r.Context()).clientIP }

// withAuth admits authenticated callers only and puts the principal on the
// request's context.
func (s *Server) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := auth.WithClientIP(r.Context(), clientIP(r))
		p, err := s.opts.Auth.Authenticate(r.WithContext(ctx))
		if err != nil {
			s.fail(w, r, nil, "", err)
			return
		}
		state(ctx).principal = p
		if byCookie(r, p) {
			if aerr := s.checkCookieRequest(r); aerr != nil {
				s.writeError(w, r, aerr)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// byCookie reports whether p signed in with the login cookie: a password
// principal whose request carries no Authorization header, which is where
// its other credentials (a bearer token, Basic) would be.
func byCookie(r *http.Request, p auth.Principal) bool {
	return p.Method == "password" && r.Header.Get("Authorization") == ""
}

// checkCookieRequest is the defence against cross-site request forgery
// beyond SameSite: a browser sends the login cookie with whatever request
// a page anywhere makes, so a request it authenticates must come from the
// gateway's own pages or a configured CORS origin, and never be a GET
// invocation (an image or a link can make one). Sec-Fetch-Site, which
// only the browser writes, decides when it is there; else Origin must be
// the gateway's own or a configured one; a request with neither is
// refused. Requests with header credentials need none of this: no page
// can make a browser add them.
func (s *Server) checkCookieRequest(r *http.Request) *apiError {
	refuse := &apiError{Status: http.StatusForbidden, Code: "cross_site_request",
		Message: "a request signed in with the login cookie must come from the gateway's own pages or a configured CORS origin; other callers send a token in the Authorization header"}
	if r.Method == http.MethodGet && state(r.Context()).route == "GET /{$}" {
		return &apiError{Status: http.StatusForbidden, Code: "cross_site_request",
			Message: "an invocation signed in with the login cookie must be a POST; GET invocations need a token in the Authorization header"}
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil // reads: CORS keeps their answers from other origins
	}
	origin := r.Header.Get("Origin")
	configured := origin != "" && slices.Contains(s.opts.Network.CORSOrigins, origin)
	switch site := r.Header.Get("Sec-Fetch-Site"); {
	case site == "same-origin" || configured:
		return nil
	case site != "":
		return refuse
	case origin == "":
		return refuse
	}
	if u, err := url.Parse(r.Header.Get("Origin")); err == nil && u.Host != "" && u.Host == r.Host {
		return nil
	}
	return refuse
}

// challenge tells a caller refused with 401 (code) how to authenticate.
// Unknown users and wrong secrets read alike.
func (s *Server) challenge(w http.ResponseWriter, r *http.Request, code string) {
	if code != "unauthenticated" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="agentgate", error="invalid_token"`)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="agentgate"`)
	if s.opts.Login != nil && !fromScript(r) {
		w.Header().Add("WWW-Authenticate", `Basic realm="agentgate", charset="UTF-8"`)
	}
}

// fromScript reports whether a browser sent r for a script (fetch, XHR)
// rather than for a navigation. Scripts get no Basic challenge: a browser
// answers one with its own sign-in dialog, over the chat page's form, and
// a headless one waits on it for ever.
func fromScript(r *http.Request) bool {
	mode := r.Header.Get("Sec-Fetch-Mode")
	return mode != "" && mode != "navigate"
}

// withOriginLock refuses requests that lack the edge's secret header (the
// secret, or a previous one during a rotation), so callers cannot skip
// CloudFront and its WAF, and notes on the request's state that it passed.
// Health probes stay open.
func (s *Server) withOriginLock(next http.Handler) http.Handler {
	if s.opts.OriginSecret == "" {
		return next
	}
	secrets := [][]byte{[]byte(s.opts.OriginSecret)}
	for _, p := range s.opts.PreviousOriginSecrets {
		secrets = append(secrets, []byte(p))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get(s.opts.OriginHeader))
		switch {
		case matchesAny(got, secrets):
			state(r.Context()).passedLock = true
		case !isProbe(r.URL.Path):
			s.writeError(w, r, &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "requests must come through the gateway's public endpoint"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// matchesAny reports whether got is one of secrets, comparing with each in
// constant time.
func matchesAny(got []byte, secrets [][]byte) bool {
	match := 0
	for _, secret := range secrets {
		match |= subtle.ConstantTimeCompare(got, secret)
	}
	return match == 1
}

type edgeSignedKey struct{}

// WithEdgeSigned marks a request that its transport has verified as signed
// by the edge, the signature in its Authorization header: a Lambda function
// URL with AWS_IAM auth, which only the distribution's Origin Access Control
// may call. The gateway then never reads that Authorization as a
// credential, and takes the viewer's from EdgeAuthorizationHeader.
func WithEdgeSigned(ctx context.Context) context.Context {
	return context.WithValue(ctx, edgeSignedKey{}, true)
}

func edgeSigned(ctx context.Context) bool {
	signed, _ := ctx.Value(edgeSignedKey{}).(bool)
	return signed
}

// withEdgeCredentials puts the viewer's credentials in Authorization, where
// authentication, sign-out and the metrics token read them. Behind Origin
// Access Control, which writes its own signature there, the edge carries
// the viewer's Authorization in EdgeAuthorizationHeader; any client can
// send that header too, so it counts only from a sender the gateway
// trusts:
//
//   - A request the transport verified as signed by the edge
//     (WithEdgeSigned): the copy, when there is one, replaces
//     Authorization, and Authorization, the edge's signature, is dropped
//     in any case.
//   - A request that passed the origin lock: the copy, when there is one,
//     replaces Authorization; without one, Authorization stays, for proxies
//     that forward it as the viewer sent it.
//
// Anywhere else the copy is dropped unread and Authorization stays. The
// edge's packing of the browser's fetch metadata (EdgeFetchHeader) counts
// only from the same senders, and is dropped unread elsewhere.
func (s *Server) withEdgeCredentials(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		signed := edgeSigned(r.Context())
		if !signed && len(r.Header.Values(EdgeAuthorizationHeader)) == 0 && len(r.Header.Values(EdgeFetchHeader)) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		viewer, fetch := r.Header.Get(EdgeAuthorizationHeader), r.Header.Get(EdgeFetchHeader)
		trusted := signed || state(r.Context()).passedLock
		// A handler leaves the request it was given as it is: the rest of
		// the chain gets a copy with headers of its own.
		r = r.WithContext(r.Context())
		r.Header = r.Header.Clone()
		r.Header.Del(EdgeAuthorizationHeader)
		r.Header.Del(EdgeFetchHeader)
		if signed {
			r.Header.Del("Authorization")
		}
		if viewer != "" && trusted {
			r.Header.Set("Authorization", viewer)
		}
		if fetch != "" && trusted {
			unpackFetch(r.Header, fetch)
		}
		next.ServeHTTP(w, r)
	})
}

// withoutAgentHeaders drops every AgentCore custom header the client sent
// (X-Amzn-Bedrock-AgentCore-Runtime-Custom-*): an agent takes them as the
// gateway's word about who is asking, and the gateway writes them from
// verified credentials only (identityHeaders). Upstream requests are built
// afresh and copy no client header; with this, no handler can even read a
// client's copy and take it for the gateway's.
func withoutAgentHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for name := range r.Header {
			if identity.IsCustom(name) {
				r = r.WithContext(r.Context())
				r.Header = r.Header.Clone()
				maps.DeleteFunc(r.Header, func(name string, _ []string) bool { return identity.IsCustom(name) })
				break
			}
		}
		next.ServeHTTP(w, r)
	})
}

// fetchHeaders are the browser's request headers the edge packs into
// EdgeFetchHeader: the origin request policy forwards at most ten headers,
// and these four tell the gateway what kind of request a browser made (a
// script's or a navigation, from which site, a CORS preflight for what).
var fetchHeaders = []string{"Sec-Fetch-Site", "Sec-Fetch-Mode", "Access-Control-Request-Method", "Access-Control-Request-Headers"}

// unpackFetch sets each of fetchHeaders that packed (a URL-encoded form,
// as deploy/edge/viewer-request.js writes it) names and h lacks.
func unpackFetch(h http.Header, packed string) {
	values, err := url.ParseQuery(packed)
	if err != nil {
		return
	}
	for _, name := range fetchHeaders {
		if v := values.Get(strings.ToLower(name)); v != "" && h.Get(name) == "" {
			h.Set(name, v)
		}
	}
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// handleLogin exchanges a username and password for a short-lived token,
// also set as an HttpOnly cookie for the chat page.
func (s *Server) handleLogin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, aerr := s.readBody(w, r, 16<<10)
		if aerr != nil {
			s.writeError(w, r, aerr)
			return
		}
		var req loginRequest
		if err := json.Unmarshal(body, &req); err != nil || req.Username == "" || req.Password == "" {
			s.writeError(w, r, badRequest(`send {"username": "...", "password": "..."} as JSON`))
			return
		}
		token, expires, err := s.opts.Login.Login(req.Username, req.Password, clientIP(r))
		if err != nil {
			s.fail(w, r, nil, "", err)
			return
		}
		state(r.Context()).principal = auth.Principal{ID: "user:" + req.Username, Method: "password"}
		http.SetCookie(w, s.opts.Login.Cookie(token, expires))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expiresAt"`
		}{token, expires.UTC()})
	})
}

// handleLogout clears the login cookie and revokes the login token the
// request carries (bearer or cookie), on every instance that shares the
// limits store, until it would have expired. A request with no token, or
// one that is no longer valid, has nothing to revoke and is answered the
// same. When the revocation cannot be recorded the answer is 503: the
// caller must know the token still works.
func (s *Server) handleLogout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, s.opts.Login.ClearCookie())
		if err := s.opts.Login.Logout(r); errors.Is(err, auth.ErrUnavailable) {
			s.log.Error("revoking a login token failed", "id", requestID(r.Context()), "error", err.Error())
			s.writeError(w, r, &apiError{Status: http.StatusServiceUnavailable, Code: "logout_unavailable",
				Message: "the sign-out could not be recorded, so the token still works; retry", RetryAfter: 5 * time.Second})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
