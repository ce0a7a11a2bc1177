package limit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestLogs is the conformance suite every Logs passes: the stores that
// keep turn logs beside their limit state.
func TestLogs(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h harness, logs Logs)
	}{
		{"appended bytes read back from any position", testLogReadBack},
		{"an append away from the end or of another turn fails", testLogConflicts},
		{"a new turn's open replaces the log", testLogReplaced},
		{"an ended log is kept for its retention, then gone", testLogRetention},
		{"a log no one writes expires after its ttl", testLogTTL},
		{"a reader waiting at the end wakes for the next append", testLogTail},
		{"a reader waiting at the end wakes for the end", testLogTailEnd},
		{"a long log reads back whole in bounded reads", testLogLong},
		{"readers tailing a log as it is written get every byte once", testLogConcurrentTail},
		{"a reader waiting on a log that a new turn replaces reads the new turn's", testLogTailReplaced},
		{"a stop is seen by the writer of that turn only", testLogStop},
		{"invalid arguments are errors", testLogInvalid},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			newHarness := s.setup(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					h := newHarness(t)
					logs, ok := h.store.(Logs)
					if !ok {
						t.Fatalf("%T keeps no turn logs", h.store)
					}
					tt.run(t, h, logs)
				})
			}
		})
	}
}

// logTTL is the life of a log under test: long enough to outlast the
// calls of a test on a busy machine, short enough to wait out.
const logTTL = 2 * time.Second

func openLog(t *testing.T, logs Logs, key, turn string) {
	t.Helper()
	if err := logs.Open(t.Context(), key, turn, "meta of "+turn, logTTL); err != nil {
		t.Fatalf("Open(%s, %s): %v", key, turn, err)
	}
}

func appendLog(t *testing.T, logs Logs, key, turn string, at int64, data string) {
	t.Helper()
	if err := logs.Append(t.Context(), key, turn, at, []byte(data), logTTL); err != nil {
		t.Fatalf("Append(%s, %s, %d): %v", key, turn, at, err)
	}
}

func readLog(t *testing.T, logs Logs, key string, from int64, wait time.Duration) LogRead {
	t.Helper()
	r, err := logs.Read(t.Context(), key, from, wait)
	if err != nil {
		t.Fatalf("Read(%s, %d): %v", key, from, err)
	}
	return r
}

func testLogReadBack(t *testing.T, _ harness, logs Logs) {
	if r := readLog(t, logs, "none", 0, 0); r.Found {
		t.Fatalf("Read of a key never opened = %+v, want not found", r)
	}
	openLog(t, logs, "k", "t1")
	if r := readLog(t, logs, "k", 0, 0); !r.Found || r.Turn != "t1" || r.Meta != "meta of t1" || r.Size != 0 || len(r.Data) != 0 || r.Ended {
		t.Fatalf("Read of a new log = %+v, want found, empty, turn t1 with its meta", r)
	}
	appendLog(t, logs, "k", "t1", 0, "hello, ")
	appendLog(t, logs, "k", "t1", 7, "world")
	for from, want := range map[int64]string{0: "hello, world", 3: "lo, world", 7: "world", 11: "d", 12: "", 20: ""} {
		r := readLog(t, logs, "k", from, 0)
		if string(r.Data) != want || r.Size != 12 || r.Ended {
			t.Fatalf("Read from %d = %q (size %d, ended %v), want %q of 12", from, r.Data, r.Size, r.Ended, want)
		}
	}
}

