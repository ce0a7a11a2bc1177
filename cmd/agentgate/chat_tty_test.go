//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/model"
	"github.com/agentgate/agentgate/internal/stack"
	"github.com/agentgate/agentgate/internal/testenv"
)

// ttyWidth is the width of the test's terminal.
const ttyWidth = 40

// essay is what scriptedModel answers to "essay": words of every length,
// streamed in pieces that cut them anywhere.
const essay = "Terminals break a line wherever its right edge falls, in the middle of a word if need be, " +
	"so a client that streams an answer must count the columns itself and start a new line before a " +
	"word that would not fit: internationalisation, for one, is long."

// scriptedModel answers "essay" with essay, seven bytes at a time, and
// anything else with numbered words, one every 20 ms, until stopped.
type scriptedModel struct{}

func (scriptedModel) Name() string { return "scripted" }

func (scriptedModel) Stream(ctx context.Context, req model.Request, emit func(string) error) (model.Result, error) {
	if req.Messages[len(req.Messages)-1].Text == "essay" {
		for s := essay; s != ""; {
			n := min(7, len(s))
			if err := emit(s[:n]); err != nil {
				return model.Result{}, err
			}
			s = s[n:]
		}
		return model.Result{StopReason: "end_turn", Usage: model.Usage{InputTokens: 1, OutputTokens: 40, TotalTokens: 41}}, nil
	}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return model.Result{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if err := emit(fmt.Sprintf("word-%03d ", i)); err != nil {
			return model.Result{}, err
		}
	}
}

// openPTY returns a new pseudo-terminal's two ends, the terminal being
// ttyWidth columns wide.
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		testenv.Missing(t, "/dev/ptmx", "pseudo-terminals: mount devpts; "+err.Error())
	}
	var n int
	rc, err := ptm.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
				n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
			}
		})
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		ptm.Close()
		t.Fatalf("pseudo-terminal: %v", err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		ptm.Close()
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: ttyWidth}); err != nil {
		t.Fatal(err)
	}
	return ptm, pts
}

// TestChatInATerminal runs `agentgate chat` in a pseudo-terminal 40
// columns wide, as its own process with the terminal as its controlling
// one, so Ctrl-C is the terminal's: the line discipline echoes it and
// sends SIGINT. It checks what the terminal receives: /help lists the
// commands without asking the agent, an answer streamed in pieces that
// cut words is wrapped at the width on word boundaries, and Ctrl-C
// leaves no ^C in the answer and no word after the stop.
func TestChatInATerminal(t *testing.T) {
	cfg := config.Default()
	var calls atomic.Int32
	l := startStack(t, cfg, stack.LocalOptions{Provider: scriptedModel{},
		OnInvocation: func(agentcorelocal.InvocationReport) { calls.Add(1) }})

	ptm, pts := openPTY(t)
	cmd := exec.Command(os.Args[0], "chat", "--url", l.URL)
	cmd.Env = append(os.Environ(), "TERM=dumb")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	screen := &syncBuffer{}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(screen, ptm) // ends with EIO once the chat exits
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("the chat did not leave on /quit")
		}
		ptm.Close()
		<-copied
	})
	typeIn := func(s string) {
		t.Helper()
		if _, err := io.WriteString(ptm, s); err != nil {
			t.Fatal(err)
		}
	}
	prompts := 0
	prompt := func() {
		t.Helper()
		prompts++
		waitFor(t, screen, `(?m)^> `, prompts)
	}

	prompt()
	t.Run("/help lists the commands and asks the agent nothing", func(t *testing.T) {
		typeIn("/help\r")
		prompt()
		out := screen.String()
		for _, want := range []string{"/new", "/quit", "/help"} {
			if !strings.Contains(out[strings.Index(out, "/help\r\n"):], "  "+want+" ") {
				t.Errorf("/help does not list %s:\n%s", want, out)
			}
		}
		if n := calls.Load(); n != 0 {
			t.Fatalf("/help was sent to the agent (%d calls)", n)
		}
	})

	t.Run("an answer is wrapped at the terminal's width on word boundaries", func(t *testing.T) {
		typeIn("essay\r")
		waitFor(t, screen, `\[\d+ in / \d+ out tokens`, 1)
		prompt()
		out := screen.String()
		_, answer, _ := strings.Cut(out, "essay\r\n")
		answer, _, _ = strings.Cut(answer, "\r\n[")
		lines := strings.Split(answer, "\r\n")
		for _, line := range lines {
			if n := utf8.RuneCountInString(line); n > ttyWidth {
				t.Errorf("a line of %d columns, wider than the terminal's %d: %q", n, ttyWidth, line)
			}
		}
		if got := strings.Join(lines, " "); got != essay {
			t.Fatalf("the answer, its lines joined, reads\n%q\nwant\n%q\n(a word cut across lines?)", got, essay)
		}
		if len(lines) < 5 {
			t.Fatalf("the answer took %d lines of %d columns", len(lines), ttyWidth)
		}
	})

	t.Run("Ctrl-C stops the answer with no ^C in it and no word after it", func(t *testing.T) {
		typeIn("talk until I stop you\r")
		waitFor(t, screen, `word-005`, 1)
		typeIn("\x03")
		prompt()
		time.Sleep(200 * time.Millisecond) // any word still on its way
		// The line discipline echoes Ctrl-C as the byte itself once it no
		// longer writes it as ^C: a terminal shows nothing for it.
		out := strings.ReplaceAll(screen.String(), "\x03", "")
		_, answer, _ := strings.Cut(out, "talk until I stop you\r\n")
		if strings.Contains(answer, "^C") {
			t.Errorf("the terminal echoed ^C into the answer:\n%s", answer)
		}
		if !regexp.MustCompile(`word-\d{3}\r\n\[stopped after [^]]+\]\r\n> $`).MatchString(answer) {
			t.Errorf("the answer does not end with the stop and the prompt, with nothing after:\n%q", answer)
		}
		for _, line := range strings.Split(answer, "\r\n") {
			if n := utf8.RuneCountInString(line); n > ttyWidth {
				t.Errorf("a line of %d columns: %q", n, line)
			}
		}
	})

	t.Logf("the terminal received:\n%s", strings.ReplaceAll(screen.String(), "\r", ""))
	for _, line := range strings.Split(screen.String(), "\r\n") {
		if n := utf8.RuneCountInString(line); n > ttyWidth {
			t.Errorf("the chat wrote a line of %d columns, wider than the terminal's %d: %q", n, ttyWidth, line)
		}
	}
	typeIn("/quit\r")
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("the chat ended with %v:\n%s", err, screen)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the chat did not leave on /quit:\n%s", screen)
	}
}
