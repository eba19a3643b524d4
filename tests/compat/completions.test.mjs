// completions.test.mjs: the official OpenAI SDK's legacy completions.create,
// whole and streamed, against the server (and through an upstream, relayed),
// every body and chunk judged by OpenAI's schemas.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import OpenAI from 'openai';
import { TOKEN } from '../e2e/harness.mjs';
import { start as startServer } from '../e2e/proxy.mjs';
import { otest } from './oracle.mjs';

const CANNED = 'THIS IS THE MOCKED CHAT RESPONSE FROM OPENAI API BLUEPRINT. ' +
  'If you see this message, your chat endpoint is working correctly!';
const MODEL = 'blueprint-standard';
const proxied = process.env.OAF_VIA === 'proxy';

function client(srv, oracle) {
  return new OpenAI({ apiKey: TOKEN, baseURL: `${srv.url}/v1`, fetch: oracle.fetch, maxRetries: 0 });
}

async function rejects400(p, param, code) {
  let err;
  try { await p; } catch (e) { err = e; }
  assert.ok(err instanceof OpenAI.BadRequestError, `expected BadRequestError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.param, param);
  assert.equal(err.code, code);
  return err;
}

describe(`the SDK's legacy completions${proxied ? ' through an upstream' : ''}`, () => {
  let srv;
  before(async () => { srv = await startServer({ env: { MOCK_STREAM_DELAY_MS: '5' } }); });
  after(async () => { await srv.stop(); });

  otest('completions.create, whole: text_completion, max_tokens 16 by default', async (oracle) => {
    const c = await client(srv, oracle).completions.create({ model: MODEL, prompt: 'Say this is a test' });
    assert.equal(c.object, 'text_completion');
    assert.match(c.id, /^cmpl-/);
    assert.equal(c.model, MODEL);
    assert.equal(c.choices.length, 1);
    assert.equal(c.choices[0].finish_reason, 'length', 'the canned text is longer than 16 tokens');
    assert.ok(CANNED.startsWith(c.choices[0].text) && c.choices[0].text.length > 0);
    assert.equal(c.usage.completion_tokens, 16);
    assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + c.usage.completion_tokens);
    const whole = await client(srv, oracle).completions.create({ model: MODEL, prompt: 'x', max_tokens: 200 });
    assert.equal(whole.choices[0].text, CANNED);
    assert.equal(whole.choices[0].finish_reason, 'stop');
  });

  otest('completions.create, streamed: data-only chunks, usage when asked, [DONE]', async (oracle) => {
    const stream = await client(srv, oracle).completions.create({
      model: MODEL, prompt: 'Say this', max_tokens: 200, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    const finish = [];
    let usage;
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      assert.equal(c.object, 'text_completion');
      for (const ch of c.choices) {
        text += ch.text;
        if (ch.finish_reason) finish.push(ch.finish_reason);
      }
      if (c.usage) usage = c.usage;
    }
    assert.ok(chunks > 3, 'word by word');
    assert.equal(text, CANNED);
    assert.deepEqual(finish, ['stop']);
    assert.ok(usage.completion_tokens > 0);
  });

  otest('several prompts, n, echo and stop: one choice per prompt and answer, in order', async (oracle) => {
    const c = await client(srv, oracle).completions.create({
      model: MODEL, prompt: ['One. ', 'Two. '], n: 2, echo: true, stop: 'MOCKED', max_tokens: 50,
    });
    assert.deepEqual(c.choices.map((ch) => ch.index), [0, 1, 2, 3]);
    assert.equal(c.choices[0].text, 'One. THIS IS THE ');
    assert.equal(c.choices[3].text, 'Two. THIS IS THE ');
    assert.ok(c.choices.every((ch) => ch.finish_reason === 'stop'));
    const t = await client(srv, oracle).completions.create({ model: MODEL, prompt: [1, 2, 3], max_tokens: 0 });
    assert.equal(t.choices[0].text, '');
    assert.equal(t.usage.prompt_tokens, 3, 'token ids count one each');
  });

  otest('bad requests get OpenAI\'s 400s', async (oracle) => {
    const openai = client(srv, oracle);
    await rejects400(openai.completions.create({ model: MODEL }), 'prompt', 'missing_required_parameter');
    await rejects400(openai.completions.create({ model: MODEL, prompt: 'x', logprobs: 6 }), 'logprobs', 'integer_above_max_value');
    await rejects400(openai.completions.create({ model: MODEL, prompt: 'x', n: 3, best_of: 2 }), 'best_of', 'invalid_value');
    await rejects400(openai.completions.create({ model: MODEL, prompt: ['a', 1] }), 'prompt[1]', 'invalid_type');
    await rejects400(openai.completions.create({ model: MODEL, prompt: 'x', messages: [] }), 'messages', 'unknown_parameter');
  });

  if (!proxied) otest('an embedding model does not complete text: a 400 naming it', async (oracle) => {
    const e = await rejects400(client(srv, oracle).completions.create({ model: 'blueprint-embedding', prompt: 'x' }), 'model', null);
    assert.match(e.message, /'blueprint-embedding'/);
  });
});
