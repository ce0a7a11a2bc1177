// Drives AG-UI's HttpAgent, the transport CopilotKit runs against an AG-UI
// agent, against agentgate.
//
// Scenario: {path, threadId, turns: ["text", ...], forwardedProps?,
// headers?}. Each turn adds the user's message to the agent's messages and
// runs it, as a chat UI does when the user sends. Result: {turns: [{error,
// runError, runStarted, runFinished, events, text}], messages, exchanges}:
// per run the error runAgent threw, the RUN_ERROR the subscriber heard, the
// RUN_STARTED and RUN_FINISHED events, the types of every event in order
// and the text of the run's new assistant messages; then the agent's
// messages after the last run, and the HTTP exchanges.
import { randomUUID } from 'node:crypto';
import { HttpAgent } from '@ag-ui/client';
import { main, recordingFetch, url } from './lib.mjs';

main(async ({ path, threadId, turns = [], forwardedProps, headers }) => {
  const exchanges = [];
  const agent = new HttpAgent({
    url: url(path),
    threadId,
    headers,
    fetch: recordingFetch(exchanges, ['content-type', 'x-agentgate-session-id']),
  });
  const results = [];
  for (const text of turns) {
    const turn = { error: null, runError: null, runStarted: null, runFinished: null, events: [], text: '' };
    agent.addMessage({ id: randomUUID(), role: 'user', content: text });
    try {
      const { newMessages } = await agent.runAgent({ forwardedProps }, {
        onEvent: ({ event }) => { turn.events.push(event.type); },
        onRunStartedEvent: ({ event }) => { turn.runStarted = event; },
        onRunFinishedEvent: ({ event }) => { turn.runFinished = event; },
        onRunErrorEvent: ({ event }) => { turn.runError = event; },
      });
      turn.text = newMessages.filter(m => m.role === 'assistant').map(m => m.content ?? '').join('');
    } catch (err) {
      turn.error = err?.message ?? String(err);
      turn.text = agent.messages.filter(m => m.role === 'assistant').at(-1)?.content ?? '';
    }
    results.push(turn);
  }
  return { turns: results, messages: agent.messages, exchanges };
});
