package main

import (
	"context"
	"flag"
	"io"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/lambda"
	"github.com/agentgate/agentgate/internal/stack"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	api := getenv("AWS_LAMBDA_RUNTIME_API")
	if api != "" {
		lambda.Configure(&cfg)
	}
	log := stack.NewLogger(cfg.Log, stderr)
	gw, err := stack.NewGateway(ctx, cfg, log)
	if err != nil {
		return err
	}
	if api != "" {
		log.Info("gateway serving function URL invocations", "runtimeAPI", api)
		srv := &lambda.Server{API: api, Handler: gw, Abort: gw.Abort, Logger: log}
		return srv.Serve(ctx)
	}
	return stack.ListenAndServe(ctx, cfg.Listen, gw, stack.Drain{Grace: cfg.Timeouts.ShutdownGrace, Abort: gw.Abort}, log, "gateway")
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
	return stack.ListenAndServe(ctx, cfg.Agent.Listen, srv, stack.Drain{}, log, "agent")
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
