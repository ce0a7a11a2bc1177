// Package stack assembles agentgate's servers from configuration: the
// gateway, the agent server, the local AgentCore emulator, and all three
// together on loopback (Up).
package stack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/gateway"
	"github.com/agentgate/agentgate/internal/limit"
	"github.com/agentgate/agentgate/internal/model"
	"github.com/agentgate/agentgate/internal/telemetry"

	"golang.org/x/term"
)

// NewLogger returns the slog logger cfg describes. The auto format is text
// for a terminal and JSON lines for everything else (files, pipes, log
// collectors).
func NewLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" || (cfg.Format == "auto" && !isTerminal(w)) {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// NewGateway builds the gateway handler from cfg, reporting to tel. Its
// /metrics serves tel.Scrape unless metrics.listen gives them an address
// of their own. It reads no secret: OpenGateway does, and keeps it fresh.
func NewGateway(ctx context.Context, cfg config.Config, log *slog.Logger, tel Telemetry) (*gateway.Server, error) {
	gw, _, err := build(ctx, cfg, log, tel, nil)
	return gw, err
}

// qualifyPrincipals turns an agent's principals, as the configuration
// writes them, into the principal ids callers authenticate as. An entry
// that names no kind of caller (a bare user name, as configurations had
// before each authenticator got a name space of its own) stops the start
// with a message naming it.
func qualifyPrincipals(agent string, entries []string, jwtIssuer string) ([]string, error) {
	ids := make([]string, len(entries))
	for i, e := range entries {
		id, err := auth.QualifyPrincipal(e, jwtIssuer)
		if err != nil {
			return nil, fmt.Errorf("agents.%s.principals[%d]: %w", agent, i, err)
		}
		ids[i] = id
	}
	return ids, nil
}

func newNetwork(n config.Network) (gateway.Network, error) {
	parse := func(field string, cidrs []string) ([]netip.Prefix, error) {
		out := make([]netip.Prefix, len(cidrs))
		for i, c := range cidrs {
			p, err := config.ParsePrefix(c)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
			}
			out[i] = p
		}
		return out, nil
	}
	var g gateway.Network
	var err error
	if g.Allow, err = parse("network.allow", n.Allow); err != nil {
		return g, err
	}
	if g.Deny, err = parse("network.deny", n.Deny); err != nil {
		return g, err
	}
	if g.TrustedProxies, err = parse("network.trustedProxies", n.TrustedProxies); err != nil {
		return g, err
	}
	if g.CloudFrontProxies, err = parse("network.cloudFrontProxies", n.CloudFrontProxies); err != nil {
		return g, err
	}
	g.CORSOrigins = n.CORSOrigins
	return g, nil
}

