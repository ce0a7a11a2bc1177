package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/stack"
	"github.com/agentgate/agentgate/internal/upstream"
)

// The emulated runtime. Its account id is made up.
const (
	benchAgent  = "bench"
	benchRegion = "us-east-1"
	benchARN    = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/bench_agent-0001"
)

// agentName is the public name of the gateway's i-th agent.
func agentName(i int) string {
	if i == 0 {
		return benchAgent
	}
	return fmt.Sprintf("%s-%d", benchAgent, i+1)
}

// keys is the one key pair the emulator accepts and the gateway signs with.
type keys struct{ id, secret string }

func newKeys() keys {
	return keys{id: "AKIA" + rand.Text()[:16], secret: rand.Text() + rand.Text()[:14]}
}

// chain is agent, emulator and gateway on loopback in this process: the
// synthetic agent, the AgentCore emulator verifying SigV4 in front of it,
// and the gateway built by stack.NewGateway, as `agentgate serve` builds
// it, in front of that.
type chain struct {
	agentURL, emulatorURL, gatewayURL string
	keys                              keys
	// gwClient reaches the gateway; direct reaches the emulator as the
	// gateway does.
	gwClient *http.Client
	direct   directPath
	servers  []*http.Server
	// built is how long stack.NewGateway took, the first call in this
	// process: most of what `agentgate serve` does in main.
	built time.Duration
}

// startChain starts the three servers. conns sizes the connection pools
// of the hops the harness owns (client to gateway, emulator to agent) for
// that many concurrent streams.
func startChain(ctx context.Context, clk clock, conns int) (*chain, error) {
	c := &chain{keys: newKeys(), gwClient: newGatewayClient(conns)}
	var err error
	if c.agentURL, err = c.serve("agent", &http.Server{Handler: &agent{clock: clk}}); err != nil {
		return nil, err
	}
	emu, err := newEmulator(c.agentURL, c.keys, conns)
	if err != nil {
		c.close()
		return nil, err
	}
	if c.emulatorURL, err = c.serve("emulator", stack.NewHTTPServer(emu, discardLog)); err != nil {
		c.close()
		return nil, err
	}
	cfg := gatewayConfig(c.keys, c.emulatorURL)
	start := time.Now()
	// As deployed: with the default telemetry (Prometheus metrics).
	tel, err := stack.NewTelemetry(ctx, cfg, stack.TelemetryOptions{})
	if err != nil {
		c.close()
		return nil, err
	}
	gw, err := stack.NewGateway(ctx, cfg, stack.NewLogger(cfg.Log, io.Discard), tel)
	c.built = time.Since(start)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if c.gatewayURL, err = c.serve("gateway", stack.NewHTTPServer(gw, discardLog)); err != nil {
		c.close()
		return nil, err
	}
	if c.direct, err = newDirectPath(ctx, c.emulatorURL, c.keys); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// serve runs srv on a fresh loopback port and returns its base URL. Its
// goroutines, and those they start (the gateway's client to the
// emulator), carry the profiler label server=name, so that a CPU profile
// of the harness tells the servers apart: pprof -tagfocus=server=gateway.
func (c *chain) serve(name string, srv *http.Server) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	c.servers = append(c.servers, srv)
	go pprof.Do(context.Background(), pprof.Labels("server", name), func(context.Context) { _ = srv.Serve(ln) })
	return "http://" + ln.Addr().String(), nil
}

// gateway returns the path through the gateway in mode.
func (c *chain) gateway(mode string) path {
	return gatewayPath{mode: mode, url: c.gatewayURL, agent: benchAgent, client: c.gwClient}
}

func (c *chain) close() {
	for _, srv := range c.servers {
		_ = srv.Close()
	}
	c.gwClient.CloseIdleConnections()
}

var discardLog = slog.New(slog.DiscardHandler)

// newEmulator returns the AgentCore emulator for one runtime, the agent
// at agentURL. Its client to the agent keeps an idle connection per
// stream: the hop from AgentCore to a container is not what is measured,
// and the emulator's default (two idle connections) would make it dial on
// most invocations at 100 streams.
func newEmulator(agentURL string, k keys, conns int) (*agentcorelocal.Server, error) {
	return agentcorelocal.New(agentcorelocal.Config{
		Region:          benchRegion,
		AccessKeyID:     k.id,
		SecretAccessKey: k.secret,
		Runtimes:        []agentcorelocal.Runtime{{ARN: benchARN, URL: agentURL}},
		HTTPClient: &http.Client{Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		}},
		Logger: discardLog,
	})
}

