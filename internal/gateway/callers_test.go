package gateway

import (
	"sync"
	"testing"
	"time"
)

func TestCallersRunEveryCallAndLeaveWhenIdle(t *testing.T) {
	c := newCallers()
	const calls = 3 * maxCallers
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(calls)
	done.Add(calls)
	for range calls {
		c.run(func() {
			started.Done()
			<-release
			done.Done()
		})
	}
	// Every call runs at once, past maxCallers too.
	started.Wait()
	if n := c.n.Load(); n != maxCallers {
		t.Errorf("%d callers with %d calls running, want %d", n, calls, maxCallers)
	}
	close(release)
	done.Wait()

	// An idle caller takes the next call.
	ran := make(chan struct{})
	c.run(func() { close(ran) })
	<-ran
	if n := c.n.Load(); n > maxCallers {
		t.Errorf("%d callers, want at most %d", n, maxCallers)
	}

	deadline := time.Now().Add(10 * callerIdle)
	for c.n.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d callers still there after %v idle", c.n.Load(), 10*callerIdle)
		}
		time.Sleep(callerIdle / 4)
	}
}
