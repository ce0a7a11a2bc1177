package agentcorelocal

import (
	"net/http"
	"time"
)

// InvocationReport tells what became of one InvokeAgentRuntime request, so
// that a test can prove what reached the runtime and how it ended: that a
// caller going away ended the call, or that a refused request never reached
// the agent.
type InvocationReport struct {
	// ARN is the runtime's ARN, or, for a request that names no runtime,
	// what its path named.
	ARN string
	// SessionID is the runtime session id: the caller's, or the one
	// generated for a caller that sent none.
	SessionID string
	// UserID and TraceParent are the caller's runtime user id and
	// traceparent headers.
	UserID, TraceParent string
	// Status is the status code answered; 0 when the caller went away
	// before any answer.
	Status int
	// ErrorType is the X-Amzn-ErrorType of an error answer, or "".
	ErrorType string
	// Events is how many of the agent's events were relayed. Only a runtime
	// with a per-event fault counts them; otherwise it is 0.
	Events int
	// Bytes is how many bytes of the stream's body reached the caller,
	// injected ones included.
	Bytes int64
	// Err is why the invocation did not end as the caller asked, when there
	// is more to say than Status: context.Canceled when the caller went
	// away, an error wrapping ErrFault when a Fault acted, the agent's
	// failure behind a RuntimeClientError or a broken stream. A refused
	// request's Status and ErrorType say all there is: its Err is nil.
	Err error
	// Started is when the request arrived, Ended when its handling ended:
	// the agent's request, if any, is closed by then.
	Started, Ended time.Time
}

// finish ends every request: its log line, and the report of an invocation.
func (s *Server) finish(r *http.Request, x *exchange) {
	s.logExchange(r, x)
	if x.op == opInvoke && s.onInvocation != nil {
		s.onInvocation(report(r, x))
	}
}

func report(r *http.Request, x *exchange) InvocationReport {
	session := x.session
	if session == "" {
		session = r.Header.Get(sessionHeader)
	}
	err := x.err
	if ctxErr := r.Context().Err(); err != nil && ctxErr != nil {
		// Whatever broke (a write, the agent's read, a delay), it broke
		// because the caller left.
		err = ctxErr
	}
	return InvocationReport{
		ARN:         x.arn,
		SessionID:   session,
		UserID:      r.Header.Get(userHeader),
		TraceParent: r.Header.Get("traceparent"),
		Status:      x.status,
		ErrorType:   x.errorCode,
		Events:      x.events,
		Bytes:       x.bytes,
		Err:         err,
		Started:     x.start,
		Ended:       time.Now(),
	}
}