// NewStore returns the store of shared limit state l names: memory (one
// instance) or Redis (shared by every instance). OpenStore also opens
// DynamoDB.
func NewStore(l config.Limits) limit.Store {
	if l.Store != "redis" {
		return limit.NewMemory(nil)
	}
	c := limit.RedisConfig{Addr: l.Redis.Addr, Username: l.Redis.Username, Password: l.Redis.Password, DB: l.Redis.DB,
		Prefix: l.Redis.Prefix, DialTimeout: 2 * time.Second, Timeout: time.Second}
	if l.Redis.TLS {
		c.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return limit.NewRedis(c)
}

// NewLimiter builds the limiter l configures over store, or nil when it
// sets no limit.
func NewLimiter(l config.Limits, store limit.Store) (*limit.Limiter, error) {
	rule := func(r config.Rate) limit.Rule { return limit.Rule{Rate: r.Requests, Per: r.Per, Burst: r.Burst} }
	p := limit.Policy{Rate: map[string]limit.Rule{}, Concurrency: map[string]int{}, DailyTokens: l.DailyTokens, BudgetReservation: l.BudgetReservation}
	for scope, r := range map[string]config.Rate{limit.ScopeGlobal: l.Rate.Global, limit.ScopeAgent: l.Rate.Agent, limit.ScopePrincipal: l.Rate.Principal} {
		if r.Requests > 0 {
			p.Rate[scope] = rule(r)
		}
	}
	for scope, n := range map[string]int{limit.ScopeGlobal: l.Concurrency.Global, limit.ScopeAgent: l.Concurrency.Agent, limit.ScopePrincipal: l.Concurrency.Principal} {
		if n > 0 {
			p.Concurrency[scope] = n
		}
	}
	if len(p.Rate) == 0 && len(p.Concurrency) == 0 && p.DailyTokens == 0 {
		return nil, nil
	}
	lim, err := limit.NewLimiter(store, p, nil)
	if err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	return lim, nil
}

// NewProvider builds the model provider cfg.Agent names.
func NewProvider(ctx context.Context, cfg config.Config) (model.Provider, error) {
	if err := cfg.ValidateAgent(); err != nil {
		return nil, err
	}
	a := cfg.Agent
	switch a.Model {
	case "bedrock":
		p, err := model.NewBedrock(ctx, model.BedrockOptions{ModelID: a.Bedrock.ModelID, Region: a.Bedrock.Region, Endpoint: a.Bedrock.Endpoint, MaxTokens: a.MaxTokens})
		if err != nil {
			return nil, fmt.Errorf("agent.bedrock: %w", err)
		}
		return p, nil
	case "openai":
		p, err := model.NewOpenAI(model.OpenAIOptions{BaseURL: a.OpenAI.BaseURL, APIKey: a.OpenAI.APIKey, Model: a.OpenAI.Model, MaxTokens: a.MaxTokens})
		if err != nil {
			return nil, fmt.Errorf("agent.openai: %w", err)
		}
		return p, nil
	}
	delay := a.Builtin.Delay
	if delay == 0 {
		delay = -1 // an explicit 0 means no pause
	}
	return model.NewBuiltin(model.BuiltinOptions{Delay: delay}), nil
}

// NewAgentServer builds the agent server around provider.
func NewAgentServer(cfg config.Config, provider model.Provider, log *slog.Logger) (*agent.Server, error) {
	if err := cfg.ValidateAgent(); err != nil {
		return nil, err
	}
	ac := agent.Config{
		Provider:    provider,
		System:      cfg.Agent.System,
		MaxMessages: cfg.Agent.MaxMessages,
		IdleTimeout: cfg.Agent.SessionIdle,
		Logger:      log,
	}
	if cfg.Metrics.Enabled {
		ac.Metrics = telemetry.NewAgent()
		if cfg.Metrics.Listen == "" {
			ac.MetricsHandler = ac.Metrics.Handler()
		}
	}
	return agent.New(ac)
}

// NewEmulator builds the local AgentCore emulator from cfg.
func NewEmulator(cfg config.Config, log *slog.Logger, onInvocation func(agentcorelocal.InvocationReport)) (*agentcorelocal.Server, error) {
	if err := cfg.ValidateEmulator(); err != nil {
		return nil, err
	}
	e := cfg.Emulator
	runtimes := make([]agentcorelocal.Runtime, len(e.Runtimes))
	for i, rt := range e.Runtimes {
		// A runtime's own allow-list and fault win over the emulator's.
		allow, fault := e.HeaderAllowlist, e.Fault
		if rt.HeaderAllowlist != nil {
			allow = rt.HeaderAllowlist
		}
		if rt.Fault != nil {
			fault = *rt.Fault
		}
		runtimes[i] = agentcorelocal.Runtime{ARN: rt.ARN, URL: rt.URL, HeaderAllowlist: allow, Fault: emulatorFault(fault)}
	}
	return agentcorelocal.New(agentcorelocal.Config{
		Region:               e.Region,
		AccessKeyID:          e.AccessKeyID,
		SecretAccessKey:      e.SecretAccessKey,
		Runtimes:             runtimes,
		Logger:               log,
		OnInvocation:         onInvocation,
		IdleSessionTimeout:   e.IdleSessionTimeout,
		MaxSessionLifetime:   e.MaxSessionLifetime,
		Throttle:             e.Throttle,
		InvocationsPerSecond: e.InvocationsPerSecond,
	})
}

func emulatorFault(f config.EmulatorFault) agentcorelocal.Fault {
	return agentcorelocal.Fault{
		Error: f.Error, Times: f.Times, RetryAfter: f.RetryAfter,
		DelayFirst: f.DelayFirst, DelayEach: f.DelayEach,
		DropAfter: f.DropAfter, MalformedAfter: f.MalformedAfter, OversizedAfter: f.OversizedAfter,
		MidStreamError: f.MidStreamError,
	}
}

// NewHTTPServer returns a server fit for long streams: no write timeout,
// bounded header reading. It serves the agent server and the emulator;
// the gateway's is NewGatewayServer.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Drain is how a server ends its running work at shutdown.
type Drain struct {
	// Grace is how long running requests may go on after the stop signal.
	Grace time.Duration
	// Abort, when set, runs once Grace is over and before connections are
	// closed, so streams end with a terminal error instead of a cut.
	Abort func(context.Context)
}

// Serve runs srv on ln until ctx ends, then shuts down gracefully: no new
// connections, running requests get d.Grace to finish, then d.Abort ends
// what is left and the connections close.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, d Drain) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if d.Grace <= 0 {
		d.Grace = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), d.Grace)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(sctx) }()
	var err error
	select {
	case err = <-shut:
	case <-sctx.Done():
		if d.Abort != nil {
			actx, acancel := context.WithTimeout(context.Background(), 2*time.Second)
			d.Abort(actx)
			acancel()
		}
		err = <-shut
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	<-errc
	return err
}

// ListenAndServe listens on addr and serves h until ctx ends.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, d Drain, log *slog.Logger, what string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	log.Info(what+" listening", "addr", "http://"+ln.Addr().String())
	return Serve(ctx, NewHTTPServer(h, log), ln, d)
}
