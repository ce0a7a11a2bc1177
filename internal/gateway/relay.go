package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/sse"
	"github.com/agentgate/agentgate/internal/upstream"

	"go.opentelemetry.io/otel/propagation"
)

// The causes that end a stream on the gateway's side.
var (
	errShuttingDown     = errors.New("gateway: shutting down")
	errFirstByteTimeout = errors.New("gateway: no first event within the first-byte timeout")
	errIdleTimeout      = errors.New("gateway: the agent was silent past the idle timeout")
	errTotalTimeout     = errors.New("gateway: the stream outlasted the total timeout")
)

// result is what a relayed stream produced.
type result struct {
	outcome             string
	tokensIn, tokensOut int64
	tokens              int64 // total, as the agent reported it
	events              int   // upstream events that carried data
	skipped             int   // of those, ones left out of the answer
	heartbeats          int
}

// relay invokes the agent and copies its stream to the client event by
// event, flushing after each one. Every way a stream can end is decided
// here: completed, client gone, or one terminal error in the format.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, name string, inv upstream.Invoker, req *invocation, principal string) result {
	s.wg.Add(1)
	defer s.wg.Done()
	s.opts.Metrics.StreamOpened(name)
	defer s.opts.Metrics.StreamClosed(name)
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	defer context.AfterFunc(s.stop, func() { cancel(context.Cause(s.stop)) })()
	if s.opts.TotalTimeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, s.opts.TotalTimeout, errTotalTimeout)
		defer stop()
	}
	wd := newWatchdog(cancel, s.opts.FirstByteTimeout, errFirstByteTimeout)
	defer wd.stop()

	// The request's span (or, with tracing off, the caller's own trace
	// context) continues upstream, so the trace joins AgentCore's.
	tc := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, tc)
	ureq := upstream.Request{
		Payload:     req.payload,
		SessionID:   req.sessionID,
		TraceParent: tc["traceparent"],
		TraceState:  tc["tracestate"],
	}
	if s.opts.SendUserID {
		ureq.UserID = principal
	}
	resp, err := invoke(ctx, inv, ureq)
	if err != nil {
		if r.Context().Err() != nil {
			setOutcome(ctx, "client_gone")
			return result{outcome: "client_gone"}
		}
		err = withCause(ctx, err)
		e := publicError(err, name)
		s.upstreamFailed(ctx, name, "invoke failed", e.Code, err)
		s.writeError(w, r, e)
		return result{outcome: "error"}
	}
	defer resp.Body.Close()

	enc := format.New(req.format, w, req.options)
	h := w.Header()
	h.Set("Content-Type", enc.ContentType())
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no")
	h.Set(SessionHeader, req.sessionID)
	// A buffered format (a non-streamed chat completion) writes nothing
	// until the end, so a failure can still be answered with a status.
	b, ok := enc.(interface{ Buffered() bool })
	buffered := ok && b.Buffered()
	// Nor may it flush: a flush sends the 200 and its headers, after which
	// a failure could only be an error body under a success status.
	flush := func() {}
	if !buffered {
		flush = flusher(w)
		w.WriteHeader(http.StatusOK)
		flush()
	}
	out := &output{enc: enc, flush: flush}
	if !buffered && s.opts.Heartbeat > 0 {
		out.keepAlive(s.opts.Heartbeat)
	}
	defer out.close()

	// A client that stops reading must not pin the stream, its goroutine
	// and its concurrency slot: the agent's events reach the client within
	// the idle timeout or the write fails. The deadline is cleared for the
	// connection's next request.
	rc := http.NewResponseController(w)
	writeBy := func() {
		if s.opts.IdleTimeout > 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(s.opts.IdleTimeout))
		}
	}
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()

	dec := event.NewDecoder(s.opts.Dialects[name])
	res, err := s.copyStream(out, dec, req.format == format.Original, resp.Body, func() { wd.reset(s.opts.IdleTimeout, errIdleTimeout); writeBy() })
	writeBy() // for the terminal event
	res.heartbeats = out.close()
	li := info(r.Context())
	li.events, li.skipped, li.heartbeats = res.events, res.skipped, res.heartbeats
	li.tokensIn, li.tokensOut = res.tokensIn, res.tokensOut
	if err == nil && buffered {
		err = enc.Finish(req.sessionID) // may refuse an answer too large to hold
		if err == nil {
			setOutcome(ctx, res.outcome)
			return res
		}
	}
	switch {
	case err == nil:
		_ = enc.Finish(req.sessionID)
	case r.Context().Err() != nil:
		res.outcome = "client_gone"
	default:
		err = withCause(ctx, err)
		f := streamFailure(err)
		s.upstreamFailed(ctx, name, "stream failed", f.Code, err)
		f.RequestID = requestID(ctx)
		res.outcome = f.Code
		if buffered {
			s.writeError(w, r, &apiError{Status: failureStatus(f.Code), Code: f.Code, Message: f.Message})
			return res
		}
		_ = enc.Fail(f)
		reportFailure(w, f)
	}
	setOutcome(ctx, res.outcome)
	flush()
	return res
}

