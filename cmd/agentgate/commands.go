package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/lambda"
	"github.com/agentgate/agentgate/internal/stack"
)

// lambdaMemoryLimit is the Go runtime's soft memory limit in a Lambda
// function of AWS_LAMBDA_FUNCTION_MEMORY_SIZE MiB: 90% of it. Lambda ends a
// function that reaches its memory size; with the limit, the collector
// works harder as the heap nears it instead of letting the heap double
// past it, and the rest is left to the runtime's own overheads. GOMEMLIMIT,
// when set, wins.
func lambdaMemoryLimit(getenv func(string) string) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	mib, err := strconv.ParseInt(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 10, 64)
	if err != nil || mib <= 0 {
		return 0, false
	}
	return mib << 20 / 10 * 9, true
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	api := getenv("AWS_LAMBDA_RUNTIME_API")
	topts := stack.TelemetryOptions{Version: version()}
	logTo := stderr
	if api != "" {
		// CloudWatch Logs Insights queries the access log, and CloudWatch
		// reads the metric lines beside it: both JSON, on stdout.
		lambda.Configure(&cfg)
		logTo, topts.EMF = stdout, stdout
		if limit, ok := lambdaMemoryLimit(getenv); ok {
			debug.SetMemoryLimit(limit)
		}
	}
	log := stack.NewLogger(cfg.Log, logTo)
	topts.Getenv, topts.Logger = getenv, log
	tel, err := stack.NewTelemetry(ctx, cfg, topts)
	if err != nil {
		return err
	}
	defer flushTraces(tel)
	gw, err := stack.OpenGateway(ctx, cfg, log, tel)
	if err != nil {
		return err
	}
	if api != "" {
		log.Info("gateway serving function URL invocations", "runtimeAPI", api)
		srv := &lambda.Server{API: api, Handler: gw, Abort: gw.Abort, Prepare: gw.RefreshIfStale, Logger: log}
		return srv.Serve(ctx)
	}
	return serveWithMetrics(ctx, cfg, log, tel.Scrape, func() error {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		log.Info("gateway listening", "addr", "http://"+ln.Addr().String())
		return stack.ServeGateway(ctx, ln, gw, cfg, log, tel.Metrics)
	})
}

// flushTraces sends the spans not yet exported before the process ends.
func flushTraces(tel stack.Telemetry) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tel.Shutdown(ctx)
}

// serveWithMetrics runs serve, and beside it the metrics on an address of
// their own when metrics.listen asks for one. Either failing stops both.
func serveWithMetrics(ctx context.Context, cfg config.Config, log *slog.Logger, scrape http.Handler, serve func() error) error {
	if cfg.Metrics.Listen == "" || scrape == nil {
		return serve()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	metrics := make(chan error, 1)
	go func() {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", scrape)
		// Liveness beside the metrics: probes that come this way are never
		// refused by the public listener's connection caps.
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
		})
		metrics <- stack.ListenAndServe(ctx, cfg.Metrics.Listen, mux, stack.Drain{}, log, "metrics")
		cancel()
	}()
	err := serve()
	cancel()
	if merr := <-metrics; err == nil && merr != nil && !errors.Is(merr, http.ErrServerClosed) {
		err = merr
	}
	return err
}

func runAgent(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	log := stack.NewLogger(cfg.Log, stderr)
	provider, err := stack.NewProvider(ctx, cfg)
	if err != nil {
		return err
	}
	srv, err := stack.NewAgentServer(cfg, provider, log)
	if err != nil {
		return err
	}
	var scrape http.Handler
	if m := srv.Metrics(); m != nil {
		scrape = m.Handler()
	}
	return serveWithMetrics(ctx, cfg, log, scrape, func() error {
		return stack.ListenAndServe(ctx, cfg.Agent.Listen, srv, stack.Drain{}, log, "agent")
	})
}

func runEmulator(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("agentcore-local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	log := stack.NewLogger(cfg.Log, stderr)
	srv, err := stack.NewEmulator(cfg, log, nil)
	if err != nil {
		return err
	}
	// Run ends sessions on time for as long as the emulator serves.
	ctx, stop := context.WithCancel(ctx)
	var sessions sync.WaitGroup
	sessions.Go(func() { srv.Run(ctx) })
	defer sessions.Wait()
	defer stop()
	return stack.ListenAndServe(ctx, cfg.Emulator.Listen, srv, stack.Drain{}, log, "agentcore-local")
}

// loadConfig parses the common flags and loads the configuration.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (config.Config, error) {
	path := fs.String("config", getenv("AGENTGATE_CONFIG"), "YAML configuration `file` (env AGENTGATE_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	return config.Load(*path, getenv)
}
