package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The peer phase sets the gateway beside two other relays, each a process
// of its own one hop in front of the same synthetic agent, and measures
// the three in interleaved rounds:
//
//	client → nginx     → agent  POST /invocations
//	client → httputil  → agent  POST /invocations
//	client → agentgate → agent  POST /runtimes/{arn}/invocations (SigV4-signed, unchecked)
//
// nginx (when installed) is a pure streaming proxy: no buffering either
// way, upstream keep-alive, an access log formatted into /dev/null as the
// gateway's is. httputil is Go's net/http/httputil.ReverseProxy with
// FlushInterval -1 (bench/revproxy). The gateway is the built binary,
// `agentgate serve`, in original mode with its default telemetry.

// Relay names in the peer phase.
const (
	relayNginx     = "nginx"
	relayHTTPUtil  = "httputil"
	relayAgentgate = "agentgate"
	// relayEphemeral is the same gateway with durable turns off
	// (-peers-ephemeral): the difference is what teeing each answer into
	// its turn log costs.
	relayEphemeral = "agentgate-ephemeral"
)

// relay is one relay of the peer phase, running as processes of its own.
type relay struct {
	name string
	path path
	// pids lists the relay's processes: their CPU time and memory are the
	// relay's.
	pids func() []int
	stop func()
}

