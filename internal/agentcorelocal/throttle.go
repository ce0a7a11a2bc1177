package agentcorelocal

import (
	"sync"
	"time"
)

// DefaultInvocationsPerSecond is AgentCore Runtime's rate quota for
// invocations, from "Quotas for Amazon Bedrock AgentCore" (invocation
// limits): "Invocations per second: 25 per endpoint", adjustable. Past it
// InvokeAgentRuntime answers ThrottlingException, HTTP 429.
const DefaultInvocationsPerSecond = 25

// throttleMessage is the message of a ThrottlingException for a rate
// past the quota, as AgentCore's quota guidance quotes it.
const throttleMessage = "Rate exceeded"

// limiter holds the invocation rate of each endpoint (runtime ARN and
// qualifier). How AgentCore counts within a second is not documented; the
// emulator keeps a token bucket per endpoint that holds one second's quota
// and refills evenly, so a burst of the quota passes at once and a steady
// rate at the quota passes forever.
type limiter struct {
	perSecond float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(perSecond int) *limiter {
	return &limiter{perSecond: float64(perSecond), buckets: map[string]*bucket{}}
}

// allow takes one invocation from endpoint's bucket at now, and reports
// whether there was one to take.
func (l *limiter) allow(endpoint string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[endpoint]
	if b == nil {
		b = &bucket{tokens: l.perSecond, last: now}
		l.buckets[endpoint] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(l.perSecond, b.tokens+elapsed.Seconds()*l.perSecond)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
