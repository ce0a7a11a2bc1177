package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/auth"
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
// event, in four steps: start the upstream call, respond, copy, finish.
// Every way a stream can end is decided here: completed, client gone, or
// one terminal error in the format.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, name string, inv upstream.Invoker, req *invocation, p auth.Principal) result {
	s.wg.Add(1)
	defer s.wg.Done()
	s.opts.Metrics.StreamOpened(name)
	defer s.opts.Metrics.StreamClosed(name)
	enc, t := s.answer(w, r, name, req)
	parent := r.Context()
	if t != nil {
		// A durable turn outlives its client.
		parent = context.WithoutCancel(parent)
	}
	ctx, wd, cancel, end := s.streamContext(parent)
	defer end()
	if t != nil {
		defer t.run(r.Context(), cancel)()
	}

	resp, err := s.startUpstream(ctx, name, inv, req, p)
	if err != nil {
		if r.Context().Err() != nil {
			setOutcome(ctx, "client_gone")
			return result{outcome: "client_gone"}
		}
		s.fail(w, r, nil, name, withCause(ctx, err))
		return result{outcome: "error"}
	}
	defer resp.Body.Close()

	so := streamOptions{hold: s.headerHold, heartbeat: s.opts.Heartbeat, writeBy: s.opts.IdleTimeout}
	if t != nil {
		so.batch = t.log.batch
		t.log.waitOpen()
	}
	st := startStream(w, enc, req.sessionID, so)
	defer st.release()
	res, err := s.copyStream(st, event.NewDecoder(s.opts.Dialects[name]), resp.Body, func() { wd.reset(s.opts.IdleTimeout, errIdleTimeout) })
	res.heartbeats = st.close()
	return s.finish(ctx, w, r, st, name, req.sessionID, res, err)
}

// answer returns the encoder of req's answer on w and, when turns are
// durable, its turn, whose log the encoder writes to as well.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, name string, req *invocation) (format.Encoder, *turn) {
	if s.opts.Turns == nil {
		return req.encoder(w), nil
	}
	t := s.startTurn(r, name, req)
	return req.encoder(t.writer(w, format.IsEventStream(req.format))), t
}

// streamContext is the context of one stream: it ends when parent does
// (the client goes away, unless the turn is durable), when the gateway
// shuts down (errShuttingDown), past the total timeout (errTotalTimeout),
// when the watchdog's first-byte or idle timeout runs out, or when cancel
// is called with a cause. end releases it.
func (s *Server) streamContext(parent context.Context) (context.Context, *watchdog, context.CancelCauseFunc, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := context.AfterFunc(s.stop, func() { cancel(context.Cause(s.stop)) })
	stopTotal := func() {}
	if s.opts.TotalTimeout > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeoutCause(ctx, s.opts.TotalTimeout, errTotalTimeout)
		stopTotal = c
	}
	wd := newWatchdog(cancel, s.opts.FirstByteTimeout, errFirstByteTimeout)
	return ctx, wd, cancel, func() {
		wd.stop()
		stopTotal()
		stop()
		cancel(nil)
	}
}

// startUpstream invokes the agent called name as p. The request's span
// (or, with tracing off, the caller's own trace context) continues
// upstream, so the trace joins AgentCore's. The call runs on the
// handler's goroutine: the invoker builds and signs its one request
// itself, shallow enough not to grow the stack every open stream keeps
// parked under its relay loop (bench's memory phase: goroutine stacks per
// idle stream).
func (s *Server) startUpstream(ctx context.Context, name string, inv upstream.Invoker, req *invocation, p auth.Principal) (*upstream.Response, error) {
	tc := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, tc)
	ureq := upstream.Request{
		Payload:     req.payload,
		SessionID:   req.sessionID,
		TraceParent: tc["traceparent"],
		TraceState:  tc["tracestate"],
		Headers:     s.identityHeaders(ctx, name, p),
	}
	if s.opts.SendUserID {
		ureq.UserID = p.ID
	}
	return inv.Invoke(ctx, ureq)
}

// identityHeaders tells the agent called name who is asking: p's principal
// and kind, and the claims of p's token the agent is to be sent. They come
// from the verified credential alone; any such header the client sent was
// dropped on arrival (withoutAgentHeaders). A claim that cannot travel
// whole is left out and logged, its value never.
func (s *Server) identityHeaders(ctx context.Context, name string, p auth.Principal) http.Header {
	h, left := s.forward[name].Headers(p.ID, p.Method, p.Claims)
	for _, o := range left {
		s.log.Warn("a claim was left out of the agent's headers", "id", requestID(ctx), "agent", name,
			"claim", o.Claim.Name, "header", o.Claim.Header, "reason", o.Err.Error())
	}
	return h
}

// finish ends the answer as the copy left it: completed (a buffered
// answer may still be refused as too large to hold), the client gone, or
// failed, and records what the stream did. ctx is the stream's, whose
// cause says why the gateway ended it.
func (s *Server) finish(ctx context.Context, w http.ResponseWriter, r *http.Request, st *stream, name, sessionID string, res result, err error) result {
	li := state(ctx)
	li.events, li.skipped, li.heartbeats = res.events, res.skipped, res.heartbeats
	li.tokensIn, li.tokensOut = res.tokensIn, res.tokensOut
	if err == nil {
		err = st.finish(sessionID)
	}
	switch {
	case err == nil:
	case r.Context().Err() != nil && st.batch == nil:
		res.outcome = "client_gone"
	default:
		// A durable turn's log gets the terminal error, client or not.
		res.outcome = s.fail(w, r, st, name, withCause(ctx, err))
	}
	if r.Context().Err() != nil {
		res.outcome = "client_gone"
	}
	setOutcome(ctx, res.outcome)
	return res
}

// withCause prefers the gateway's own reason for cancelling ctx (a timeout,
// a shutdown) over the error the cancellation surfaced as.
func withCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// copyStream reads upstream SSE blocks and hands each to the stream, which
// sends each burst as it ends. onBatch runs at the end of each burst.
// Events are decoded for the encoders that read them; for those that pass
// the bytes through, only where event.MayMatter says the data may hold an
// error report or usage, which the gateway itself must see. It returns
// what the stream produced, and the error that ended it early.
func (s *Server) copyStream(st *stream, dec *event.Decoder, body io.Reader, onBatch func()) (result, error) {
	rd := sse.NewReader(body, s.opts.SSE)
	passthrough := st.enc.Input() == format.Bytes
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
		if err := st.block(blk.Raw, events, last); err != nil {
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

// agentError is an error the agent reported in its own stream.
type agentError struct{ msg string }

func (e *agentError) Error() string { return "agent reported an error: " + e.msg }

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
