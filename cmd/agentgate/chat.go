package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"golang.org/x/term"

	"github.com/agentgate/agentgate/internal/chatcli"
)

func runChat(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := getenv("AGENTGATE_URL")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	gateway := fs.String("url", base, "the gateway's base `URL` (env AGENTGATE_URL)")
	agent := fs.String("agent", "", "public agent `name`; the gateway's default when empty")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: agentgate chat [--url URL] [--agent NAME]

Chat with an agent through the gateway. Credentials come from AGENTGATE_API_KEY,
or AGENTGATE_USER and AGENTGATE_PASSWORD (ID/password sign-in), else a prompt
when the gateway asks for them. Ctrl-C stops the answer being printed; /help
lists the commands.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("chat: unexpected argument %q", fs.Arg(0))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	o := chatcli.Options{
		URL: *gateway, Agent: *agent,
		APIKey: getenv("AGENTGATE_API_KEY"), User: getenv("AGENTGATE_USER"), Password: getenv("AGENTGATE_PASSWORD"),
		Stdin: stdin, Stdout: stdout, Stderr: stderr,
		Interrupts: func() <-chan struct{} { return interrupts(ctx) },
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		o.ReadSecret = func(prompt string) (string, error) {
			fmt.Fprint(stderr, prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(stderr)
			return string(b), err
		}
		// Once Ctrl-C stops answers rather than the program, the terminal
		// no longer echoes it as ^C into the answer; as it was after.
		restore := func() {}
		defer func() { restore() }()
		o.Interrupts = func() <-chan struct{} {
			restore = chatcli.HideControlEcho(int(f.Fd()))
			return interrupts(ctx)
		}
	}
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		o.Width = func() int {
			w, _, err := term.GetSize(int(f.Fd()))
			if err != nil {
				return 0
			}
			return w
		}
	}
	if err := chatcli.Run(ctx, o); err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	return nil
}

// interrupts turns Ctrl-C into a channel the chat reads, until ctx ends:
// in a chat it stops the current answer rather than the program. (main
// leaves SIGINT alone for chat, so until this runs, after sign-in, Ctrl-C
// ends the program as usual.)
func interrupts(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	out := make(chan struct{})
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
			}
			select {
			case out <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