// invoke calls inv on a goroutine of its own and waits for it. The AWS
// SDK's middleware pipeline runs deep: on the handler's goroutine it would
// grow that stack, which then stays grown for the whole stream, parked
// under the relay loop, in every one of thousands of open streams.
func invoke(ctx context.Context, inv upstream.Invoker, req upstream.Request) (*upstream.Response, error) {
	type answer struct {
		resp *upstream.Response
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := inv.Invoke(ctx, req)
		done <- answer{resp, err}
	}()
	a := <-done
	return a.resp, a.err
}

// withCause prefers the gateway's own reason for cancelling ctx (a timeout,
// a shutdown) over the error the cancellation surfaced as.
func withCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// copyStream reads upstream SSE blocks and hands each to the output. It
// flushes when no further block is already buffered: a lone event goes out
// at once, a burst read in one go leaves in one write. onBatch runs before
// each flush. passthrough says the format writes the upstream bytes and
// reads no event (original). It returns what the stream produced, and the
// error that ended it early.
func (s *Server) copyStream(out *output, dec *event.Decoder, passthrough bool, body io.Reader, onBatch func()) (result, error) {
	rd := sse.NewReader(body, s.opts.SSE)
	res := result{outcome: "completed"}
	var events []event.Event
	for {
		blk, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		// An agent's error report can carry upstream internals (ARNs, hosts):
		// it never passes through, not even in original mode; the stream
		// ends with agentgate's own terminal error instead. So does one cut
		// short at the stream's end, which no decoder can read.
		if event.IsErrorEventName(blk.Type) {
			return res, &agentError{msg: string(blk.Raw)}
		}
		if blk.Incomplete && mayHoldReport(blk.Raw) {
			return res, errCutReport
		}
		events = events[:0]
		if blk.HasData && !blk.Incomplete {
			res.events++
			if !passthrough || event.MayMatter(blk.Data) {
				var ok bool
				if events, ok = dec.Decode(events, blk.Data); !ok && !passthrough {
					res.skipped++ // left out of the answer
				}
			}
		}
		for _, e := range events {
			if e.Kind == event.KindError {
				return res, &agentError{msg: e.Text}
			}
			if e.Kind == event.KindMetadata && e.Usage != nil {
				res.tokens += int64(e.Usage.TotalTokens)
				res.tokensIn += int64(e.Usage.InputTokens)
				res.tokensOut += int64(e.Usage.OutputTokens)
			}
		}
		last := !rd.Buffered()
		if last {
			onBatch()
		}
		if err := out.block(blk.Raw, events, last); err != nil {
			return res, err
		}
	}
}

// errCutReport ends a stream whose last block was cut short and may hold
// an error report.
var errCutReport = errors.New("gateway: the stream ended inside an event that may be an error report")

// mayHoldReport reports whether the raw bytes of an incomplete block could
// hold an error report or usage, by the test original mode applies to
// whole events' data.
func mayHoldReport(raw []byte) bool {
	i := bytes.IndexByte(raw, '{')
	return i >= 0 && event.MayMatter(raw[i:])
}

