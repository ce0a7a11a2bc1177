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
	"slices"
	"time"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/gateway"
	"github.com/agentgate/agentgate/internal/limit"
	"github.com/agentgate/agentgate/internal/model"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/sse"
	"github.com/agentgate/agentgate/internal/telemetry"
	"github.com/agentgate/agentgate/internal/upstream"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/redis/go-redis/v9"
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
// of their own.
func NewGateway(ctx context.Context, cfg config.Config, log *slog.Logger, tel Telemetry) (*gateway.Server, error) {
	if err := cfg.ValidateGateway(); err != nil {
		return nil, err
	}
	agents := make(map[string]upstream.Invoker, len(cfg.Agents))
	access := map[string][]string{}
	dialects := map[string]event.Dialect{}
	httpClient := upstream.NewHTTPClient()
	for name, a := range cfg.Agents {
		ac := upstream.AgentCoreConfig{ARN: a.ARN, Qualifier: a.Qualifier, Region: a.Region, Endpoint: a.Endpoint, HTTPClient: httpClient,
			MaxAttempts: cfg.Retry.MaxAttempts, MaxBackoff: cfg.Retry.MaxBackoff}
		if cfg.AWS.AccessKeyID != "" {
			ac.Credentials = credentials.NewStaticCredentialsProvider(cfg.AWS.AccessKeyID, cfg.AWS.SecretAccessKey, cfg.AWS.SessionToken)
		}
		inv, err := upstream.NewAgentCore(ctx, ac)
		if err != nil {
			return nil, fmt.Errorf("agents.%s: %w", name, err)
		}
		agents[name] = inv
		dialects[name] = event.Dialect(a.Dialect)
		if len(a.Principals) > 0 {
			ids, err := qualifyPrincipals(name, a.Principals, cfg.Auth.JWT.Issuer)
			if err != nil {
				return nil, err
			}
			access[name] = ids
		}
	}
	key := []byte(cfg.Sessions.Key)
	if len(key) == 0 {
		log.Warn("sessions.key is not set: session ids will not survive a restart or work across instances")
		key = session.RandomKey()
	}
	previous := make([][]byte, len(cfg.Sessions.PreviousKeys))
	for i, k := range cfg.Sessions.PreviousKeys {
		previous[i] = []byte(k)
	}
	issuer, err := session.NewIssuer(key, previous...)
	if err != nil {
		return nil, fmt.Errorf("sessions.key: %w", err)
	}

	network, err := newNetwork(cfg.Network)
	if err != nil {
		return nil, err
	}
	store, err := OpenStore(ctx, cfg.Limits)
	if err != nil {
		return nil, err
	}
	authn, login, err := NewAuth(ctx, cfg.Auth, store, log)
	if err != nil {
		return nil, err
	}
	limiter, err := NewLimiter(cfg.Limits, store)
	if err != nil {
		return nil, err
	}
	var scrape http.Handler
	metrics := tel.Metrics
	if cfg.Metrics.Listen == "" && tel.Scrape != nil {
		scrape = tel.Scrape
		if cfg.Metrics.Token == "" {
			hide := map[string]bool{}
			for name, a := range cfg.Agents {
				if len(a.Principals) > 0 && !slices.Contains(a.Principals, "*") {
					hide[name] = true
				}
			}
			if len(hide) > 0 {
				metrics = telemetry.Masked{Recorder: metrics, Hide: hide}
			}
		}
	}
	return gateway.New(gateway.Options{
		Metrics:          metrics,
		MetricsHandler:   scrape,
		MetricsToken:     cfg.Metrics.Token,
		Tracer:           tel.Tracer,
		Network:          network,
		Limiter:          limiter,
		LimitFailOpen:    cfg.Limits.FailOpen,
		FirstByteTimeout: cfg.Timeouts.FirstByte,
		IdleTimeout:      cfg.Timeouts.Idle,
		TotalTimeout:     cfg.Timeouts.Total,
		Auth:             authn,
		Login:            login,
		SendUserID:       cfg.SendUserID,
		OriginHeader:     cfg.OriginLock.Header,
		OriginSecret:     cfg.OriginLock.Secret,
		Agents:           agents,
		Access:           access,
		Dialects:         dialects,
		Heartbeat:        cfg.Stream.Heartbeat,
		DefaultAgent:     cfg.DefaultAgent,
		Sessions:         issuer,
		MaxBodyBytes:     cfg.Limits.MaxBodyBytes,
		MaxHeaderBytes:   cfg.Server.MaxHeaderBytes,
		BodyTimeout:      cfg.Server.ReadTimeout,
		MaxPromptChars:   cfg.Limits.MaxPromptChars,
		DefaultFormat:    format.Original,
		SSE:              sse.Options{MaxLineBytes: cfg.Stream.MaxLineBytes, MaxEventBytes: cfg.Stream.MaxEventBytes},
		Chat:             cfg.Chat.On(false),
		Logger:           log,
	})
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
	opts := &redis.Options{Addr: l.Redis.Addr, Username: l.Redis.Username, Password: l.Redis.Password, DB: l.Redis.DB,
		DialTimeout: 2 * time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second}
	if l.Redis.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return limit.NewRedis(redis.NewClient(opts), l.Redis.Prefix)
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

// NewAuth builds the authenticator chain a configures, in the order API
// keys, passwords, JWT, then none. It also returns the password
// authenticator, which serves sign-in, when configured. Signed-out login
// tokens are listed in store, so that a sign-out holds on every instance
// that shares it, and so are failed sign-ins when store is shared (an
// instance's own record of them slides its window and bounds its memory,
// which the memory store's counters do not); log hears why an identity
// provider could not be reached.
func NewAuth(ctx context.Context, a config.Auth, store limit.Store, log *slog.Logger) (auth.Authenticator, *auth.Passwords, error) {
	var chain auth.Chain
	var login *auth.Passwords
	if len(a.APIKeys) > 0 {
		keys := make([]auth.APIKey, len(a.APIKeys))
		for i, k := range a.APIKeys {
			keys[i] = auth.APIKey{Name: k.Name, Hash: k.Hash}
		}
		ak, err := auth.NewAPIKeys(keys)
		if err != nil {
			return nil, nil, fmt.Errorf("auth: %w", err)
		}
		chain = append(chain, ak)
	}
	if pw := a.Passwords; pw.UsersFile != "" {
		users, err := auth.LoadUsersFile(pw.UsersFile)
		if err != nil {
			return nil, nil, fmt.Errorf("auth.passwords.usersFile: %w", err)
		}
		var failures auth.Counters
		if _, local := store.(*limit.Memory); !local {
			failures = store
		}
		login, err = auth.NewPasswords(auth.PasswordConfig{Users: users, TokenKey: []byte(pw.TokenKey), TokenTTL: pw.TokenTTL,
			MaxFailures: pw.MaxFailures, Window: pw.Window, Revocations: limit.NewRevocations(store), Failures: failures,
			MaxConcurrentHashes: pw.MaxConcurrentHashes, HashQueueWait: pw.HashQueueWait})
		if err != nil {
			return nil, nil, fmt.Errorf("auth.passwords: %w", err)
		}
		chain = append(chain, login)
	}
	if j := a.JWT; j.Issuer != "" {
		ja, err := auth.NewJWT(ctx, auth.JWTConfig{Issuer: j.Issuer, Audience: j.Audience, JWKSURL: j.JWKSURL, Algorithms: j.Algorithms,
			PrincipalClaim: j.PrincipalClaim, ClockSkew: j.ClockSkew, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("auth.jwt: %w", err)
		}
		chain = append(chain, ja)
	}
	if a.None {
		chain = append(chain, auth.None{})
	}
	if len(chain) == 0 {
		return nil, nil, errors.New("auth: no authenticator is configured")
	}
	return chain, login, nil
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
