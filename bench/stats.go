package main

import (
	"math"
	"slices"
	"time"
)

// dist summarises a set of durations. The JSON fields are milliseconds.
type dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50Ms"`
	P90 float64 `json:"p90Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

// summarize sorts samples (nanoseconds) in place and summarises them.
func summarize(samples []int64) dist {
	slices.Sort(samples)
	return dist{
		N:   len(samples),
		P50: ms(percentile(samples, 50)),
		P90: ms(percentile(samples, 90)),
		P99: ms(percentile(samples, 99)),
		Max: ms(percentile(samples, 100)),
	}
}

// percentile returns the p-th percentile of sorted by the nearest-rank
// method: the smallest sample with at least p% of the samples at or below
// it. It never interpolates, so every answer is a latency that happened.
// An empty set has 0 for every percentile.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func ms(ns int64) float64 { return float64(ns) / float64(time.Millisecond) }

// ratio is a/b, or 0 when b is 0, so that a missing baseline shows as 0
// rather than as Inf in the JSON.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
