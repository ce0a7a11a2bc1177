package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/model"
	"github.com/agentgate/agentgate/internal/telemetry"
)

// SessionHeader carries the AgentCore runtime session id on requests and is
// echoed on responses.
const SessionHeader = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"

// maxSessionIDLen is AgentCore's own upper bound on a runtime session id; a
// longer one cannot come from the platform, and keeping it would let one
// header grow every session's memory.
const maxSessionIDLen = 256

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxMessages  = 40
	DefaultIdleTimeout  = 15 * time.Minute
	DefaultMaxSessions  = 10000
	DefaultMaxBodyBytes = 1 << 20
)

// Config is the whole configuration of a Server. Zero fields take the
// documented defaults.
type Config struct {
	// Provider streams the model's replies. Required.
	Provider model.Provider
	// System is an optional system prompt passed to the provider.
	System string
	// MaxMessages is how many messages (user and assistant) a session keeps;
	// the oldest exchanges are dropped first. Default 40; at least 2.
	MaxMessages int
	// IdleTimeout is how long a session's history survives unused.
	// Default 15m, AgentCore's own idle timeout.
	IdleTimeout time.Duration
	// MaxSessions bounds the sessions kept; when full, the least recently
	// used idle session is evicted. Default 10000.
	MaxSessions int
	// MaxBodyBytes bounds an invocation's body; larger bodies get 413.
	// Default 1 MiB.
	MaxBodyBytes int64
	// Logger receives one line per invocation. Nil discards.
	Logger *slog.Logger
	// Metrics, when set, counts every invocation.
	Metrics *telemetry.Agent
	// MetricsHandler, when set, is served at GET /metrics.
	MetricsHandler http.Handler
	// Now is the clock for expiry, ping times and latency. Nil: time.Now.
	Now func() time.Time
}

// Server is an http.Handler that follows the AgentCore Runtime service
// contract. Create it with New.
type Server struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions

	// mu guards the ping state: the contract wants time_of_last_update to
	// move only when the status changes, so the count alone is not enough.
	mu           sync.Mutex
	active       int
	statusChange time.Time
}

// New validates cfg, applies its defaults and returns a Server. Its error
// names every bad field.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Server{
		cfg: cfg,
		log: cfg.Logger,
		now: cfg.Now,
	}
	s.sessions = newSessions(cfg.MaxSessions, cfg.MaxMessages, cfg.IdleTimeout, cfg.Now)
	s.statusChange = s.now()
	return s, nil
}

func (c *Config) validate() error {
	var errs []error
	if c.Provider == nil {
		errs = append(errs, errors.New("agent: Config.Provider is required"))
	}
	if c.MaxMessages < 0 || c.MaxMessages == 1 {
		errs = append(errs, fmt.Errorf("agent: Config.MaxMessages is %d; want 0 (default %d) or at least 2, one exchange", c.MaxMessages, DefaultMaxMessages))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("agent: Config.IdleTimeout is %v; want 0 (default %v) or more", c.IdleTimeout, DefaultIdleTimeout))
	}
	if c.MaxSessions < 0 {
		errs = append(errs, fmt.Errorf("agent: Config.MaxSessions is %d; want 0 (default %d) or more", c.MaxSessions, DefaultMaxSessions))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("agent: Config.MaxBodyBytes is %d; want 0 (default %d) or more", c.MaxBodyBytes, DefaultMaxBodyBytes))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.MaxMessages == 0 {
		c.MaxMessages = DefaultMaxMessages
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Metrics returns the server's collectors, nil when it has none.
func (s *Server) Metrics() *telemetry.Agent { return s.cfg.Metrics }

// ServeHTTP routes the contract's two endpoints. Every other path or method
// gets a JSON error, like every other failure before a stream starts.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ping":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		s.ping(w, r)
	case "/metrics":
		if s.cfg.MetricsHandler == nil {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		s.cfg.MetricsHandler.ServeHTTP(w, r)
	case "/invocations":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		s.invoke(w, r)
	default:
		if id, ok := sessionEndPath(r); ok {
			s.endSession(w, r, id)
			return
		}
		writeError(w, http.StatusNotFound, "not found")
	}
}

// Ping statuses of the service contract.
const (
	statusHealthy = "Healthy"
	statusBusy    = "HealthyBusy"
)

// pingResponse is the contract's answer to GET /ping. AgentCore's guide
// (runtime-long-run): status is required, "Healthy" (idle, waiting for
// requests) or "HealthyBusy" (processing background tasks), and the
// platform uses it to decide whether the session is still active;
// time_of_last_update is optional, the Unix time of the status's last
// change, and must not move on every ping, or the session never goes idle.
type pingResponse struct {
	Status           string `json:"status"`
	TimeOfLastUpdate int64  `json:"time_of_last_update,omitempty"`
}

// ping answers for the whole server, or, when the request names a runtime
// session in the session header, for that session alone. AgentCore pings
// each session's own microVM; the local emulator, whose one agent server
// serves every session, names the session instead, so that one session's
// work does not keep the others from going idle. A session this server
// does not hold is Healthy, with no time of its own.
func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	if id := r.Header.Get(SessionHeader); id != "" {
		busy, since, known := s.sessions.status(id)
		resp := pingResponse{Status: statusHealthy}
		if busy {
			resp.Status = statusBusy
		}
		if known {
			resp.TimeOfLastUpdate = since.Unix()
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	s.mu.Lock()
	resp := pingResponse{Status: statusHealthy, TimeOfLastUpdate: s.statusChange.Unix()}
	if s.active > 0 {
		resp.Status = statusBusy
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// busy marks one invocation in progress and returns the func that ends it.
// Only the transitions between idle and busy move the status time.
func (s *Server) busy() (done func()) {
	s.mu.Lock()
	s.active++
	if s.active == 1 {
		s.statusChange = s.now()
	}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.active--
		if s.active == 0 {
			s.statusChange = s.now()
		}
		s.mu.Unlock()
	}
}

type errorResponse struct {
	Error string `json:"error"`
}

// writeError is the one way a request fails before its stream starts.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorResponse{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only the package's own fixed structs come here.
		panic(fmt.Sprintf("agent: marshal %T: %v", v, err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
