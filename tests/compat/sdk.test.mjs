// sdk.test.mjs: the official OpenAI SDK against the server under lighttpd:
// models, chat (whole, streamed, n, cuts, stop, tools, JSON), the SDK's error
// classes, retries after a 429, response headers and an abort mid-stream.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import OpenAI from 'openai';
import { call, TOKEN, TOKEN2 } from '../e2e/harness.mjs';
import { start as startServer } from '../e2e/proxy.mjs';
import { otest } from './oracle.mjs';

const CANNED = 'THIS IS THE MOCKED CHAT RESPONSE FROM OPENAI API BLUEPRINT. ' +
  'If you see this message, your chat endpoint is working correctly!';
// Through the proxy only the upstream's chat models are configured.
const MODELS = ['blueprint-standard', 'blueprint-advanced', 'blueprint-experimental', 'blueprint-embedding'];
const hello = [{ role: 'user', content: 'Hello!' }];

function client(srv, oracle, opts = {}) {
  return new OpenAI({ apiKey: TOKEN, baseURL: `${srv.url}/v1`, fetch: oracle.fetch, maxRetries: 0, ...opts });
}

// Reads a stream to its end: the chunks, and each choice's text and finish.
async function drain(stream) {
  const chunks = [];
  const text = {};
  const finish = {};
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const c of chunk.choices) {
      text[c.index] = (text[c.index] ?? '') + (c.delta.content ?? '');
      if (c.finish_reason) finish[c.index] = c.finish_reason;
    }
  }
  return { chunks, text, finish };
}

