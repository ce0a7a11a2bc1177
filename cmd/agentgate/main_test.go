package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agentgate/agentgate/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestUpPrintsAURLAndCurlCommandsThatWork runs `agentgate up` as a user
// would, runs the curl commands it prints exactly as printed, then stops it
// the way Ctrl-C does.
func TestUpPrintsAURLAndCurlCommandsThatWork(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		testenv.Missing(t, "curl", "apt-get install -y curl")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, outW := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"up", "--listen", "127.0.0.1:0"}, env(map[string]string{"AGENTGATE_BUILTIN_DELAY": "1ms"}), nil, outW, &stderr)
		outW.Close()
	}()

	var url, chatURL, chatCmd string
	var curls []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+$`).MatchString(line) {
			url = line
		}
		if regexp.MustCompile(`^  http://127\.0\.0\.1:[0-9]+/chat$`).MatchString(line) {
			chatURL = strings.TrimSpace(line)
		}
		if c, ok := strings.CutPrefix(line, "  agentgate chat "); ok {
			chatCmd = c
		}
		if c, ok := strings.CutPrefix(line, "  curl "); ok {
			curls = append(curls, "curl -sS --max-time 20 "+c)
		}
		if strings.HasPrefix(line, "Press Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, out)
	if url == "" || len(curls) != 2 {
		t.Fatalf("up printed URL %q and %d curl commands, want a URL line and 2 commands; stderr:\n%s", url, len(curls), stderr.String())
	}
	for i, c := range curls {
		got, err := exec.Command("sh", "-c", c).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c, err, got)
		}
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
	if chatURL != url+"/chat" || chatCmd != "--url "+url {
		t.Fatalf("up printed chat page %q and chat command %q, want %s/chat and --url %s", chatURL, chatCmd, url, url)
	}
	resp, err := http.Get(chatURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte("<title>agentgate chat</title>")) {
		t.Fatalf("the chat page URL answered %d:\n%.200s", resp.StatusCode, page)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("up stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("up did not stop after its context was cancelled")
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