func testLogConflicts(t *testing.T, _ harness, logs Logs) {
	openLog(t, logs, "k", "t1")
	appendLog(t, logs, "k", "t1", 0, "abc")
	for _, at := range []int64{0, 2, 4} {
		if err := logs.Append(t.Context(), "k", "t1", at, []byte("x"), logTTL); !errors.Is(err, ErrLogPosition) {
			t.Fatalf("Append at %d of a 3-byte log: %v, want ErrLogPosition", at, err)
		}
	}
	if err := logs.Append(t.Context(), "k", "t2", 3, []byte("x"), logTTL); !errors.Is(err, ErrLogGone) {
		t.Fatalf("Append of another turn: %v, want ErrLogGone", err)
	}
	if err := logs.Append(t.Context(), "none", "t1", 0, []byte("x"), logTTL); !errors.Is(err, ErrLogGone) {
		t.Fatalf("Append to a key never opened: %v, want ErrLogGone", err)
	}
	if err := logs.End(t.Context(), "k", "t1", 2, false, logTTL); !errors.Is(err, ErrLogPosition) {
		t.Fatalf("End at 2 of a 3-byte log: %v, want ErrLogPosition", err)
	}
	if r := readLog(t, logs, "k", 0, 0); string(r.Data) != "abc" || r.Ended {
		t.Fatalf("after refused writes the log reads %q (ended %v), want abc, open", r.Data, r.Ended)
	}
}

func testLogReplaced(t *testing.T, _ harness, logs Logs) {
	openLog(t, logs, "k", "t1")
	appendLog(t, logs, "k", "t1", 0, "first turn")
	openLog(t, logs, "k", "t2")
	if err := logs.Append(t.Context(), "k", "t1", 10, []byte("late"), logTTL); !errors.Is(err, ErrLogGone) {
		t.Fatalf("the first turn's late Append: %v, want ErrLogGone", err)
	}
	if err := logs.End(t.Context(), "k", "t1", 10, false, logTTL); !errors.Is(err, ErrLogGone) {
		t.Fatalf("the first turn's late End: %v, want ErrLogGone", err)
	}
	appendLog(t, logs, "k", "t2", 0, "second")
	if r := readLog(t, logs, "k", 0, 0); r.Turn != "t2" || string(r.Data) != "second" || r.Meta != "meta of t2" {
		t.Fatalf("Read after a new turn = %+v, want the second turn's log alone", r)
	}
}

func testLogRetention(t *testing.T, h harness, logs Logs) {
	openLog(t, logs, "k", "t1")
	appendLog(t, logs, "k", "t1", 0, "all of it")
	if err := logs.End(t.Context(), "k", "t1", 9, true, ttl); err != nil {
		t.Fatal(err)
	}
	if err := logs.Append(t.Context(), "k", "t1", 9, []byte("x"), logTTL); !errors.Is(err, ErrLogPosition) {
		t.Fatalf("Append after End: %v, want ErrLogPosition", err)
	}
	r := readLog(t, logs, "k", 4, time.Minute) // an ended log does not wait
	if !r.Ended || !r.Cut || string(r.Data) != "of it" || r.Size != 9 {
		t.Fatalf("Read of an ended log = %+v, want ended, cut, \"of it\" of 9", r)
	}
	h.advance(ttl + h.slack)
	if r := readLog(t, logs, "k", 0, 0); r.Found {
		t.Fatalf("Read after the retention = %+v, want not found", r)
	}
}

func testLogTTL(t *testing.T, h harness, logs Logs) {
	if err := logs.Open(t.Context(), "k", "t1", "", ttl); err != nil {
		t.Fatal(err)
	}
	h.advance(ttl / 2)
	if err := logs.Append(t.Context(), "k", "t1", 0, []byte("x"), ttl); err != nil {
		t.Fatal(err) // restarts the ttl
	}
	h.advance(ttl / 2)
	if r := readLog(t, logs, "k", 0, 0); string(r.Data) != "x" {
		t.Fatalf("Read within the append's ttl = %+v, want x", r)
	}
	h.advance(ttl + h.slack)
	if r := readLog(t, logs, "k", 0, 0); r.Found {
		t.Fatalf("Read after the ttl = %+v, want not found", r)
	}
	if err := logs.Append(t.Context(), "k", "t1", 1, []byte("y"), ttl); !errors.Is(err, ErrLogGone) {
		t.Fatalf("Append to an expired log: %v, want ErrLogGone", err)
	}
}

