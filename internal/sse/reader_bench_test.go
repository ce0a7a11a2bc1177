package sse_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/sse"
)

// strandsEvent returns one Strands-style delta event of exactly size bytes.
func strandsEvent(size int) string {
	const head, tail = `data: {"event":{"contentBlockDelta":{"delta":{"text":"`, `"}}}}` + "\n\n"
	return head + strings.Repeat("x", size-len(head)-len(tail)) + tail
}

func BenchmarkReader(b *testing.B) {
	for _, bm := range []struct {
		name string
		size int
	}{{"64B", 64}, {"1KB", 1024}} {
		b.Run(bm.name, func(b *testing.B) {
			ev := strandsEvent(bm.size)
			r := sse.NewReader(&repeatReader{b: []byte(strings.Repeat(ev, 64))}, sse.Options{})
			b.SetBytes(int64(len(ev)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWriteEvent(b *testing.B) {
	data := []byte(`{"event":{"contentBlockDelta":{"delta":{"text":"Hi"},"contentBlockIndex":0}}}`)
	var sink discard
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := sse.WriteEvent(&sink, "delta", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIDWriter writes one event a write, as a durable turn's
// stream does when the agent is paced, far into the stream (ids of
// several digits).
func BenchmarkIDWriter(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			ev := []byte(strandsEvent(size))
			iw := sse.NewIDWriter(discard{}, 1<<20)
			b.SetBytes(int64(len(ev)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iw.Write(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discard is an io.Writer and io.StringWriter that keeps nothing.
type discard struct{}

func (discard) Write(p []byte) (int, error)       { return len(p), nil }
func (discard) WriteString(s string) (int, error) { return len(s), nil }
