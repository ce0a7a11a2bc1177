package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/limit"
)

// countingLogs counts the appends a turn makes to its log.
type countingLogs struct {
	limit.Logs
	appends atomic.Int64
}

func (c *countingLogs) Append(ctx context.Context, key, turn string, at int64, data []byte, ttl time.Duration) error {
	c.appends.Add(1)
	return c.Logs.Append(ctx, key, turn, at, data, ttl)
}

// TestTurnLogBatchesASharedStoresAppends streams events at a steady pace
// into a log treated as a shared store, whose appends are spaced apart:
// the log holds the answer whole in a handful of batches, while the client
// gets each event as it comes. A local log takes one batch per flush.
func TestTurnLogBatchesASharedStoresAppends(t *testing.T) {
	for _, tt := range []struct {
		name           string
		events         int
		gap            time.Duration
		local          bool
		batch          time.Duration
		minApp, maxApp int64
	}{
		{"a shared store gets a batch every 50 ms", 40, 5 * time.Millisecond, false, 50 * time.Millisecond, 2, 8},
		{"a local store gets every flush", 40, 5 * time.Millisecond, true, 50 * time.Millisecond, 40, 42},
		// The built-in demo model's pace, and the stack's batch spacing.
		{"a model's pace in batches 100 ms apart", 20, 20 * time.Millisecond, false, 100 * time.Millisecond, 3, 8},
	} {
		events, gap := tt.events, tt.gap
		t.Run(tt.name, func(t *testing.T) {
			logs := &countingLogs{Logs: limit.NewMemory(nil)}
			inv := &pipeInvoker{calls: make(chan call, 1)}
			srv := newTestServer(t, inv, func(o *Options) {
				o.Turns, o.TurnsLocal, o.TurnBatch = logs, tt.local, tt.batch
			})
			resp, err := http.Post(srv.URL+"/", "application/json", strings.NewReader(`{"prompt":"hi","response":"transformed"}`))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			c := <-inv.calls
			var wg sync.WaitGroup
			wg.Go(func() {
				for range events {
					c.w.Write([]byte(textEvent))
					time.Sleep(gap)
				}
				c.w.Close()
			})
			live, err := io.ReadAll(resp.Body)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(live, []byte("Hello")); n != events {
				t.Fatalf("the client got %d events of %d", n, events)
			}
			sid := resp.Header.Get(SessionHeader)
			var kept []byte
			for range 100 { // the log ends a moment after the answer
				r, err := logs.Read(t.Context(), turnKey("demo", sid), 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				if kept = r.Data; r.Ended {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !bytes.Equal(kept, live) {
				t.Fatalf("the log holds %q, the client got %q", kept, live)
			}
			if n := logs.appends.Load(); n < tt.minApp || n > tt.maxApp {
				t.Fatalf("%d appends for %d events, want %d to %d", n, events, tt.minApp, tt.maxApp)
			}
			t.Logf("%d events in %d appends", events, logs.appends.Load())
		})
	}
}

// flakyLogs fails appends as a busy store does: the first failure after
// the write landed (its answer lost), the second before it did.
type flakyLogs struct {
	limit.Logs
	calls atomic.Int64
}

func (f *flakyLogs) Append(ctx context.Context, key, turn string, at int64, data []byte, ttl time.Duration) error {
	switch f.calls.Add(1) {
	case 2:
		if err := f.Logs.Append(ctx, key, turn, at, data, ttl); err != nil {
			return err
		}
		return context.DeadlineExceeded
	case 4:
		return context.DeadlineExceeded
	}
	return f.Logs.Append(ctx, key, turn, at, data, ttl)
}

// TestTurnLogRecoversFromALostAppend: an append whose answer was lost, and
// one that timed out before it landed, leave the log whole.
func TestTurnLogRecoversFromALostAppend(t *testing.T) {
	logs := &flakyLogs{Logs: limit.NewMemory(nil)}
	inv := &pipeInvoker{calls: make(chan call, 1)}
	srv := newTestServer(t, inv, func(o *Options) { o.Turns, o.TurnsLocal = logs, true })
	resp, err := http.Post(srv.URL+"/", "application/json", strings.NewReader(`{"prompt":"hi","response":"transformed"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	c := <-inv.calls
	go func() {
		for range 6 {
			c.w.Write([]byte(textEvent))
			time.Sleep(5 * time.Millisecond)
		}
		c.w.Close()
	}()
	live, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r, err := logs.Read(t.Context(), turnKey("demo", resp.Header.Get(SessionHeader)), 0, 0)
	if err != nil || !r.Ended || r.Cut || !bytes.Equal(r.Data, live) {
		t.Fatalf("the log (ended %v, cut %v, %v) holds %q, the client got %q", r.Ended, r.Cut, err, r.Data, live)
	}
}

// failingReads fails every Read of a log after the first few, as a store
// that goes away in the middle of a resume.
type failingReads struct {
	limit.Logs
	ok    atomic.Int64
	reads atomic.Int64
}

func (f *failingReads) Read(ctx context.Context, key string, from int64, wait time.Duration) (limit.LogRead, error) {
	if f.reads.Add(1) > f.ok.Load() {
		return limit.LogRead{}, errors.New("store unreachable")
	}
	return f.Logs.Read(ctx, key, from, wait)
}

// TestAResumeWhoseStoreFailsMidStreamEndsWithOneTerminalError: a resume
// that has sent part of the answer, then cannot read the rest, ends with
// its format's terminal error, not a cut and not a hang; one whose store
// fails before anything is sent gets 503 turns_unavailable.
func TestAResumeWhoseStoreFailsMidStreamEndsWithOneTerminalError(t *testing.T) {
	logs := &failingReads{Logs: limit.NewMemory(nil)}
	logs.ok.Store(1 << 30)
	inv := &pipeInvoker{calls: make(chan call, 1)}
	srv := newTestServer(t, inv, func(o *Options) { o.Turns, o.TurnsLocal = logs, true })
	resp, err := http.Post(srv.URL+"/", "application/json", strings.NewReader(`{"prompt":"hi","response":"transformed"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	c := <-inv.calls
	defer c.w.Close()
	c.w.Write([]byte(textEvent))
	readUntil(t, resp.Body, "Hello")
	// The log takes the batch as the client gets it, a moment after.
	key := turnKey("demo", resp.Header.Get(SessionHeader))
	for i := 0; ; i++ {
		if r, _ := logs.Read(t.Context(), key, 0, 0); r.Size > 0 {
			break
		}
		if i == 1000 {
			t.Fatal("the log never took the first batch")
		}
		time.Sleep(time.Millisecond)
	}
	url := srv.URL + "/sessions/" + resp.Header.Get(SessionHeader) + "/stream"

	logs.reads.Store(0)
	logs.ok.Store(1) // the first read, then the tail fails
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "Hello") || strings.Count(string(body), "resume_incomplete") != 1 {
		t.Fatalf("a resume whose store failed mid-stream: %d %q, want the part kept, then one resume_incomplete", r.StatusCode, body)
	}

	logs.reads.Store(0)
	logs.ok.Store(0)
	r, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"turns_unavailable"`) || r.Header.Get("Retry-After") == "" {
		t.Fatalf("a resume whose store is down: %d %q, want 503 turns_unavailable with Retry-After", r.StatusCode, body)
	}
}
