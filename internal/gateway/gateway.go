// Package gateway is agentgate's public HTTP face: routes, request
// decoding, the invoke flow that relays an agent's stream event by event,
// and the one place where failures become public answers.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/limit"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/sse"
	"github.com/agentgate/agentgate/internal/telemetry"
	"github.com/agentgate/agentgate/internal/upstream"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// SessionHeader carries the runtime session id to and from clients.
const SessionHeader = "X-Agentgate-Session-Id"

// RequestIDHeader carries the request id on every response.
const RequestIDHeader = "X-Request-Id"

// EdgeAuthorizationHeader carries the viewer's Authorization header from
// the edge, whose Origin Access Control overwrites Authorization with its
// own signature. It counts only from a trusted sender (withEdgeCredentials).
const EdgeAuthorizationHeader = "X-Agentgate-Authorization"

// EdgeFetchHeader carries, packed into one header as a URL-encoded form,
// the browser's fetch metadata and CORS preflight headers, which the edge's
// origin request policy has no room to forward one by one. Like
// EdgeAuthorizationHeader it counts only from a trusted sender.
const EdgeFetchHeader = "X-Agentgate-Fetch"

// Options is the gateway's whole configuration.
type Options struct {
	// Agents maps public names to their upstreams.
	Agents map[string]upstream.Invoker
	// DefaultAgent is the name `POST /` invokes.
	DefaultAgent string
	// Access lists, per agent name, the principal ids that may use it;
	// an agent without an entry is open to every authenticated caller.
	// "*" also means everyone.
	Access map[string][]string
	// Sessions issues and checks runtime session ids.
	Sessions *session.Issuer
	// MaxBodyBytes caps a request body.
	MaxBodyBytes int64
	// MaxHeaderBytes caps a request's line and headers (431 past it); 0
	// leaves the bound to the HTTP server.
	MaxHeaderBytes int
	// BodyTimeout bounds the reading of a request body; 10 s when zero.
	// Behind stack's HTTP server, server.readTimeout bounds the whole
	// request too.
	BodyTimeout time.Duration
	// MaxPromptChars caps a prompt, in characters.
	MaxPromptChars int
	// DefaultFormat is used when neither the body nor Accept picks one.
	DefaultFormat format.Name
	// SSE bounds what is accepted from upstream streams.
	SSE sse.Options
	// Auth authenticates callers. It is required: an open gateway says so
	// with auth.None.
	Auth auth.Authenticator
	// Login, when set, serves POST /auth/login and /auth/logout.
	Login *auth.Passwords
	// SendUserID sends the principal upstream as the runtime user id
	// (needs bedrock-agentcore:InvokeAgentRuntimeForUser).
	SendUserID bool
	// ForwardClaims names, per agent, the claims of a JWT caller's token
	// that go to it and the custom header each goes in (claim → header).
	// Every agent is told the caller's principal and its kind in
	// identity.PrincipalHeader and PrincipalKindHeader, whatever the
	// credential; only JWTs have claims.
	ForwardClaims map[string]map[string]string
	// OriginHeader and OriginSecret, when set, refuse requests that lack
	// the secret header: callers that skipped the edge (CloudFront). A
	// request that carries it is the edge's, so its
	// EdgeAuthorizationHeader is the viewer's Authorization.
	OriginHeader, OriginSecret string
	// PreviousOriginSecrets are accepted beside OriginSecret while the edge
	// changes over to it after a rotation.
	PreviousOriginSecrets []string
	// Dialects names, per agent, how its stream is read; an agent without
	// an entry is read as event.Auto.
	Dialects map[string]event.Dialect
	// Heartbeat is the silence after which a stream gets a heartbeat its
	// clients ignore (an SSE comment, an NDJSON ping); 0 sends none.
	Heartbeat time.Duration
	// Network holds address rules and CORS origins.
	Network Network
	// Limiter applies rate limits, stream caps and token budgets; nil
	// applies none.
	Limiter *limit.Limiter
	// LimitFailOpen admits requests when the limiter's store fails.
	LimitFailOpen bool
	// Conversations, when set, keeps which session a chat completion's
	// conversation belongs to, so that clients that never send the session
	// id back still continue their session (conversation.go); nil keeps
	// nothing, and every such request starts a session of its own.
	Conversations ConversationStore
	// ConversationTTL is how long a conversation's session is remembered
	// after its last answer; DefaultConversationTTL when zero.
	ConversationTTL time.Duration
	// FirstByteTimeout, IdleTimeout and TotalTimeout bound each stream:
	// the wait for the first upstream event, the silence between two, and
	// the whole. Zero means no bound.
	FirstByteTimeout, IdleTimeout, TotalTimeout time.Duration
	// Chat serves the embedded chat page at GET /chat.
	Chat bool
	// Logger receives the access log and upstream failures in full.
	Logger *slog.Logger
	// Metrics receives every request's figures; nil records none.
	Metrics telemetry.Recorder
	// MetricsHandler, when set, is served at GET /metrics.
	MetricsHandler http.Handler
	// MetricsToken, when set, is the bearer credential GET /metrics needs.
	MetricsToken string
	// Tracer starts a server span per request; nil traces nothing, and the
	// caller's traceparent still travels upstream unchanged.
	Tracer trace.Tracer

	// Turns, when set, makes turns durable (turn.go): each answer is kept
	// in a turn log there as its client receives it, the turn outlives a
	// client that goes away, and a client resumes it (resume.go). nil ties
	// each turn to its client: a client gone cancels the agent.
	Turns limit.Logs
	// TurnsLocal says Turns is this instance's memory, cheap enough to
	// append to on the stream's own goroutine.
	TurnsLocal bool
	// DetachedTimeout is how long a durable turn runs on after its client
	// left; TurnRetention how long its log is kept after it ends;
	// MaxTurnBytes caps one turn's log, past which a resume ends with an
	// error (the live client is not affected). Zero means the defaults.
	DetachedTimeout, TurnRetention time.Duration
	MaxTurnBytes                   int64
	// StopPoll, when positive, is how often a durable turn asks its log
	// whether a stop for it reached another instance.
	StopPoll time.Duration
	// TurnBatch spaces the appends to a shared turn log: what a turn writes
	// meanwhile goes in the next batch. Zero appends every flush at once.
	TurnBatch time.Duration
}

