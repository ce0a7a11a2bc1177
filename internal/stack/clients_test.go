package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/testenv"
)

// The client tests run the official client libraries that frontends use
// (the AI SDK, OpenAI's, AG-UI's, LangChain's), pinned in
// testdata/clients, under node against the local stack. See that folder's
// README.md for how a script looks.

// clientTimeout bounds one client script: node's start and the libraries'
// import take about a second on a loaded 2-core machine.
const clientTimeout = 60 * time.Second

// clientsDir is internal/stack/testdata/clients.
func clientsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "clients")
}

var clientsInstall struct {
	once sync.Once
	out  []byte
	err  error
}

// clientsInstalled reports whether testdata/clients/node_modules holds
// what package-lock.json pins: npm writes node_modules/.package-lock.json
// at each install, so one older than the lock file is stale.
func clientsInstalled() bool {
	lock, err := os.Stat(filepath.Join(clientsDir(), "package-lock.json"))
	if err != nil {
		return false
	}
	installed, err := os.Stat(filepath.Join(clientsDir(), "node_modules", ".package-lock.json"))
	return err == nil && !installed.ModTime().Before(lock.ModTime())
}

// nodeClients returns node, with testdata/clients' libraries installed:
// by npm ci from the committed lock file, once per test binary, when they
// are missing or stale. Without node, npm or the registry the test skips
// with one line, or fails under AGENTGATE_REQUIRE_ALL=1.
func nodeClients(t *testing.T) string {
	t.Helper()
	testenv.External(t, "node")
	node, ok := testenv.LookPath("node")
	if !ok {
		testenv.Missing(t, "node", "Node.js 20 or later and npm")
	}
	if clientsInstalled() {
		return node
	}
	npm, ok := testenv.LookPath("npm")
	if !ok {
		testenv.Missing(t, "npm", "npm, which comes with Node.js")
	}
	clientsInstall.once.Do(func() {
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--silent")
		cmd.Dir = clientsDir()
		clientsInstall.out, clientsInstall.err = cmd.CombinedOutput()
	})
	if clientsInstall.err != nil || !clientsInstalled() {
		t.Logf("npm ci in %s: %v\n%s", clientsDir(), clientsInstall.err, clientsInstall.out)
		testenv.Missing(t, "the client libraries", "cd internal/stack/testdata/clients && npm ci")
	}
	return node
}

// runClient runs testdata/clients/<script> under node against the gateway
// at base: scenario, as JSON, is its one argument, and the JSON it prints
// is decoded into result. What the script writes to stderr goes to the
// test's log; a script that fails fails the test.
func runClient(t *testing.T, base, script string, scenario, result any) {
	t.Helper()
	node := nodeClients(t)
	in, err := json.Marshal(scenario)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, string(in))
	cmd.Dir = clientsDir()
	cmd.Env = append(os.Environ(), "AGENTGATE_URL="+base, "NODE_NO_WARNINGS=1")
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if stderr.Len() > 0 {
		t.Logf("%s said:\n%s", script, stderr.Bytes())
	}
	if err != nil {
		t.Fatalf("node %s %s: %v (%v)", script, in, err, ctx.Err())
	}
	if err := json.Unmarshal(stdout.Bytes(), result); err != nil {
		t.Fatalf("node %s printed %q, not its JSON result: %v", script, stdout.Bytes(), err)
	}
}
