package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agentgate/agentgate/internal/stack"
)

// The memory phase needs more open files than one process may have here:
// an idle stream holds a socket at each end of three hops, and the hard
// limit on open files cannot be raised without privileges. So the phase
// spreads the chain over three processes, each under its own limit, and
// keeps this one for the gateway alone, so that every byte it gains is
// the gateway's:
//
//	clients (edge helper) → gateway (this process) → emulator (helper)
//	                                                       ↓
//	                              agent (edge helper)  ←───┘
//
// The helpers are this program run again with -role.
//
// The gateway's client to AgentCore (upstream.NewHTTPClient) keeps the AWS
// SDK's cap of 2,048 connections per host, and over HTTP/1.1 each open
// stream holds one: stream 2,049 to one endpoint waits for a connection,
// without a timeout. So the emulator listens on one port per perHost
// streams and the gateway has one agent per port; the streams are spread
// over them. Set perHost above 2,048 to see the cap.

// memoryResult is one memory run: n idle streams open through the gateway
// in one mode. The per-stream figures are KiB: what the gateway's process
// gained with the streams open, divided by the streams.
type memoryResult struct {
	Mode string `json:"mode"`
	// Upstream is how the gateway reaches the emulator: "tls" (HTTPS,
	// HTTP/2 negotiated, as AgentCore's endpoints are reached) or "plain"
	// (HTTP/1.1 over TCP: a connection per open stream).
	Upstream  string `json:"upstream"`
	Requested int    `json:"requested"`
	Streams   int    `json:"streams"`
	Errors    int    `json:"errors"`
	// RSS is read from /proc/self/status with the streams open, before any
	// forced collection; Heap (live heap after a collection) and Stacks
	// (goroutine stacks) from runtime.ReadMemStats.
	RSSKiB     float64 `json:"rssKiBPerStream"`
	HeapKiB    float64 `json:"heapKiBPerStream"`
	StackKiB   float64 `json:"stackKiBPerStream"`
	Goroutines float64 `json:"goroutinesPerStream"`
	FDs        float64 `json:"fdsPerStream"`
	// StartStack is the stack a new goroutine gets: the runtime sizes it
	// from the average stack it scanned at the last collection.
	StartStackKiB float64 `json:"goroutineStartStackKiB"`
	TotalRSSMiB   float64 `json:"gatewayRSSMiB"`
	EmulatorRSS   float64 `json:"emulatorRSSKiBPerStream"`
	OpenSeconds   float64 `json:"openSeconds"`
	// Agents is how many agents (emulator ports) the streams were spread
	// over.
	Agents        int    `json:"agents"`
	FileLimit     uint64 `json:"fileLimit"`
	LimitedByFile bool   `json:"limitedByFileLimit,omitempty"`
}

// memSnapshot is what this process holds at one moment.
type memSnapshot struct {
	rss, heap, stack, startStack int64
	goroutines, fds              int
}

func snapshot(rss int64) memSnapshot {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	start := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	metrics.Read(start)
	var startStack int64
	if start[0].Value.Kind() == metrics.KindUint64 {
		startStack = int64(start[0].Value.Uint64())
	}
	return memSnapshot{rss: rss, heap: int64(m.HeapAlloc), stack: int64(m.StackInuse), startStack: startStack,
		goroutines: runtime.NumGoroutine(), fds: openFiles()}
}

// settle returns what the previous run left to the OS and lets the
// runtime quiet down, so that the next snapshot is a clean baseline.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(300 * time.Millisecond)
}

