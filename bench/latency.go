package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// latencyOptions shape the latency phases. Whatever the concurrency,
// streams start at about rate per second: each of n workers runs one
// stream after another (a closed loop), and a stream lasts n/rate, sending
// an event every pace or so. So n streams are always open, the request
// rate stays the same at every n, and the event rate grows with n as it
// would with n users reading answers at the same speed.
type latencyOptions struct {
	rate      float64
	pace      time.Duration
	size      int
	window    time.Duration
	minEvents int
	minTTFB   int
}

// spec returns the stream each of n workers runs, and how long it lasts.
func (o latencyOptions) spec(n int) (streamSpec, time.Duration) {
	hold := time.Duration(float64(n) / o.rate * float64(time.Second))
	gaps := max(o.minEvents, int(math.Round(float64(hold)/float64(o.pace))))
	return streamSpec{Events: gaps + 1, Size: o.size, Pace: hold / time.Duration(gaps)}, hold
}

// latencyResult is one latency phase: one path at one concurrency.
type latencyResult struct {
	Streams int    `json:"streams"`
	Path    string `json:"path"`
	// TTFB runs from the request's start to the first byte of the body:
	// the agent's first event, sent as soon as its header is out.
	TTFB dist `json:"ttfb"`
	// Event runs from the agent stamping an event (every event but a
	// stream's first) to the client reading the bytes that hold it.
	Event dist `json:"event"`
	// Requests is how many streams started in the window, Errors how many
	// failed or came short.
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"firstError,omitempty"`
	PerSecond  float64 `json:"streamsPerSecond"`
	// Rate is the stream start rate asked for.
	Rate   float64    `json:"rate"`
	Window float64    `json:"windowSeconds"`
	Spec   streamSpec `json:"spec"`
	// HarnessCores is this process's CPU time per second of the window:
	// near the core count, the machine is saturated and latencies include
	// queueing for a CPU.
	HarnessCores float64 `json:"harnessCores"`
	// Rounds is how many windows, interleaved with the other paths',
	// were pooled.
	Rounds int `json:"rounds"`
	// Sched is how the harness's goroutines, the gateway's among them,
	// waited for a CPU, and what the collector cost, over the window.
	Sched schedStats `json:"sched"`
	// Delivered counts every event the clients read in the window, a
	// stream's first included; RelayCPU is the CPU time (seconds) the
	// relay's own process took over the window, when it runs as one.
	Delivered int     `json:"eventsDelivered"`
	RelayCPU  float64 `json:"relayCPUSeconds,omitempty"`

	ttfbSamples, eventSamples []int64
}

// runLatency runs n concurrent streams over p for a warm-up (a stream's
// length, over which the workers' starts are spread) and then the window,
// in which it collects every time to first byte and every event latency.
//
// An overloaded run stretches its streams, and a closed loop then starts
// few: the window is extended (by up to a stream's length and 1 s) until
// it holds o.minTTFB first bytes. Streams that started in the window get
// up to drain after it for their first byte, so that slow starts are
// reported rather than dropped. relayCPU, when not nil, reads the CPU time
// of the relay's process at the window's edges.
func runLatency(ctx context.Context, clk clock, p path, n int, o latencyOptions, relayCPU func() (float64, error)) latencyResult {
	const drain = 2 * time.Second
	spec, hold := o.spec(n)
	winStart := clk.now() + int64(hold+250*time.Millisecond)
	maxEnd := winStart + int64(o.window+hold+time.Second)
	ctx, cancel := context.WithDeadline(ctx, clk.base.Add(time.Duration(maxEnd)+drain))
	defer cancel()

	shared := &window{start: winStart}
	shared.end.Store(maxEnd)
	workers := make([]latencyWorker, n)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		w.clk, w.path, w.spec, w.win = clk, p, spec, shared
		stagger := hold * time.Duration(i) / time.Duration(n)
		wg.Go(func() { w.run(ctx, stagger) })
	}
	sleepUntil(ctx, clk, winStart)
	cpu0, sched0, relay0 := selfCPU(), readSched(), readCPU(relayCPU)
	sleepUntil(ctx, clk, winStart+int64(o.window))
	for shared.firstBytes.Load() < int64(o.minTTFB) && clk.now() < maxEnd && ctx.Err() == nil {
		sleepUntil(ctx, clk, clk.now()+int64(50*time.Millisecond))
	}
	end := min(clk.now(), maxEnd)
	shared.end.Store(end)
	cpu1, sched1, relay1 := selfCPU(), readSched(), readCPU(relayCPU)
	wg.Wait()

	seconds := time.Duration(end - winStart).Seconds()
	r := latencyResult{Streams: n, Path: p.name(), Spec: spec, Rate: o.rate, Window: seconds, Rounds: 1, HarnessCores: (cpu1 - cpu0) / seconds,
		Sched: sched1.since(sched0), RelayCPU: relay1 - relay0}
	var ttfb, events []int64
	for i := range workers {
		w := &workers[i]
		ttfb = append(ttfb, w.ttfb...)
		events = append(events, w.events...)
		r.Requests += w.requests
		r.Errors += w.errors
		r.Delivered += w.delivered
		if r.FirstError == "" && w.firstErr != nil {
			r.FirstError = w.firstErr.Error()
		}
	}
	r.ttfbSamples, r.eventSamples = ttfb, events
	r.TTFB, r.Event = summarize(ttfb), summarize(events)
	r.PerSecond = float64(r.Requests) / seconds
	return r
}

// mergeRounds pools the rounds of one path at one concurrency: their
// samples, requests and errors add up; the per-window figures (CPU,
// scheduling) are averaged over the rounds, weighted by their windows.
func mergeRounds(rounds []latencyResult) latencyResult {
	r := latencyResult{Streams: rounds[0].Streams, Path: rounds[0].Path, Spec: rounds[0].Spec, Rate: rounds[0].Rate, Rounds: len(rounds)}
	var ttfb, events []int64
	for _, x := range rounds {
		ttfb = append(ttfb, x.ttfbSamples...)
		events = append(events, x.eventSamples...)
		r.Requests += x.Requests
		r.Errors += x.Errors
		r.Delivered += x.Delivered
		r.RelayCPU += x.RelayCPU
		if r.FirstError == "" {
			r.FirstError = x.FirstError
		}
		w := x.Window
		r.Window += w
		r.HarnessCores += x.HarnessCores * w
		r.Sched.WaitP50 += x.Sched.WaitP50 * w
		r.Sched.WaitP99 += x.Sched.WaitP99 * w
		r.Sched.GCShare += x.Sched.GCShare * w
		r.Sched.PauseMax = max(r.Sched.PauseMax, x.Sched.PauseMax)
	}
	if r.Window > 0 {
		r.HarnessCores /= r.Window
		r.Sched.WaitP50 /= r.Window
		r.Sched.WaitP99 /= r.Window
		r.Sched.GCShare /= r.Window
		r.PerSecond = float64(r.Requests) / r.Window
	}
	r.ttfbSamples, r.eventSamples = ttfb, events
	r.TTFB, r.Event = summarize(ttfb), summarize(events)
	return r
}

// window is the measurement window the workers of a run share. Its end
// starts far away and is set once, when the run has enough samples; it
// only ever moves earlier, to a time already past, so a sample taken
// before the end was set is inside the final window.
type window struct {
	start      int64
	end        atomic.Int64
	firstBytes atomic.Int64
}

// latencyWorker runs one stream after another and keeps what fell in the
// window. Each worker has its own samples, so none waits on a lock.
type latencyWorker struct {
	clk  clock
	path path
	spec streamSpec
	win  *window

	session          string
	ttfb, events     []int64
	requests, errors int
	delivered        int
	firstErr         error
}

func (w *latencyWorker) run(ctx context.Context, stagger time.Duration) {
	if !sleepUntil(ctx, w.clk, w.clk.now()+int64(stagger)) {
		return
	}
	buf := make([]byte, 32<<10)
	for ctx.Err() == nil && w.clk.now() < w.win.end.Load() {
		if err := w.stream(ctx, buf); err != nil && ctx.Err() == nil {
			w.fail(err)
			sleepUntil(ctx, w.clk, w.clk.now()+int64(10*time.Millisecond))
		}
	}
}

// stream runs one stream to its end, or to the end of the window once its
// first byte is in.
func (w *latencyWorker) stream(ctx context.Context, buf []byte) error {
	t0 := w.clk.now()
	body, err := w.path.open(ctx, w.spec, &w.session)
	if err != nil {
		return err
	}
	defer body.Close()
	counted := t0 >= w.win.start && t0 < w.win.end.Load()
	if counted {
		w.requests++
	}
	var sc scanner
	seen, first := 0, true
	for {
		n, rerr := body.Read(buf)
		t := w.clk.now()
		end := w.win.end.Load()
		if n > 0 {
			if first && counted {
				w.ttfb = append(w.ttfb, t-t0)
				w.win.firstBytes.Add(1)
			}
			first = false
			sc.scan(buf[:n], func(ts int64) {
				seen++
				if t >= w.win.start && t <= end {
					w.delivered++
				}
				if seen > 1 && ts >= w.win.start && t <= end {
					w.events = append(w.events, t-ts)
				}
			})
		}
		switch {
		case n > 0 && t > end:
			return nil
		case errors.Is(rerr, io.EOF) && seen != w.spec.Events:
			return fmt.Errorf("stream ended after %d of %d events", seen, w.spec.Events)
		case errors.Is(rerr, io.EOF):
			return nil
		case rerr != nil:
			return rerr
		}
	}
}

func (w *latencyWorker) fail(err error) {
	w.errors++
	if w.firstErr == nil {
		w.firstErr = err
	}
}

// sleepUntil waits until the clock reads t and reports whether ctx is
// still running then.
func sleepUntil(ctx context.Context, clk clock, t int64) bool {
	d := time.Duration(t - clk.now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
