package main

import (
	"math"
	"runtime/metrics"
)

// schedSample is what the Go runtime says about scheduling and collection
// in this process so far: how long goroutines waited to run once they
// were ready, how long the world stopped for the collector, and the CPU
// time the collector took.
type schedSample struct {
	waits, pauses   *metrics.Float64Histogram
	gcCPU, totalCPU float64
}

var schedMetrics = []string{
	"/sched/latencies:seconds",
	"/sched/pauses/total/gc:seconds",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
}

func readSched() schedSample {
	s := make([]metrics.Sample, len(schedMetrics))
	for i, name := range schedMetrics {
		s[i].Name = name
	}
	metrics.Read(s)
	var out schedSample
	if s[0].Value.Kind() == metrics.KindFloat64Histogram {
		out.waits = s[0].Value.Float64Histogram()
	}
	if s[1].Value.Kind() == metrics.KindFloat64Histogram {
		out.pauses = s[1].Value.Float64Histogram()
	}
	if s[2].Value.Kind() == metrics.KindFloat64 {
		out.gcCPU = s[2].Value.Float64()
	}
	if s[3].Value.Kind() == metrics.KindFloat64 {
		out.totalCPU = s[3].Value.Float64()
	}
	return out
}

// schedStats is what happened between two samples.
type schedStats struct {
	// WaitP50 and WaitP99 are percentiles of the time a ready goroutine
	// waited for a CPU, in ms: the run-queue delay every hop of a stream
	// pays when the process has more work than cores.
	WaitP50 float64 `json:"schedWaitP50Ms"`
	WaitP99 float64 `json:"schedWaitP99Ms"`
	// PauseMax is the longest stop-the-world pause of the collector, in
	// ms; GCShare the collector's share of the process's CPU time.
	PauseMax float64 `json:"gcPauseMaxMs"`
	GCShare  float64 `json:"gcCPUShare"`
}

func (b schedSample) since(a schedSample) schedStats {
	var st schedStats
	if a.waits != nil && b.waits != nil {
		st.WaitP50 = histPercentile(a.waits, b.waits, 50) * 1e3
		st.WaitP99 = histPercentile(a.waits, b.waits, 99) * 1e3
	}
	if a.pauses != nil && b.pauses != nil {
		st.PauseMax = histPercentile(a.pauses, b.pauses, 100) * 1e3
	}
	if cpu := b.totalCPU - a.totalCPU; cpu > 0 {
		st.GCShare = (b.gcCPU - a.gcCPU) / cpu
	}
	return st
}

// histPercentile returns the p-th percentile of the counts b gained over
// a (the same histogram read twice): the upper bound of the bucket it
// falls in, or the lower one for the last, unbounded bucket.
func histPercentile(a, b *metrics.Float64Histogram, p float64) float64 {
	if len(a.Counts) != len(b.Counts) {
		return 0
	}
	var total uint64
	for i := range b.Counts {
		total += b.Counts[i] - a.Counts[i]
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(total)))
	rank = max(rank, 1)
	var seen uint64
	for i := range b.Counts {
		seen += b.Counts[i] - a.Counts[i]
		if seen >= rank {
			if hi := b.Buckets[i+1]; !math.IsInf(hi, 1) {
				return hi
			}
			return b.Buckets[i]
		}
	}
	return 0
}
