package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// throughputOptions shape a throughput run: streams concurrent streams of
// flooding agents, batch events per write, measured over window after
// warmup.
type throughputOptions struct {
	streams        int
	batch          int
	warmup, window time.Duration
}

// throughputResult is one throughput run: one path, one event size.
type throughputResult struct {
	Size    int    `json:"eventBytes"`
	Path    string `json:"path"`
	Streams int    `json:"streams"`
	Batch   int    `json:"batch"`
	// Events were read by the clients in Seconds, the window.
	Events  int64   `json:"events"`
	Seconds float64 `json:"seconds"`
	// EventsPerSec counts the events the clients read; MBPerSec is those
	// events' size on the upstream wire (10^6 bytes), whatever the format
	// made of them, and ClientMBPerSec the bytes the clients read.
	EventsPerSec   float64 `json:"eventsPerSec"`
	MBPerSec       float64 `json:"mbPerSec"`
	ClientMBPerSec float64 `json:"clientMBPerSec"`
	// HarnessCPU is this process's CPU time over the window; GatewayCPU
	// the gateway child's, when the gateway runs as one.
	HarnessCPU float64 `json:"harnessCPUSeconds"`
	GatewayCPU float64 `json:"gatewayCPUSeconds,omitempty"`
	// CPUMicrosPerEvent is the gateway's CPU time per event relayed, and
	// CPUMethod how it was found: "child" (the gateway process's own CPU
	// time) or "in-process" (this process's CPU per event, minus the same
	// on the direct path).
	CPUMicrosPerEvent float64 `json:"gatewayCPUMicrosPerEvent,omitempty"`
	CPUMethod         string  `json:"cpuMethod,omitempty"`
	Errors            int     `json:"errors"`
	FirstError        string  `json:"firstError,omitempty"`
}

// runThroughput floods p with events of size bytes. gatewayCPU, when not
// nil, reads the gateway process's CPU time.
func runThroughput(ctx context.Context, p path, size int, o throughputOptions, gatewayCPU func() (float64, error)) throughputResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var events, read atomic.Int64
	var mu sync.Mutex
	r := throughputResult{Size: size, Path: p.name(), Streams: o.streams, Batch: o.batch}
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		r.Errors++
		if r.FirstError == "" {
			r.FirstError = err.Error()
		}
	}
	spec := streamSpec{Size: size, Batch: o.batch, Flood: true}
	var wg sync.WaitGroup
	for range o.streams {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			var session string
			for ctx.Err() == nil {
				if err := flood(ctx, p, spec, &session, buf, &events, &read); err != nil && ctx.Err() == nil {
					fail(err)
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(o.warmup)
	e0, b0, h0, g0, t0 := events.Load(), read.Load(), selfCPU(), readCPU(gatewayCPU), time.Now()
	time.Sleep(o.window)
	e1, b1, h1, g1, elapsed := events.Load(), read.Load(), selfCPU(), readCPU(gatewayCPU), time.Since(t0).Seconds()
	cancel()
	wg.Wait()

	r.Events, r.Seconds = e1-e0, elapsed
	n := float64(r.Events)
	r.EventsPerSec = n / elapsed
	r.MBPerSec = n * float64(size) / elapsed / 1e6
	r.ClientMBPerSec = float64(b1-b0) / elapsed / 1e6
	r.HarnessCPU = h1 - h0
	if gatewayCPU != nil && n > 0 {
		r.GatewayCPU = g1 - g0
		r.CPUMicrosPerEvent = r.GatewayCPU / n * 1e6
		r.CPUMethod = "child"
	}
	return r
}

// flood reads one flooding stream until it ends, counting its events.
func flood(ctx context.Context, p path, spec streamSpec, session *string, buf []byte, events, read *atomic.Int64) error {
	body, err := p.open(ctx, spec, session)
	if err != nil {
		return err
	}
	defer body.Close()
	for {
		n, err := body.Read(buf)
		if n > 0 {
			events.Add(int64(bytes.Count(buf[:n], []byte{marker})))
			read.Add(int64(n))
		}
		if errors.Is(err, io.EOF) {
			return errors.New("flooding stream ended")
		}
		if err != nil {
			return err
		}
	}
}

func readCPU(f func() (float64, error)) float64 {
	if f == nil {
		return 0
	}
	v, _ := f()
	return v
}

// subtractBaseline fills in the in-process CPU figure of r: this process
// ran agent, emulator, gateway and clients, so the gateway's share is its
// CPU time per event minus that of the direct run, which ran all but the
// gateway.
func subtractBaseline(r *throughputResult, direct throughputResult) {
	if r.CPUMethod != "" || r.Events == 0 || direct.Events == 0 {
		return
	}
	perEvent := func(t throughputResult) float64 { return t.HarnessCPU / float64(t.Events) * 1e6 }
	r.CPUMicrosPerEvent = perEvent(*r) - perEvent(direct)
	r.CPUMethod = "in-process"
}

// requestResult is one run of back-to-back short invocations: how many
// the path answers per second, and what each costs the gateway.
type requestResult struct {
	Path        string  `json:"path"`
	Streams     int     `json:"streams"`
	PerSecond   float64 `json:"invocationsPerSec"`
	GatewayCPU  float64 `json:"gatewayCPUSeconds,omitempty"`
	CPUMicros   float64 `json:"gatewayCPUMicrosPerInvocation,omitempty"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"firstError,omitempty"`
	Invocations int64   `json:"invocations"`
}

// runRequests runs streams workers that each invoke p again and again
// with a one-event answer. gatewayCPU, when not nil, reads the gateway
// process's CPU time.
func runRequests(ctx context.Context, p path, streams int, o throughputOptions, gatewayCPU func() (float64, error)) requestResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var done atomic.Int64
	var mu sync.Mutex
	r := requestResult{Path: p.name(), Streams: streams}
	spec := streamSpec{Events: 1, Size: minEventSize}
	var wg sync.WaitGroup
	for range streams {
		wg.Go(func() {
			buf := make([]byte, 4<<10)
			var session string
			for ctx.Err() == nil {
				err := invokeOnce(ctx, p, spec, &session, buf)
				if err == nil {
					done.Add(1)
					continue
				}
				if ctx.Err() == nil {
					mu.Lock()
					r.Errors++
					if r.FirstError == "" {
						r.FirstError = err.Error()
					}
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(o.warmup)
	n0, g0, t0 := done.Load(), readCPU(gatewayCPU), time.Now()
	time.Sleep(o.window)
	n1, g1, elapsed := done.Load(), readCPU(gatewayCPU), time.Since(t0).Seconds()
	cancel()
	wg.Wait()
	r.Invocations = n1 - n0
	r.PerSecond = float64(r.Invocations) / elapsed
	if gatewayCPU != nil && r.Invocations > 0 {
		r.GatewayCPU = g1 - g0
		r.CPUMicros = r.GatewayCPU / float64(r.Invocations) * 1e6
	}
	return r
}

// invokeOnce runs one short stream to its end.
func invokeOnce(ctx context.Context, p path, spec streamSpec, session *string, buf []byte) error {
	body, err := p.open(ctx, spec, session)
	if err != nil {
		return err
	}
	defer body.Close()
	for {
		_, err := body.Read(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
