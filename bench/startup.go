package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// startupResult is how long the built binary takes from exec to serving.
type startupResult struct {
	Runs int `json:"runs"`
	// Listening: exec to the log line "gateway listening", written once
	// the socket listens. Healthy: exec to the first 200 from /healthz,
	// asked as soon as that line appears. FirstByte: exec to the first
	// byte of the first invocation's answer, asked as soon as /healthz
	// answered: what a client waiting on a cold gateway sees.
	Listening dist `json:"listening"`
	Healthy   dist `json:"healthy"`
	FirstByte dist `json:"firstByte"`
	// Lambda is exec, with AWS_LAMBDA_RUNTIME_API set, to the first
	// GET /runtime/invocation/next: ready for the first invocation.
	Lambda     *dist  `json:"lambdaNext,omitempty"`
	LambdaArgs string `json:"lambdaArgs,omitempty"`
	Note       string `json:"note,omitempty"`
	// Inits breaks the start down, from runs with GODEBUG=inittrace=1.
	Inits *initBreakdown `json:"inits,omitempty"`
	// NewGateway is how long the harness's own first stack.NewGateway
	// took, in ms: most of what main does before it listens.
	NewGateway float64 `json:"newGatewayMs"`
}

// initBreakdown is where a start's time goes before main: package
// initialisers, as the runtime's inittrace reports them.
type initBreakdown struct {
	// Done is when the last initialiser ended, in ms since the runtime
	// started; Clock the initialisers' own wall time added up; Listening
	// exec to "gateway listening" in the same runs (tracing costs a
	// little).
	Done      dist `json:"doneMs"`
	Clock     dist `json:"clockMs"`
	Listening dist `json:"listeningMs"`
	// Top are the slowest initialisers, by median wall time.
	Top []initCost `json:"top"`
}

type initCost struct {
	Package string  `json:"package"`
	Ms      float64 `json:"ms"`
	Allocs  int     `json:"allocs"`
}

// runStartup starts bin serve runs times against the emulator of c.
func runStartup(ctx context.Context, bin string, c *chain, runs int, lambda bool) (startupResult, error) {
	r := startupResult{Runs: runs, NewGateway: ms(int64(c.built))}
	var listening, healthy, first []int64
	for range runs {
		l, h, f, err := startOnce(ctx, bin, c)
		if err != nil {
			return r, err
		}
		listening, healthy, first = append(listening, l), append(healthy, h), append(first, f)
	}
	r.Listening, r.Healthy, r.FirstByte = summarize(listening), summarize(healthy), summarize(first)
	if b, err := traceInits(ctx, bin, c, runs); err == nil {
		r.Inits = &b
	}
	if !lambda {
		r.Note = "Lambda mode is not in cmd/agentgate yet (no internal/lambda in its dependencies): not measured"
		return r, nil
	}
	// Which command line Lambda mode answers to is the Lambda engineer's
	// choice; try `serve`, then the bare binary, as a bootstrap runs it.
	for _, args := range [][]string{{"serve"}, {}} {
		var next []int64
		for range runs {
			d, err := lambdaOnce(ctx, bin, args, c)
			if err != nil {
				next = nil
				r.Note = fmt.Sprintf("Lambda mode (%q): %v", strings.Join(append([]string{"agentgate"}, args...), " "), err)
				break
			}
			next = append(next, d)
		}
		if next != nil {
			d := summarize(next)
			r.Lambda, r.LambdaArgs, r.Note = &d, strings.Join(append([]string{"agentgate"}, args...), " "), ""
			break
		}
	}
	return r, nil
}

// startOnce starts the gateway once and times it.
func startOnce(ctx context.Context, bin string, c *chain) (listening, healthy, firstByte int64, err error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, 0, 0, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(baseEnv(), gatewayEnv(c.emulatorURL, c.keys, addr)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	listened := make(chan int64, 1)
	cmd.Stderr = &lineWatch{want: []byte("gateway listening"), start: start, found: listened}
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	select {
	case listening = <-listened:
	case <-time.After(10 * time.Second):
		return 0, 0, 0, errors.New("agentgate serve did not log \"gateway listening\" within 10s")
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	base := "http://" + addr
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 10*time.Second {
			return 0, 0, 0, fmt.Errorf("agentgate serve: /healthz not ready within 10s: %v", err)
		}
		time.Sleep(100 * time.Microsecond)
	}
	healthy = int64(time.Since(start))
	gw := gatewayPath{mode: modeOriginal, url: base, agent: benchAgent, client: client}
	var session string
	body, err := gw.open(ctx, streamSpec{Events: 1, Size: minEventSize}, &session)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("first invocation: %w", err)
	}
	defer body.Close()
	if _, err := body.Read(make([]byte, 1)); err != nil {
		return 0, 0, 0, fmt.Errorf("first invocation: %w", err)
	}
	return listening, healthy, int64(time.Since(start)), nil
}

