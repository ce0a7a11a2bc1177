package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// moduleRoot returns the directory of the main module, where `go build
// ./cmd/agentgate` works.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the agentgate module")
	}
	return filepath.Dir(mod), nil
}

// buildGateway builds cmd/agentgate into dir, as a release would (no race
// detector, default flags), and returns the binary's path.
func buildGateway(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "agentgate")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/agentgate")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/agentgate: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return bin, nil
}

// commit names the checkout at root: HEAD's short hash, and "+changes"
// when tracked files differ from it. It only reads: GIT_OPTIONAL_LOCKS=0
// keeps git status from refreshing the index.
func commit(root string) string {
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	head := git("rev-parse", "--short", "HEAD")
	if head == "" {
		return "unknown"
	}
	if git("status", "--porcelain", "--untracked-files=no") != "" {
		head += "+changes"
	}
	return head
}

// hasLambdaMode reports whether the gateway binary includes the Lambda
// runtime (internal/lambda).
func hasLambdaMode(ctx context.Context, root string) bool {
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "./cmd/agentgate")
	cmd.Dir = root
	out, err := cmd.Output()
	return err == nil && bytes.Contains(out, []byte("/internal/lambda\n"))
}

// gatewayProc is `agentgate serve` running as a child process: its CPU
// time is then the gateway's alone.
type gatewayProc struct {
	cmd *exec.Cmd
	url string
}

// startGatewayProc runs bin serve with the configuration gatewayEnv
// describes and env adds, its log thrown away, and waits until it answers
// /healthz.
func startGatewayProc(bin, emulatorURL string, k keys, env ...string) (*gatewayProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(baseEnv(), gatewayEnv(emulatorURL, k, addr)...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &gatewayProc{cmd: cmd, url: "http://" + addr}
	if err := waitReady(g.url+"/healthz", 10*time.Second); err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

func (g *gatewayProc) cpu() (float64, error) { return procCPU(g.cmd.Process.Pid) }

func (g *gatewayProc) stop() {
	_ = g.cmd.Process.Kill()
	_ = g.cmd.Wait()
}

// baseEnv is what every child gets from this process's environment: only
// what a program needs to run, so nothing else configures it.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
