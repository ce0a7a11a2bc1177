// Command agentgate is a streaming gateway for AI agents on Amazon Bedrock
// AgentCore Runtime, with the pieces to run the whole chain on one machine:
// an AgentCore-contract agent server and a local AgentCore emulator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	stopOn := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if len(os.Args) > 1 && os.Args[1] == "chat" {
		// In a chat, Ctrl-C stops the answer, not the program: chat
		// handles SIGINT itself.
		stopOn = stopOn[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopOn...)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "agentgate:", err)
		}
		os.Exit(2)
	}
}

const usage = `agentgate: a streaming gateway for AI agents on Amazon Bedrock AgentCore Runtime

Usage: agentgate <command> [flags]

Commands:
  up               run agent, local AgentCore emulator and gateway together on loopback
  serve            run the gateway
  agent            run the AgentCore-contract agent server
  agentcore-local  run the local AgentCore data-plane emulator
  keys create NAME print a new API key and its configuration entry
  passwd USER      add a user (or --replace a password) in a users file
  chat             chat with an agent through a gateway, in the terminal
  version          print the version

Run 'agentgate <command> -h' for a command's flags.
`

// run is the whole program; main only supplies the process's environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 && getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		// Lambda starts the bootstrap binary without arguments.
		args = []string{"serve"}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "up":
		return runUp(ctx, rest, getenv, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "agent":
		return runAgent(ctx, rest, getenv, stderr)
	case "agentcore-local":
		return runEmulator(ctx, rest, getenv, stderr)
	case "keys":
		return runKeys(rest, stdout, stderr)
	case "passwd":
		return runPasswd(rest, stdin, stdout, stderr)
	case "chat":
		return runChat(ctx, rest, getenv, stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "agentgate", version())
		return nil
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
