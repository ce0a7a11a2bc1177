package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/stack"
)

// syncBuffer is an io.Writer a test may read while the program writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until out holds n matches of re, or fails the test.
func waitFor(t *testing.T, out *syncBuffer, re string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for len(regexp.MustCompile(re).FindAllStringIndex(out.String(), -1)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %d× %q in the output:\n%s", n, re, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startStack runs the local stack with cfg until the test ends.
func startStack(t *testing.T, cfg config.Config, opts stack.LocalOptions) *stack.Local {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts.Listen = "127.0.0.1:0"
	l, err := stack.StartLocal(ctx, cfg, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := l.Wait(); err != nil {
			t.Errorf("servers stopped with %v", err)
		}
	})
	return l
}

// TestChatKeepsTheSessionAcrossTurns drives `agentgate chat` through its
// run function, typing two prompts into its stdin as a user would.
func TestChatKeepsTheSessionAcrossTurns(t *testing.T) {
	key, hash, err := auth.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = time.Millisecond
	cfg.Auth.APIKeys = []config.APIKey{{Name: "cli", Hash: hash}}
	var mu sync.Mutex
	var sessions []string
	l := startStack(t, cfg, stack.LocalOptions{OnInvocation: func(r agentcorelocal.InvocationReport) {
		mu.Lock()
		sessions = append(sessions, r.SessionID)
		mu.Unlock()
	}})

	in, typing := io.Pipe()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"chat", "--url", l.URL}, env(map[string]string{"AGENTGATE_API_KEY": key}), in, &stdout, &stderr)
	}()
	t.Cleanup(func() { typing.Close() })

	waitFor(t, &stdout, `(?m)^> $`, 1)
	io.WriteString(typing, "Hello from the terminal\n")
	waitFor(t, &stdout, `\[\d+ in / \d+ out tokens · first text [^]]+ total\]`, 1)
	io.WriteString(typing, "And a follow-up\n")
	waitFor(t, &stdout, `\[\d+ in / \d+ out tokens · first text [^]]+ total\]`, 2)
	typing.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chat ended with %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("chat did not end when its input did")
	}

	out := stdout.String()
	for _, want := range []string{
		`Chatting with "demo"`,
		"You wrote “Hello from the terminal”",
		"This is turn 1 of our conversation",
		"You wrote “And a follow-up”",
		// The agent remembers the first turn: same session.
		"This is turn 2 of our conversation, which you opened with “Hello from the terminal”.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sessions) != 2 || sessions[0] == "" || sessions[0] != sessions[1] {
		t.Errorf("the emulator saw runtime sessions %q, want one session for both turns", sessions)
	}
}

func TestChatRefusesBadCredentialsClearly(t *testing.T) {
	_, hash, err := auth.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Auth.APIKeys = []config.APIKey{{Name: "cli", Hash: hash}}
	l := startStack(t, cfg, stack.LocalOptions{})

	tests := []struct {
		name string
		args []string
		env  map[string]string
		in   string
		want string
	}{
		{"a wrong key from the environment", []string{"chat", "--url", l.URL}, map[string]string{"AGENTGATE_API_KEY": "agk_" + strings.Repeat("A", 43)}, "hi\n",
			"the gateway refused the credentials: the credentials are not valid (invalid_credentials"},
		{"a bearer token that is no API key", []string{"chat", "--url", l.URL}, map[string]string{"AGENTGATE_API_KEY": "sk-proj-0123456789"}, "hi\n",
			"the gateway refused the credentials: the credentials are not valid (invalid_credentials"},
		{"a wrong key typed at the prompt", []string{"chat", "--url", l.URL}, nil, "agk_wrong\nhi\n",
			"the gateway refused the credentials"},
		{"no answer at the prompt", []string{"chat", "--url", l.URL}, nil, "",
			"reading api key: EOF"},
		{"a URL that is not one", []string{"chat", "--url", "127.0.0.1:1"}, nil, "",
			`--url "127.0.0.1:1": want the gateway's base URL`},
		{"a stray argument", []string{"chat", "hello"}, nil, "", `unexpected argument "hello"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			err := run(context.Background(), tt.args, env(tt.env), strings.NewReader(tt.in), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q; stdout:\n%s", err, tt.want, stdout.String())
			}
			if strings.Contains(stdout.String(), "You wrote") {
				t.Fatalf("an answer was printed:\n%s", stdout.String())
			}
		})
	}
}
