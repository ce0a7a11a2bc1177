package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// results is everything one run measured; it is written as JSON.
type results struct {
	Command string `json:"command"`
	// Commit is the checkout measured: HEAD, and "+changes" when the
	// working tree differs from it.
	Commit     string             `json:"commit"`
	Started    time.Time          `json:"started"`
	Seconds    float64            `json:"seconds"`
	Machine    machine            `json:"machine"`
	Options    map[string]string  `json:"options"`
	Peers      []peerResult       `json:"peers,omitempty"`
	Latency    []latencyResult    `json:"latency,omitempty"`
	RateSweep  []latencyResult    `json:"rateSweep,omitempty"`
	Throughput []throughputResult `json:"throughput,omitempty"`
	Requests   []requestResult    `json:"invocations,omitempty"`
	Memory     []memoryResult     `json:"memory,omitempty"`
	Startup    *startupResult     `json:"startup,omitempty"`
	Targets    []target           `json:"targets"`
	Notes      []string           `json:"notes,omitempty"`
}

// machine is where the run ran.
type machine struct {
	CPUs      int     `json:"cpus"`
	CPUModel  string  `json:"cpuModel"`
	GoVersion string  `json:"goVersion"`
	Kernel    string  `json:"kernel"`
	MemGiB    float64 `json:"memGiB"`
	// Load is the 1-minute load average at the start and at the end: the
	// machine is shared, and other work skews every figure.
	LoadStart float64 `json:"loadStart"`
	LoadEnd   float64 `json:"loadEnd"`
	// PhaseLoad is the 1-minute load average as each phase started.
	PhaseLoad map[string]float64 `json:"phaseLoad"`
}

func readMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			m.MemGiB = kb / (1 << 20)
		}
	}
	return m
}

// target is one of issue 6's targets, checked against the run.
type target struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
	Skipped  bool   `json:"skipped,omitempty"`
}

