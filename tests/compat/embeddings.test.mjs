// embeddings.test.mjs: the official SDK's embeddings.create against the
// server (under every front, and through the upstream backend): its default
// base64 decoding, float arrays, dimensions, and OpenAI's errors.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import OpenAI from 'openai';
import { TOKEN } from '../e2e/harness.mjs';
import { start as startServer } from '../e2e/proxy.mjs';
import { otest } from './oracle.mjs';

const MODEL = 'blueprint-embedding';
const DIMS = 1536;

function client(srv, oracle) {
  return new OpenAI({ apiKey: TOKEN, baseURL: `${srv.url}/v1`, fetch: oracle.fetch, maxRetries: 0 });
}

const length = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);

describe('embeddings through the official SDK', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(async () => { await srv.stop(); });

  otest('the SDK default (base64 on the wire) decodes to unit vectors, one per input', async (oracle) => {
    const r = await client(srv, oracle).embeddings.create({ model: MODEL, input: ['first text', 'second text'] });
    const sent = JSON.parse(oracle.exchanges[0].requestBody);
    assert.equal(sent.encoding_format, 'base64', 'the SDK asks for base64 when the caller does not say');
    assert.equal(typeof oracle.exchanges[0].json.data[0].embedding, 'string', 'and gets base64');
    assert.equal(r.object, 'list');
    assert.equal(r.model, MODEL);
    assert.equal(r.data.length, 2);
    for (const [i, d] of r.data.entries()) {
      assert.equal(d.index, i);
      assert.equal(d.object, 'embedding');
      assert.equal(d.embedding.length, DIMS);
      assert.ok(Math.abs(length(d.embedding) - 1) < 1e-5, `input ${i} has length ${length(d.embedding)}`);
    }
    assert.ok(Math.abs(dot(r.data[0].embedding, r.data[1].embedding)) < 0.2, 'different texts, different vectors');
    assert.equal(r.usage.prompt_tokens, r.usage.total_tokens);
    assert.ok(r.usage.prompt_tokens > 0);
  });

  otest('float arrays are the same vectors as base64; the same text always the same vector', async (oracle) => {
    const openai = client(srv, oracle);
    const b64 = await openai.embeddings.create({ model: MODEL, input: 'the same text' });
    const flt = await openai.embeddings.create({ model: MODEL, input: 'the same text', encoding_format: 'float' });
    assert.ok(Array.isArray(oracle.exchanges[1].json.data[0].embedding), 'float means a JSON array');
    // the same float32s: JSON's 9 digits read back as float32 are base64's values exactly
    assert.deepEqual(flt.data[0].embedding.map(Math.fround), b64.data[0].embedding);
    const again = await openai.embeddings.create({ model: MODEL, input: 'the same text', encoding_format: 'float' });
    assert.deepEqual(again.data[0].embedding, flt.data[0].embedding);
  });

  otest('dimensions shortens the vector, still of length 1, the start of the long one', async (oracle) => {
    const openai = client(srv, oracle);
    const long = await openai.embeddings.create({ model: MODEL, input: 'shorten me', encoding_format: 'float' });
    const short = await openai.embeddings.create({ model: MODEL, input: 'shorten me', dimensions: 64 });
    const v = short.data[0].embedding;
    assert.equal(v.length, 64);
    assert.ok(Math.abs(length(v) - 1) < 1e-5);
    const head = long.data[0].embedding.slice(0, 64);
    const scale = length(head);
    for (let i = 0; i < 64; i++) assert.ok(Math.abs(v[i] - head[i] / scale) < 1e-5);
  });

  otest('token ids and lists of them are inputs too', async (oracle) => {
    const openai = client(srv, oracle);
    const one = await openai.embeddings.create({ model: MODEL, input: [1212, 318, 257], encoding_format: 'float' });
    assert.equal(one.data.length, 1);
    assert.equal(one.usage.prompt_tokens, 3);
    const two = await openai.embeddings.create({ model: MODEL, input: [[1, 2], [3]] });
    assert.equal(two.data.length, 2);
    assert.equal(two.usage.prompt_tokens, 3);
  });

  otest('OpenAI\'s errors: an empty string, too many inputs, a chat model, an unknown one', async (oracle) => {
    const openai = client(srv, oracle);
    const refused = async (body, status, param, code) => {
      let err;
      try { await openai.embeddings.create(body); } catch (e) { err = e; }
      assert.ok(err instanceof OpenAI.APIError, `refused: ${JSON.stringify(body).slice(0, 80)}`);
      assert.equal(err.status, status);
      assert.equal(err.param ?? null, param);
      assert.equal(err.code ?? null, code);
      return err;
    };
    const e = await refused({ model: MODEL, input: '' }, 400, null, null);
    assert.match(e.message, /'\$\.input' is invalid/);
    await refused({ model: MODEL, input: Array(2049).fill('x') }, 400, 'input', 'array_above_max_length');
    await refused({ model: MODEL, input: 'x', dimensions: 0 }, 400, 'dimensions', 'integer_below_min_value');
    await refused({ model: MODEL, input: 'x', dimensions: DIMS + 1 }, 400, 'dimensions', 'integer_above_max_value');
    const chat = await refused({ model: 'blueprint-standard', input: 'x' }, 400, 'model', null);
    assert.match(chat.message, /'blueprint-standard' is not an embedding model/);
    await refused({ model: 'no-such-model', input: 'x' }, 404, 'model', 'model_not_found');
  });
});
