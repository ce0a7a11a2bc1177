package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/testenv"
)

// TestMain runs the tests, or, given one of its commands, is agentgate
// itself: `up` prints commands that name the binary that runs it, and the
// tests run them as printed.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && slices.Contains([]string{"up", "serve", "agent", "agentcore-local", "keys", "passwd", "chat", "version"}, os.Args[1]) {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// banner is what `agentgate up` printed before "Press Ctrl-C".
type banner struct {
	text, url, chatURL, chatLine string
	curls                        []string
}

// startUp runs `agentgate up` as a user would, with args and the
// environment vars, until the test ends, when it stops it the way Ctrl-C
// does. It returns what up printed and up's log.
func startUp(t *testing.T, args []string, vars map[string]string) (banner, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, outW := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"up", "--listen", "127.0.0.1:0"}, args...), env(vars), nil, outW, stderr)
		outW.Close()
	}()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("up stopped with %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("up did not stop after its context was cancelled")
		}
	})

	var b banner
	var text strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		text.WriteString(line + "\n")
		if regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+$`).MatchString(line) {
			b.url = line
		}
		if regexp.MustCompile(`^  http://127\.0\.0\.1:[0-9]+/chat$`).MatchString(line) {
			b.chatURL = strings.TrimSpace(line)
		}
		if strings.Contains(line, " chat --url ") {
			b.chatLine = strings.TrimSpace(line)
		}
		if c, ok := strings.CutPrefix(line, "  curl "); ok {
			b.curls = append(b.curls, "curl -sS --max-time 20 "+c)
		}
		if strings.HasPrefix(line, "Press Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, out)
	b.text = text.String()
	if b.url == "" || len(b.curls) != 2 {
		t.Fatalf("up printed URL %q and %d curl commands, want a URL line and 2 commands:\n%s\nlog:\n%s", b.url, len(b.curls), b.text, stderr)
	}
	return b, stderr
}

// shell runs command with sh, as a user pastes it, with the environment
// vars added, and stdin; it returns the command's output.
func shell(t *testing.T, command string, vars map[string]string, stdin string) []byte {
	t.Helper()
	cmd := exec.Command("sh", "-c", command)
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, got)
	}
	return got
}

// checkCurls runs the two curl commands up printed and checks what each
// gave.
func checkCurls(t *testing.T, b banner, vars map[string]string) {
	t.Helper()
	for i, c := range b.curls {
		got := shell(t, c, vars, "")
		switch i {
		case 0:
			if !bytes.HasPrefix(got, []byte(`data: {"event":{"messageStart"`)) || !bytes.Contains(got, []byte(`"metadata"`)) {
				t.Fatalf("the original-mode command gave %q", got)
			}
		case 1:
			last := got[bytes.LastIndexByte(got, '\n')+1:]
			if !bytes.Contains(got, []byte("\n----------\n")) || !regexp.MustCompile(`^\{"runtimeSessionId":"[A-Za-z0-9_-]{33,}"\}$`).Match(last) {
				t.Fatalf("the transformed-mode command gave %q", got)
			}
		}
	}
}

// checkChat runs the chat command up printed, typing a prompt into it.
func checkChat(t *testing.T, b banner, vars map[string]string) {
	t.Helper()
	if want := shellQuote(os.Args[0]) + " chat --url " + b.url; b.chatLine != want {
		t.Fatalf("up printed the chat command %q, want %q", b.chatLine, want)
	}
	if got := shell(t, b.chatLine, vars, "Hello from the banner\n"); !bytes.Contains(got, []byte("You wrote “Hello from the banner”")) {
		t.Fatalf("the chat command printed:\n%s", got)
	}
}

// accessLine is up's line for one request: short, and never JSON.
var accessLine = regexp.MustCompile(`^\d\d:\d\d:\d\d (GET|POST) /\S* → \d{3}( [a-z_]+)?( \([a-z]+, [a-z]+\))? \d+(\.\d)? k?B in \S+$`)

