// Package agentcorelocal owns the local emulator of the Amazon Bedrock
// AgentCore Runtime data plane: an http.Handler that speaks the same wire as
// bedrock-agentcore.{region}.amazonaws.com for the two operations agentgate
// uses, so the real aws-sdk-go-v2 bedrockagentcore client, signing with real
// SigV4, works against it unchanged (Options.BaseEndpoint points at it).
//
// The operations:
//
//	POST /runtimes/{URL-encoded runtime ARN}/invocations?qualifier=Q      InvokeAgentRuntime
//	POST /runtimes/{URL-encoded runtime ARN}/stopruntimesession?qualifier=Q  StopRuntimeSession
//
// A request for either operation is authenticated before anything else is
// told about it: its SigV4 signature (service bedrock-agentcore, the
// configured region and key pair) is recomputed from the escaped path, the
// query, the signed headers and the SHA-256 of the body.
// An invocation's payload is then forwarded unchanged to the runtime's agent
// container (POST {URL}/invocations, the AgentCore service contract) with the
// session, user and trace headers, and the agent's reply is streamed back as
// it arrives: each read is written and flushed at once, so Server-Sent Events
// reach the caller one by one. A caller that goes away cancels the call to
// the agent. A failure after the stream started aborts the response, so the
// caller sees a broken stream rather than a clean end.
//
// Failures before the stream are restJson1 errors as AWS sends them: the
// status code of the modeled error, an X-Amzn-ErrorType header naming it
// (ValidationException, AccessDeniedException, ResourceNotFoundException,
// RuntimeClientError, ...), an X-Amzn-RequestId header and a JSON body
// {"message": "..."}. Like AWS's, the messages may name the runtime ARN, and
// so the account id: the gateway must never pass them on.
//
// A runtime session starts with its first invocation and lives as
// AgentCore's does (lifecycle.go): until StopRuntimeSession, until it has
// been idle for the idle timeout (default 900 s) while its agent's ping
// does not answer HealthyBusy, or until its maximum lifetime (default
// 28800 s), both configurable. Server.Run enforces the timeouts. When a
// session ends its streams break, and its agent is told to forget it with
// the agent's local control call (POST /local/sessions/{id}/end, which
// internal/agent serves): the emulator's stand-in for the end of the
// session's microVM. The next invocation with the same id starts a new
// session, and StopRuntimeSession tells a live session (200) from an
// unknown or ended one (404).
//
// Requests are checked as AgentCore checks them: a runtime session id of 33
// to 256 characters, a payload of at most 100 MB, and, with Config.Throttle,
// at most 25 invocations a second per endpoint (AgentCore's default quota),
// past which the answer is a ThrottlingException. Of the caller's headers,
// only the data plane's own and those the runtime allow-lists
// (Runtime.HeaderAllowlist, AgentCore's requestHeaderAllowlist, under its
// rules: headers.go) reach the agent.
//
// For tests of how a caller copes with AgentCore failing, a runtime can be
// made to misbehave with a Fault, in its config, with Server.SetFault
// while serving, or for one call with the FaultHeader, which only the
// emulator honours and only from loopback: answer an injected error, wait before answering or before
// each event, drop the stream, inject a malformed or oversized event, or end
// the stream with a mid-stream error event. A runtime without a per-event
// fault streams exactly as described above; one with a per-event fault
// relays the agent's stream one SSE block at a time (internal/sse), still
// byte for byte and without holding anything back, so it can count events.
//
// Config.OnInvocation is told how each InvokeAgentRuntime request ended:
// status, events and bytes relayed, when it started and ended, and why it
// failed (context.Canceled when the caller went away), so a test can prove
// that a caller going away ended the call, or that a request never reached
// the agent.
package agentcorelocal