// Server is the gateway's http.Handler.
type Server struct {
	opts      Options
	forward   map[string]identity.Forward
	log       *slog.Logger
	tracer    trace.Tracer
	handler   http.Handler
	readiness readiness

	// stop ends every running stream with a terminal error (Abort).
	stop  context.Context
	abort context.CancelCauseFunc
	wg    sync.WaitGroup

	// turns holds the durable turns running here, by log key.
	turns sync.Map
	// headerHold is how long an answer's header waits for its first burst
	// (stream.go); tests change it.
	headerHold time.Duration
}

// New validates opts and returns the gateway.
func New(opts Options) (*Server, error) {
	if len(opts.Agents) == 0 {
		return nil, errors.New("gateway: Agents: at least one agent is required")
	}
	if _, ok := opts.Agents[opts.DefaultAgent]; !ok {
		return nil, fmt.Errorf("gateway: DefaultAgent: %q is not a configured agent", opts.DefaultAgent)
	}
	if opts.Sessions == nil {
		return nil, errors.New("gateway: Sessions: an issuer is required")
	}
	if opts.Auth == nil {
		return nil, errors.New("gateway: Auth: an authenticator is required (auth.None for an open gateway)")
	}
	if (opts.OriginHeader == "") != (opts.OriginSecret == "") {
		return nil, errors.New("gateway: OriginHeader and OriginSecret go together")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = config.DefaultMaxBodyBytes
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = 10 * time.Second
	}
	if opts.MaxPromptChars <= 0 {
		opts.MaxPromptChars = config.DefaultMaxPromptChars
	}
	if opts.ConversationTTL <= 0 {
		opts.ConversationTTL = DefaultConversationTTL
	}
	if opts.DetachedTimeout <= 0 {
		opts.DetachedTimeout = DefaultDetachedTimeout
	}
	if opts.TurnRetention <= 0 {
		opts.TurnRetention = DefaultTurnRetention
	}
	if opts.MaxTurnBytes <= 0 {
		opts.MaxTurnBytes = DefaultMaxTurnBytes
	}
	if opts.DefaultFormat == "" {
		opts.DefaultFormat = format.Original
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Metrics == nil {
		opts.Metrics = telemetry.Discard{}
	}
	forward := make(map[string]identity.Forward, len(opts.ForwardClaims))
	for name, claims := range opts.ForwardClaims {
		if _, ok := opts.Agents[name]; !ok {
			return nil, fmt.Errorf("gateway: ForwardClaims: %q is not a configured agent", name)
		}
		f, err := identity.NewForward(claims)
		if err != nil {
			return nil, fmt.Errorf("gateway: ForwardClaims[%s]: %w", name, err)
		}
		forward[name] = f
	}
	s := &Server{opts: opts, forward: forward, log: opts.Logger, tracer: opts.Tracer, headerHold: headerHold}
	if s.tracer == nil {
		s.tracer = noop.NewTracerProvider().Tracer("")
	}
	s.stop, s.abort = context.WithCancelCause(context.Background())
	s.handler = s.routes()
	return s, nil
}

// Abort ends every running stream with the terminal error of its format
// and cancels its upstream call, then waits until the streams have ended
// or ctx is done. A graceful shutdown calls it when its grace period runs
// out, so that no stream is cut without a word.
func (s *Server) Abort(ctx context.Context) {
	s.abort(errShuttingDown)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// agentFor returns the agent called name if p may use it. Agents p may not
// use read as unknown, so their names do not leak.
func (s *Server) agentFor(name string, p auth.Principal) (upstream.Invoker, bool) {
	inv, ok := s.opts.Agents[name]
	if !ok || !config.ValidAgentName(name) {
		return nil, false
	}
	allowed, listed := s.opts.Access[name]
	if !listed || slices.Contains(allowed, "*") || slices.Contains(allowed, p.ID) {
		return inv, true
	}
	return nil, false
}

// agentsFor lists, sorted, the agent names p may use.
func (s *Server) agentsFor(p auth.Principal) []string {
	var names []string
	for name := range s.opts.Agents {
		if _, ok := s.agentFor(name, p); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, withState(r))
}
