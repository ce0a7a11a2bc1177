// The OpenAI Responses API through the official clients: the openai SDK's
// responses.create, streamed and not, continued by previous_response_id,
// and the AI SDK's default OpenAI provider (openai('demo') calls
// /v1/responses) with generateText and streamText.
import OpenAI from 'openai';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import { main, url } from './lib.mjs';

main(async ({ turns }) => {
  const client = new OpenAI({ baseURL: url('/v1'), apiKey: 'unused', maxRetries: 0 });
  const out = { sdk: [], aiSdk: {} };
  let previous;
  for (const [i, input] of turns.entries()) {
    const params = { model: 'demo', input, ...(previous ? { previous_response_id: previous } : {}) };
    if (i % 2 === 0) {
      const r = await client.responses.create(params);
      out.sdk.push({ id: r.id, text: r.output_text, status: r.status, usage: r.usage });
      previous = r.id;
    } else {
      const stream = await client.responses.create({ ...params, stream: true });
      let text = '';
      let completed;
      const types = [];
      for await (const ev of stream) {
        types.push(ev.type);
        if (ev.type === 'response.output_text.delta') text += ev.delta;
        if (ev.type === 'response.completed') completed = ev.response;
      }
      out.sdk.push({ id: completed?.id, text, status: completed?.status, usage: completed?.usage, types });
      previous = completed?.id;
    }
  }
  const provider = createOpenAI({ baseURL: url('/v1'), apiKey: 'unused' });
  const generated = await generateText({ model: provider('demo'), prompt: turns[0], maxRetries: 0 });
  out.aiSdk.generate = { text: generated.text, usage: generated.usage };
  const streamed = streamText({ model: provider('demo'), prompt: turns[0], maxRetries: 0 });
  let text = '';
  let chunks = 0;
  for await (const delta of streamed.textStream) {
    text += delta;
    chunks++;
  }
  out.aiSdk.stream = { text, chunks, usage: await streamed.usage };
  return out;
});
