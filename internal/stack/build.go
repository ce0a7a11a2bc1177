package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/gateway"
	"github.com/agentgate/agentgate/internal/limit"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/sse"
	"github.com/agentgate/agentgate/internal/telemetry"
	"github.com/agentgate/agentgate/internal/upstream"
)

// parts are what a gateway is built from that must, or should, outlive it:
// a gateway rebuilt with new secret values (Live) takes over each part
// whose settings did not change. The limits store holds the counters, the
// streams' slots and the revocations (the memory store is never replaced,
// or a rebuild would forget them); the password authenticator its record
// of failed sign-ins and its hashing slots; the agents their connections;
// the JWT authenticator the identity provider's keys.
type parts struct {
	// cfg is the configuration the parts were built from.
	cfg    config.Config
	agents map[string]upstream.Invoker
	store  limit.Store
	jwt    auth.Authenticator
	login  *auth.Passwords
	// sessionKey signs session ids when sessions.key is not set: a random
	// key, kept across rebuilds so that ids stay valid.
	sessionKey []byte
}

// build builds the gateway cfg describes, taking over prev's parts where
// cfg leaves their settings as they were (prev may be nil), and returns it
// with its parts.
func build(ctx context.Context, cfg config.Config, log *slog.Logger, tel Telemetry, prev *parts) (*gateway.Server, *parts, error) {
	if err := cfg.ValidateGateway(); err != nil {
		return nil, nil, err
	}
	if prev == nil {
		prev = &parts{}
	}
	p := &parts{cfg: cfg}
	var err error
	if p.agents, err = agentsFor(ctx, cfg, prev); err != nil {
		return nil, nil, err
	}
	issuer, err := p.sessions(cfg.Sessions, prev, log)
	if err != nil {
		return nil, nil, err
	}
	if p.store, err = storeFor(ctx, cfg.Limits, prev); err != nil {
		return nil, nil, err
	}
	gw, err := p.gateway(ctx, cfg, issuer, log, tel, prev)
	if err != nil {
		if p.store != prev.store {
			closeStore(p.store)
		}
		return nil, nil, err
	}
	return gw, p, nil
}

// gateway builds the rest over p's agents and store.
func (p *parts) gateway(ctx context.Context, cfg config.Config, issuer *session.Issuer, log *slog.Logger, tel Telemetry, prev *parts) (*gateway.Server, error) {
	access, dialects, err := agentRules(cfg)
	if err != nil {
		return nil, err
	}
	claims := map[string]map[string]string{}
	for name, a := range cfg.Agents {
		if len(a.ForwardClaims) > 0 {
			claims[name] = a.ForwardClaims
		}
	}
	network, err := newNetwork(cfg.Network)
	if err != nil {
		return nil, err
	}
	authn, err := p.auth(ctx, cfg.Auth, log, prev)
	if err != nil {
		return nil, err
	}
	limiter, err := NewLimiter(cfg.Limits, p.store)
	if err != nil {
		return nil, err
	}
	var conversations gateway.ConversationStore
	if cfg.Sessions.ConversationTTL > 0 {
		conversations = p.store
	}
	turns, turnsLocal, stopPoll := turnLogs(cfg.Stream, p.store)
	metrics, scrape := gatewayMetrics(cfg, tel)
	return gateway.New(gateway.Options{
		Metrics:               metrics,
		MetricsHandler:        scrape,
		MetricsToken:          cfg.Metrics.Token,
		Tracer:                tel.Tracer,
		Network:               network,
		Limiter:               limiter,
		LimitFailOpen:         cfg.Limits.FailOpen,
		Conversations:         conversations,
		ConversationTTL:       cfg.Sessions.ConversationTTL,
		FirstByteTimeout:      cfg.Timeouts.FirstByte,
		IdleTimeout:           cfg.Timeouts.Idle,
		TotalTimeout:          cfg.Timeouts.Total,
		Auth:                  authn,
		Login:                 p.login,
		SendUserID:            cfg.SendUserID,
		ForwardClaims:         claims,
		OriginHeader:          cfg.OriginLock.Header,
		OriginSecret:          cfg.OriginLock.Secret,
		PreviousOriginSecrets: cfg.OriginLock.PreviousSecrets,
		Agents:                p.agents,
		Access:                access,
		Dialects:              dialects,
		Heartbeat:             cfg.Stream.Heartbeat,
		DefaultAgent:          cfg.DefaultAgent,
		Sessions:              issuer,
		MaxBodyBytes:          cfg.Limits.MaxBodyBytes,
		MaxHeaderBytes:        cfg.Server.MaxHeaderBytes,
		BodyTimeout:           cfg.Server.ReadTimeout,
		MaxPromptChars:        cfg.Limits.MaxPromptChars,
		DefaultFormat:         format.Original,
		SSE:                   sse.Options{MaxLineBytes: cfg.Stream.MaxLineBytes, MaxEventBytes: cfg.Stream.MaxEventBytes},
		Chat:                  cfg.Chat.On(false),
		Logger:                log,
		Turns:                 turns,
		TurnsLocal:            turnsLocal,
		DetachedTimeout:       cfg.Stream.DetachedTimeout,
		TurnRetention:         cfg.Stream.Retain,
		MaxTurnBytes:          cfg.Stream.MaxRetainedBytes,
		StopPoll:              stopPoll,
		TurnBatch:             turnBatch,
	})
}

