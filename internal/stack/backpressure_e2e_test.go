package stack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/testenv"
)

// firehose stands in for the agent: whatever the prompt, it streams total
// bytes of 16 KiB text deltas as fast as its connection takes them, and
// counts the bytes its connection took.
type firehose struct {
	total   int64
	written atomic.Int64
	done    chan struct{}
}

func newFirehose(total int64) *firehose {
	return &firehose{total: total, done: make(chan struct{})}
}

var (
	firehoseStart = []byte("data: {\"event\": {\"messageStart\": {\"role\": \"assistant\"}}}\n\n")
	firehoseDelta = []byte(`data: {"event": {"contentBlockDelta": {"delta": {"text": "` +
		strings.Repeat("0123456789abcdef", 1<<10) + `"}, "contentBlockIndex": 0}}}` + "\n\n")
	firehoseEnd = []byte("data: {\"event\": {\"contentBlockStop\": {\"contentBlockIndex\": 0}}}\n\n" +
		"data: {\"event\": {\"messageStop\": {\"stopReason\": \"end_turn\"}}}\n\n" +
		"data: {\"event\": {\"metadata\": {\"usage\": {\"inputTokens\": 1, \"outputTokens\": 1, \"totalTokens\": 2}, \"metrics\": {\"latencyMs\": 1}}}}\n\n")
)

// firehoseText is how much answer text a firehose of total bytes carries.
func firehoseText(total int64) int64 {
	n := (total - int64(len(firehoseStart)) + int64(len(firehoseDelta)) - 1) / int64(len(firehoseDelta))
	return n << 14
}

func (f *firehose) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/invocations" {
			next.ServeHTTP(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		write := func(b []byte) bool {
			n, err := w.Write(b)
			f.written.Add(int64(n))
			return err == nil && rc.Flush() == nil
		}
		if !write(firehoseStart) {
			return
		}
		for f.written.Load() < f.total {
			if !write(firehoseDelta) {
				return
			}
		}
		if write(firehoseEnd) {
			close(f.done)
		}
	})
}

// heapSampler samples the heap in use, the whole process's: gateway,
// emulator and agent all run in the test binary.
type heapSampler struct {
	base uint64
	stop chan struct{}
	wg   sync.WaitGroup
	peak atomic.Uint64
}

// sampleHeap takes a baseline after a full collection, then samples every
// 10 ms until stop.
func sampleHeap() *heapSampler {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h := &heapSampler{base: ms.HeapInuse, stop: make(chan struct{})}
	h.wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.base && ms.HeapInuse-h.base > h.peak.Load() {
				h.peak.Store(ms.HeapInuse - h.base)
			}
		}
	})
	return h
}

// finish stops sampling and returns the peak growth over the baseline and
// the growth that survives a full collection: what is truly held.
func (h *heapSampler) finish() (peak, live int64) {
	close(h.stop)
	h.wg.Wait()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(h.peak.Load()), int64(ms.HeapInuse) - int64(h.base)
}

