package gateway

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/agentgate/agentgate/internal/upstream"
)

// The AWS SDK's middleware pipeline runs deep. On the handler's goroutine
// it would grow that stack, which then stays grown for the whole stream,
// parked under the relay loop, in every one of thousands of open streams.
// On a fresh goroutine it costs a copy of the stack at every doubling on
// the way down, a tenth of the gateway's CPU per stream start. So the
// call runs on a caller: one of a few goroutines that outlive a call and
// keep the stack it grew for the next one. A caller left idle for
// callerIdle exits, so that a gateway nobody calls holds none (nor
// leaves any behind it); past maxCallers at once, a call gets a goroutine
// of its own, as an idle gateway's first call does.
const (
	maxCallers = 16
	callerIdle = 100 * time.Millisecond
)

// callers runs upstream calls on the gateway's callers.
type callers struct {
	calls chan func() // unbuffered: a send succeeds only into an idle caller
	n     atomic.Int32
}

func newCallers() *callers { return &callers{calls: make(chan func())} }

// invoke calls inv on a caller and waits for it.
func (c *callers) invoke(ctx context.Context, inv upstream.Invoker, req upstream.Request) (*upstream.Response, error) {
	type answer struct {
		resp *upstream.Response
		err  error
	}
	done := make(chan answer, 1)
	c.run(func() {
		resp, err := inv.Invoke(ctx, req)
		done <- answer{resp, err}
	})
	a := <-done
	return a.resp, a.err
}

// run runs f on an idle caller, else on a new one, else, past
// maxCallers, on a goroutine of its own.
func (c *callers) run(f func()) {
	select {
	case c.calls <- f:
		return
	default:
	}
	if c.n.Add(1) > maxCallers {
		c.n.Add(-1)
		go f()
		return
	}
	go c.caller(f)
}

// caller runs f, then every call it is handed, until it idles for
// callerIdle.
func (c *callers) caller(f func()) {
	defer c.n.Add(-1)
	f()
	idle := time.NewTimer(callerIdle)
	defer idle.Stop()
	for {
		select {
		case f := <-c.calls:
			f()
			idle.Reset(callerIdle)
		case <-idle.C:
			return
		}
	}
}