// agentsFor returns an upstream client per agent: prev's, when the
// settings they are made from are the same.
func agentsFor(ctx context.Context, cfg config.Config, prev *parts) (map[string]upstream.Invoker, error) {
	if prev.agents != nil && reflect.DeepEqual(cfg.Agents, prev.cfg.Agents) && cfg.AWS == prev.cfg.AWS && cfg.Retry == prev.cfg.Retry {
		return prev.agents, nil
	}
	agents := make(map[string]upstream.Invoker, len(cfg.Agents))
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
	}
	return agents, nil
}

// agentRules returns who may use each agent and how each streams.
func agentRules(cfg config.Config) (map[string][]string, map[string]event.Dialect, error) {
	access := map[string][]string{}
	dialects := map[string]event.Dialect{}
	for name, a := range cfg.Agents {
		dialects[name] = event.Dialect(a.Dialect)
		if len(a.Principals) > 0 {
			ids, err := qualifyPrincipals(name, a.Principals, cfg.Auth.JWT.Issuer)
			if err != nil {
				return nil, nil, err
			}
			access[name] = ids
		}
	}
	return access, dialects, nil
}

// sessions returns the issuer of session ids.
func (p *parts) sessions(s config.Sessions, prev *parts, log *slog.Logger) (*session.Issuer, error) {
	key := []byte(s.Key)
	if len(key) == 0 {
		if p.sessionKey = prev.sessionKey; p.sessionKey == nil {
			log.Warn("sessions.key is not set: session ids will not survive a restart or work across instances")
			p.sessionKey = session.RandomKey()
		}
		key = p.sessionKey
	}
	previous := make([][]byte, len(s.PreviousKeys))
	for i, k := range s.PreviousKeys {
		previous[i] = []byte(k)
	}
	issuer, err := session.NewIssuer(key, previous...)
	if err != nil {
		return nil, fmt.Errorf("sessions.key: %w", err)
	}
	return issuer, nil
}

// storeFor returns the limits store l names: prev's, when it is the same
// store with the same settings.
func storeFor(ctx context.Context, l config.Limits, prev *parts) (limit.Store, error) {
	if prev.store != nil && sameStore(l, prev.cfg.Limits) {
		return prev.store, nil
	}
	return OpenStore(ctx, l)
}

func sameStore(a, b config.Limits) bool {
	if a.Store != b.Store {
		return false
	}
	switch a.Store {
	case "redis":
		return a.Redis == b.Redis
	case "dynamodb":
		return a.DynamoDB == b.DynamoDB
	}
	return true // one instance's memory: the one there is
}

// closeStore closes a store that holds connections (Redis) once nothing
// uses it any more.
func closeStore(s limit.Store) {
	if c, ok := s.(io.Closer); ok {
		_ = c.Close()
	}
}

// gatewayMetrics returns the recorder and the /metrics handler of the
// gateway's public address. Without a metrics token, agents limited to
// some principals count as "restricted" there.
func gatewayMetrics(cfg config.Config, tel Telemetry) (telemetry.Recorder, http.Handler) {
	if cfg.Metrics.Listen != "" || tel.Scrape == nil {
		return tel.Metrics, nil
	}
	metrics := tel.Metrics
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
	return metrics, tel.Scrape
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
	p := &parts{store: store}
	chain, err := p.auth(ctx, a, log, &parts{})
	return chain, p.login, err
}

