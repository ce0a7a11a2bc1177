package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/agentgate/agentgate/internal/config"
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
	log := stack.NewLocalLogger(cfg.Log, stderr)
	local, err := stack.StartLocal(ctx, cfg, stack.LocalOptions{Listen: *listen, Logger: log})
	if err != nil {
		if strings.Contains(err.Error(), "address already in use") {
			return fmt.Errorf("%w\n(another program uses that port: try --listen 127.0.0.1:0)", err)
		}
		return err
	}
	printWelcome(stdout, local, self())
	return local.Wait()
}

// printWelcome prints what to try: the URL, curl commands that work as
// printed (with the credential the gateway asks for, from the environment)
// and the chat, run as self runs this program.
func printWelcome(w io.Writer, l *stack.Local, self string) {
	cred, how := credential(l.Config, self)
	fmt.Fprintf(w, `agentgate is up: gateway -> local AgentCore emulator -> agent (%s model), all on loopback.

%s
%s
Stream the agent's events as they arrive (original SSE, byte for byte):
  curl -N %s/%s -H 'Content-Type: application/json' -d '{"prompt":"Hello! What can you do?","response":"original"}'

Plain text, then usage and the session id (transformed):
  curl -N %s/%s -H 'Content-Type: application/json' -d '{"prompt":"Hello! What can you do?","response":"transformed"}'

To continue a conversation, add "runtimeSessionId":"<id>" to the body, with the id from the
X-Agentgate-Session-Id response header (curl -i shows it) or the transformed answer's last line.
%sPress Ctrl-C to stop.
`, l.Config.Agent.Model, l.URL, how, l.URL, cred, l.URL, cred, chatLines(l, self))
}

// credential returns the curl arguments that carry the credential the
// gateway asks for, read from the environment (the variables `agentgate
// chat` reads too), and a paragraph that says where its value comes from.
// An open gateway asks for none. self runs this program.
func credential(cfg config.Config, self string) (args, how string) {
	a := cfg.Auth
	switch {
	case a.None:
		return "", ""
	case len(a.APIKeys) > 0:
		return ` -H "Authorization: Bearer $AGENTGATE_API_KEY"`, `
The gateway wants a credential. The commands below send an API key from AGENTGATE_API_KEY:
  export AGENTGATE_API_KEY=agk_...   # a key whose hash is in auth.apiKeys (` + self + ` keys create NAME makes one)
`
	case a.Passwords.On():
		return ` -u "$AGENTGATE_USER:$AGENTGATE_PASSWORD"`, `
The gateway wants a credential. The commands below sign in as AGENTGATE_USER with AGENTGATE_PASSWORD:
  export AGENTGATE_USER=... AGENTGATE_PASSWORD=...   # a user in auth.passwords (` + self + ` passwd USER adds one)
`
	case a.JWT.Issuer != "":
		return ` -H "Authorization: Bearer $AGENTGATE_API_KEY"`, `
The gateway wants a credential. The commands below send a token from AGENTGATE_API_KEY:
  export AGENTGATE_API_KEY=...   # a JWT from ` + a.JWT.Issuer + `
`
	}
	// Only the secret (secrets.arn) configures authentication.
	return ` -H "Authorization: Bearer $AGENTGATE_API_KEY"`, `
The gateway wants a credential. The commands below send an API key from AGENTGATE_API_KEY:
  export AGENTGATE_API_KEY=agk_...   # a key whose hash is in the secret's apiKeys
`
}

// chatLines points at the chat page and the terminal client, when the
// page is on.
func chatLines(l *stack.Local, self string) string {
	if l.ChatURL == "" {
		return ""
	}
	return fmt.Sprintf(`
Chat in the browser:
  %s
or in this terminal:
  %s chat --url %s

`, l.ChatURL, self, l.URL)
}

// self returns the command that runs this program again, for the user to
// copy.
func self() string {
	exe, _ := os.Executable()
	wd, _ := os.Getwd()
	bi, _ := debug.ReadBuildInfo()
	return rerun(os.Args[0], exe, wd, bi)
}

// rerun returns the command that runs this program again: for a binary
// `go run` built, which lives in the Go build cache and is gone with it,
// the go run command (./cmd/agentgate from the module's root, else the
// package path, with the version it ran at when it has one); for any
// other, the name it was run by, which the shell finds again.
func rerun(arg0, exe, wd string, bi *debug.BuildInfo) string {
	if !builtByGoRun(exe) {
		return shellQuote(arg0)
	}
	pkg := "github.com/agentgate/agentgate/cmd/agentgate"
	if bi != nil && bi.Path != "" {
		pkg = bi.Path
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return "go run " + shellQuote(pkg+"@"+v)
		}
	}
	if _, err := os.Stat(filepath.Join(wd, "cmd", "agentgate", "main.go")); err == nil {
		return "go run ./cmd/agentgate"
	}
	return "go run " + shellQuote(pkg)
}

// builtByGoRun reports whether exe is where `go run` puts the binary it
// builds: $WORK/b001/exe/NAME in a temporary go-build directory, or a
// directory named after the build's hash, HASH-d, in the build cache.
func builtByGoRun(exe string) bool {
	dir := filepath.Dir(exe)
	if goRunCacheDir.MatchString(filepath.Base(dir)) {
		return true
	}
	return filepath.Base(dir) == "exe" && strings.HasPrefix(filepath.Base(filepath.Dir(filepath.Dir(dir))), "go-build")
}

var goRunCacheDir = regexp.MustCompile(`^[0-9a-f]{64}-d$`)

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == '@' || r == '+' || r == ':' || r == ',' || r == '=' ||
			('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9'))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