// TestUpPrintsAURLAndCurlCommandsThatWork runs `agentgate up` as a user
// would, runs the curl commands and the chat command it prints exactly as
// printed, then stops it the way Ctrl-C does. Its log says nothing about
// session keys, which matter to serve only, and one short line per
// request.
func TestUpPrintsAURLAndCurlCommandsThatWork(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		testenv.Missing(t, "curl", "apt-get install -y curl")
	}
	b, log := startUp(t, nil, map[string]string{"AGENTGATE_BUILTIN_DELAY": "1ms"})
	checkCurls(t, b, nil)
	checkChat(t, b, nil)
	if b.chatURL != b.url+"/chat" {
		t.Fatalf("up printed the chat page %q, want %s/chat", b.chatURL, b.url)
	}
	resp, err := http.Get(b.chatURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte("<title>agentgate chat</title>")) {
		t.Fatalf("the chat page URL answered %d:\n%.200s", resp.StatusCode, page)
	}

	// Two curls, the chat's GET /agents and its answer, the page: five
	// requests, five lines, and nothing else.
	want := []string{"POST / → 200 completed (demo, original)", "POST / → 200 completed (demo, transformed)",
		"GET /agents → 200", "POST /agents/demo/invocations → 200 completed (demo, ndjson)", "GET /chat → 200"}
	var lines []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		lines = strings.Split(strings.TrimSpace(log.String()), "\n")
		if len(lines) >= len(want) || time.Now().After(deadline) {
			break
		}
	}
	if len(lines) != len(want) {
		t.Fatalf("up logged %d lines for %d requests:\n%s", len(lines), len(want), log)
	}
	for i, line := range lines {
		if !accessLine.MatchString(line) || !strings.Contains(line, want[i]) || len(line) > 100 {
			t.Errorf("log line %d reads %q, want one short line with %q", i+1, line, want[i])
		}
	}
}

// TestUpPrintsCommandsThatCarryTheCredential: with authentication
// configured, the commands up prints send the credential from the
// environment variables the banner names, and work once they are set.
func TestUpPrintsCommandsThatCarryTheCredential(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		testenv.Missing(t, "curl", "apt-get install -y curl")
	}
	key, hash, err := auth.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	pwHash, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, []byte("ada:"+pwHash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, config string
		vars         map[string]string
		says         string
	}{
		{"API keys", "auth:\n  apiKeys:\n    - {name: cli, hash: \"" + hash + "\"}\n",
			map[string]string{"AGENTGATE_API_KEY": key}, "export AGENTGATE_API_KEY=agk_..."},
		{"ID/password sign-in", "auth:\n  passwords:\n    usersFile: " + users + "\n    tokenKey: " + strings.Repeat("k", 32) + "\n",
			map[string]string{"AGENTGATE_USER": "ada", "AGENTGATE_PASSWORD": "correct horse battery"}, "export AGENTGATE_USER=... AGENTGATE_PASSWORD=..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "agentgate.yaml")
			if err := os.WriteFile(file, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			b, _ := startUp(t, []string{"--config", file}, map[string]string{"AGENTGATE_BUILTIN_DELAY": "1ms"})
			if !strings.Contains(b.text, tt.says) {
				t.Fatalf("up does not say where the credential comes from (%q):\n%s", tt.says, b.text)
			}
			// Without the variables, the gateway refuses: the credential
			// in the commands is what lets them in.
			if got := shell(t, b.curls[0]+" -o /dev/null -w '%{http_code}'", nil, ""); string(got) != "401" {
				t.Fatalf("without the credential, the first command got %q, want 401", got)
			}
			checkCurls(t, b, tt.vars)
			checkChat(t, b, tt.vars)
		})
	}
}

