package gateway

import "net/http"

// handleAgents serves GET /agents: the agents the caller may use.
func (s *Server) handleAgents() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		type agent struct {
			Name    string `json:"name"`
			Default bool   `json:"default"`
		}
		out := struct {
			Agents []agent `json:"agents"`
		}{Agents: []agent{}}
		for _, name := range s.agentsFor(principal(r.Context())) {
			out.Agents = append(out.Agents, agent{Name: name, Default: name == s.opts.DefaultAgent})
		}
		writeJSON(w, out)
	})
}
