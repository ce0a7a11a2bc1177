package agent

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// The agent's local control call, which only the local AgentCore emulator
// (internal/agentcorelocal) makes:
//
//	POST /local/sessions/{runtime session id}/end
//
// In AgentCore a runtime session lives in a microVM of its own, and
// StopRuntimeSession, the idle timeout and the maximum lifetime end it by
// ending the microVM, and with it everything the agent held in memory for
// the session. The emulator runs one agent server for every session, so it
// stands in for the microVM's end with this call: the server forgets the
// session's conversation, and the next invocation with the same id starts
// afresh. It answers 204 whether or not it held the session. It is no part
// of the AgentCore service contract, and is accepted from loopback only: in
// a microVM, only the agent's own machine can reach it.
const localSessionsPrefix = "/local/sessions/"

// sessionEndPath reports whether r is the local control call, and the
// session id it names.
func sessionEndPath(r *http.Request) (string, bool) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), localSessionsPrefix)
	if !ok {
		return "", false
	}
	escaped, ok := strings.CutSuffix(rest, "/end")
	if !ok || escaped == "" || strings.Contains(escaped, "/") {
		return "", false
	}
	id, err := url.PathUnescape(escaped)
	if err != nil || id == "" {
		return "", false
	}
	return id, true
}

// endSession runs the local control call.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !fromLoopback(r) {
		writeError(w, http.StatusForbidden, "the local control calls are accepted from loopback only")
		return
	}
	if len(id) > maxSessionIDLen {
		writeError(w, http.StatusBadRequest, "session id too long")
		return
	}
	dropped := s.sessions.drop(id)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "session ended", slog.String("session", truncateID(id)), slog.Bool("held", dropped))
	w.WriteHeader(http.StatusNoContent)
}

// fromLoopback reports whether r came from this machine's loopback.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
