// Package testenv is what agentgate's tests share about their
// surroundings: the outside programs some of them need (redis-server,
// Chromium, AWS's Lambda Runtime Interface Emulator, npm packages), how
// they get them or skip without them, and a clock that moves only when
// told.
//
// A test that needs an outside program first tries to provision it where
// this machine's registries allow (the Go module proxy for aws-lambda-rie).
// When it cannot, it skips with one line naming what is missing and how to
// install it, so that `go test ./...` passes on a machine with Go alone.
// AGENTGATE_REQUIRE_ALL=1, which CI sets, turns every such skip into a
// failure, so that CI never skips. `go test -short` skips every test that
// needs an outside program, and the slow ones.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireAll reports whether every outside program must be there
// (AGENTGATE_REQUIRE_ALL=1).
func RequireAll() bool { return os.Getenv("AGENTGATE_REQUIRE_ALL") == "1" }

// Missing ends t for want of what, which install gets: a skip with one
// line, or a failure under AGENTGATE_REQUIRE_ALL=1.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	msg := what + " is not installed (" + install + ")"
	if RequireAll() {
		t.Fatal(msg + ", and AGENTGATE_REQUIRE_ALL=1")
	}
	t.Skip(msg + "; skipping")
}

// External marks a test that needs the outside program what: -short
// skips it.
func External(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs " + what + "; skipped in -short mode")
	}
}

// Slow marks a test that takes seconds of waiting: -short skips it.
func Slow(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow; skipped in -short mode")
	}
}

// LookPath finds the program name on PATH or in any of dirs.
func LookPath(name string, dirs ...string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, true
		}
	}
	return "", false
}

// GoInstall returns the program pkg@version builds, installing it first
// into a cache directory of its own (under the user's cache directory)
// with `go install`, through the Go module proxy. It reports false when
// that is not possible here.
func GoInstall(t testing.TB, pkg, version string) (string, bool) {
	t.Helper()
	name := pkg[strings.LastIndexByte(pkg, '/')+1:]
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", false
	}
	dir := filepath.Join(cache, "agentgate-test", name+"@"+version)
	bin := filepath.Join(dir, name)
	installMu.Lock()
	defer installMu.Unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, true
	}
	cmd := exec.Command("go", "install", pkg+"@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("go install %s@%s: %v\n%s", pkg, version, err, out)
		return "", false
	}
	return bin, true
}

var installMu sync.Mutex

// Clock is a clock that moves only when told. Its zero time is noon UTC
// on 25 November 2026. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at its zero time.
func NewClock() *Clock {
	return NewClockAt(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
}

// NewClockAt returns a Clock at t.
func NewClockAt(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
