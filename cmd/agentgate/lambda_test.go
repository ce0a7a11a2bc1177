//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/stack"
	"github.com/agentgate/agentgate/internal/testenv"
)

// The Runtime Interface Emulator's module and version. The test builds it
// from the Go module proxy into a cache directory when it is not installed.
const (
	riePackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// findRIE returns the path of aws-lambda-rie: on PATH, in GOPATH/bin, or
// built for the tests; it skips (fails under AGENTGATE_REQUIRE_ALL=1) when
// none can be had. -short skips it.
func findRIE(t *testing.T) string {
	t.Helper()
	testenv.External(t, "aws-lambda-rie")
	var dirs []string
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.Join(strings.TrimSpace(string(out)), "bin"))
	}
	if p, ok := testenv.LookPath("aws-lambda-rie", dirs...); ok {
		return p
	}
	if p, ok := testenv.GoInstall(t, riePackage, rieVersion); ok {
		return p
	}
	testenv.Missing(t, "aws-lambda-rie", "go install "+riePackage+"@"+rieVersion)
	return ""
}

// TestLambdaModeUnderTheRuntimeInterfaceEmulator builds the real bootstrap
// binary, runs it under AWS's Runtime Interface Emulator in front of the
// local AgentCore emulator and agent, and sends it function URL events as a
// streaming function URL would.
func TestLambdaModeUnderTheRuntimeInterfaceEmulator(t *testing.T) {
	rie := findRIE(t)
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building bootstrap: %v\n%s", err, out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = time.Millisecond
	l, err := stack.StartLocal(ctx, cfg, stack.LocalOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := l.Wait(); err != nil {
			t.Errorf("local servers: %v", err)
		}
	})

	addr, logs := startRIE(t, rie, bootstrap, []string{
		"AWS_LAMBDA_FUNCTION_NAME=agentgate",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + l.Config.AWS.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + l.Config.AWS.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AGENTGATE_UPSTREAM_ARN=" + l.ARN,
		"AGENTGATE_UPSTREAM_ENDPOINT=" + l.EmulatorURL,
		"AGENTGATE_AUTH_NONE=true",
		"AGENTGATE_SESSION_KEY=" + strings.Repeat("k", 32),
	})

	for _, tt := range []struct {
		mode, contentType string
		body              *regexp.Regexp
	}{
		{"original", "text/event-stream; charset=utf-8", regexp.MustCompile(`(?s)^data: \{"event":\{"messageStart".*"metadata".*\n\n$`)},
		{"transformed", "text/plain; charset=utf-8", regexp.MustCompile(`(?s)^.+\n----------\n\{"usage".*\n\{"runtimeSessionId":"[A-Za-z0-9_-]{33,}"\}$`)},
	} {
		t.Run("POST / in "+tt.mode+" mode streams the answer through the emulator", func(t *testing.T) {
			event := functionURLEvent(t, "POST", "/", `{"prompt":"hello","response":"`+tt.mode+`"}`)
			req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Lambda-Runtime-Function-Response-Mode", "streaming")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("the emulator answered %d %v: %q", resp.StatusCode, err, raw)
			}
			head, body, ok := bytes.Cut(raw, make([]byte, 8))
			if !ok {
				t.Fatalf("no prelude and 8 NUL bytes (a JSON-serialized response?): %q", raw)
			}
			var p struct {
				StatusCode int               `json:"statusCode"`
				Headers    map[string]string `json:"headers"`
			}
			if err := json.Unmarshal(head, &p); err != nil {
				t.Fatalf("the prelude %q is not JSON: %v", head, err)
			}
			if p.StatusCode != http.StatusOK || p.Headers["Content-Type"] != tt.contentType || len(p.Headers["X-Agentgate-Session-Id"]) < 33 {
				t.Fatalf("prelude %s, want status 200, Content-Type %q and a session id", head, tt.contentType)
			}
			if !tt.body.Match(body) {
				t.Fatalf("the %s body is not in its format: %q", tt.mode, body)
			}
			if bytes.Contains(raw, []byte(l.AccountID)) {
				t.Fatalf("the answer leaks the account id: %q", raw)
			}
		})
	}

	t.Run("each invocation logs one JSON access line and one embedded metric line", func(t *testing.T) {
		// Each invocation writes its metric line, then its access line: wait
		// for both of the second.
		var access, emf []map[string]any
		for deadline := time.Now().Add(5 * time.Second); (len(access) < 2 || len(emf) < 2) && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			access, emf = nil, nil
			for _, line := range strings.Split(logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) != nil {
					continue
				}
				if m["msg"] == "request" {
					access = append(access, m)
				}
				if _, ok := m["_aws"]; ok {
					emf = append(emf, m)
				}
			}
		}
		if len(access) != 2 || len(emf) != 2 {
			t.Fatalf("got %d access lines and %d metric lines, want 2 of each:\n%s", len(access), len(emf), logs.String())
		}
		for i, mode := range []string{"original", "transformed"} {
			if a := access[i]; a["format"] != mode || a["status"] != 200.0 || a["outcome"] != "completed" || a["agent"] != "default" {
				t.Errorf("access line %d: %v", i, a)
			}
			m := emf[i]
			meta, _ := json.Marshal(m["_aws"])
			if m["format"] != mode || m["agent"] != "default" || m["Requests"] != 1.0 || m["Errors"] != 0.0 ||
				m["OutputTokens"] == 0.0 || !strings.Contains(string(meta), `"Namespace":"agentgate"`) {
				t.Errorf("metric line %d: %v", i, m)
			}
		}
	})
}

// startRIE runs aws-lambda-rie with bootstrap as the function, env as its
// whole environment, and returns its address once it accepts connections,
// and what the emulator and the function write.
// The emulator and the bootstrap it starts run in their own process group,
// which the test kills at the end.
func startRIE(t *testing.T, rie, bootstrap string, env []string) (string, *syncBuffer) {
	t.Helper()
	addr, api := freeAddr(t), freeAddr(t)
	// The Runtime API's address too: its default, 127.0.0.1:9001, would
	// collide with any other emulator running on the machine.
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", api, bootstrap)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("aws-lambda-rie and bootstrap wrote:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, out
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie did not listen on %s: %v", addr, err)
			return "", nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// functionURLEvent is a function URL event (payload format 2.0), as AWS
// sends it, for method path with a JSON body.
func functionURLEvent(t *testing.T, method, path, body string) []byte {
	t.Helper()
	now := time.Now().UTC()
	b, err := json.Marshal(map[string]any{
		"version":        "2.0",
		"routeKey":       "$default",
		"rawPath":        path,
		"rawQueryString": "",
		"headers": map[string]string{
			"content-type": "application/json",
			"host":         "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
			"user-agent":   "curl/8.5.0",
		},
		"requestContext": map[string]any{
			"accountId":    "anonymous",
			"apiId":        "abcdefghijklmnop",
			"domainName":   "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
			"domainPrefix": "abcdefghijklmnop",
			"requestId":    "5c1f4e1a-0c3b-4d5e-9f7a-2b8c6d4e0f11",
			"routeKey":     "$default",
			"stage":        "$default",
			"time":         now.Format("02/Jan/2006:15:04:05 -0700"),
			"timeEpoch":    now.UnixMilli(),
			"http":         map[string]string{"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
		},
		"body":            body,
		"isBase64Encoded": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