// checkTargets judges the run against the targets of issue 6.
func checkTargets(r *results, modes []string) []target {
	var out []target
	add := func(name string, skipped bool, met bool, measured string) {
		out = append(out, target{Name: name, Measured: measured, Met: met && !skipped, Skipped: skipped})
	}
	type added struct{ ttfb50, ttfb99, ev99 float64 }
	// at[streams][mode] is what the gateway added in mode at streams.
	at := map[int]map[string]added{}
	direct := map[int]*latencyResult{}
	for i := range r.Latency {
		l := &r.Latency[i]
		d := direct[l.Streams]
		switch {
		case l.Path == "direct":
			direct[l.Streams] = l
		case d != nil && d.TTFB.N > 0 && l.TTFB.N > 0:
			if at[l.Streams] == nil {
				at[l.Streams] = map[string]added{}
			}
			at[l.Streams][l.Path] = added{l.TTFB.P50 - d.TTFB.P50, l.TTFB.P99 - d.TTFB.P99, l.Event.P99 - d.Event.P99}
		}
	}
	// eachMode lists the figure get reads at streams for every mode, and
	// whether all are within limit.
	eachMode := func(streams int, limit float64, get func(added) float64) (string, bool) {
		var parts []string
		met := true
		for _, m := range modes {
			a, ok := at[streams][m]
			if !ok {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %+.3f ms", m, get(a)))
			met = met && get(a) <= limit
		}
		return strings.Join(parts, ", "), met
	}
	skip := len(at[100]) == 0
	s, met := eachMode(100, 0.3, func(a added) float64 { return a.ttfb50 })
	add("added TTFB p50 ≤ 0.3 ms at 100 streams", skip, met, s)
	s, met = eachMode(100, 2, func(a added) float64 { return a.ttfb99 })
	add("added TTFB p99 ≤ 2 ms at 100 streams", skip, met, s)
	s, met = eachMode(100, 1, func(a added) float64 { return a.ev99 })
	if one, _ := eachMode(1, 1, func(a added) float64 { return a.ev99 }); one != "" {
		s = "at 100 streams: " + s + "; at 1 stream: " + one
	}
	add("added per-event latency p99 ≤ 1 ms (judged at 100 streams)", skip, met, s)

	best := map[string]float64{}
	var cpu []string
	cpuMet := true
	for _, t := range r.Throughput {
		if t.Path == "direct" {
			continue
		}
		best[t.Path] = max(best[t.Path], t.EventsPerSec)
		if t.CPUMethod != "" {
			cpu = append(cpu, fmt.Sprintf("%s %dB %.2f µs", t.Path, t.Size, t.CPUMicrosPerEvent))
			cpuMet = cpuMet && t.CPUMicrosPerEvent <= 5
		}
	}
	for _, want := range []struct {
		mode string
		min  float64
	}{{modeOriginal, 100_000}, {modeTransformed, 50_000}} {
		v, ok := best[want.mode]
		add(fmt.Sprintf("≥ %s events/s relayed in %s mode", thousands(want.min), want.mode), !ok, v >= want.min, thousands(v)+" events/s")
	}
	add("≤ 5 gateway CPU-µs per event", len(cpu) == 0, cpuMet, strings.Join(cpu, ", "))

	// Judged as the gateway reaches AgentCore, over TLS (HTTP/2), when the
	// run measured it; the plain HTTP/1.1 figures are shown beside.
	judged := "plain"
	for _, m := range r.Memory {
		if m.Upstream == "tls" {
			judged = "tls"
		}
	}
	var mem []string
	memMet, memSeen := true, false
	for _, m := range r.Memory {
		if m.Requested < 10_000 {
			continue
		}
		mem = append(mem, fmt.Sprintf("%s over %s %.1f KiB RSS (%d streams)", m.Mode, upstreamName[m.Upstream], m.RSSKiB, m.Streams))
		if m.Upstream == judged || m.Upstream == "" {
			memSeen = true
			memMet = memMet && m.RSSKiB <= 48
		}
	}
	add("≤ 48 KiB per open stream at 10,000 streams", !memSeen, memMet, strings.Join(mem, ", "))

	if gw, ok := peerFor(r.Peers, relayAgentgate); ok {
		nginx, hasNginx := peerFor(r.Peers, relayNginx)
		goproxy, hasGo := peerFor(r.Peers, relayHTTPUtil)
		add("peers: TTFB p50 at 1 stream ≤ nginx's + 0.3 ms", !hasNginx, gw.TTFB.P50-nginx.TTFB.P50 <= 0.3,
			fmt.Sprintf("%+.3f ms over nginx (%.3f vs %.3f ms)", gw.TTFB.P50-nginx.TTFB.P50, gw.TTFB.P50, nginx.TTFB.P50))
		add("peers: CPU per event, 100 paced streams ≤ Go httputil's", !hasGo, gw.PacedCPU <= goproxy.PacedCPU,
			fmt.Sprintf("%.1f vs %.1f µs (× %.2f)", gw.PacedCPU, goproxy.PacedCPU, ratio(gw.PacedCPU, goproxy.PacedCPU)))
		add("peers: CPU per event, unpaced, 8 streams ≤ nginx's", !hasNginx, gw.UnpacedCPU <= nginx.UnpacedCPU,
			fmt.Sprintf("%.2f vs %.2f µs (× %.2f)", gw.UnpacedCPU, nginx.UnpacedCPU, ratio(gw.UnpacedCPU, nginx.UnpacedCPU)))
		add("peers: peak RSS at 100 streams ≤ 25 MiB", false, gw.PeakRSSMiB <= 25,
			fmt.Sprintf("%.1f MiB (nginx %s, httputil %s)", gw.PeakRSSMiB, cellMiB(hasNginx, nginx.PeakRSSMiB), cellMiB(hasGo, goproxy.PeakRSSMiB)))
	}

	if st := r.Startup; st != nil && st.Runs > 0 {
		s := fmt.Sprintf("serve: %.1f ms to /healthz (p50)", st.Healthy.P50)
		met := st.Healthy.P50 <= 20
		if st.Lambda != nil {
			s += fmt.Sprintf("; Lambda: %.1f ms to GET /next (p50)", st.Lambda.P50)
			met = met && st.Lambda.P50 <= 20
		}
		add("start-up to ready ≤ 20 ms", false, met, s)
	} else {
		add("start-up to ready ≤ 20 ms", true, false, "")
	}
	return out
}

// markdown renders r as the tables docs/performance.md keeps.
func markdown(r *results) string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Machine: %d × %s, %.0f GiB, Linux %s, %s. Load average %.2f at the start, %.2f at the end.\n\n",
		m.CPUs, m.CPUModel, m.MemGiB, m.Kernel, m.GoVersion, m.LoadStart, m.LoadEnd)
	fmt.Fprintf(&b, "Command: `%s` (%.0f s), at commit %s.\n", r.Command, r.Seconds, r.Commit)

	if len(r.Peers) > 0 {
		fmt.Fprintf(&b, "\n### Peers: one relay in front of the same agent (%d interleaved rounds; load average %.2f as the phase started)\n\n",
			r.peerRounds(), m.PhaseLoad["peers"])
		b.WriteString(peerTable(r.Peers))
	}

	if len(r.Latency) > 0 {
		fmt.Fprintf(&b, "\n### Time to first byte (ms; load average %.2f as the phase started)\n\n", m.PhaseLoad["latency"])
		b.WriteString("| streams | path | p50 | p99 | added p50 | added p99 | × direct p50 | × direct p99 | streams/s | errors | harness CPU cores | run-queue wait p50 / p99 | GC CPU |\n")
		b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		eachLatency(r.Latency, func(l, d latencyResult) {
			a, b2 := l.TTFB, d.TTFB
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %d | %.2f | %.3f / %.3f | %.0f%% |\n",
				thousands(float64(l.Streams)), l.Path, msOf(a, a.P50), msOf(a, a.P99),
				delta(a, b2, a.P50-b2.P50), delta(a, b2, a.P99-b2.P99),
				times(a, b2, ratio(a.P50, b2.P50)), times(a, b2, ratio(a.P99, b2.P99)),
				l.PerSecond, l.Errors, l.HarnessCores, l.Sched.WaitP50, l.Sched.WaitP99, 100*l.Sched.GCShare)
		})
		b.WriteString("\n### Per-event latency, agent → client (ms)\n\n")
		b.WriteString("| streams | path | p50 | p99 | added p50 | added p99 | × direct p50 | × direct p99 | events | events/s |\n")
		b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		eachLatency(r.Latency, func(l, d latencyResult) {
			a, b2 := l.Event, d.Event
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %d | %s |\n",
				thousands(float64(l.Streams)), l.Path, msOf(a, a.P50), msOf(a, a.P99),
				delta(a, b2, a.P50-b2.P50), delta(a, b2, a.P99-b2.P99),
				times(a, b2, ratio(a.P50, b2.P50)), times(a, b2, ratio(a.P99, b2.P99)),
				a.N, thousands(float64(a.N)/l.Window))
		})
	}

	if len(r.RateSweep) > 0 {
		b.WriteString("\n### Time to first byte at 100 streams, by stream start rate (ms)\n\n")
		b.WriteString("| starts/s asked | path | p50 | p99 | added p50 | added p99 | streams/s | harness CPU cores |\n")
		b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|\n")
		sweep := append([]latencyResult(nil), r.RateSweep...)
		for _, l := range r.Latency {
			if l.Streams == 100 && (l.Path == "direct" || l.Path == modeOriginal) {
				sweep = append(sweep, l)
			}
		}
		slices.SortStableFunc(sweep, func(x, y latencyResult) int { return cmp.Compare(x.Rate, y.Rate) })
		var d dist
		for _, l := range sweep {
			a, added50, added99 := l.TTFB, "", ""
			if l.Path == "direct" {
				d = l.TTFB
			} else {
				added50, added99 = delta(a, d, a.P50-d.P50), delta(a, d, a.P99-d.P99)
			}
			fmt.Fprintf(&b, "| %.0f | %s | %s | %s | %s | %s | %.0f | %.2f |\n",
				l.Rate, l.Path, msOf(a, a.P50), msOf(a, a.P99), added50, added99, l.PerSecond, l.HarnessCores)
		}
	}

	if len(r.Throughput) > 0 {
		t0 := r.Throughput[0]
		fmt.Fprintf(&b, "\n### Throughput (%d streams, agent writes %d events at a time; load average %.2f as the phase started)\n\n",
			t0.Streams, t0.Batch, m.PhaseLoad["throughput"])
		b.WriteString("| event | path | events/s | MB/s upstream | MB/s to client | × direct | gateway CPU-µs per event (= CPU-s per 1M events) | errors |\n")
		b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|\n")
		var direct throughputResult
		for _, t := range r.Throughput {
			x, cpu := "", ""
			if t.Path == "direct" {
				direct = t
			} else {
				x = fmt.Sprintf("%.2f", ratio(t.EventsPerSec, direct.EventsPerSec))
				if t.CPUMethod != "" {
					cpu = fmt.Sprintf("%.2f (%s)", t.CPUMicrosPerEvent, t.CPUMethod)
				}
			}
			fmt.Fprintf(&b, "| %d B | %s | %s | %.1f | %.1f | %s | %s | %d |\n",
				t.Size, t.Path, thousands(t.EventsPerSec), t.MBPerSec, t.ClientMBPerSec, x, cpu, t.Errors)
		}
	}

	if len(r.Requests) > 0 {
		fmt.Fprintf(&b, "\n### Invocations (%d streams, back to back, one 64 B event each)\n\n", r.Requests[0].Streams)
		b.WriteString("| path | invocations/s | × direct | gateway CPU-µs per invocation | errors |\n|---|---:|---:|---:|---:|\n")
		direct := r.Requests[0]
		for _, q := range r.Requests {
			x, cpu := "", ""
			if q.Path != "direct" {
				x = fmt.Sprintf("%.2f", ratio(q.PerSecond, direct.PerSecond))
				if q.CPUMicros > 0 {
					cpu = fmt.Sprintf("%.0f", q.CPUMicros)
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d |\n", q.Path, thousands(q.PerSecond), x, cpu, q.Errors)
		}
	}

	if len(r.Memory) > 0 {
		fmt.Fprintf(&b, "\n### Memory per open, idle stream (gateway process only, KiB; load average %.2f as the phase started)\n\n", m.PhaseLoad["memory"])
		b.WriteString("| streams | mode | upstream | RSS | Go heap | goroutine stacks | goroutines | new goroutine stack | fds | gateway RSS (MiB) | emulator hop RSS (reference) |\n")
		b.WriteString("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, mr := range r.Memory {
			n := thousands(float64(mr.Streams))
			if mr.Agents > 1 {
				n += fmt.Sprintf(" over %d agents", mr.Agents)
			}
			if mr.LimitedByFile {
				n += fmt.Sprintf(" (of %s: file limit %d)", thousands(float64(mr.Requested)), mr.FileLimit)
			}
			if mr.Errors > 0 {
				n += fmt.Sprintf(", %d failed", mr.Errors)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %.1f | %.0f | %.1f |\n",
				n, mr.Mode, upstreamName[mr.Upstream], mr.RSSKiB, mr.HeapKiB, mr.StackKiB, mr.Goroutines, mr.StartStackKiB, mr.FDs, mr.TotalRSSMiB, mr.EmulatorRSS)
		}
	}

	if st := r.Startup; st != nil {
		fmt.Fprintf(&b, "\n### Start-up of the built binary (ms from exec; load average %.2f as the phase started)\n\n", m.PhaseLoad["startup"])
		b.WriteString("| to | p50 | max | runs |\n|---|---:|---:|---:|\n")
		if st.Runs > 0 {
			fmt.Fprintf(&b, "| `serve` logs \"gateway listening\" | %.1f | %.1f | %d |\n", st.Listening.P50, st.Listening.Max, st.Runs)
			fmt.Fprintf(&b, "| `serve` answers /healthz | %.1f | %.1f | %d |\n", st.Healthy.P50, st.Healthy.Max, st.Runs)
			fmt.Fprintf(&b, "| `serve` streams the first byte of the first invocation | %.1f | %.1f | %d |\n", st.FirstByte.P50, st.FirstByte.Max, st.Runs)
		}
		if st.Lambda != nil {
			fmt.Fprintf(&b, "| `%s` in Lambda mode asks for its first invocation | %.1f | %.1f | %d |\n", st.LambdaArgs, st.Lambda.P50, st.Lambda.Max, st.Lambda.N)
		}
		if st.Note != "" {
			fmt.Fprintf(&b, "\n%s\n", st.Note)
		}
		if in := st.Inits; in != nil {
			fmt.Fprintf(&b, "\nBefore main (GODEBUG=inittrace=1, p50 of %d runs): package initialisers end %.1f ms after the runtime starts, "+
				"%.1f ms of it in the initialisers themselves; exec to listening %.1f ms in these runs. Slowest initialisers:", st.Runs, in.Done.P50, in.Clock.P50, in.Listening.P50)
			for i, t := range in.Top {
				sep := ","
				if i == 0 {
					sep = ""
				}
				fmt.Fprintf(&b, "%s %s %.1f ms (%d allocs)", sep, t.Package, t.Ms, t.Allocs)
			}
			fmt.Fprintf(&b, ". After them, main's stack.NewGateway took %.1f ms in this process (its first call).\n", st.NewGateway)
		}
	}

	b.WriteString("\n### Targets\n\n| target | measured | |\n|---|---|---|\n")
	for _, t := range r.Targets {
		verdict := "missed"
		switch {
		case t.Skipped:
			verdict = "not measured"
		case t.Met:
			verdict = "met"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Name, t.Measured, verdict)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

func cellMiB(ok bool, v float64) string {
	if !ok {
		return "not measured"
	}
	return fmt.Sprintf("%.1f MiB", v)
}

// peerRounds is how many rounds the peer phase ran.
func (r *results) peerRounds() int {
	if len(r.Peers) == 0 {
		return 0
	}
	return len(r.Peers[0].RoundsPaced)
}

// peerTable renders the peer phase: each relay's figures, then the
// gateway's as ratios to each peer's.
func peerTable(ps []peerResult) string {
	var b strings.Builder
	nginx, hasNginx := peerFor(ps, relayNginx)
	goproxy, hasGo := peerFor(ps, relayHTTPUtil)
	gw, hasGW := peerFor(ps, relayAgentgate)
	cell := func(ok bool, format string, v float64) string {
		if !ok {
			return "—"
		}
		return fmt.Sprintf(format, v)
	}
	x := func(ok bool, a, b float64) string {
		if !ok || !hasGW || b == 0 {
			return ""
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	eph, hasEph := peerFor(ps, relayEphemeral)
	eHead, eRule := "", ""
	if hasEph {
		// The gateway with durable turns off, and durable over it.
		eHead, eRule = " agentgate, turns not durable | durable × not |", "---:|---:|"
	}
	b.WriteString("| | nginx | Go httputil | agentgate `original` | agentgate × nginx | agentgate × httputil |" + eHead + " goal |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|" + eRule + "---|\n")
	row := func(name, format string, get func(peerResult) float64, goal string) {
		e := ""
		if hasEph {
			e = " " + cell(true, format, get(eph)) + " | " + x(true, get(gw), get(eph)) + " |"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |%s %s |\n", name,
			cell(hasNginx, format, get(nginx)), cell(hasGo, format, get(goproxy)), cell(hasGW, format, get(gw)),
			x(hasNginx, get(gw), get(nginx)), x(hasGo, get(gw), get(goproxy)), e, goal)
	}
	row("time to first byte p50, 1 stream (ms)", "%.3f", func(p peerResult) float64 { return p.TTFB.P50 }, "≤ nginx + 0.3 ms")
	if hasNginx {
		e := ""
		if hasEph {
			e = " " + cell(true, "%+.3f", eph.TTFB.P50-nginx.TTFB.P50) + " | |"
		}
		fmt.Fprintf(&b, "| time to first byte p50, added over nginx (ms) | — | %s | %s | | |%s ≤ +0.3 ms |\n",
			cell(hasGo, "%+.3f", goproxy.TTFB.P50-nginx.TTFB.P50), cell(hasGW, "%+.3f", gw.TTFB.P50-nginx.TTFB.P50), e)
	}
	row("time to first byte p99, 1 stream (ms)", "%.3f", func(p peerResult) float64 { return p.TTFB.P99 }, "")
	row("CPU-µs per event, 100 paced streams (50 events/s each)", "%.1f", func(p peerResult) float64 { return p.PacedCPU }, "≤ Go httputil's")
	row("CPU-µs per event, unpaced, 8 streams of 64 B events", "%.2f", func(p peerResult) float64 { return p.UnpacedCPU }, "≤ nginx's")
	row("events/s, unpaced, 8 streams of 64 B events", "%.0f", func(p peerResult) float64 { return p.UnpacedRate }, "")
	row("peak RSS, 100 paced streams (MiB)", "%.1f", func(p peerResult) float64 { return p.PeakRSSMiB }, "≤ 25 MiB")
	e := ""
	if hasEph {
		e = fmt.Sprintf(" %d | |", eph.Errors)
	}
	fmt.Fprintf(&b, "| errors | %s | %s | %s | | |%s 0 |\n",
		cell(hasNginx, "%.0f", float64(nginx.Errors)), cell(hasGo, "%.0f", float64(goproxy.Errors)), cell(hasGW, "%.0f", float64(gw.Errors)), e)
	return b.String()
}

// eachLatency calls row for every latency result with the direct result
// at the same concurrency; a direct row gets an empty one.
func eachLatency(ls []latencyResult, row func(l, direct latencyResult)) {
	direct := map[int]latencyResult{}
	for _, l := range ls {
		if l.Path == "direct" {
			direct[l.Streams] = l
		}
	}
	for _, l := range ls {
		d := direct[l.Streams]
		if l.Path == "direct" {
			d = latencyResult{}
		}
		row(l, d)
	}
}

// msOf formats a percentile of d, or "n/a" when d has no samples.
func msOf(d dist, v float64) string {
	if d.N == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", v)
}

// delta formats a gateway figure minus the direct one, when both exist.
func delta(gw, direct dist, v float64) string {
	if gw.N == 0 || direct.N == 0 {
		return ""
	}
	return fmt.Sprintf("%+.3f", v)
}

// times formats a gateway figure over the direct one, when both exist.
func times(gw, direct dist, v float64) string {
	if gw.N == 0 || direct.N == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", v)
}

// thousands formats v rounded, with thin thousands separators: 123,456.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// writeJSON writes r to path, creating its directory.
func writeJSON(path string, r *results) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// upstreamName says how the gateway reached the emulator in a memory run.
var upstreamName = map[string]string{"tls": "HTTPS (h2)", "plain": "HTTP/1.1", "": "HTTP/1.1"}
