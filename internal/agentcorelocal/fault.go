package agentcorelocal

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Fault makes a runtime misbehave on purpose, for tests of how a caller
// copes with AgentCore failing: error answers, slow answers, slow, broken,
// malformed and oversized streams. The zero Fault is a runtime that behaves.
//
// A fault acts on InvokeAgentRuntime only, and only on invocations that
// were authenticated and valid: a refused request neither suffers a fault
// nor counts toward Times.
//
// The per-event faults (DelayEach, DropAfter, MalformedAfter,
// OversizedAfter) count the agent's events: complete SSE blocks with at
// least one data line. Comments, other blocks and the events the emulator
// injects pass through uncounted. A fault "after N events" acts as soon as
// the agent's Nth event has been relayed, before anything more is read from
// the agent, so a stream of exactly N events suffers it too, and a stream of
// fewer never does. Faults due after the same event act in the order
// malformed event, oversized event, drop (or mid-stream error).
type Fault struct {
	// Error is an error type to answer with instead of calling the agent:
	// ValidationException, AccessDeniedException, ResourceNotFoundException,
	// ThrottlingException, ServiceQuotaExceededException, RuntimeClientError,
	// InternalServerException, RetryableConflictException or
	// ServiceUnavailableException, each with the status code the SDK models.
	// Its message names the runtime's full ARN, and so the account id, and
	// the region, as AWS's can: a caller must never pass it on. "" calls
	// the agent.
	Error string
	// Times bounds the whole fault to the first Times invocations of the
	// runtime since the fault was set; later ones behave. 0 means every
	// invocation.
	Times int
	// RetryAfter, with Error, adds a Retry-After header of that many
	// seconds, rounded up; a ServiceUnavailableException, which models it,
	// also carries it as retryAfterSeconds in its body.
	RetryAfter time.Duration
	// DelayFirst holds the invocation back before the agent is called, and
	// so the answer's headers; a caller that goes away ends the wait, and
	// the agent is never called.
	DelayFirst time.Duration
	// DelayEach holds back each of the agent's events before relaying it.
	DelayEach time.Duration
	// DropAfter aborts the stream after N events, so that the caller reads
	// an unexpected EOF instead of a clean end. 0 means never.
	DropAfter int
	// MalformedAfter injects, after N events, one event whose data is not
	// JSON, then relays on. 0 means never.
	MalformedAfter int
	// OversizedAfter injects, after N events, one event of a single data
	// line whose value is 2 MiB, then relays on. 0 means never.
	OversizedAfter int
	// MidStreamError, with DropAfter, ends the stream after that many
	// events with the error event a failing AgentCore agent writes, naming
	// MidStreamError as the error's type (e.g. RuntimeError or
	// InternalServerException) and the runtime's ARN in its message, then
	// ends the body cleanly instead of aborting it. See midStreamErrorEvent.
	MidStreamError string
}

// ErrFault marks, in an InvocationReport's Err, a failure that a Fault
// caused: an injected error answer, a dropped stream, a mid-stream error.
var ErrFault = errors.New("agentcorelocal: injected fault")

// perEvent reports whether f acts on the stream's events, which takes
// relaying the stream event by event instead of byte by byte.
func (f Fault) perEvent() bool {
	return f.DelayEach > 0 || f.DropAfter > 0 || f.MalformedAfter > 0 || f.OversizedAfter > 0
}