// output serialises what goes to the client: the stream's blocks, and
// heartbeats from a timer when the agent is silent, so that idle timeouts
// on the way (CloudFront, load balancers, proxies) never cut a stream.
type output struct {
	mu     sync.Mutex
	enc    format.Encoder
	flush  func()
	every  time.Duration
	timer  *time.Timer
	beats  int
	closed bool
}

// block writes one upstream block and its events, then flushes when told.
func (o *output) block(raw []byte, events []event.Event, flush bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.enc.Raw(raw); err != nil {
		return err
	}
	for _, e := range events {
		if err := o.enc.Event(e); err != nil {
			return err
		}
	}
	if !flush {
		return nil
	}
	o.flush()
	if o.timer != nil {
		o.timer.Reset(o.every)
	}
	return nil
}

// keepAlive starts heartbeats after every silence of d.
func (o *output) keepAlive(d time.Duration) {
	o.every = d
	o.timer = time.AfterFunc(d, o.beat)
}

func (o *output) beat() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	if o.enc.Heartbeat() == nil {
		o.flush()
		o.beats++
	}
	o.timer.Reset(o.every)
}

// close stops the heartbeats, for good: nothing is written after it
// returns. It reports how many were sent.
func (o *output) close() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.timer != nil {
		o.timer.Stop()
	}
	return o.beats
}

// agentError is an error the agent reported in its own stream.
type agentError struct{ msg string }

func (e *agentError) Error() string { return "agent reported an error: " + e.msg }

// streamFailure words a failure after the stream started.
func streamFailure(err error) format.Failure {
	var ae *agentError
	switch {
	case errors.As(err, &ae):
		return format.Failure{Code: "agent_error", Message: "the agent reported an error while answering"}
	case errors.Is(err, sse.ErrLineTooLong), errors.Is(err, sse.ErrEventTooLarge):
		return format.Failure{Code: "upstream_event_too_large", Message: "the agent sent an event larger than the gateway accepts"}
	case errors.Is(err, errFirstByteTimeout), errors.Is(err, errIdleTimeout), errors.Is(err, context.DeadlineExceeded):
		return format.Failure{Code: "upstream_timeout", Message: "the agent did not answer in time"}
	case errors.Is(err, errTotalTimeout):
		return format.Failure{Code: "stream_too_long", Message: "the answer exceeded the longest stream the gateway allows"}
	case errors.Is(err, format.ErrResponseTooLarge):
		return format.Failure{Code: "response_too_large", Message: "the answer is too large for a non-streamed response; ask for a stream"}
	case errors.Is(err, errShuttingDown):
		return format.Failure{Code: "shutting_down", Message: "the gateway is restarting; send the request again"}
	}
	return format.Failure{Code: "upstream_stream_broken", Message: "the agent's stream ended unexpectedly"}
}

// failureStatus is the status a failure gets when no byte has been sent.
func failureStatus(code string) int {
	switch code {
	case "upstream_timeout":
		return http.StatusGatewayTimeout
	case "shutting_down":
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// watchdog cancels a stream when its timer runs out: first the first-byte
// timeout, then, after each event, the idle timeout.
type watchdog struct {
	mu     sync.Mutex
	timer  *time.Timer
	cause  error
	cancel context.CancelCauseFunc
}

func newWatchdog(cancel context.CancelCauseFunc, d time.Duration, cause error) *watchdog {
	wd := &watchdog{cancel: cancel}
	wd.reset(d, cause)
	return wd
}

// reset restarts the timer for d (0: no bound) with the given cause.
func (wd *watchdog) reset(d time.Duration, cause error) {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	if wd.timer != nil {
		wd.timer.Stop()
	}
	if d <= 0 {
		wd.timer = nil
		return
	}
	wd.cause = cause
	if wd.timer == nil {
		wd.timer = time.AfterFunc(d, wd.fire)
		return
	}
	wd.timer.Reset(d)
}

func (wd *watchdog) fire() {
	wd.mu.Lock()
	cause := wd.cause
	wd.mu.Unlock()
	wd.cancel(cause)
}

func (wd *watchdog) stop() {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	if wd.timer != nil {
		wd.timer.Stop()
	}
}
