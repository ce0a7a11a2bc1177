// Package limit owns the limits the gateway applies to each request before it
// costs anything upstream: GCRA rate limits, caps on concurrent streams and
// daily token budgets per principal.
//
// State lives in a Store. Memory is the single-instance default; Redis and
// DynamoDB share the state between any number of gateway instances, so a
// limit of N means N across the fleet, not N per instance: Redis for
// containers and servers, DynamoDB for Lambda or anywhere without a VPC.
// All three pass the same conformance tests. A Store also keeps small values
// with an expiry (Put, and Take, which removes as it reads) for the gateway's
// other shared state, such as which session a conversation belongs to. And
// each of the three keeps turn logs (Logs), in the same state: the bytes of
// a turn's answer, appended by the instance relaying it and tailed by any
// instance a client resumes on (a Redis stream per log; a DynamoDB item per
// batch appended).
//
// Limiter is the small policy layer the gateway calls: Admit before a stream
// starts, Charge with the usage the stream reported once it ends. A refusal is
// a *Refusal naming the limit and when to retry; any other error comes from
// the Store, and the gateway decides whether to fail open or closed on it.
//
// # Concurrency leases
//
// A concurrency slot is leased, not owned: a gateway instance that crashes
// mid-stream never calls release, and its slot must not stay taken forever.
// The holder keeps its lease alive for as long as the context passed to
// Acquire is alive (Redis and DynamoDB refresh it every third of the
// lease); release frees the slot at once. A holder whose context ended without release loses
// its slot within one lease. Pass the stream's own context, never a short
// timeout for the admission call: bound store latency with
// RedisConfig.Timeout, or DynamoDB.Timeout, instead.
package limit
