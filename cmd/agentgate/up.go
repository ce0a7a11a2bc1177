package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/agentgate/agentgate/internal/stack"
)

func runUp(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "gateway `address`; port 0 picks a free one")
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	log := stack.NewLogger(cfg.Log, stderr)
	local, err := stack.StartLocal(ctx, cfg, stack.LocalOptions{Listen: *listen, Logger: log})
	if err != nil {
		if strings.Contains(err.Error(), "address already in use") {
			return fmt.Errorf("%w\n(another program uses that port: try --listen 127.0.0.1:0)", err)
		}
		return err
	}
	printWelcome(stdout, local)
	return local.Wait()
}

func printWelcome(w io.Writer, l *stack.Local) {
	model := l.Config.Agent.Model
	fmt.Fprintf(w, `agentgate is up: gateway -> local AgentCore emulator -> agent (%s model), all on loopback.

%s

Stream the agent's events as they arrive (original SSE, byte for byte):
  curl -N %s/ -H 'Content-Type: application/json' -d '{"prompt":"Hello! What can you do?","response":"original"}'

Plain text, then usage and the session id (transformed):
  curl -N %s/ -H 'Content-Type: application/json' -d '{"prompt":"Hello! What can you do?","response":"transformed"}'

To continue a conversation, add "runtimeSessionId":"<id>" to the body, with the id from the
X-Agentgate-Session-Id response header (curl -i shows it) or the transformed answer's last line.
%sPress Ctrl-C to stop.
`, model, l.URL, l.URL, l.URL, chatLines(l))
}

// chatLines points at the chat page and the terminal client, when the
// page is on.
func chatLines(l *stack.Local) string {
	if l.ChatURL == "" {
		return ""
	}
	return fmt.Sprintf(`
Chat in the browser:
  %s
or in this terminal:
  agentgate chat --url %s

`, l.ChatURL, l.URL)
}
