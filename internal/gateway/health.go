package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/upstream"
)

// Readiness bounds: a check waits at most readyTimeout for the upstreams,
// and its verdict stands for readyCache, so probes from many load
// balancers cost the upstream one request per interval.
const (
	readyTimeout = 2 * time.Second
	readyCache   = 5 * time.Second
)

// isProbe reports whether p is a health probe's path. Probes come from
// load balancers and orchestrators, not through the edge: origin lock and
// address rules do not apply to them.
func isProbe(p string) bool { return p == "/healthz" || p == "/readyz" }

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
}

// readiness caches the verdict of the last upstream check.
type readiness struct {
	mu      sync.Mutex // held during a check: concurrent probes share it
	checked time.Time
	ok      bool
}

// handleReadyz answers 200 when the configuration is loaded (it is, or the
// gateway would not run) and every agent's upstream answered a cheap
// request within readyTimeout; 503 otherwise. Which upstream failed and
// why goes to the log only.
func (s *Server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.ready(r.Context()) {
			s.writeError(w, r, &apiError{Status: http.StatusServiceUnavailable, Code: "not_ready",
				Message: "an upstream agent cannot be reached", RetryAfter: readyCache})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	})
}

func (s *Server) ready(ctx context.Context) bool {
	rd := &s.readiness
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.checked.IsZero() && time.Since(rd.checked) < readyCache {
		return rd.ok
	}
	// The verdict is shared: one caller going away must not decide it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	var wg sync.WaitGroup
	failed := make(chan struct{}, len(s.opts.Agents))
	for name, inv := range s.opts.Agents {
		c, ok := inv.(upstream.Checker)
		if !ok {
			continue
		}
		wg.Go(func() {
			if err := c.Check(ctx); err != nil {
				s.logUpstream(ctx, name, "readiness check failed", err)
				failed <- struct{}{}
			}
		})
	}
	wg.Wait()
	rd.ok, rd.checked = len(failed) == 0, time.Now()
	return rd.ok
}