// tailWait is how long a tailing reader may wait: far longer than the
// test takes when the store wakes it, so a reader that only wakes at the
// end of its wait fails.
const tailWait = 20 * time.Second

func testLogTail(t *testing.T, _ harness, logs Logs) {
	openLog(t, logs, "k", "t1")
	appendLog(t, logs, "k", "t1", 0, "ab")
	got := make(chan LogRead, 1)
	start := time.Now()
	go func() {
		r, _ := logs.Read(context.WithoutCancel(t.Context()), "k", 2, tailWait)
		got <- r
	}()
	time.Sleep(50 * time.Millisecond) // let the reader wait
	appendLog(t, logs, "k", "t1", 2, "cd")
	r := <-got
	if string(r.Data) != "cd" || r.Size != 4 {
		t.Fatalf("the tailing reader got %+v, want cd of 4", r)
	}
	if waited := time.Since(start); waited > tailWait/2 {
		t.Fatalf("the tailing reader took %v, not woken by the append", waited)
	}
}

func testLogTailEnd(t *testing.T, _ harness, logs Logs) {
	openLog(t, logs, "k", "t1")
	got := make(chan LogRead, 1)
	go func() {
		r, _ := logs.Read(context.WithoutCancel(t.Context()), "k", 0, tailWait)
		got <- r
	}()
	time.Sleep(50 * time.Millisecond)
	if err := logs.End(t.Context(), "k", "t1", 0, false, logTTL); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if !r.Ended || r.Cut || len(r.Data) != 0 {
			t.Fatalf("the tailing reader got %+v, want an empty, whole, ended log", r)
		}
	case <-time.After(tailWait / 2):
		t.Fatal("the tailing reader was not woken by the end")
	}
}

func testLogTailReplaced(t *testing.T, _ harness, logs Logs) {
	for _, tc := range []struct {
		name  string
		write func(t *testing.T)
		want  LogRead
	}{
		{"past the reader's position", func(t *testing.T) {
			appendLog(t, logs, "k", "t2", 0, "0123456789")
		}, LogRead{Found: true, Turn: "t2", Meta: "meta of t2", Data: []byte("56789"), Size: 10}},
		{"ending short of it", func(t *testing.T) {
			if err := logs.End(t.Context(), "k", "t2", 0, false, logTTL); err != nil {
				t.Fatal(err)
			}
		}, LogRead{Found: true, Turn: "t2", Meta: "meta of t2", Ended: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			openLog(t, logs, "k", "t1")
			appendLog(t, logs, "k", "t1", 0, "first")
			got := make(chan LogRead, 1)
			start := time.Now()
			go func() {
				r, _ := logs.Read(context.WithoutCancel(t.Context()), "k", 5, tailWait)
				got <- r
			}()
			time.Sleep(50 * time.Millisecond)
			openLog(t, logs, "k", "t2")
			tc.write(t)
			r := <-got
			if r.Found != tc.want.Found || r.Turn != tc.want.Turn || r.Meta != tc.want.Meta || !bytes.Equal(r.Data, tc.want.Data) ||
				r.Size != tc.want.Size || r.Ended != tc.want.Ended {
				t.Fatalf("the waiting reader got %+v, want %+v", r, tc.want)
			}
			if waited := time.Since(start); waited > tailWait/2 {
				t.Fatalf("the waiting reader took %v", waited)
			}
		})
	}
}

func testLogLong(t *testing.T, _ harness, logs Logs) {
	openLog(t, logs, "k", "t1")
	var want bytes.Buffer
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 24<<10) // 384 KiB
	for i := range 8 {
		chunk[0] = byte('A' + i)
		appendLog(t, logs, "k", "t1", int64(want.Len()), string(chunk))
		want.Write(chunk)
	}
	if err := logs.End(t.Context(), "k", "t1", int64(want.Len()), false, logTTL); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for reads := 0; ; reads++ {
		if reads > 10 {
			t.Fatalf("still reading after %d reads, at %d of %d bytes", reads, len(got), want.Len())
		}
		r := readLog(t, logs, "k", int64(len(got)), 0)
		if len(r.Data) > MaxLogRead {
			t.Fatalf("one read returned %d bytes, over MaxLogRead", len(r.Data))
		}
		got = append(got, r.Data...)
		if r.Ended && int64(len(got)) == r.Size {
			break
		}
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("read back %d bytes that differ from the %d appended", len(got), want.Len())
	}
}

