// Holds a conversation through /v1/chat/completions with one of the
// official clients, as an application does: the whole history goes with
// each turn, and no agentgate header at all.
//
// Scenario: {client: "openai" | "ai-sdk" | "langchain", model, turns:
// ["text", ...], stream}. Result: {turns: [{text, sessionId,
// sentSessionHeader}]}, sessionId being the X-Agentgate-Session-Id of that
// turn's answer and sentSessionHeader whether the client sent one.
import OpenAI from 'openai';
import { generateText, streamText } from 'ai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatOpenAI } from '@langchain/openai';
import { AIMessage, HumanMessage } from '@langchain/core/messages';
import { base, main, url } from './lib.mjs';

// watchingFetch is fetch that notes, for the last request, whether it
// carried a session header and which session its answer names.
function watchingFetch(seen) {
  return async (input, init = {}) => {
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    seen.sentSessionHeader = headers.has('x-agentgate-session-id');
    const res = await fetch(input, init);
    seen.sessionId = res.headers.get('x-agentgate-session-id');
    return res;
  };
}

// Each client answers one turn: history is [{role, content}, ...], ending
// with the user's new message.
const clients = {
  openai: (model, fetch, stream) => {
    const client = new OpenAI({ baseURL: url('/v1'), apiKey: 'unused', fetch, maxRetries: 0 });
    return async history => {
      if (!stream) {
        const c = await client.chat.completions.create({ model, messages: history });
        return c.choices[0].message.content;
      }
      let text = '';
      for await (const chunk of await client.chat.completions.create({ model, messages: history, stream: true })) {
        text += chunk.choices[0]?.delta?.content ?? '';
      }
      return text;
    };
  },
  'ai-sdk': (model, fetch, stream) => {
    const provider = createOpenAICompatible({ name: 'agentgate', baseURL: url('/v1'), apiKey: 'unused', fetch });
    return async history => {
      if (!stream) {
        return (await generateText({ model: provider.chatModel(model), messages: history, maxRetries: 0 })).text;
      }
      const result = streamText({ model: provider.chatModel(model), messages: history, maxRetries: 0 });
      let text = '';
      for await (const delta of result.textStream) text += delta;
      return text;
    };
  },
  langchain: (model, fetch, stream) => {
    const llm = new ChatOpenAI({ model, apiKey: 'unused', maxRetries: 0, configuration: { baseURL: url('/v1'), fetch } });
    return async history => {
      const messages = history.map(m => (m.role === 'user' ? new HumanMessage(m.content) : new AIMessage(m.content)));
      if (!stream) return (await llm.invoke(messages)).content;
      let text = '';
      for await (const chunk of await llm.stream(messages)) text += chunk.content;
      return text;
    };
  },
};

main(async ({ client, model, turns = [], stream = true }) => {
  if (!base) throw new Error('AGENTGATE_URL is not set');
  const seen = {};
  const answer = clients[client](model, watchingFetch(seen), stream);
  const history = [];
  const results = [];
  for (const text of turns) {
    history.push({ role: 'user', content: text });
    const reply = await answer(history);
    history.push({ role: 'assistant', content: reply });
    results.push({ text: reply, sessionId: seen.sessionId, sentSessionHeader: seen.sentSessionHeader });
  }
  return { turns: results };
});
