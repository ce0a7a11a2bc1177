package stack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/model"

	"go.opentelemetry.io/otel/trace"
)

// DemoAgent is the public name of the agent the local stack serves.
const DemoAgent = "demo"

// demoARN is the emulated runtime's ARN. Its account id is made up; it
// exists so tests can prove no response ever carries it.
const demoARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agentgate_demo-local01"

// LocalOptions configures a local stack.
type LocalOptions struct {
	// Listen is the gateway's address; port 0 picks a free one.
	Listen string
	// Provider replaces the model cfg.Agent configures (tests use it).
	Provider model.Provider
	// WrapAgent, when set, wraps the agent server's handler (tests tap it).
	WrapAgent func(http.Handler) http.Handler
	// OnInvocation, when set, hears of every call the emulator answers.
	OnInvocation func(agentcorelocal.InvocationReport)
	// Logger receives every server's log.
	Logger *slog.Logger
	// Tracer, when set, starts the gateway's spans in place of the one
	// cfg.Tracing describes (tests record spans with it).
	Tracer trace.Tracer
}

// Local is agent, emulator and gateway running together on loopback.
type Local struct {
	// URL is the gateway's base URL, http://HOST:PORT.
	URL string
	// ChatURL is the chat page's URL, or "" when the page is off.
	ChatURL string
	// AgentURL and EmulatorURL are the inner servers' base URLs.
	AgentURL, EmulatorURL string
	// ARN is the emulated runtime's ARN, AccountID the account inside it.
	ARN, AccountID string
	// Config is the configuration the three servers run with.
	Config config.Config
	// Emulator is the local AgentCore; tests inject faults through it.
	Emulator *agentcorelocal.Server

	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

// StartLocal starts the whole chain on loopback: the agent server, the
// AgentCore emulator in front of it, and the gateway in front of that, with
// a fresh key pair between gateway and emulator. The chat page is on unless
// cfg turns it off. Everything stops when ctx
// ends; Wait waits for that.
func StartLocal(ctx context.Context, cfg config.Config, opts LocalOptions) (*Local, error) {
	log := opts.Logger
	if log == nil {
		log = NewLogger(cfg.Log, io.Discard)
	}
	provider := opts.Provider
	if provider == nil {
		p, err := NewProvider(ctx, cfg)
		if err != nil {
			return nil, err
		}
		provider = p
	}
	if !cfg.AuthConfigured() && cfg.Secrets.ARN == "" {
		// An open gateway only where nobody else can reach it; with a
		// secret, its API keys or users may be the authentication.
		if !loopback(opts.Listen) {
			return nil, fmt.Errorf("listen %s: without auth configured, the local stack listens on loopback only", opts.Listen)
		}
		cfg.Auth.None = true
	}
	// The demo agent is told what agents.demo.forwardClaims says, and its
	// runtime lets those headers through unless the configuration gives
	// the emulator an allow-list of its own (to rehearse one that lacks
	// them, say).
	demoClaims := cfg.Agents[DemoAgent].ForwardClaims
	forward, err := identity.NewForward(demoClaims)
	if err != nil {
		return nil, fmt.Errorf("agents.%s.forwardClaims: %w", DemoAgent, err)
	}
	gwLn, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("gateway listen %s: %w", opts.Listen, err)
	}
	agentLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gwLn.Close()
		return nil, err
	}
	emuLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gwLn.Close()
		agentLn.Close()
		return nil, err
	}
	closeAll := func() { gwLn.Close(); agentLn.Close(); emuLn.Close() }

	l := &Local{
		URL:         "http://" + gwLn.Addr().String(),
		AgentURL:    "http://" + agentLn.Addr().String(),
		EmulatorURL: "http://" + emuLn.Addr().String(),
		ARN:         demoARN,
		AccountID:   "123456789012",
	}
	keyID, secret := "AKIA"+randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
	cfg.Emulator.Region = "us-east-1"
	cfg.Emulator.Listen = emuLn.Addr().String()
	cfg.Emulator.AccessKeyID, cfg.Emulator.SecretAccessKey = keyID, secret
	cfg.Emulator.Runtimes = []config.Runtime{{ARN: demoARN, URL: l.AgentURL}}
	if cfg.Emulator.HeaderAllowlist == nil {
		cfg.Emulator.Runtimes[0].HeaderAllowlist = forward.AllowList()
	}
	cfg.Agent.Listen = agentLn.Addr().String()
	cfg.Listen = gwLn.Addr().String()
	cfg.AWS = config.AWS{AccessKeyID: keyID, SecretAccessKey: secret}
	cfg.Agents = map[string]config.Agent{DemoAgent: {ARN: demoARN, Region: "us-east-1", Endpoint: l.EmulatorURL, ForwardClaims: demoClaims}}
	cfg.DefaultAgent = DemoAgent
	cfg.Metrics.Listen = "" // each server's metrics on its own address
	if cfg.Sessions.Key == "" {
		// One instance on loopback, started afresh each time: a random key
		// is all its session ids need (a secret's sessionKey still wins).
		// Only serve, where instances share ids and outlive restarts, warns
		// of a missing key.
		cfg.Sessions.Key = randomString(48, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
	}
	if cfg.Chat.Enabled == nil {
		// The local stack is for trying things: the page is on unless
		// the configuration turns it off.
		on := true
		cfg.Chat.Enabled = &on
	}
	if *cfg.Chat.Enabled {
		l.ChatURL = l.URL + "/chat"
	}
	l.Config = cfg

	agentSrv, err := NewAgentServer(cfg, provider, log.With("server", "agent"))
	if err != nil {
		closeAll()
		return nil, err
	}
	var agentHandler http.Handler = agentSrv
	if opts.WrapAgent != nil {
		agentHandler = opts.WrapAgent(agentHandler)
	}
	emu, err := NewEmulator(cfg, log.With("server", "agentcore-local"), opts.OnInvocation)
	if err != nil {
		closeAll()
		return nil, err
	}
	l.Emulator = emu
	tel, err := NewTelemetry(ctx, cfg, TelemetryOptions{})
	if err != nil {
		closeAll()
		return nil, err
	}
	if opts.Tracer != nil {
		tel.Tracer = opts.Tracer
	}
	gw, err := OpenGateway(ctx, cfg, log.With("server", "gateway"), tel)
	if err != nil {
		closeAll()
		return nil, err
	}
	l.wg.Go(func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	})
	// The inner servers outlast the gateway's grace, so that streams still
	// running then end with the gateway's terminal error, not a cut.
	inner := Drain{Grace: cfg.Timeouts.ShutdownGrace + 3*time.Second}
	l.serve(ctx, agentHandler, agentLn, inner, log)
	l.serve(ctx, emu, emuLn, inner, log)
	l.wg.Go(func() { emu.Run(ctx) })
	l.wg.Go(func() {
		if err := ServeGateway(ctx, gwLn, gw, cfg, log, tel.Metrics); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.mu.Lock()
			l.errs = append(l.errs, err)
			l.mu.Unlock()
		}
	})
	return l, nil
}

func (l *Local) serve(ctx context.Context, h http.Handler, ln net.Listener, d Drain, log *slog.Logger) {
	l.wg.Go(func() {
		if err := Serve(ctx, NewHTTPServer(h, log), ln, d); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.mu.Lock()
			l.errs = append(l.errs, err)
			l.mu.Unlock()
		}
	})
}

// Wait blocks until every server has stopped and returns their errors.
func (l *Local) Wait() error {
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.errs...)
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
