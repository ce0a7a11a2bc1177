// Drives the AI SDK's chat engine, what useChat runs in a browser (the `ai`
// package's AbstractChat over DefaultChatTransport), against agentgate.
//
// Scenario: {api, id, turns: ["text", ...], body?, headers?, resume?}.
// Each turn is sendMessage({text}) in the one chat, as a user typing;
// resume calls resumeStream() first, as useChat({resume: true}) does on
// mount. Result: {resumed, resumedText, turns: [{status, error, finishReason, message,
// text}], exchanges}.
import { AbstractChat, DefaultChatTransport } from 'ai';
import { main, recordingFetch, url } from './lib.mjs';

// State keeps the chat's state in plain fields, as a framework binding
// (React's, Vue's) keeps it in its own reactive store.
class State {
  status = 'ready';
  error = undefined;
  messages = [];
  pushMessage = m => { this.messages = this.messages.concat(m); };
  popMessage = () => { this.messages = this.messages.slice(0, -1); };
  replaceMessage = (i, m) => { this.messages = [...this.messages.slice(0, i), this.snapshot(m), ...this.messages.slice(i + 1)]; };
  snapshot = v => structuredClone(v);
}

class Chat extends AbstractChat {
  constructor(init) {
    super({ ...init, state: new State() });
  }
}

main(async ({ api, id, turns = [], body, headers, resume }) => {
  const exchanges = [];
  let finishReason;
  const chat = new Chat({
    id,
    transport: new DefaultChatTransport({
      api: url(api),
      body,
      headers,
      fetch: recordingFetch(exchanges, ['content-type', 'x-vercel-ai-ui-message-stream', 'x-agentgate-session-id']),
    }),
    onFinish: ({ finishReason: r }) => { finishReason = r; },
    onError: () => {},
  });
  let resumed = null, resumedText = null;
  if (resume) {
    const before = chat.messages.length;
    await chat.resumeStream();
    resumed = chat.messages.length > before;
    if (resumed) resumedText = textOf(chat.lastMessage);
  }
  const results = [];
  for (const text of turns) {
    finishReason = undefined;
    await chat.sendMessage({ text });
    const message = chat.lastMessage;
    results.push({
      status: chat.status,
      error: chat.error?.message ?? null,
      finishReason: finishReason ?? null,
      message,
      text: message.role === 'assistant' ? textOf(message) : '',
    });
  }
  return { resumed, resumedText, turns: results, exchanges };
});

function textOf(message) {
  return message.parts.filter(p => p.type === 'text').map(p => p.text).join('');
}
