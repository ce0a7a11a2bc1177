// Command bench measures what the gateway adds to the path from a client
// to an agent: time to first byte, per-event latency, throughput and CPU
// per event, memory per open stream, and start-up time.
//
// A peer phase first sets the gateway beside nginx (when installed) and
// Go's httputil.ReverseProxy, each a process one hop in front of the same
// synthetic agent, and reports its figures as ratios to theirs.
//
// It starts on loopback a synthetic agent (no model: events of a set size
// at a set pace), the local AgentCore emulator in front of it, verifying
// SigV4, and the gateway, built by stack.NewGateway as `agentgate serve`
// builds it, in front of that. Every figure is taken through the gateway
// and, in the same run, straight to the emulator with the same signed
// AWS SDK call the gateway makes (the direct path), so what the gateway
// adds is a difference and a ratio of two numbers measured side by side.
//
//	go run ./bench          # the full run, under 5 minutes
//	go run ./bench -quick   # a smoke run, under a minute
//
// It prints Markdown tables and writes bench/results/latest.json.
// docs/performance.md explains each measurement.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	quick      bool
	phases     []string
	modes      []string
	streams    []int
	rounds     int
	sweep      []int
	latency    latencyOptions
	tpSizes    []int
	throughput throughputOptions
	gateway    string
	// peersEphemeral adds the gateway with durable turns off to the peers.
	peersEphemeral bool
	memStreams     []int
	memModes       []string
	memUpstreams   []string
	memPerHost     int
	startups       int
	out            string
	cpuProfile     string
	memProfile     string
	role           string
	// set are the flags given on the command line, by name, as given;
	// effective every flag's value in force, -quick applied.
	set, effective map[string]string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "a smoke run of about 40 s: fewer levels, shorter windows")
	phases := fs.String("phases", "startup,peers,latency,throughput,memory", "`phases` to run")
	modes := fs.String("modes", "original,transformed,openai", "gateway `modes` to measure")
	streams := fs.String("streams", "1,100,1000", "concurrent `streams` of the latency phases")
	fs.Float64Var(&o.latency.rate, "rate", 400, "streams started per second (`n`) in the latency phases, at every concurrency")
	fs.DurationVar(&o.latency.pace, "pace", 20*time.Millisecond, "pause between two events in the latency phases")
	fs.IntVar(&o.latency.size, "size", 64, "event size in `bytes` in the latency phases")
	fs.DurationVar(&o.latency.window, "window", 3*time.Second, "measurement window of each path at each concurrency, split over the rounds")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds of the latency phase")
	sweep := fs.String("rate-sweep", "", "other stream start `rates` to measure 100 streams at (direct and original)")
	fs.IntVar(&o.latency.minEvents, "min-events", 4, "fewest events after the first in a latency stream")
	fs.IntVar(&o.latency.minTTFB, "min-samples", 200, "first bytes a latency window waits for, extended if need be")
	tpSizes := fs.String("tp-sizes", "64,1024", "event `sizes` of the throughput phase")
	fs.IntVar(&o.throughput.streams, "tp-streams", 16, "concurrent streams of the throughput phase")
	fs.IntVar(&o.throughput.batch, "tp-batch", 8, "events the agent writes at a time in the throughput phase")
	fs.DurationVar(&o.throughput.warmup, "tp-warmup", 500*time.Millisecond, "warm-up of each throughput run")
	fs.DurationVar(&o.throughput.window, "tp-window", 3*time.Second, "measurement window of each throughput run")
	fs.StringVar(&o.gateway, "gateway", "child", "where the throughput and invocation runs put the gateway: `child` (the built binary, CPU read from /proc) or inproc")
	fs.BoolVar(&o.peersEphemeral, "peers-ephemeral", false, "add to the peer phase the gateway with durable turns off (stream.durable: false)")
	memStreams := fs.String("mem-streams", "1000,10000", "idle `streams` of the memory phase")
	memModes := fs.String("mem-modes", "original,transformed,openai", "gateway `modes` of the memory phase")
	memUpstreams := fs.String("mem-upstreams", "tls,plain", "how the gateway reaches the emulator in the memory phase: `tls` (HTTPS, HTTP/2 as AgentCore's endpoints), plain (HTTP/1.1)")
	fs.IntVar(&o.memPerHost, "mem-per-host", 2000, "idle streams per emulator port (the SDK caps connections per host at 2,048)")
	fs.IntVar(&o.startups, "startup-runs", 10, "starts of the binary in the start-up phase")
	fs.StringVar(&o.out, "out", "", "JSON results `file` (default bench/results/latest.json in the module)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write this process's CPU profile (in-process gateway included) to `file`")
	fs.StringVar(&o.memProfile, "memprofile", "", "write the gateway's heap profile, with the most idle streams open, to `file`")
	fs.StringVar(&o.role, "role", "", "internal: run as a helper process of the memory phase")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.set = map[string]string{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = f.Value.String() })
	if o.quick {
		// A smoke run: every phase, fewer levels, short windows; flags
		// given explicitly still win.
		quick := map[string]string{"streams": "1,100", "window": "1s", "rounds": "1", "tp-window": "1s", "tp-warmup": "250ms",
			"mem-streams": "1000", "mem-modes": "original", "startup-runs": "3"}
		for name, v := range quick {
			if _, given := o.set[name]; !given {
				_ = fs.Set(name, v)
			}
		}
	}
	o.effective = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "role" && f.Name != "out" && f.Name != "cpuprofile" && f.Name != "memprofile" {
			o.effective[f.Name] = f.Value.String()
		}
	})
	var err error
	o.phases = list(*phases)
	o.modes = list(*modes)
	o.memModes = list(*memModes)
	o.memUpstreams = list(*memUpstreams)
	for _, u := range o.memUpstreams {
		if u != "tls" && u != "plain" {
			return nil, fmt.Errorf("-mem-upstreams: %q is neither tls nor plain", u)
		}
	}
	if o.streams, err = ints("streams", *streams); err != nil {
		return nil, err
	}
	if o.sweep, err = ints("rate-sweep", *sweep); err != nil {
		return nil, err
	}
	if o.tpSizes, err = ints("tp-sizes", *tpSizes); err != nil {
		return nil, err
	}
	if o.memStreams, err = ints("mem-streams", *memStreams); err != nil {
		return nil, err
	}
	for _, m := range append(slices.Clone(o.modes), o.memModes...) {
		if m != modeOriginal && m != modeTransformed && m != modeOpenAI {
			return nil, fmt.Errorf("mode %q: want original, transformed or openai", m)
		}
	}
	for _, s := range append(slices.Clone(o.tpSizes), o.latency.size) {
		if s < minEventSize {
			return nil, fmt.Errorf("event size %d: at least %d bytes", s, minEventSize)
		}
	}
	if o.rounds < 1 {
		return nil, fmt.Errorf("-rounds %d: at least 1", o.rounds)
	}
	if o.gateway != "child" && o.gateway != "inproc" {
		return nil, fmt.Errorf("-gateway %q: want child or inproc", o.gateway)
	}
	return o, nil
}

