package gateway

import (
	"cmp"
	"crypto/subtle"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/web"
)

// routes lists every route the gateway serves.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.Handler) { mux.Handle(pattern, route(pattern, h)) }
	handle("POST /{$}", s.withAuth(s.handleInvoke(defaultAgent)))
	handle("GET /{$}", s.withAuth(s.handleInvoke(defaultAgent)))
	handle("POST /agents/{name}/invocations", s.withAuth(s.handleInvoke(namedAgent)))
	handle("POST /v1/chat/completions", withOpenAIErrors(s.withAuth(s.handleChatCompletions())))
	handle("GET /v1/models", withOpenAIErrors(s.withAuth(s.handleModels())))
	handle("GET /v1/models/{id}", withOpenAIErrors(s.withAuth(s.handleModel())))
	handle("POST /v1/responses", withOpenAIErrors(s.withAuth(s.handleResponses())))
	handle("POST /ui/agents/{name}", s.withAuth(s.handleUIChat(namedAgent)))
	handle("GET /ui/agents/{name}/{id}/stream", s.withAuth(s.handleResume(namedAgent, s.derivedSession(session.ScopeChat), true)))
	handle("POST /api/chat", s.withAuth(s.handleUIChat(defaultAgent)))
	handle("GET /api/chat/{id}/stream", s.withAuth(s.handleResume(defaultAgent, s.derivedSession(session.ScopeChat), true)))
	handle("POST /agui", s.withAuth(s.handleAGUI(defaultAgent)))
	handle("GET /agui/{id}/stream", s.withAuth(s.handleResume(defaultAgent, s.derivedSession(session.ScopeAGUI), false)))
	handle("POST /agui/agents/{name}", s.withAuth(s.handleAGUI(namedAgent)))
	handle("GET /agui/agents/{name}/{id}/stream", s.withAuth(s.handleResume(namedAgent, s.derivedSession(session.ScopeAGUI), false)))
	handle("GET /agents", s.withAuth(s.handleAgents()))
	handle("DELETE /sessions/{id}", s.withAuth(s.handleStopSession(defaultAgent)))
	handle("DELETE /agents/{name}/sessions/{id}", s.withAuth(s.handleStopSession(namedAgent)))
	handle("GET /sessions/{id}/stream", s.withAuth(s.handleResume(defaultAgent, s.pathSession, false)))
	handle("GET /agents/{name}/sessions/{id}/stream", s.withAuth(s.handleResume(namedAgent, s.pathSession, false)))
	handle("POST /sessions/{id}/stop", s.withAuth(s.handleStopTurn(defaultAgent)))
	handle("POST /agents/{name}/sessions/{id}/stop", s.withAuth(s.handleStopTurn(namedAgent)))
	if s.opts.Login != nil {
		handle("POST /auth/login", s.handleLogin())
		handle("POST /auth/logout", s.handleLogout())
	}
	handle("GET /healthz", handleHealthz())
	handle("GET /readyz", s.handleReadyz())
	if s.opts.MetricsHandler != nil {
		handle("GET /metrics", s.withMetricsToken(s.opts.MetricsHandler))
	}
	if s.opts.Chat {
		page := web.Handler()
		for _, p := range web.Paths() {
			handle("GET "+p, page)
		}
	}
	mux.Handle("/", s.handleNoRoute())
	return s.withRequestID(s.withObserve(s.withRequestBounds(s.withOriginLock(s.withEdgeCredentials(s.withCORS(s.withNetwork(s.withCleanPath(withoutAgentHeaders(mux)))))))))
}

// handleNoRoute answers what no route matched: 405 on a known path, else 404.
func (s *Server) handleNoRoute() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		getOnly := p == "/healthz" || p == "/readyz" || (p == "/metrics" && s.opts.MetricsHandler != nil) ||
			(s.opts.Chat && slices.Contains(web.Paths(), p))
		allow := cmp.Or(uiAllow(p), aguiAllow(p))
		if p == "/" || isInvocationsPath(p) || getOnly {
			allow = "GET, POST"
			if p != "/" {
				allow = "POST"
			}
			if getOnly {
				allow = "GET"
			}
		}
		if allow != "" {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
				Message: "method " + r.Method + " is not allowed here; use " + allow})
			return
		}
		s.writeError(w, r, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such route"})
	})
}

// isInvocationsPath reports whether p, escaped, has the shape of an
// agent's invoke route: /agents/NAME/invocations.
func isInvocationsPath(p string) bool {
	name, ok := strings.CutPrefix(p, "/agents/")
	name, ok2 := strings.CutSuffix(name, "/invocations")
	return ok && ok2 && name != "" && !strings.Contains(name, "/")
}

// withCleanPath answers a path with dot segments or doubled slashes with
// the gateway's own 404: ServeMux would redirect it to the cleaned path,
// outside writeError, and a client following a 307 re-sends its prompt
// to another route.
func (s *Server) withCleanPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.EscapedPath(); strings.HasPrefix(p, "/") && path.Clean(p) != p && p != "/" {
			s.writeError(w, r, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such route"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withMetricsToken admits only callers that send the metrics token as a
// bearer credential, when one is configured.
func (s *Server) withMetricsToken(next http.Handler) http.Handler {
	if s.opts.MetricsToken == "" {
		return next
	}
	want := []byte("Bearer " + s.opts.MetricsToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="agentgate metrics"`)
			s.writeError(w, r, &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "metrics need the metrics token as a bearer credential"})
			return
		}
		next.ServeHTTP(w, r)
	})
}