// gatewayConfig is the configuration of the gateway under test: the
// defaults of `agentgate serve`, an agent behind each emulator URL (the
// first is the default), no authentication, no limits, no heartbeats.
func gatewayConfig(k keys, emulatorURLs ...string) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DefaultAgent = benchAgent
	cfg.Agents = map[string]config.Agent{}
	for i, url := range emulatorURLs {
		cfg.Agents[agentName(i)] = config.Agent{ARN: benchARN, Region: benchRegion, Endpoint: url}
	}
	cfg.AWS = config.AWS{AccessKeyID: k.id, SecretAccessKey: k.secret}
	cfg.Auth.None = true
	cfg.Sessions.Key = rand.Text() + rand.Text()
	cfg.Stream.Heartbeat = 0
	cfg.Stream.DetachedTimeout = detachedTimeout
	return cfg
}

// detachedTimeout ends a durable turn as soon as its client leaves. The
// flooding and idle agents stream until their caller leaves, and with
// durable turns (on by default) the caller is the gateway, which would
// go on reading for the default 5 minutes after the client left: into
// every later measurement, in CPU, memory and sockets. While the client
// reads, the turn tees the answer into its log exactly as by default.
const detachedTimeout = time.Millisecond

// gatewayEnv is gatewayConfig as `agentgate serve` reads it from the
// environment, listening on listen. The AWS variables keep the SDK from
// reading this machine's profiles or probing instance metadata.
func gatewayEnv(emulatorURL string, k keys, listen string) []string {
	return []string{
		"AGENTGATE_LISTEN=" + listen,
		"AGENTGATE_DEFAULT_AGENT=" + benchAgent,
		"AGENTGATE_UPSTREAM_ARN=" + benchARN,
		"AGENTGATE_UPSTREAM_REGION=" + benchRegion,
		"AGENTGATE_UPSTREAM_ENDPOINT=" + emulatorURL,
		"AGENTGATE_AUTH_NONE=true",
		"AGENTGATE_SESSION_KEY=" + rand.Text() + rand.Text(),
		"AGENTGATE_HEARTBEAT=0",
		"AGENTGATE_STREAM_DETACHED_TIMEOUT=" + detachedTimeout.String(),
		"AGENTGATE_LOG_LEVEL=info",
		"AWS_ACCESS_KEY_ID=" + k.id,
		"AWS_SECRET_ACCESS_KEY=" + k.secret,
		"AWS_REGION=" + benchRegion,
		"AWS_CONFIG_FILE=/nonexistent",
		"AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// isolateAWSEnv gives this process the AWS environment gatewayEnv gives
// the child: no profile, no instance metadata, no CA bundle. The AWS SDK
// reads its environment in every LoadDefaultConfig, so the in-process
// gateway and the direct client are configured as the child is, whatever
// the shell says (AWS_CA_BUNDLE alone costs ~4 ms per agent at start-up:
// every agent's config parses the bundle again).
func isolateAWSEnv() {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			_ = os.Unsetenv(k)
		}
	}
	for _, kv := range gatewayEnv("", keys{}, "") {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") && v != "" {
			_ = os.Setenv(k, v)
		}
	}
}

// newDirectPath returns the direct path to the emulator at url.
func newDirectPath(ctx context.Context, url string, k keys) (directPath, error) {
	inv, err := upstream.NewAgentCore(ctx, upstream.AgentCoreConfig{
		ARN:         benchARN,
		Region:      benchRegion,
		Endpoint:    url,
		Credentials: credentials.NewStaticCredentialsProvider(k.id, k.secret, ""),
		HTTPClient:  upstream.NewHTTPClient(),
	})
	if err != nil {
		return directPath{}, fmt.Errorf("direct client: %w", err)
	}
	return directPath{inv: inv}, nil
}

// waitReady polls url until it answers 200 or timeout passes.
func waitReady(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", url, timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
