// Package agent owns the agent server: an HTTP handler that speaks the
// Amazon Bedrock AgentCore Runtime service contract (GET /ping and
// POST /invocations) and streams a model's reply as Server-Sent Events
// shaped like the events a Strands agent yields from Bedrock ConverseStream.
//
// A successful invocation streams exactly five kinds of event, each one
// "data: <compact JSON>\n\n" flushed as soon as it is written:
//
//	{"event":{"messageStart":{"role":"assistant"}}}
//	{"event":{"contentBlockDelta":{"delta":{"text":"..."},"contentBlockIndex":0}}}  (one per model delta)
//	{"event":{"contentBlockStop":{"contentBlockIndex":0}}}
//	{"event":{"messageStop":{"stopReason":"end_turn"}}}
//	{"event":{"metadata":{"usage":{...},"metrics":{"latencyMs":N}}}}
//
// Requests that fail validation get a JSON error before any stream starts.
// A model failure once the stream has started ends it with the error event
// the AgentCore Python SDK (BedrockAgentCoreApp) writes when a streaming
// handler raises:
//
//	{"error":"...","error_type":"...","message":"An error occurred during streaming"}
//
// That SDK returns its 200 streaming response before the handler's generator
// runs, so a model that fails before its first delta still yields a 200
// stream ending in the error event; this package does the same.
//
// The model is told who is asking (model.Caller) from the custom headers
// agentgate's gateway sends (internal/identity): the caller's principal
// and its kind, and any other X-Amzn-Bedrock-AgentCore-Runtime-Custom-*
// header, such as a forwarded JWT claim. AgentCore passes on only the
// custom headers the runtime allow-lists, from callers allowed to invoke
// it, so the agent can believe them as far as it trusts those callers.
//
// The package also keeps each runtime session's conversation in memory, as an
// AgentCore microVM does for its session: bounded per session (MaxMessages),
// overall (MaxSessions, least recently used first) and in time (IdleTimeout).
//
// Two things serve the local AgentCore emulator (internal/agentcorelocal),
// which runs one agent server for every session where AgentCore runs a
// microVM per session: GET /ping with a session header answers for that
// session alone, and POST /local/sessions/{id}/end, from loopback only,
// forgets a session as the end of its microVM would (see local.go).
package agent