// auth builds the authenticator chain over p.store, setting p.login and
// p.jwt; prev's JWT authenticator serves again when its settings are the
// same, and prev's password authenticator hands over to its successor.
func (p *parts) auth(ctx context.Context, a config.Auth, log *slog.Logger, prev *parts) (auth.Authenticator, error) {
	var chain auth.Chain
	if len(a.APIKeys) > 0 {
		keys := make([]auth.APIKey, len(a.APIKeys))
		for i, k := range a.APIKeys {
			keys[i] = auth.APIKey{Name: k.Name, Hash: k.Hash}
		}
		ak, err := auth.NewAPIKeys(keys)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		chain = append(chain, ak)
	}
	if a.Passwords.On() {
		login, err := p.passwords(a.Passwords, prev)
		if err != nil {
			return nil, err
		}
		p.login = login
		chain = append(chain, login)
	}
	if j := a.JWT; j.Issuer != "" {
		ja, err := p.jwtAuth(ctx, j, log, prev)
		if err != nil {
			return nil, err
		}
		chain = append(chain, ja)
	}
	if a.None {
		chain = append(chain, auth.None{})
	}
	if len(chain) == 0 {
		return nil, errors.New("auth: no authenticator is configured")
	}
	return chain, nil
}

// passwords builds the password authenticator: prev's successor, when
// there is one.
func (p *parts) passwords(pw config.Passwords, prev *parts) (*auth.Passwords, error) {
	users, err := loadUsers(pw)
	if err != nil {
		return nil, err
	}
	var failures auth.Counters
	if _, local := p.store.(*limit.Memory); !local {
		failures = p.store
	}
	previous := make([][]byte, len(pw.PreviousTokenKeys))
	for i, k := range pw.PreviousTokenKeys {
		previous[i] = []byte(k)
	}
	cfg := auth.PasswordConfig{Users: users, TokenKey: []byte(pw.TokenKey), PreviousTokenKeys: previous, TokenTTL: pw.TokenTTL,
		MaxFailures: pw.MaxFailures, Window: pw.Window, Revocations: limit.NewRevocations(p.store), Failures: failures,
		MaxConcurrentHashes: pw.MaxConcurrentHashes, HashQueueWait: pw.HashQueueWait}
	var login *auth.Passwords
	if prev.login != nil {
		login, err = prev.login.Successor(cfg)
	} else {
		login, err = auth.NewPasswords(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("auth.passwords: %w", err)
	}
	return login, nil
}

// loadUsers reads the users: given as content (from the secret), or from
// the users file.
func loadUsers(pw config.Passwords) (map[string]string, error) {
	if pw.Users != "" {
		users, err := auth.ParseUsers([]byte(pw.Users))
		if err != nil {
			return nil, fmt.Errorf("secret users: %w", err)
		}
		return users, nil
	}
	users, err := auth.LoadUsersFile(pw.UsersFile)
	if err != nil {
		return nil, fmt.Errorf("auth.passwords.usersFile: %w", err)
	}
	return users, nil
}

// jwtAuth builds the JWT authenticator, or takes prev's when its settings
// are the same: it holds the identity provider's keys.
func (p *parts) jwtAuth(ctx context.Context, j config.JWT, log *slog.Logger, prev *parts) (auth.Authenticator, error) {
	if prev.jwt != nil && reflect.DeepEqual(j, prev.cfg.Auth.JWT) {
		p.jwt = prev.jwt
		return p.jwt, nil
	}
	ja, err := auth.NewJWT(ctx, auth.JWTConfig{Issuer: j.Issuer, Audience: j.Audience, JWKSURL: j.JWKSURL, Algorithms: j.Algorithms,
		PrincipalClaim: j.PrincipalClaim, ClockSkew: j.ClockSkew, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("auth.jwt: %w", err)
	}
	p.jwt = ja
	return ja, nil
}

// turnStopPoll is how often a durable turn on a shared store asks whether
// another instance was asked to stop it; turnBatch how far apart its
// appends to the shared log are, at most ten a second however fast the
// agent writes.
const (
	turnStopPoll = time.Second
	turnBatch    = 100 * time.Millisecond
)

// turnLogs returns where durable turns keep their logs: store, when turns
// are durable and it keeps logs; with whether it is this instance's
// memory, and how often a turn asks it for a stop made elsewhere.
func turnLogs(s config.Stream, store limit.Store) (limit.Logs, bool, time.Duration) {
	logs, ok := store.(limit.Logs)
	if !s.IsDurable() || !ok {
		return nil, false, 0
	}
	if m, local := store.(*limit.Memory); local {
		m.SetMaxLogBytes(s.MaxRetainedTotal)
		return logs, true, 0
	}
	return logs, false, turnStopPoll
}