// errorTypeName is the shape of an exception's type name, in Python or Java
// as in Smithy.
var errorTypeName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]{0,127}$`) })

// problems returns what is wrong with f, one error per bad field, each
// starting with the field's name as a config file spells it.
func (f Fault) problems() []error {
	var problems []error
	bad := func(field, format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if f.Error != "" && injectedMessages[f.Error] == "" {
		bad("error", "%q is not an error type InvokeAgentRuntime answers with (%s)",
			f.Error, strings.Join(slices.Sorted(maps.Keys(injectedMessages)), ", "))
	}
	for _, n := range []struct {
		field string
		value int64
	}{
		{"times", int64(f.Times)},
		{"retryAfter", int64(f.RetryAfter)},
		{"delayFirst", int64(f.DelayFirst)},
		{"delayEach", int64(f.DelayEach)},
		{"dropAfter", int64(f.DropAfter)},
		{"malformedAfter", int64(f.MalformedAfter)},
		{"oversizedAfter", int64(f.OversizedAfter)},
	} {
		if n.value < 0 {
			bad(n.field, "must not be negative")
		}
	}
	if f.RetryAfter > 0 && f.Error == "" {
		bad("retryAfter", "needs error: only an error answer carries Retry-After")
	}
	if f.Error != "" && f.perEvent() {
		bad("error", "cannot be combined with delayEach, dropAfter, malformedAfter or oversizedAfter: an error answer has no stream")
	}
	if f.MidStreamError != "" {
		if !errorTypeName().MatchString(f.MidStreamError) {
			bad("midStreamError", "%q is not an error type name such as RuntimeError", f.MidStreamError)
		}
		if f.DropAfter == 0 {
			bad("midStreamError", "needs dropAfter: the error takes the place of the drop after that many events")
		}
	}
	return problems
}

// SetFault replaces the fault of the runtime arn and restarts its Times
// count. Invocations under way keep the fault they started with. It is safe
// to call while the Server serves.
func (s *Server) SetFault(arn string, f Fault) error {
	rt := s.runtimes[arn]
	if rt == nil {
		return fmt.Errorf("agentcorelocal: set fault: no runtime %s is configured", arn)
	}
	if problems := f.problems(); len(problems) > 0 {
		return fmt.Errorf("agentcorelocal: set fault of %s: invalid fault:\n%w", arn, errors.Join(problems...))
	}
	rt.setFault(f)
	return nil
}

func (rt *runtime) setFault(f Fault) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.fault = f
	rt.faulted = 0
}

// takeFault returns the fault the invocation starting now suffers, and
// counts it toward Times.
func (rt *runtime) takeFault() Fault {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	f := rt.fault
	if f.Times > 0 {
		if rt.faulted >= f.Times {
			return Fault{}
		}
		rt.faulted++
	}
	return f
}

// faultBeforeAgent applies the part of f that acts before the agent is
// called: the first delay, then an injected error answer. It reports
// whether the invocation ends there.
func (s *Server) faultBeforeAgent(w http.ResponseWriter, r *http.Request, x *exchange, rt *runtime, f Fault) bool {
	if f.DelayFirst > 0 {
		if err := s.pause(r.Context(), f.DelayFirst); err != nil {
			x.err = err
			return true // the caller is gone: there is no one left to answer
		}
	}
	if f.Error == "" {
		return false
	}
	x.err = fmt.Errorf("%w: %s", ErrFault, f.Error)
	e := newAPIError(f.Error, injectedMessages[f.Error], rt.arn, s.region)
	e.retryAfter = f.RetryAfter
	s.writeError(w, x, e)
	return true
}

// injectedMessages are the messages of injected errors, by error type; each
// takes the runtime ARN, then the region. They read like AWS's, and like
// AWS's they give the account away.
var injectedMessages = map[string]string{
	codeValidation:         "1 validation error detected: Value at 'payload' failed to satisfy constraint: the agent runtime %s in %s could not accept it",
	codeAccessDenied:       "User is not authorized to perform: bedrock-agentcore:InvokeAgentRuntime on resource: %s in region %s because no identity-based policy allows the bedrock-agentcore:InvokeAgentRuntime action",
	codeResourceNotFound:   "No endpoint or agent found for agent runtime %s in region %s",
	codeThrottling:         "Rate exceeded for agent runtime %s in region %s. Reduce the rate of your requests.",
	codeQuotaExceeded:      "The quota of concurrent sessions of agent runtime %s in region %s is exceeded.",
	codeRuntimeClient:      "Received error (500) from runtime %s in region %s. Please check your CloudWatch logs for more information.",
	codeInternalServer:     "An internal error occurred while invoking agent runtime %s in region %s. Retry your request.",
	codeRetryableConflict:  "The session of agent runtime %s in region %s is starting or stopping. Retry your request.",
	codeServiceUnavailable: "Agent runtime %s in region %s is unavailable. Retry your request.",
}

// pause waits for d, or until ctx is done; then it returns ctx's error.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