// lambdaOnce starts the binary with AWS_LAMBDA_RUNTIME_API pointing at a
// stub of the Lambda Runtime API and times it to its first GET /next,
// which the stub leaves waiting: no invocation is sent.
func lambdaOnce(ctx context.Context, bin string, args []string, c *chain) (int64, error) {
	next := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case next <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	stub := &http.Server{Handler: mux}
	go func() { _ = stub.Serve(ln) }()
	defer stub.Close()

	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(baseEnv(), gatewayEnv(c.emulatorURL, c.keys, addr)...)
	cmd.Env = append(cmd.Env,
		"AWS_LAMBDA_RUNTIME_API="+ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=agentgate-bench",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024",
		"_HANDLER=bootstrap",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited := make(chan error, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill(); <-exited }()
	select {
	case <-next:
		return int64(time.Since(start)), nil
	case err := <-exited:
		exited <- err
		return 0, fmt.Errorf("exited before asking for an invocation: %v", err)
	case <-time.After(5 * time.Second):
		return 0, errors.New("no GET /runtime/invocation/next within 5s")
	}
}

// lineWatch is a process's stderr: it reports, once, how long after start
// the first output holding want arrived, and throws the rest away.
type lineWatch struct {
	want  []byte
	start time.Time
	found chan<- int64
	seen  []byte
	done  bool
	// keep, when set, keeps everything written before want in kept.
	keep bool
	kept []byte
}

func (w *lineWatch) Write(p []byte) (int, error) {
	if w.done {
		return len(p), nil
	}
	if w.keep {
		w.kept = append(w.kept, p...)
	}
	w.seen = append(w.seen, p...)
	if bytes.Contains(w.seen, w.want) {
		w.done = true
		w.found <- int64(time.Since(w.start))
		w.seen = nil
	} else if i := bytes.LastIndexByte(w.seen, '\n'); i >= 0 {
		w.seen = w.seen[i+1:]
	}
	return len(p), nil
}

// traceInits starts bin serve runs times with GODEBUG=inittrace=1 and
// reads where the time before main goes.
func traceInits(ctx context.Context, bin string, c *chain, runs int) (initBreakdown, error) {
	var done, clock, listening []int64
	perPkg := map[string][]int64{}
	allocs := map[string]int{}
	for range runs {
		addr, err := freeAddr()
		if err != nil {
			return initBreakdown{}, err
		}
		cmd := exec.CommandContext(ctx, bin, "serve")
		cmd.Env = append(baseEnv(), gatewayEnv(c.emulatorURL, c.keys, addr)...)
		cmd.Env = append(cmd.Env, "GODEBUG=inittrace=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		listened := make(chan int64, 1)
		start := time.Now()
		w := &lineWatch{want: []byte("gateway listening"), start: start, found: listened, keep: true}
		cmd.Stderr = w
		if err := cmd.Start(); err != nil {
			return initBreakdown{}, err
		}
		select {
		case l := <-listened:
			listening = append(listening, l)
		case <-time.After(10 * time.Second):
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		var end, sum float64
		for line := range strings.Lines(string(w.kept)) {
			// init PKG @T ms, C ms clock, B bytes, A allocs
			var pkg string
			var at, took float64
			var bytes, n int
			if _, err := fmt.Sscanf(line, "init %s @%f ms, %f ms clock, %d bytes, %d allocs", &pkg, &at, &took, &bytes, &n); err != nil {
				continue
			}
			end, sum = max(end, at+took), sum+took
			perPkg[pkg] = append(perPkg[pkg], int64(took*1e6))
			allocs[pkg] = n
		}
		done, clock = append(done, int64(end*1e6)), append(clock, int64(sum*1e6))
	}
	b := initBreakdown{Done: summarize(done), Clock: summarize(clock), Listening: summarize(listening)}
	for pkg, ts := range perPkg {
		b.Top = append(b.Top, initCost{Package: pkg, Ms: summarize(ts).P50, Allocs: allocs[pkg]})
	}
	slices.SortFunc(b.Top, func(x, y initCost) int { return cmp.Compare(y.Ms, x.Ms) })
	b.Top = b.Top[:min(len(b.Top), 8)]
	return b, nil
}
