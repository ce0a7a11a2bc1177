package main

import (
	"bytes"
	"math"
	"math/rand/v2"
	"runtime/metrics"
	"slices"
	"testing"
	"time"
)

func TestPercentileUsesNearestRank(t *testing.T) {
	oneToHundred := make([]int64, 100)
	for i := range oneToHundred {
		oneToHundred[i] = int64(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []int64
		p      float64
		want   int64
	}{
		{"an empty set is zero", nil, 50, 0},
		{"one sample is every percentile", []int64{7}, 99, 7},
		{"one sample is the minimum too", []int64{7}, 0, 7},
		{"the median of 1..100 is 50", oneToHundred, 50, 50},
		{"the 99th of 1..100 is 99", oneToHundred, 99, 99},
		{"the 100th is the maximum", oneToHundred, 100, 100},
		{"the 0th is the minimum", oneToHundred, 0, 1},
		{"a rank between samples rounds up", []int64{10, 20, 30}, 50, 20},
		{"p99 of ten samples is the largest", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
		{"p90 of ten samples is the ninth", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %d, want %d", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeSortsAndConvertsToMilliseconds(t *testing.T) {
	samples := make([]int64, 1000)
	for i := range samples {
		samples[i] = int64(i+1) * int64(time.Microsecond)
	}
	rand.Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })
	d := summarize(samples)
	want := dist{N: 1000, P50: 0.5, P90: 0.9, P99: 0.99, Max: 1}
	if d != want {
		t.Errorf("summarize = %+v, want %+v", d, want)
	}
	if !slices.IsSorted(samples) {
		t.Error("summarize left the samples unsorted")
	}
}

func TestRatioOfZeroBaselineIsZero(t *testing.T) {
	if got := ratio(3, 0); got != 0 {
		t.Errorf("ratio(3, 0) = %v, want 0", got)
	}
	if got := ratio(3, 2); got != 1.5 {
		t.Errorf("ratio(3, 2) = %v, want 1.5", got)
	}
}

func TestScannerFindsMarkersSplitAnywhere(t *testing.T) {
	var stream []byte
	var want []int64
	for i, ts := range []int64{0, 1, 0xabcdef, 1<<48 - 1, 123456789} {
		stream = appendEvent(stream, 64+i*100, ts)
		want = append(want, ts)
	}
	for cut := 1; cut <= len(stream); cut++ {
		var got []int64
		var s scanner
		for p := stream; len(p) > 0; {
			n := min(cut, len(p))
			s.scan(p[:n], func(ts int64) { got = append(got, ts) })
			p = p[n:]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("reads of %d bytes: markers %v, want %v", cut, got, want)
		}
	}
}

func TestEventsHaveTheAskedSize(t *testing.T) {
	for _, size := range []int{minEventSize, 100, 1024} {
		ev := appendEvent(nil, size, 42)
		if len(ev) != size {
			t.Errorf("appendEvent(%d) is %d bytes: %q", size, len(ev), ev)
		}
		if !bytes.HasSuffix(ev, []byte("\n\n")) || bytes.Count(ev, []byte{marker}) != 1 {
			t.Errorf("appendEvent(%d) is not one SSE block with one marker: %q", size, ev)
		}
	}
}

func TestSpecSurvivesThePrompt(t *testing.T) {
	for _, spec := range []streamSpec{
		{Events: 13, Size: 64, Pace: 20 * time.Millisecond},
		{Size: 1024, Batch: 8, Flood: true},
		{Size: 64, Hold: true},
	} {
		got, err := parseSpec(spec.prompt())
		if err != nil || got != spec {
			t.Errorf("parseSpec(%q) = %+v, %v; want %+v", spec.prompt(), got, err, spec)
		}
	}
	if _, err := parseSpec("hello"); err == nil {
		t.Error("parseSpec accepted a prompt that is not a bench spec")
	}
}

func TestHistPercentileReadsWhatTheWindowAdded(t *testing.T) {
	buckets := []float64{0, 1, 2, math.Inf(1)}
	before := &metrics.Float64Histogram{Buckets: buckets, Counts: []uint64{7, 0, 0}}
	after := &metrics.Float64Histogram{Buckets: buckets, Counts: []uint64{7, 5, 5}}
	for _, tc := range []struct {
		p    float64
		want float64
	}{{50, 2}, {51, math.Inf(1)}, {100, math.Inf(1)}} {
		want := tc.want
		if math.IsInf(want, 1) {
			want = 2 // the unbounded bucket reports its lower bound
		}
		if got := histPercentile(before, after, tc.p); got != want {
			t.Errorf("p%v = %v, want %v", tc.p, got, want)
		}
	}
	if got := histPercentile(after, after, 99); got != 0 {
		t.Errorf("p99 of nothing = %v, want 0", got)
	}
}

func TestMergeRoundsPoolsSamplesAndWeighsWindows(t *testing.T) {
	ms := int64(time.Millisecond)
	rounds := []latencyResult{
		{Streams: 100, Path: "original", Window: 1, Requests: 10, HarnessCores: 1, ttfbSamples: []int64{1 * ms, 2 * ms}},
		{Streams: 100, Path: "original", Window: 3, Requests: 30, HarnessCores: 0.2, Errors: 1, FirstError: "boom", ttfbSamples: []int64{3 * ms, 4 * ms}},
	}
	r := mergeRounds(rounds)
	if r.TTFB.N != 4 || r.TTFB.P50 != 2 || r.TTFB.Max != 4 {
		t.Errorf("pooled TTFB = %+v, want 4 samples, p50 2 ms, max 4 ms", r.TTFB)
	}
	if r.Requests != 40 || r.Errors != 1 || r.FirstError != "boom" || r.Window != 4 || r.PerSecond != 10 || r.Rounds != 2 {
		t.Errorf("merged = %+v", r)
	}
	if want := (1*1 + 0.2*3) / 4; math.Abs(r.HarnessCores-want) > 1e-9 {
		t.Errorf("harness cores = %v, want %v", r.HarnessCores, want)
	}
}