// Runs p, which must fail with the given SDK error class and status.
async function rejectsWith(p, Class, status) {
  let err;
  try { await p; } catch (e) { err = e; }
  assert.ok(err instanceof Class, `expected ${Class.name}, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, status);
  assert.match(err.requestID ?? '', /^req_/, 'the error carries x-request-id');
  return err;
}

describe('the official openai SDK against lighttpd + spawn-fcgi', () => {
  let srv;
  before(async () => { srv = await startServer({ env: { MOCK_STREAM_DELAY_MS: '10' } }); });
  after(async () => { await srv.stop(); });

  otest('models.list pages through every model; models.retrieve finds one', async (oracle) => {
    const openai = client(srv, oracle);
    const ids = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    assert.deepEqual(ids, MODELS);
    const m = await openai.models.retrieve('blueprint-advanced');
    assert.equal(m.id, 'blueprint-advanced');
    assert.equal(m.object, 'model');
  });

  otest('chat.completions.create, whole', async (oracle) => {
    const c = await client(srv, oracle).chat.completions.create({ model: 'blueprint-standard', messages: hello });
    assert.equal(c.object, 'chat.completion');
    assert.match(c._request_id, /^req_/);
    assert.equal(c.choices.length, 1);
    assert.equal(c.choices[0].message.role, 'assistant');
    assert.equal(c.choices[0].message.content, CANNED);
    assert.equal(c.choices[0].finish_reason, 'stop');
    assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + c.usage.completion_tokens);
  });

  otest('chat.completions.create, streamed: the same text, one id, stop at the end', async (oracle) => {
    const stream = await client(srv, oracle).chat.completions.create(
      { model: 'blueprint-standard', messages: hello, stream: true });
    const { chunks, text, finish } = await drain(stream);
    assert.ok(chunks.length > 3);
    assert.equal(text[0], CANNED);
    assert.deepEqual(finish, { 0: 'stop' });
    for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
    assert.ok(chunks.every((c) => !c.usage), 'no usage unless asked');
  });

  otest('the SDK stream helper accumulates the chunks into a whole completion', async (oracle) => {
    const runner = client(srv, oracle).chat.completions.stream({ model: 'blueprint-standard', messages: hello });
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].message.role, 'assistant');
    assert.equal(final.choices[0].message.content, CANNED);
    assert.equal(final.choices[0].finish_reason, 'stop');
  });

  otest('stream_options.include_usage: a last chunk with no choices carries the usage', async (oracle) => {
    const stream = await client(srv, oracle).chat.completions.create({
      model: 'blueprint-standard', messages: hello, stream: true, stream_options: { include_usage: true },
    });
    const { chunks } = await drain(stream);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage.completion_tokens > 0);
    assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null, 'usage is null before the last chunk');
  });

  otest('n > 1, whole and streamed: one choice per index', async (oracle) => {
    const openai = client(srv, oracle);
    const c = await openai.chat.completions.create({ model: 'blueprint-standard', messages: hello, n: 3 });
    assert.deepEqual(c.choices.map((x) => x.index), [0, 1, 2]);
    for (const x of c.choices) assert.equal(x.message.content, CANNED);
    const s = await drain(await openai.chat.completions.create(
      { model: 'blueprint-standard', messages: hello, n: 3, stream: true }));
    assert.deepEqual(s.text, { 0: CANNED, 1: CANNED, 2: CANNED });
    assert.deepEqual(s.finish, { 0: 'stop', 1: 'stop', 2: 'stop' });
  });

  otest('max_tokens cuts the answer: finish_reason length', async (oracle) => {
    const openai = client(srv, oracle);
    const c = await openai.chat.completions.create({ model: 'blueprint-standard', messages: hello, max_tokens: 5 });
    assert.equal(c.choices[0].finish_reason, 'length');
    assert.ok(CANNED.startsWith(c.choices[0].message.content));
    assert.ok(c.choices[0].message.content.length < CANNED.length);
    assert.ok(c.usage.completion_tokens <= 5);
    const s = await drain(await openai.chat.completions.create(
      { model: 'blueprint-standard', messages: hello, max_tokens: 5, stream: true }));
    assert.equal(s.text[0], c.choices[0].message.content);
    assert.deepEqual(s.finish, { 0: 'length' });
  });

  otest('stop ends the answer before the stop string', async (oracle) => {
    const openai = client(srv, oracle);
    const ask = { model: 'blueprint-experimental', messages: [{ role: 'user', content: 'one two END three' }] };
    const c = await openai.chat.completions.create({ ...ask, stop: ['END', 'nothing'] });
    assert.equal(c.choices[0].message.content, 'one two ');
    assert.equal(c.choices[0].finish_reason, 'stop');
    const s = await drain(await openai.chat.completions.create({ ...ask, stop: 'END', stream: true }));
    assert.equal(s.text[0], 'one two ');
    assert.deepEqual(s.finish, { 0: 'stop' });
  });

  const weather = {
    type: 'function',
    function: {
      name: 'get_weather', description: 'The weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  };

  otest('a tool-call round trip: tool_calls, a tool message, then an answer', async (oracle) => {
    const openai = client(srv, oracle);
    const messages = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await openai.chat.completions.create({
      model: 'blueprint-standard', messages, tools: [weather],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const choice = first.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.message.tool_calls.length, 1);
    const tc = choice.message.tool_calls[0];
    assert.equal(tc.type, 'function');
    assert.equal(tc.function.name, 'get_weather');
    assert.match(tc.id, /^call_/);
    assert.equal(typeof JSON.parse(tc.function.arguments).city, 'string');
    // The assistant's message goes back as the SDK returned it.
    messages.push(choice.message, { role: 'tool', tool_call_id: tc.id, content: '{"temp_c":21}' });
    const second = await openai.chat.completions.create({
      model: 'blueprint-standard', messages, tools: [weather], tool_choice: 'auto',
    });
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.equal(second.choices[0].message.content, CANNED);
  });

  otest('a streamed tool call accumulates; runTools drives the whole loop', async (oracle) => {
    const openai = client(srv, oracle);
    const messages = [{ role: 'user', content: 'Weather in Paris?' }];
    const final = await openai.chat.completions.stream({
      model: 'blueprint-standard', messages, tools: [weather], tool_choice: 'required',
    }).finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.equal(final.choices[0].message.tool_calls[0].function.name, 'get_weather');
    assert.equal(typeof JSON.parse(final.choices[0].message.tool_calls[0].function.arguments).city, 'string');
    const calls = [];
    const runner = openai.chat.completions.runTools({
      model: 'blueprint-standard', messages, tool_choice: 'required',
      tools: [{
        type: 'function',
        function: { ...weather.function, parse: JSON.parse, function: (a) => { calls.push(a); return { temp_c: 21 }; } },
      }],
    });
    assert.equal(await runner.finalContent(), CANNED);
    assert.equal(calls.length, 1);
    assert.equal(typeof calls[0].city, 'string');
  });

  otest('response_format json_object: the content is one JSON object', async (oracle) => {
    const c = await client(srv, oracle).chat.completions.create({
      model: 'blueprint-standard', response_format: { type: 'json_object' },
      messages: [{ role: 'user', content: 'Answer in JSON.' }],
    });
    const v = JSON.parse(c.choices[0].message.content);
    assert.equal(typeof v, 'object');
    assert.ok(v !== null && !Array.isArray(v));
  });

  otest('errors map to the SDK classes, with code, param and type', async (oracle) => {
    const openai = client(srv, oracle);
    const auth = await rejectsWith(client(srv, oracle, { apiKey: 'wrong-key-0123456789abcdef' }).models.list(),
      OpenAI.AuthenticationError, 401);
    assert.equal(auth.type, 'authentication_error');
    assert.equal(auth.code, 'invalid_key');
    const nf = await rejectsWith(openai.models.retrieve('gpt-none'), OpenAI.NotFoundError, 404);
    assert.equal(nf.code, 'model_not_found');
    assert.equal(nf.param, 'model');
    const nm = await rejectsWith(openai.chat.completions.create({ model: 'gpt-none', messages: hello }),
      OpenAI.NotFoundError, 404);
    assert.equal(nm.param, 'model');
    const bad = await rejectsWith(openai.chat.completions.create(
      { model: 'blueprint-standard', messages: hello, temperature: 3 }), OpenAI.BadRequestError, 400);
    assert.equal(bad.type, 'invalid_request_error');
    assert.equal(bad.param, 'temperature');
    // A request refused before the stream starts is an ordinary error too.
    const badStream = await rejectsWith(openai.chat.completions.create(
      { model: 'blueprint-standard', messages: [{ role: 'robot', content: 'x' }], stream: true }),
    OpenAI.BadRequestError, 400);
    assert.equal(badStream.param, 'messages[0].role');
    assert.ok(oracle.exchanges.every((x) => x.status >= 400), 'no answer but errors');
  });

  otest('.withResponse() exposes x-request-id and the x-ratelimit-* headers', async (oracle) => {
    const openai = client(srv, oracle);
    const { data, response, request_id: rid } = await openai.chat.completions
      .create({ model: 'blueprint-standard', messages: hello }).withResponse();
    assert.equal(data.choices[0].message.content, CANNED);
    assert.match(rid, /^req_/);
    assert.equal(response.headers.get('x-request-id'), rid);
    assert.equal(response.headers.get('x-ratelimit-limit-requests'), srv.env.RATE_LIMIT_PER_MINUTE);
    const remaining = Number(response.headers.get('x-ratelimit-remaining-requests'));
    assert.ok(Number.isInteger(remaining) && remaining >= 0, `remaining ${remaining}`);
    assert.match(response.headers.get('x-ratelimit-reset-requests'), /^\d+(\.\d+)?(ms|s|m|h)/);
    const streamed = await openai.chat.completions
      .create({ model: 'blueprint-standard', messages: hello, stream: true }).withResponse();
    assert.match(streamed.response.headers.get('content-type'), /^text\/event-stream/);
    assert.match(streamed.request_id, /^req_/);
    assert.equal((await drain(streamed.data)).text[0], CANNED);
  });

  otest('an abort mid-stream leaves the server healthy', async (oracle) => {
    const openai = client(srv, oracle);
    for (let i = 0; i < 6; i++) {
      const ac = new AbortController();
      const stream = await openai.chat.completions.create(
        { model: 'blueprint-standard', messages: hello, stream: true }, { signal: ac.signal });
      // The SDK ends the iteration quietly on the client's own abort, after
      // at most the chunks it had already read.
      let got = 0;
      for await (const chunk of stream) {
        assert.equal(chunk.object, 'chat.completion.chunk');
        if (++got === 2) ac.abort();
      }
      assert.ok(got >= 2 && got < 8, `${got} chunks`);
    }
    assert.ok(oracle.exchanges.every((x) => x.aborted && !x.done), 'every stream was cut short');
    const rs = await Promise.all([1, 2, 3, 4].map(() =>
      openai.chat.completions.create({ model: 'blueprint-standard', messages: hello })));
    for (const c of rs) assert.equal(c.choices[0].message.content, CANNED);
    assert.equal((await call(srv, 'GET', '/health')).status, 200);
  });
});

describe('rate limits through the SDK', () => {
  let srv;
  // 60 a minute: once spent, the next request may go in about a second.
  before(async () => { srv = await startServer({ env: { RATE_LIMIT_PER_MINUTE: '60' } }); });
  after(async () => { await srv.stop(); });

  // Spends the key's allowance with plain requests, until one is refused.
  // Spends the key until a 429 says the next request is at least 600 ms
  // away, so that the SDK's next call surely meets a 429 too, however slow
  // the front (plain CGI under sanitizers takes ~150 ms a request).
  async function exhaust(token) {
    for (let i = 0; i < 400; i++) {
      const r = await call(srv, 'GET', '/v1/models', { token });
      if (r.status === 429 && Number(r.headers.get('retry-after-ms')) >= 600) return r;
    }
    throw new Error('never limited');
  }

  otest('RateLimitError with maxRetries 0, then the default retries wait and succeed', async (oracle) => {
    await exhaust(TOKEN);
    const err = await rejectsWith(client(srv, oracle).models.list(), OpenAI.RateLimitError, 429);
    assert.equal(err.type, 'requests');
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.ok(Number(err.headers.get('retry-after')) >= 1);
    const waitMs = Number(err.headers.get('retry-after-ms'));
    assert.ok(waitMs > 0 && waitMs <= 1000, `retry-after-ms ${waitMs}`);

    await exhaust(TOKEN2);
    const patient = client(srv, oracle, { apiKey: TOKEN2, maxRetries: 2 });
    const before = oracle.exchanges.length;
    const t0 = performance.now();
    const c = await patient.chat.completions.create({ model: 'blueprint-standard', messages: hello });
    const took = performance.now() - t0;
    assert.equal(c.choices[0].message.content, CANNED);
    const tries = oracle.exchanges.slice(before);
    assert.deepEqual(tries.map((x) => x.status), [429, 200], 'one refusal, one retry');
    const asked = Number(tries[0].headers.get('retry-after-ms'));
    assert.ok(took >= asked * 0.9, `retried after ${took.toFixed(0)} ms, asked to wait ${asked} ms`);
    assert.match(tries[1].requestHeaders, /x-stainless-retry-count: 1/);
  });
});

describe('tokens per minute through the SDK', () => {
  let srv;
  // 1000 tokens a minute for every key: one request reserving ~610 fits, two do not.
  before(async () => {
    srv = await startServer({ env: {
      RATE_LIMIT_PER_MINUTE: '1000', RATE_LIMIT_TOKENS_PER_MINUTE: '1000', MOCK_STREAM_DELAY_MS: '100',
    } });
  });
  after(async () => { await srv.stop(); });

  otest("the tokens 429 is a RateLimitError, with OpenAI's type, code, message and headers", async (oracle) => {
    const openai = client(srv, oracle);
    const { data, response } = await openai.chat.completions
      .create({ model: 'blueprint-standard', messages: hello, max_tokens: 600 }).withResponse();
    assert.equal(data.choices[0].message.content.length > 0, true);
    assert.equal(response.headers.get('x-ratelimit-limit-tokens'), '1000');
    // held by a stream that has not ended: its reservation stands
    const stream = await openai.chat.completions.create({
      model: 'blueprint-standard', messages: hello, max_tokens: 600, stream: true,
    });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    const err = await rejectsWith(openai.chat.completions.create({
      model: 'blueprint-standard', messages: hello, max_tokens: 600,
    }), OpenAI.RateLimitError, 429);
    assert.equal(err.type, 'tokens');
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.match(err.message, /Rate limit reached for blueprint-standard in key key_\w+ on tokens per min \(TPM\): Limit 1000, Used \d+, Requested 609\. Please try again in/);
    assert.ok(Number(err.headers.get('retry-after-ms')) > 0);
    assert.equal(err.headers.get('x-ratelimit-limit-tokens'), '1000');
    const big = await rejectsWith(openai.chat.completions.create({
      model: 'blueprint-standard', messages: hello, max_completion_tokens: 5000,
    }), OpenAI.RateLimitError, 429);
    assert.equal(big.type, 'tokens');
    assert.match(big.message, /^429 Request too large for blueprint-standard .*Limit 1000, Requested 5009\./);
    while (!(await it.next()).done) { /* the stream ends */ }
  });
});