func list(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func ints(name, s string) ([]int, error) {
	var out []int
	for _, f := range list(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-%s: %q is not a positive number", name, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func (o *options) has(phase string) bool { return slices.Contains(o.phases, phase) }

// run is the whole program.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	isolateAWSEnv()
	if o.role != "" {
		return runRole(o.role, stdin, stdout)
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }
	r := &results{Command: command(o), Started: time.Now(), Machine: readMachine(), Options: o.effective}
	r.Machine.PhaseLoad = map[string]float64{}
	phase := func(name string) { r.Machine.PhaseLoad[name] = loadAverage() }
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if o.out == "" {
		o.out = filepath.Join(root, "bench", "results", "latest.json")
	}
	r.Commit = commit(root)

	// The binary serves the start-up phase, and the throughput phase when
	// the gateway runs as a child; build it before measuring anything.
	var bin, revBin, dir string
	if o.has("startup") || o.has("peers") || (o.has("throughput") && o.gateway == "child") {
		if dir, err = os.MkdirTemp("", "agentgate-bench-"); err != nil {
			return err
		}
		_ = os.Chmod(dir, 0o755) // nginx's workers, as nobody, reach into it
		defer os.RemoveAll(dir)
		logf("building cmd/agentgate")
		if bin, err = buildGateway(ctx, root, dir); err != nil {
			r.Notes = append(r.Notes, "could not build the binary, so no start-up or peer figures and the throughput phase ran the gateway in process: "+err.Error())
			logf("%v", err)
			o.gateway = "inproc"
		}
		if o.has("peers") && bin != "" {
			if revBin, err = buildRevProxy(ctx, root, dir); err != nil {
				r.Notes = append(r.Notes, "no peer figures: "+err.Error())
				logf("%v", err)
			}
		}
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	clk := clock{base: time.Now()}
	maxStreams := slices.Max(append([]int{o.throughput.streams}, o.streams...))
	// Six sockets per stream (both ends of three hops), and room to spare.
	if lim := raiseFileLimit(uint64(8*maxStreams + 1024)); lim < uint64(6*maxStreams+256) {
		return fmt.Errorf("%d streams need about %d open files; the limit is %d", maxStreams, 6*maxStreams+256, lim)
	}
	c, err := startChain(ctx, clk, maxStreams+64)
	if err != nil {
		return err
	}
	defer c.close()

	if o.has("startup") && bin != "" {
		phase("startup")
		logf("start-up: %d runs", o.startups)
		st, err := runStartup(ctx, bin, c, o.startups, hasLambdaMode(ctx, root))
		if err != nil {
			r.Notes = append(r.Notes, "start-up: "+err.Error())
			logf("start-up: %v", err)
		} else {
			r.Startup = &st
		}
	}
	if o.has("peers") && revBin != "" {
		phase("peers")
		var notes []string
		r.Peers, notes = runPeers(ctx, clk, bin, revBin, dir, c.agentURL, c.keys, o, logf)
		r.Notes = append(r.Notes, notes...)
	}
	if o.has("latency") {
		phase("latency")
		r.Latency = runLatencyPhase(ctx, c, clk, o, logf)
		r.RateSweep = runRateSweep(ctx, c, clk, o, logf)
	}
	if o.has("throughput") {
		phase("throughput")
		var err error
		if r.Requests, r.Throughput, err = runThroughputPhase(ctx, c, bin, o, logf); err != nil {
			return err
		}
	}
	c.close()
	if o.has("memory") {
		phase("memory")
		logf("memory: %v idle streams in %v", o.memStreams, o.memModes)
		mem, err := runMemory(ctx, o.memStreams, o.memModes, o.memUpstreams, o.memPerHost, o.memProfile)
		r.Memory = mem
		if err != nil {
			r.Notes = append(r.Notes, "memory: "+err.Error())
			logf("memory: %v", err)
		}
		for _, m := range mem {
			logf("memory: %d streams %s: %.1f KiB RSS, %.1f KiB heap per stream", m.Streams, m.Mode, m.RSSKiB, m.HeapKiB)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	r.Machine.LoadEnd = loadAverage()
	r.Seconds = time.Since(r.Started).Seconds()
	r.Targets = checkTargets(r, o.modes)
	fmt.Fprint(stdout, markdown(r))
	if err := writeJSON(o.out, r); err != nil {
		return err
	}
	logf("wrote %s", o.out)
	return nil
}

// runLatencyPhase measures the direct path and the gateway in each mode
// at each concurrency, in rounds: each round runs every path once, so
// that a change in the machine's load over the phase reaches every path
// alike, and each path's rounds are pooled.
func runLatencyPhase(ctx context.Context, c *chain, clk clock, o *options, logf func(string, ...any)) []latencyResult {
	var out []latencyResult
	paths := []path{c.direct}
	for _, m := range o.modes {
		paths = append(paths, c.gateway(m))
	}
	per := o.latency
	per.window = o.latency.window / time.Duration(o.rounds)
	per.minTTFB = (o.latency.minTTFB + o.rounds - 1) / o.rounds
	for _, n := range o.streams {
		rounds := make([][]latencyResult, len(paths))
		for range o.rounds {
			for i, p := range paths {
				if ctx.Err() != nil {
					return out
				}
				rounds[i] = append(rounds[i], runLatency(ctx, clk, p, n, per, nil))
				time.Sleep(300 * time.Millisecond) // let the cancelled streams unwind
			}
		}
		for _, rs := range rounds {
			l := mergeRounds(rs)
			logf("latency: %4d streams %-11s ttfb p50 %.3f p99 %.3f ms, event p50 %.3f p99 %.3f ms, %d errors",
				n, l.Path, l.TTFB.P50, l.TTFB.P99, l.Event.P50, l.Event.P99, l.Errors)
			out = append(out, l)
		}
	}
	return out
}

// runRateSweep measures 100 streams again, on the direct path and in
// original mode, at other stream start rates: whether what the gateway
// adds to the time to first byte follows the streams open or the streams
// started.
func runRateSweep(ctx context.Context, c *chain, clk clock, o *options, logf func(string, ...any)) []latencyResult {
	var out []latencyResult
	for _, rate := range o.sweep {
		per := o.latency
		per.rate = float64(rate)
		per.window = o.latency.window / time.Duration(o.rounds)
		per.minTTFB = (o.latency.minTTFB + o.rounds - 1) / o.rounds
		for _, p := range []path{c.direct, c.gateway(modeOriginal)} {
			if ctx.Err() != nil {
				return out
			}
			l := runLatency(ctx, clk, p, 100, per, nil)
			logf("rate sweep: %4d/s %-11s ttfb p50 %.3f p99 %.3f ms", rate, l.Path, l.TTFB.P50, l.TTFB.P99)
			out = append(out, l)
			time.Sleep(300 * time.Millisecond)
		}
	}
	return out
}

// runThroughputPhase runs back-to-back one-event invocations on the direct
// path, then on the gateway in each mode, for the gateway's cost per
// invocation; then it floods each path with events of each size.
func runThroughputPhase(ctx context.Context, c *chain, bin string, o *options, logf func(string, ...any)) ([]requestResult, []throughputResult, error) {
	gwPath := c.gateway
	var gwCPU func() (float64, error)
	if o.gateway == "child" {
		proc, err := startGatewayProc(bin, c.emulatorURL, c.keys)
		if err != nil {
			return nil, nil, fmt.Errorf("gateway child: %w", err)
		}
		defer proc.stop()
		gwPath = func(mode string) path {
			return gatewayPath{mode: mode, url: proc.url, agent: benchAgent, client: c.gwClient}
		}
		gwCPU = proc.cpu
	}
	var requests []requestResult
	var out []throughputResult
	for _, p := range append([]path{c.direct}, mapModes(o.modes, gwPath)...) {
		if ctx.Err() != nil {
			return requests, out, nil
		}
		cpu := gwCPU
		if p == path(c.direct) {
			cpu = nil
		}
		rr := runRequests(ctx, p, o.throughput.streams, o.throughput, cpu)
		logf("invocations: %-11s %7.0f/s, gateway %.0f CPU-µs per invocation", rr.Path, rr.PerSecond, rr.CPUMicros)
		requests = append(requests, rr)
	}
	for _, size := range o.tpSizes {
		if ctx.Err() != nil {
			return requests, out, nil
		}
		direct := runThroughput(ctx, c.direct, size, o.throughput, nil)
		logf("throughput: %4d B direct      %9.0f events/s", size, direct.EventsPerSec)
		out = append(out, direct)
		for _, m := range o.modes {
			if ctx.Err() != nil {
				return requests, out, nil
			}
			t := runThroughput(ctx, gwPath(m), size, o.throughput, gwCPU)
			subtractBaseline(&t, direct)
			logf("throughput: %4d B %-11s %9.0f events/s, gateway %.2f CPU-µs/event (%s)", size, m, t.EventsPerSec, t.CPUMicrosPerEvent, t.CPUMethod)
			out = append(out, t)
		}
	}
	return requests, out, nil
}

func mapModes(modes []string, f func(string) path) []path {
	out := make([]path, len(modes))
	for i, m := range modes {
		out[i] = f(m)
	}
	return out
}

// command is the command line that reproduces the run.
func command(o *options) string {
	args := []string{"go run ./bench"}
	names := make([]string, 0, len(o.set))
	for name := range o.set {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if v := o.set[name]; v == "true" {
			args = append(args, "-"+name)
		} else {
			args = append(args, "-"+name+"="+v)
		}
	}
	return strings.Join(args, " ")
}