func testLogConcurrentTail(t *testing.T, _ harness, logs Logs) {
	openLog(t, logs, "k", "t1")
	var want bytes.Buffer
	for i := range 100 {
		fmt.Fprintf(&want, "event %d;", i)
	}
	read := func() ([]byte, error) {
		var got []byte
		for range 1000 {
			r, err := logs.Read(t.Context(), "k", int64(len(got)), tailWait)
			if err != nil {
				return got, err
			}
			got = append(got, r.Data...)
			if r.Ended && int64(len(got)) == r.Size {
				return got, nil
			}
		}
		return got, errors.New("no end after 1000 reads")
	}
	var wg sync.WaitGroup
	results := make([][]byte, 2)
	errs := make([]error, 2)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = read() })
	}
	var at int64
	for i := range 100 {
		s := fmt.Sprintf("event %d;", i)
		appendLog(t, logs, "k", "t1", at, s)
		at += int64(len(s))
	}
	if err := logs.End(t.Context(), "k", "t1", at, false, logTTL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, got := range results {
		if errs[i] != nil || !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("reader %d: %v, got %d bytes, want the %d written in order", i, errs[i], len(got), want.Len())
		}
	}
}

func testLogStop(t *testing.T, _ harness, logs Logs) {
	openLog(t, logs, "k", "t1")
	if stopped, err := logs.Stopped(t.Context(), "k", "t1"); err != nil || stopped {
		t.Fatalf("Stopped of a new turn = %v, %v; want false", stopped, err)
	}
	if err := logs.Stop(t.Context(), "k", "t2"); !errors.Is(err, ErrLogGone) {
		t.Fatalf("Stop of a turn that is not the log's: %v, want ErrLogGone", err)
	}
	if err := logs.Stop(t.Context(), "k", "t1"); err != nil {
		t.Fatal(err)
	}
	if stopped, err := logs.Stopped(t.Context(), "k", "t1"); err != nil || !stopped {
		t.Fatalf("Stopped after Stop = %v, %v; want true", stopped, err)
	}
	openLog(t, logs, "k", "t2")
	if stopped, err := logs.Stopped(t.Context(), "k", "t2"); err != nil || stopped {
		t.Fatalf("Stopped of the next turn = %v, %v; want false", stopped, err)
	}
	if _, err := logs.Stopped(t.Context(), "k", "t1"); !errors.Is(err, ErrLogGone) {
		t.Fatalf("Stopped of a replaced turn: %v, want ErrLogGone", err)
	}
}