// cpu returns the relay's CPU time so far, all its processes together.
func (r *relay) cpu() (float64, error) {
	var sum float64
	for _, pid := range r.pids() {
		v, err := procCPU(pid)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// resetPeak sets the peak resident set size of the relay's processes back
// to their current size (clear_refs 5, Linux 4.0 and later).
func (r *relay) resetPeak() {
	for _, pid := range r.pids() {
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	}
}

// peakRSS returns the peak resident set size since resetPeak, of all the
// relay's processes together, in bytes.
func (r *relay) peakRSS() int64 {
	var sum int64
	for _, pid := range r.pids() {
		v, _ := procStatus(strconv.Itoa(pid), "VmHWM:")
		sum += v
	}
	return sum
}

// relayPath reaches the agent through a plain relay: POST /invocations
// with the AgentCore container contract's payload.
type relayPath struct {
	relay  string
	url    string
	client *http.Client
}

func (p relayPath) name() string { return p.relay }

func (p relayPath) open(ctx context.Context, spec streamSpec, _ *string) (io.ReadCloser, error) {
	b, _ := json.Marshal(map[string]string{"prompt": spec.prompt()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/invocations", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s answered %s: %s", p.relay, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp.Body, nil
}

// renamed is a path reported under another name.
type renamed struct {
	path
	as string
}

func (r renamed) name() string { return r.as }

// nginxConf is nginx as a pure streaming proxy to the agent at %[1]s,
// listening on %[2]s, its files under %[3]s.
const nginxConf = `daemon off;
worker_processes 1;
pid %[3]s/nginx.pid;
error_log %[3]s/error.log warn;
events { worker_connections 4096; }
http {
	access_log /dev/null;
	client_body_temp_path %[3]s/body;
	proxy_temp_path %[3]s/proxy;
	fastcgi_temp_path %[3]s/fastcgi;
	uwsgi_temp_path %[3]s/uwsgi;
	scgi_temp_path %[3]s/scgi;
	upstream agent {
		server %[1]s;
		keepalive 256;
	}
	server {
		listen %[2]s;
		location / {
			proxy_pass http://agent;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
			proxy_request_buffering off;
			proxy_read_timeout 1h;
		}
	}
}
`

// findNginx returns the nginx binary's path, or "" when none is installed.
func findNginx() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// startNginx runs nginx in front of the agent at agentURL, its files in a
// directory under dir.
func startNginx(bin, dir, agentURL string, client *http.Client) (*relay, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	prefix, err := os.MkdirTemp(dir, "nginx-")
	if err != nil {
		return nil, err
	}
	// Workers run as nobody when nginx starts as root: they must reach
	// their temporary directories.
	_ = os.Chmod(prefix, 0o755)
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, strings.TrimPrefix(agentURL, "http://"), addr, prefix), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-e", filepath.Join(prefix, "error.log"), "-p", prefix, "-c", conf)
	cmd.Env = baseEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	master := cmd.Process.Pid
	r := &relay{name: relayNginx, path: relayPath{relay: relayNginx, url: "http://" + addr, client: client},
		pids: func() []int { return append([]int{master}, children(master)...) },
		stop: func() {
			// The workers leave when the master does (SIGTERM: fast shutdown).
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}}
	if err := waitReady("http://"+addr+"/ping", 10*time.Second); err != nil {
		r.stop()
		log, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
		return nil, fmt.Errorf("nginx: %w: %s %s", err, strings.TrimSpace(stderr.String()), strings.TrimSpace(string(log)))
	}
	return r, nil
}

// children returns the processes whose parent is pid.
func children(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if f := strings.Fields(string(b[i+1:])); i >= 0 && len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// buildRevProxy builds bench/revproxy into dir.
func buildRevProxy(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "revproxy")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./bench/revproxy")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./bench/revproxy: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return bin, nil
}

// startRevProxy runs bench/revproxy, built at bin, in front of the agent.
func startRevProxy(bin, agentURL string, client *http.Client) (*relay, error) {
	cmd := exec.Command(bin, "-target", agentURL)
	cmd.Env = baseEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("revproxy: %w", err)
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		stop()
		return nil, fmt.Errorf("revproxy said %q: %v", line, err)
	}
	url := "http://" + addr
	if err := waitReady(url+"/ping", 10*time.Second); err != nil {
		stop()
		return nil, err
	}
	pid := cmd.Process.Pid
	return &relay{name: relayHTTPUtil, path: relayPath{relay: relayHTTPUtil, url: url, client: client},
		pids: func() []int { return []int{pid} }, stop: stop}, nil
}

// startAgentgateRelay runs `agentgate serve`, built at bin, with the agent
// as its AgentCore endpoint, as relay name; env is added to its
// configuration.
func startAgentgateRelay(name, bin, agentURL string, k keys, client *http.Client, env ...string) (*relay, error) {
	proc, err := startGatewayProc(bin, agentURL, k, env...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	pid := proc.cmd.Process.Pid
	p := gatewayPath{mode: modeOriginal, url: proc.url, agent: benchAgent, client: client}
	return &relay{name: name, path: renamed{p, name},
		pids: func() []int { return []int{pid} }, stop: proc.stop}, nil
}

// peerResult is one relay's figures in the peer phase.
type peerResult struct {
	Relay string `json:"relay"`
	// TTFB is the time to first byte of one stream at a time, the
	// rounds pooled.
	TTFB dist `json:"ttfb1"`
	// PacedCPU is the relay's CPU-µs per event delivered with 100 paced
	// streams open (a new one 400 times a second, each an event every
	// 20 ms); UnpacedCPU the same for 8 flooding streams of 64 B events;
	// PeakRSS the relay's peak resident set over the paced run, MiB.
	// Each is the median of the rounds.
	PacedCPU    float64 `json:"pacedCPUMicrosPerEvent"`
	UnpacedCPU  float64 `json:"unpacedCPUMicrosPerEvent"`
	PeakRSSMiB  float64 `json:"peakRSSMiB100"`
	UnpacedRate float64 `json:"unpacedEventsPerSec"`
	PacedEvents int     `json:"pacedEvents"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"firstError,omitempty"`
	// The rounds' figures, in order.
	RoundsPaced  []float64 `json:"roundsPacedCPU"`
	RoundsFlood  []float64 `json:"roundsUnpacedCPU"`
	RoundsPeak   []float64 `json:"roundsPeakRSSMiB"`
	ttfbSamples  []latencyResult
	unpacedRates []float64
}

// runPeers starts the relays in front of the agent at agentURL and
// measures them in rounds, each round running every relay in turn at a
// workload, so that the machine's load reaches every relay alike: the
// rounds of first bytes and paced streams, then those of unpaced ones.
func runPeers(ctx context.Context, clk clock, bin, revBin, dir, agentURL string, k keys, o *options, logf func(string, ...any)) ([]peerResult, []string) {
	var notes []string
	client := newGatewayClient(256)
	defer client.CloseIdleConnections()
	var relays []*relay
	defer func() {
		for _, r := range relays {
			r.stop()
		}
	}()
	if nginx := findNginx(); nginx == "" {
		notes = append(notes, "peers: nginx is not installed (apt-get install nginx): measured without it")
	} else if r, err := startNginx(nginx, dir, agentURL, client); err != nil {
		notes = append(notes, "peers: "+err.Error())
	} else {
		relays = append(relays, r)
	}
	if r, err := startRevProxy(revBin, agentURL, client); err != nil {
		notes = append(notes, "peers: "+err.Error())
	} else {
		relays = append(relays, r)
	}
	if r, err := startAgentgateRelay(relayAgentgate, bin, agentURL, k, client); err != nil {
		notes = append(notes, "peers: "+err.Error())
	} else {
		relays = append(relays, r)
	}
	if o.peersEphemeral {
		if r, err := startAgentgateRelay(relayEphemeral, bin, agentURL, k, client, "AGENTGATE_STREAM_DURABLE=false"); err != nil {
			notes = append(notes, "peers: "+err.Error())
		} else {
			relays = append(relays, r)
		}
	}
	for _, n := range notes {
		logf("%s", n)
	}

	per := o.latency
	per.window = o.latency.window / time.Duration(o.rounds)
	per.minTTFB = (o.latency.minTTFB + o.rounds - 1) / o.rounds
	tp := o.throughput
	tp.streams, tp.batch = 8, 1
	tp.window = o.throughput.window / time.Duration(o.rounds)
	out := make([]peerResult, len(relays))
	for i, r := range relays {
		out[i].Relay = r.name
	}
	for round := range o.rounds {
		for i, r := range relays {
			if ctx.Err() != nil {
				return out, notes
			}
			out[i].ttfbSamples = append(out[i].ttfbSamples, runLatency(ctx, clk, r.path, 1, per, nil))
			time.Sleep(100 * time.Millisecond)
		}
		for i, r := range relays {
			if ctx.Err() != nil {
				return out, notes
			}
			r.resetPeak()
			l := runLatency(ctx, clk, r.path, 100, per, r.cpu)
			peak := float64(r.peakRSS()) / (1 << 20)
			out[i].RoundsPeak = append(out[i].RoundsPeak, peak)
			out[i].PacedEvents += l.Delivered
			out[i].addErrors(l.Errors, l.FirstError)
			cpu := 0.0
			if l.Delivered > 0 {
				cpu = l.RelayCPU / float64(l.Delivered) * 1e6
			}
			out[i].RoundsPaced = append(out[i].RoundsPaced, cpu)
			logf("peers: round %d %-9s 100 paced streams: %.1f CPU-µs/event, peak RSS %.1f MiB, ttfb p50 %.3f ms, %d errors %s",
				round+1, r.name, cpu, peak, l.TTFB.P50, l.Errors, l.FirstError)
			time.Sleep(300 * time.Millisecond)
		}
	}
	// The unpaced rounds come after every paced one: a durable turn's log
	// is kept for stream.retain after it ends, and the unpaced streams'
	// logs (each at its size cap) would otherwise sit in the next round's
	// peak RSS of the paced streams, a workload that never made them.
	for round := range o.rounds {
		for i, r := range relays {
			if ctx.Err() != nil {
				return out, notes
			}
			t := runThroughput(ctx, r.path, 64, tp, r.cpu)
			out[i].RoundsFlood = append(out[i].RoundsFlood, t.CPUMicrosPerEvent)
			out[i].unpacedRates = append(out[i].unpacedRates, t.EventsPerSec)
			out[i].addErrors(t.Errors, t.FirstError)
			logf("peers: round %d %-9s 8 unpaced streams: %.2f CPU-µs/event, %.0f events/s, %d errors %s",
				round+1, r.name, t.CPUMicrosPerEvent, t.EventsPerSec, t.Errors, t.FirstError)
		}
	}
	for i := range out {
		p := &out[i]
		pooled := mergeRounds(p.ttfbSamples)
		p.TTFB = pooled.TTFB
		p.addErrors(pooled.Errors, pooled.FirstError)
		p.PacedCPU, p.UnpacedCPU, p.PeakRSSMiB = median(p.RoundsPaced), median(p.RoundsFlood), median(p.RoundsPeak)
		p.UnpacedRate = median(p.unpacedRates)
		logf("peers: %-9s ttfb p50 %.3f ms, %.1f / %.2f CPU-µs per event paced / unpaced, peak RSS %.1f MiB",
			p.Relay, p.TTFB.P50, p.PacedCPU, p.UnpacedCPU, p.PeakRSSMiB)
	}
	return out, notes
}

func (p *peerResult) addErrors(n int, first string) {
	p.Errors += n
	if p.FirstError == "" {
		p.FirstError = first
	}
}

// median returns the median of vs (the lower middle of an even count), or
// 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// peerFor returns the result of relay name, if it was measured.
func peerFor(ps []peerResult, name string) (peerResult, bool) {
	for _, p := range ps {
		if p.Relay == name {
			return p, true
		}
	}
	return peerResult{}, false
}