// TestUpLogsEveryDetailAtDebugLevel: at log.level debug, up's log has
// every server's lines in full.
func TestUpLogsEveryDetailAtDebugLevel(t *testing.T) {
	b, log := startUp(t, nil, map[string]string{"AGENTGATE_BUILTIN_DELAY": "1ms", "AGENTGATE_LOG_LEVEL": "debug"})
	resp, err := http.Post(b.url+"/", "application/json", strings.NewReader(`{"prompt":"hi","response":"transformed"}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"msg":"invocation","server":"agent"`, `"msg":"agentcore-local request"`, `"msg":"request","server":"gateway"`, `"principal":"anonymous"`} {
		waitFor(t, log, regexp.QuoteMeta(want), 1)
	}
}

// TestRerun: the command up prints to run the chat is one the user can
// run: the go run command when go run built the program.
func TestRerun(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "cmd", "agentgate"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "cmd", "agentgate", "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	devel := &debug.BuildInfo{Path: "github.com/agentgate/agentgate/cmd/agentgate", Main: debug.Module{Path: "github.com/agentgate/agentgate", Version: "(devel)"}}
	tagged := &debug.BuildInfo{Path: "github.com/agentgate/agentgate/cmd/agentgate", Main: debug.Module{Path: "github.com/agentgate/agentgate", Version: "v1.4.0"}}
	tempRun := "/tmp/go-build2870133519/b001/exe/agentgate"
	cachedRun := "/home/ada/.cache/go-build/d9/" + strings.Repeat("d99e5d7e", 8) + "-d/agentgate"
	tests := []struct {
		name, arg0, exe, wd string
		bi                  *debug.BuildInfo
		want                string
	}{
		{"an installed binary is run by its name", "agentgate", "/usr/local/bin/agentgate", root, devel, "agentgate"},
		{"a binary run by its path is run by that path", "./agentgate", root + "/agentgate", root, devel, "./agentgate"},
		{"a path with a space is quoted", "/home/ada/my tools/agentgate", "/home/ada/my tools/agentgate", root, devel, "'/home/ada/my tools/agentgate'"},
		{"go run from the module's root", tempRun, tempRun, root, devel, "go run ./cmd/agentgate"},
		{"go run from the build cache", cachedRun, cachedRun, root, devel, "go run ./cmd/agentgate"},
		{"go run from elsewhere in the module", cachedRun, cachedRun, t.TempDir(), devel, "go run github.com/agentgate/agentgate/cmd/agentgate"},
		{"go run of a released version", cachedRun, cachedRun, t.TempDir(), tagged, "go run github.com/agentgate/agentgate/cmd/agentgate@v1.4.0"},
		{"a test binary is no go run", "/tmp/go-build1/b001/agentgate.test", "/tmp/go-build1/b001/agentgate.test", root, devel, "/tmp/go-build1/b001/agentgate.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rerun(tt.arg0, tt.exe, tt.wd, tt.bi); got != tt.want {
				t.Fatalf("rerun = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestServeWarnsThatSessionIdsDoNotOutliveIt: serve without sessions.key
// warns that its session ids die with it; up, one instance on loopback,
// does not (TestUpPrintsAURLAndCurlCommandsThatWork).
func TestServeWarnsThatSessionIdsDoNotOutliveIt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, env(map[string]string{
			"AGENTGATE_LISTEN":            "127.0.0.1:0",
			"AGENTGATE_UPSTREAM_ARN":      "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agentgate_demo-local01",
			"AGENTGATE_UPSTREAM_ENDPOINT": "http://127.0.0.1:1",
			"AGENTGATE_AUTH_NONE":         "true",
			"AGENTGATE_LOG_FORMAT":        "json",
		}), nil, io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, stderr)
		}
	})
	waitFor(t, stderr, `"msg":"gateway listening"`, 1)
	if !strings.Contains(stderr.String(), `"level":"WARN","msg":"sessions.key is not set`) {
		t.Fatalf("serve did not warn of the missing session key:\n%s", stderr)
	}
}

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no command prints usage", nil, nil, "no command given"},
		{"an unknown command is named", []string{"launch"}, nil, `unknown command "launch"`},
		{"serve without agents names the field", []string{"serve"}, nil, "agents: at least one agent is required"},
		{"serve with a bad ARN names the field", []string{"serve"}, map[string]string{"AGENTGATE_UPSTREAM_ARN": "arn:nope"}, "agents.default.arn"},
		{"agent with an unknown model names the field", []string{"agent"}, map[string]string{"AGENTGATE_MODEL": "gpt"}, "agent.model"},
		{"agentcore-local without runtimes names the field", []string{"agentcore-local"}, nil, "agentcoreLocal.runtimes"},
		{"a missing config file is reported", []string{"serve", "--config", "/nonexistent.yaml"}, nil, "nonexistent.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, env(tt.env), nil, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"version"}, env(nil), nil, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), "agentgate ") {
		t.Fatalf("version printed %q", stdout.String())
	}
}

// TestTheREADMESaysWhatUpDoesWithEachSetting: the README's paragraph on
// the settings up ignores and honours names every section of the
// configuration.
func TestTheREADMESaysWhatUpDoesWithEachSetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "`agentgate up` ignores ")
	if !ok {
		t.Fatal("the README has no paragraph on the settings agentgate up ignores")
	}
	paragraph, _, _ := strings.Cut(rest, "\n\n")
	fields := reflect.TypeFor[config.Config]()
	for i := range fields.NumField() {
		name, _, _ := strings.Cut(fields.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if !regexp.MustCompile("`" + regexp.QuoteMeta(name) + "[`.]").MatchString(paragraph) {
			t.Errorf("the README does not say whether up honours %q:\n%s", name, paragraph)
		}
	}
}