// runMemory measures idle streams at each level in each mode, over each
// kind of upstream connection. With profile set, it writes the heap
// profile of the last run there.
func runMemory(ctx context.Context, levels []int, modes, upstreams []string, perHost int, profile string) ([]memoryResult, error) {
	if profile != "" {
		runtime.MemProfileRate = 4 << 10
	}
	limit := raiseFileLimit(1 << 20)
	edge, err := startHelper("edge", nil)
	if err != nil {
		return nil, err
	}
	defer edge.stop()
	agentURL, err := edge.expect("agent", 10*time.Second)
	if err != nil {
		return nil, err
	}
	var out []memoryResult
	for u, upstream := range upstreams {
		last := u == len(upstreams)-1
		rs, err := runMemoryOver(ctx, upstream, agentURL, levels, modes, perHost, limit, edge, map[bool]string{true: profile}[last])
		out = append(out, rs...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// runMemoryOver measures the levels and modes with the gateway reaching
// the emulator over upstream.
func runMemoryOver(ctx context.Context, upstream, agentURL string, levels []int, modes []string, perHost int, limit uint64, edge *helper, profile string) ([]memoryResult, error) {
	k := newKeys()
	hosts := (slices.Max(levels) + perHost - 1) / perHost
	emu, err := startHelper("emulator", []string{"BENCH_AGENT_URL=" + agentURL, "BENCH_KEY_ID=" + k.id, "BENCH_SECRET=" + k.secret,
		"BENCH_PORTS=" + strconv.Itoa(hosts), "BENCH_UPSTREAM=" + upstream})
	if err != nil {
		return nil, err
	}
	defer emu.stop()
	reply, err := emu.expect("emulator", 10*time.Second)
	if err != nil {
		return nil, err
	}
	// "URL… [ca PATH]": a TLS emulator's certificate, which the gateway
	// trusts as a deployment trusts a private authority: AWS_CA_BUNDLE.
	emuURLs, ca, _ := strings.Cut(reply, " ca ")
	if ca != "" {
		defer os.Setenv("AWS_CA_BUNDLE", os.Getenv("AWS_CA_BUNDLE"))
		os.Setenv("AWS_CA_BUNDLE", ca)
	}
	cfg := gatewayConfig(k, strings.Split(emuURLs, " ")...)
	// As deployed: with the default telemetry (Prometheus metrics).
	tel, err := stack.NewTelemetry(ctx, cfg, stack.TelemetryOptions{})
	if err != nil {
		return nil, err
	}
	gw, err := stack.NewGateway(ctx, cfg, stack.NewLogger(cfg.Log, io.Discard), tel)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := stack.NewHTTPServer(gw, discardLog)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	gwURL := "http://" + ln.Addr().String()

	var out []memoryResult
	for i, n := range levels {
		for j, mode := range modes {
			last := i == len(levels)-1 && j == len(modes)-1
			agents := min(hosts, (n+perHost-1)/perHost)
			r, err := memoryRun(gwURL, mode, n, agents, limit, edge, emu, map[bool]string{true: profile}[last])
			r.Upstream = upstream
			if err != nil {
				return out, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// memoryRun opens n idle streams through the gateway in mode, measures,
// and closes them.
func memoryRun(gwURL, mode string, n, agents int, limit uint64, edge, emu *helper, profile string) (memoryResult, error) {
	settle()
	before := snapshot(must(procRSS("self")))
	emuBefore := must(procRSS(strconv.Itoa(emu.cmd.Process.Pid)))
	// Every process of the chain holds two sockets per stream; keep a
	// margin for what else they have open.
	room := (int(limit) - before.fds - 64) / 2
	r := memoryResult{Mode: mode, Requested: n, Streams: min(n, room), Agents: agents, FileLimit: limit, LimitedByFile: room < n}

	start := time.Now()
	reply, err := edge.ask(fmt.Sprintf("open %s %s %d %d", gwURL, mode, r.Streams, agents), 3*time.Minute)
	if err != nil {
		return r, err
	}
	r.OpenSeconds = time.Since(start).Seconds()
	var opened int
	if _, err := fmt.Sscanf(reply, "opened %d %d", &opened, &r.Errors); err != nil {
		return r, fmt.Errorf("edge helper: %q: %w", reply, err)
	}
	time.Sleep(time.Second) // let every stream's goroutines reach their wait
	rss := must(procRSS("self"))
	after := snapshot(rss)
	emuAfter := must(procRSS(strconv.Itoa(emu.cmd.Process.Pid)))
	if profile != "" {
		if err := writeHeapProfile(profile); err != nil {
			return r, err
		}
	}
	if _, err := edge.ask("close", time.Minute); err != nil {
		return r, err
	}

	r.Streams = opened
	if opened == 0 {
		return r, fmt.Errorf("no stream opened in %s mode", mode)
	}
	per := func(a, b int64) float64 { return float64(a-b) / float64(opened) / 1024 }
	r.RSSKiB = per(after.rss, before.rss)
	r.HeapKiB = per(after.heap, before.heap)
	r.StackKiB = per(after.stack, before.stack)
	r.Goroutines = float64(after.goroutines-before.goroutines) / float64(opened)
	r.FDs = float64(after.fds-before.fds) / float64(opened)
	r.TotalRSSMiB = float64(after.rss) / (1 << 20)
	r.StartStackKiB = float64(after.startStack) / 1024
	r.EmulatorRSS = per(emuAfter, emuBefore)

	// The streams end as their cancellations reach the gateway.
	for deadline := time.Now().Add(30 * time.Second); runtime.NumGoroutine() > before.goroutines+16 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	return r, nil
}

func must(v int64, err error) int64 {
	if err != nil {
		return 0
	}
	return v
}

// helper is this program running in another role, driven by lines on its
// standard input and answering with lines on its standard output.
type helper struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

func startHelper(role string, env []string) (*helper, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-role", role)
	cmd.Env = append(baseEnv(), env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s helper: %w", role, err)
	}
	h := &helper{cmd: cmd, in: in, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	return h, nil
}

// expect waits for the line "word VALUE" and returns VALUE.
func (h *helper) expect(word string, timeout time.Duration) (string, error) {
	line, err := h.read(timeout)
	if err != nil {
		return "", err
	}
	v, ok := strings.CutPrefix(line, word+" ")
	if !ok {
		return "", fmt.Errorf("helper said %q, want %q", line, word+" ...")
	}
	return v, nil
}

func (h *helper) ask(line string, timeout time.Duration) (string, error) {
	if _, err := fmt.Fprintln(h.in, line); err != nil {
		return "", err
	}
	return h.read(timeout)
}

func (h *helper) read(timeout time.Duration) (string, error) {
	select {
	case line, ok := <-h.lines:
		if !ok {
			return "", errors.New("helper exited")
		}
		return line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("helper silent for %s", timeout)
	}
}

func (h *helper) stop() {
	_ = h.in.Close()
	done := make(chan struct{})
	go func() { _ = h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = h.cmd.Process.Kill()
		<-done
	}
}

// runRole runs this program as a helper of the memory phase.
func runRole(role string, stdin io.Reader, stdout io.Writer) error {
	raiseFileLimit(1 << 20)
	switch role {
	case "edge":
		return runEdge(stdin, stdout)
	case "emulator":
		return runEmulatorRole(stdin, stdout)
	}
	return fmt.Errorf("unknown role %q", role)
}

// runEmulatorRole serves the emulator until its input ends.
func runEmulatorRole(stdin io.Reader, stdout io.Writer) error {
	k := keys{id: os.Getenv("BENCH_KEY_ID"), secret: os.Getenv("BENCH_SECRET")}
	emu, err := newEmulator(os.Getenv("BENCH_AGENT_URL"), k, 64)
	if err != nil {
		return err
	}
	ports, _ := strconv.Atoi(os.Getenv("BENCH_PORTS"))
	var tlsConfig *tls.Config
	var ca string
	if os.Getenv("BENCH_UPSTREAM") == "tls" {
		if tlsConfig, ca, err = selfSigned(); err != nil {
			return err
		}
		defer os.Remove(ca)
	}
	var urls []string
	for range max(ports, 1) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := stack.NewHTTPServer(emu, discardLog)
		scheme := "http://"
		if tlsConfig != nil {
			// ServeTLS offers HTTP/2 by ALPN, as AgentCore's endpoints do.
			srv.TLSConfig = tlsConfig.Clone()
			scheme = "https://"
			go func() { _ = srv.ServeTLS(ln, "", "") }()
		} else {
			go func() { _ = srv.Serve(ln) }()
		}
		defer srv.Close()
		urls = append(urls, scheme+ln.Addr().String())
	}
	line := "emulator " + strings.Join(urls, " ")
	if ca != "" {
		line += " ca " + ca
	}
	fmt.Fprintln(stdout, line)
	_, _ = io.Copy(io.Discard, stdin)
	return nil
}

// selfSigned returns a TLS configuration with a certificate for 127.0.0.1
// and the file its PEM is in, for the client to trust.
func selfSigned() (*tls.Config, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "agentgate bench emulator"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, "", err
	}
	f, err := os.CreateTemp("", "agentgate-bench-ca-*.pem")
	if err != nil {
		return nil, "", err
	}
	err = pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, "", err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, f.Name(), nil
}

// runEdge serves the agent and, on command, opens or closes idle streams:
//
//	open URL MODE N AGENTS  →  opened OK ERRORS
//	close                   →  closed
//
// open spreads the N streams over the gateway's first AGENTS agents.
func runEdge(stdin io.Reader, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: &agent{clock: clock{base: time.Now()}}}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Fprintln(stdout, "agent http://"+ln.Addr().String())

	client := newGatewayClient(64)
	var open []io.ReadCloser
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 5 && f[0] == "open":
			n, _ := strconv.Atoi(f[3])
			agents, _ := strconv.Atoi(f[4])
			var paths []path
			for i := range max(agents, 1) {
				paths = append(paths, gatewayPath{mode: f[2], url: f[1], agent: agentName(i), client: client})
			}
			bodies, errs := openIdle(paths, n)
			open = append(open, bodies...)
			fmt.Fprintf(stdout, "opened %d %d\n", len(bodies), errs)
		case len(f) == 1 && f[0] == "close":
			for _, b := range open {
				b.Close()
			}
			open = nil
			client.CloseIdleConnections()
			fmt.Fprintln(stdout, "closed")
		default:
			fmt.Fprintf(stdout, "error unknown command %q\n", sc.Text())
		}
	}
	return sc.Err()
}

// openIdle opens n idle streams, round robin over paths, 64 at a time. A
// stream whose header has not come within openTimeout counts as failed.
func openIdle(paths []path, n int) ([]io.ReadCloser, int) {
	const openTimeout = 10 * time.Second
	var mu sync.Mutex
	var bodies []io.ReadCloser
	errs := 0
	next := make(chan path)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			sessions := map[path]string{}
			for p := range next {
				session := sessions[p]
				// The stream's context must outlive the open: cancel it
				// only if the open is too slow.
				ctx, cancel := context.WithCancel(context.Background())
				timer := time.AfterFunc(openTimeout, cancel)
				body, err := p.open(ctx, streamSpec{Size: minEventSize, Hold: true}, &session)
				timer.Stop()
				sessions[p] = session
				mu.Lock()
				if err != nil {
					errs++
					cancel()
				} else {
					bodies = append(bodies, cancelOnClose{body, cancel})
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- paths[i%len(paths)]
	}
	close(next)
	wg.Wait()
	return bodies, errs
}

// cancelOnClose is a stream's body that also releases its context.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// writeHeapProfile writes the heap profile to path and the goroutines'
// stacks beside it (path.goroutines.txt).
func writeHeapProfile(path string) error {
	for _, p := range []struct {
		name, path string
		debug      int
	}{{"heap", path, 0}, {"goroutine", path + ".goroutines.txt", 1}} {
		f, err := os.Create(p.path)
		if err != nil {
			return err
		}
		err = pprof.Lookup(p.name).WriteTo(f, p.debug)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
