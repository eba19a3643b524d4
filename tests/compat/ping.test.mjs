// ping.test.mjs: the official openai SDK reads a stream that carries our
// ": keep-alive" comments (STREAM_PING_S) as if they were not there, whole
// chunks and the accumulated completion alike; a raw read shows they came.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import OpenAI from 'openai';
import { TOKEN } from '../e2e/harness.mjs';
import { start as startServer } from '../e2e/proxy.mjs';
import { otest } from './oracle.mjs';

const hello = [{ role: 'user', content: 'Hello!' }];
// "THIS IS THE": three words, two silences of 1.2 s, a keep-alive in each
const body = { model: 'blueprint-standard', messages: hello, max_tokens: 3 };

describe('keep-alive comments through the official SDK', () => {
  let srv;
  before(async () => { srv = await startServer({ env: { MOCK_STREAM_DELAY_MS: '1200', STREAM_PING_S: '1' } }); });
  after(async () => { await srv.stop(); });

  otest('chunks and the final completion are those of a stream without them', async (oracle) => {
    const openai = new OpenAI({ apiKey: TOKEN, baseURL: `${srv.url}/v1`, fetch: oracle.fetch, maxRetries: 0 });
    const stream = await openai.chat.completions.create({ ...body, stream: true });
    let text = '';
    let finish;
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      assert.equal(c.object, 'chat.completion.chunk');
      for (const ch of c.choices) {
        text += ch.delta.content ?? '';
        finish = ch.finish_reason ?? finish;
      }
    }
    assert.equal(text, 'THIS IS THE');
    assert.equal(finish, 'length');
    assert.equal(chunks, 4);  // three words and the finish
    const sse = oracle.exchanges.find((x) => x.sse);
    assert.ok(sse.keepalives >= 2, `${sse.keepalives} keep-alives reached the SDK`);
  });

  otest('the stream helper accumulates them into one completion', async (oracle) => {
    const openai = new OpenAI({ apiKey: TOKEN, baseURL: `${srv.url}/v1`, fetch: oracle.fetch, maxRetries: 0 });
    const final = await openai.chat.completions.stream(body).finalChatCompletion();
    assert.equal(final.choices[0].message.content, 'THIS IS THE');
    assert.equal(final.choices[0].message.role, 'assistant');
  });
});