func testLogInvalid(t *testing.T, _ harness, logs Logs) {
	ctx := t.Context()
	for name, err := range map[string]error{
		"open with no turn":  logs.Open(ctx, "k", "", "", logTTL),
		"open with no ttl":   logs.Open(ctx, "k", "t", "", 0),
		"append at -1":       logs.Append(ctx, "k", "t", -1, []byte("x"), logTTL),
		"append with no ttl": logs.Append(ctx, "k", "t", 0, []byte("x"), 0),
		"end with no retain": logs.End(ctx, "k", "t", 0, false, 0),
		"read from -1":       func() error { _, err := logs.Read(ctx, "k", -1, 0); return err }(),
		"read with wait < 0": func() error { _, err := logs.Read(ctx, "k", 0, -time.Second); return err }(),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// TestMemoryLogBytes checks that a Memory's logs stay within MaxLogBytes
// and give back what they held when they go.
func TestMemoryLogBytes(t *testing.T) {
	clock := newClock()
	m := NewMemory(clock.Now)
	m.MaxLogBytes = 1000
	ctx := t.Context()
	for _, k := range []string{"a", "b"} {
		if err := m.Open(ctx, k, "t", "", ttl); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Append(ctx, "a", "t", 0, make([]byte, 600), ttl); err != nil {
		t.Fatal(err)
	}
	if err := m.Append(ctx, "b", "t", 0, make([]byte, 600), ttl); !errors.Is(err, ErrFull) {
		t.Fatalf("an append past MaxLogBytes: %v, want ErrFull", err)
	}
	if err := m.Append(ctx, "b", "t", 0, make([]byte, 400), ttl); err != nil {
		t.Fatalf("an append that fits exactly: %v", err)
	}
	clock.Advance(ttl)
	if err := m.Open(ctx, "c", "t", "", ttl); err != nil {
		t.Fatal(err)
	}
	if err := m.Append(ctx, "c", "t", 0, make([]byte, 1000), ttl); err != nil {
		t.Fatalf("after the other logs expired the store still counts their bytes: %v", err)
	}
	if m.logBytes != 1000 {
		t.Fatalf("the store counts %d log bytes, want 1000", m.logBytes)
	}
}

// testLogShared has one instance write a log while another tails it, as a
// resume on another instance does, and then resume from anywhere.
func testLogShared(t *testing.T, writer, reader Logs) {
	// Appends of many sizes, one of them over a MiB, as batches of events
	// and a long tool result would be.
	var pieces [][]byte
	var want []byte
	for i := range 150 {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, 1+(i*i*37)%1500)
		if i == 70 {
			p = bytes.Repeat([]byte("0123456789abcdef"), 80<<10) // 1.25 MiB
		}
		copy(p, fmt.Sprintf("<%d>", i))
		pieces = append(pieces, p)
		want = append(want, p...)
	}
	read := func(from int64) ([]byte, LogRead, error) {
		var got []byte
		for range 1000 {
			r, err := reader.Read(t.Context(), "k", from+int64(len(got)), tailWait)
			if err != nil {
				return got, r, err
			}
			got = append(got, r.Data...)
			if r.Ended && from+int64(len(got)) == r.Size {
				return got, r, nil
			}
		}
		return got, LogRead{}, errors.New("no end after 1000 reads")
	}
	openLog(t, writer, "k", "t1")
	type result struct {
		got  []byte
		last LogRead
		err  error
	}
	tailed := make(chan result, 1)
	go func() {
		got, last, err := read(0)
		tailed <- result{got, last, err}
	}()
	var at int64
	for _, p := range pieces {
		appendLog(t, writer, "k", "t1", at, string(p))
		at += int64(len(p))
	}
	if err := reader.Stop(t.Context(), "k", "t1"); err != nil {
		t.Fatal(err)
	}
	if stopped, err := writer.Stopped(t.Context(), "k", "t1"); err != nil || !stopped {
		t.Fatalf("the writer's Stopped after the reader's Stop = %v, %v; want true", stopped, err)
	}
	if err := writer.End(t.Context(), "k", "t1", at, false, time.Minute); err != nil {
		t.Fatal(err)
	}
	r := <-tailed
	if r.err != nil || !bytes.Equal(r.got, want) || r.last.Turn != "t1" || r.last.Meta != "meta of t1" {
		t.Fatalf("the tailing reader: %v, %d bytes of turn %q; want the %d written of t1, in order", r.err, len(r.got), r.last.Turn, len(want))
	}
	// Resumes from anywhere, in an order that reads back and forth.
	for _, from := range []int64{1, at - 1, at / 3, 12345, at / 2, 7, at - 100_000, at / 5, 2 * at / 3} {
		got, _, err := read(from)
		if err != nil || !bytes.Equal(got, want[from:]) {
			t.Fatalf("a resume from %d: %v, %d bytes; want the %d from there", from, err, len(got), len(want[from:]))
		}
	}
}