// TestSlowClientSlowsTheUpstream streams 50 MB from an agent that writes as
// fast as it can to a client that reads one byte per millisecond. While the
// client lags, the gateway must hold no more than a few events: the heap
// stays flat and the agent, blocked on full sockets, stops writing long
// before it is done. Then the client drains the rest at full speed and gets
// every byte.
func TestSlowClientSlowsTheUpstream(t *testing.T) {
	testenv.Slow(t)
	const (
		total   = 50 << 20
		slowFor = 2 * time.Second
		maxHeap = 8 << 20 // the peak, garbage included
		maxLive = 2 << 20 // what survives a collection
		// Kernel socket buffers on three loopback hops take 10 to 13 MB
		// before the agent blocks; a gateway that buffered would let it
		// write all 50 MB.
		maxAhead = total / 2
		// Once the buffers are full, the agent may move on by an event or
		// so as the client's reads open its window.
		maxCreep = 64 << 10
	)
	// A durable turn keeps its log too, up to its cap.
	const retained = 1 << 20
	durable := config.Default()
	durable.Stream.MaxRetainedBytes = retained
	for _, tc := range []struct {
		mode, turns string
		cfg         config.Config
		kept        int64
	}{
		{"original", "turns not durable", notDurable(), 0},
		{"transformed", "turns not durable", notDurable(), 0},
		{"original", "durable turns", durable, retained},
		{"transformed", "durable turns", durable, retained},
	} {
		mode := tc.mode
		t.Run("a slow client in "+mode+" mode holds the agent back and the heap flat, "+tc.turns, func(t *testing.T) {
			fh := newFirehose(total)
			l := startWithConfig(t, tc.cfg, LocalOptions{WrapAgent: fh.wrap})
			conn, err := net.Dial("tcp", strings.TrimPrefix(l.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()

			heap := sampleHeap()
			body := `{"prompt":"flood me","response":"` + mode + `"}`
			if _, err := io.WriteString(conn, requestHead("POST", "/", len(body))+body); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			slow := readSlowly(t, conn, slowFor/2)
			mid := fh.written.Load()
			slow = append(slow, readSlowly(t, conn, slowFor/2)...)
			ahead := fh.written.Load()
			peak, live := heap.finish()
			t.Logf("after %v at 1 byte/ms the client had %d bytes; the agent had written %.1f MB of %d MB, %d bytes of them in the second half; heap growth: peak %.2f MB, live %.2f MB",
				time.Since(start).Round(time.Millisecond), len(slow), mb(ahead), total>>20, ahead-mid, mb(peak), mb(live))

			select {
			case <-fh.done:
				t.Fatal("the agent wrote all 50 MB while the client had read almost nothing: the chain buffers it")
			default:
			}
			if ahead-mid > maxCreep {
				t.Errorf("the agent wrote %d bytes while the client read %d, want it blocked (at most %d)", ahead-mid, len(slow), maxCreep)
			}
			if ahead > maxAhead {
				t.Errorf("the agent wrote %.1f MB ahead of a client that read %d bytes, want under %d MB", mb(ahead), len(slow), maxAhead>>20)
			}
			if peak > maxHeap+2*tc.kept || live > maxLive+tc.kept {
				t.Errorf("the heap grew by %.2f MB at peak and %.2f MB live while the client lagged, want under %.0f and %.0f MB",
					mb(peak), mb(live), mb(maxHeap+2*tc.kept), mb(maxLive+tc.kept))
			}

			got := drain(t, conn, slow)
			t.Logf("drained in %v in all", time.Since(start).Round(time.Millisecond))
			select {
			case <-fh.done:
			case <-time.After(5 * time.Second):
				t.Fatal("the agent never finished its stream")
			}
			want := fh.written.Load()
			if mode == "transformed" {
				want = firehoseText(total)
			}
			if got < want {
				t.Fatalf("the client got %d bytes of body, want at least %d", got, want)
			}
		})
	}
}

// readSlowly reads one byte per millisecond for d and returns the bytes.
func readSlowly(t *testing.T, conn net.Conn, d time.Duration) []byte {
	t.Helper()
	var got []byte
	b := make([]byte, 1)
	for end := time.Now().Add(d); time.Now().Before(end); {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(b)
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
		got = append(got, b[:n]...)
		time.Sleep(time.Millisecond)
	}
	return got
}

// drain reads the rest of the response, whose first bytes were read, at
// full speed and returns the length of its body.
func drain(t *testing.T, conn net.Conn, read []byte) int64 {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	r := io.MultiReader(bytes.NewReader(read), conn)
	resp, err := http.ReadResponse(bufio.NewReaderSize(r, 64<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		t.Fatalf("after %d bytes of body: %v", n, err)
	}
	return n
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

// TestStalledClientIsLetGo streams to a client that never reads a byte of
// the answer. Once the agent's events stop moving for the idle timeout,
// the gateway must give up on both ends: cancel the upstream call and end
// the client's request, which holds a connection, a goroutine and a stream
// slot of the caller's concurrency limit. (A durable turn outlives a
// client that stops reading as it outlives one that hangs up: the write
// deadline lets the client go, and the turn runs on into its log.)
func TestStalledClientIsLetGo(t *testing.T) {
	cfg := notDurable()
	cfg.Timeouts.Idle = 500 * time.Millisecond
	cfg.Timeouts.ShutdownGrace = time.Second
	fh := newFirehose(50 << 20)
	logs := &logLines{}
	reports := make(chan agentcorelocal.InvocationReport, 1)
	l := startWithConfig(t, cfg, LocalOptions{WrapAgent: fh.wrap, Logger: slog.New(logs.handler()),
		OnInvocation: func(r agentcorelocal.InvocationReport) { reports <- r }})
	conn, err := net.Dial("tcp", strings.TrimPrefix(l.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"prompt":"flood me","response":"original"}`
	if _, err := io.WriteString(conn, requestHead("POST", "/", len(body))+body); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	within := cfg.Timeouts.Idle + 2*time.Second

	t.Run("the upstream call is cancelled", func(t *testing.T) {
		select {
		case r := <-reports:
			t.Logf("the upstream call ended %v after the request, with %v, the agent having written %.1f MB",
				time.Since(start).Round(time.Millisecond), r.Err, mb(fh.written.Load()))
			if !errors.Is(r.Err, context.Canceled) {
				t.Fatalf("the upstream call ended with %v, want context.Canceled", r.Err)
			}
		case <-time.After(within):
			t.Fatalf("the upstream call still runs %v after the request", within)
		}
	})
	t.Run("the gateway ends the client's request", func(t *testing.T) {
		// Regression (was a bug): relay's watchdog cancels the stream's context, but
		// nothing unblocks the write to a client that does not read.
		for deadline := start.Add(within); ; time.Sleep(10 * time.Millisecond) {
			if n, _, _ := logs.count("gateway", "request"); n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the gateway still serves a client that has read nothing %v after the request", within)
			}
		}
	})
}
