# Writes the .sse files in this directory: python3 record.py
# Each value is serialised as its writer does; see README.md.
import json

class Obj:
    def __init__(self, r): self.r = r
    def __repr__(self): return self.r

AGENT = Obj("<strands.agent.agent.Agent object at 0x7f3c2a1b2c10>")
TRACE = Obj("<strands.telemetry.metrics.Trace object at 0x7f3c29e0d790>")
CYCLE = Obj("UUID('5b0e7f0c-3a52-4d6e-9d0b-2f8a1c3e4d5f')")

def sdk(obj):
    """What BedrockAgentCoreApp writes for one yielded value."""
    try:
        s = json.dumps(obj, ensure_ascii=False)
    except TypeError:
        s = json.dumps(str(obj), ensure_ascii=False)
    return "data: " + s + "\n\n"

def agui(obj):
    """What ag_ui.encoder.EventEncoder writes: model_dump_json(by_alias=True, exclude_none=True)."""
    return "data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n\n"

REASONING = ["The user greets the world 👋", " and asks for 6 × 7;", " I’ll use the calculator."]
TOOL = ['{"expression": ', '"6 * 7"}']

# strands.sse: a Strands agent whose handler yields every event of agent.stream_async().
out = []
for e in [{"init_event_loop": True}, {"start": True}, {"start_event_loop": True}]:
    out.append(sdk(e))
out.append(sdk({"event": {"messageStart": {"role": "assistant"}}}))
for r in REASONING:
    out.append(sdk({"event": {"contentBlockDelta": {"delta": {"reasoningContent": {"text": r}}, "contentBlockIndex": 0}}}))
    out.append(sdk({"reasoningText": r, "delta": {"reasoningContent": {"text": r}}, "reasoning": True, "agent": AGENT, "event_loop_cycle_id": CYCLE, "event_loop_cycle_trace": TRACE}))
out.append(sdk({"event": {"contentBlockDelta": {"delta": {"reasoningContent": {"signature": "EqQBCkgIARABGAIiQH0"}}, "contentBlockIndex": 0}}}))
out.append(sdk({"event": {"contentBlockStop": {"contentBlockIndex": 0}}}))
out.append(sdk({"event": {"contentBlockStart": {"start": {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "calculator"}}, "contentBlockIndex": 1}}}))
for t in TOOL:
    out.append(sdk({"event": {"contentBlockDelta": {"delta": {"toolUse": {"input": t}}, "contentBlockIndex": 1}}}))
out.append(sdk({"event": {"contentBlockStop": {"contentBlockIndex": 1}}}))
out.append(sdk({"event": {"messageStop": {"stopReason": "tool_use"}}}))
out.append(sdk({"event": {"metadata": {"usage": {"inputTokens": 412, "outputTokens": 61, "totalTokens": 473}, "metrics": {"latencyMs": 1204}}}}))
out.append(sdk({"message": {"role": "assistant", "content": [{"reasoningContent": {"reasoningText": {"text": "".join(REASONING), "signature": "EqQBCkgIARABGAIiQH0"}}}, {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "calculator", "input": {"expression": "6 * 7"}}}]}}))
out.append(sdk({"message": {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "status": "success", "content": [{"text": "42"}]}}]}}))
out.append(sdk({"start_event_loop": True}))
out.append(sdk({"event": {"messageStart": {"role": "assistant"}}}))
for t in ["Hello", ", world!", " The answer is", " 42."]:
    out.append(sdk({"event": {"contentBlockDelta": {"delta": {"text": t}, "contentBlockIndex": 0}}}))
    out.append(sdk({"data": t, "delta": {"text": t}, "agent": AGENT, "event_loop_cycle_id": CYCLE, "event_loop_cycle_trace": TRACE}))
out.append(sdk({"event": {"contentBlockStop": {"contentBlockIndex": 0}}}))
out.append(sdk({"event": {"messageStop": {"stopReason": "end_turn"}}}))
out.append(sdk({"event": {"metadata": {"usage": {"inputTokens": 489, "outputTokens": 12, "totalTokens": 501}, "metrics": {"latencyMs": 388}}}}))
out.append(sdk({"message": {"role": "assistant", "content": [{"text": "Hello, world! The answer is 42."}]}}))
open("strands.sse", "w", newline="").write("".join(out))

# text.sse: a handler that yields strings.
open("text.sse", "w", newline="").write("".join(sdk(t) for t in ["Hello, ", "world!", " The answer", " is 42."]))

# agui.sse: an AG-UI agent (ag_ui.core events through EventEncoder).
run = {"threadId": "thread-7f1c", "runId": "run-0b9e"}
ev = [dict(type="RUN_STARTED", **run),
      dict(type="REASONING_START", messageId="reasoning-1"),
      dict(type="REASONING_MESSAGE_START", messageId="reasoning-1", role="assistant")]
ev += [dict(type="REASONING_MESSAGE_CONTENT", messageId="reasoning-1", delta=r) for r in REASONING]
ev += [dict(type="REASONING_MESSAGE_END", messageId="reasoning-1"),
       dict(type="REASONING_END", messageId="reasoning-1"),
       dict(type="TOOL_CALL_START", toolCallId="tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", toolCallName="calculator", parentMessageId="msg-1")]
ev += [dict(type="TOOL_CALL_ARGS", toolCallId="tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", delta=t) for t in TOOL]
ev += [dict(type="TOOL_CALL_END", toolCallId="tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"),
       dict(type="TOOL_CALL_RESULT", messageId="msg-2", toolCallId="tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", content="42", role="tool"),
       dict(type="STATE_SNAPSHOT", snapshot={"lastResult": 42}),
       dict(type="TEXT_MESSAGE_START", messageId="msg-3", role="assistant")]
ev += [dict(type="TEXT_MESSAGE_CONTENT", messageId="msg-3", delta=t) for t in ["Hel", "lo, world!", " The answer is 42."]]
ev += [dict(type="TEXT_MESSAGE_END", messageId="msg-3"), dict(type="RUN_FINISHED", **run)]
open("agui.sse", "w", newline="").write("".join(agui(e) for e in ev))

# mixed.sse: every dialect interleaved, with what a decoder must skip.
m = [": a comment\n\n",
     sdk({"event": {"contentBlockDelta": {"delta": {"text": "One"}, "contentBlockIndex": 0}}}),
     sdk(", two"),
     agui(dict(type="TEXT_MESSAGE_START", messageId="m1", role="assistant")),
     agui(dict(type="TEXT_MESSAGE_CONTENT", messageId="m1", delta=", three")),
     agui(dict(type="TEXT_MESSAGE_END", messageId="m1")),
     "data: <strands.agent.agent.Agent object at 0x7f3c2a1b2c10>\n\n",
     sdk({"contentBlockDelta": {"delta": {"text": ", four"}}}),
     sdk({"data": ", four", "delta": {"text": ", four"}, "agent": AGENT}),
     "data: [DONE]\n\n",
     "data: 42\n\n",
     "data: null\n\n",
     "data: [\"x\"]\n\n",
     agui(dict(type="TEXT_MESSAGE_CHUNK", messageId="m2", role="assistant", delta=", fi")),
     agui(dict(type="TEXT_MESSAGE_CHUNK", delta="ve")),
     sdk({"unknown": True}),
     agui(dict(type="SOMETHING_NEW", delta="not text")),
     sdk(", six."),
     "data:\n\n",
     "data: {\"event\": {\"contentBlockDelta\":\n\n",
     agui(dict(type="RUN_FINISHED", threadId="t", runId="r"))]
open("mixed.sse", "w", newline="").write("".join(m))
