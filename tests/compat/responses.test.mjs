// responses.test.mjs: the official OpenAI SDK's Responses API (responses.create
// whole and streamed, responses.stream() with finalResponse(), a function-tool
// round trip, cuts, JSON formats, errors) against the server, every body and
// event judged by OpenAI's schemas; also through an upstream, translated to
// chat completions or relayed natively (OAF_UPSTREAM_RESPONSES=native).
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
  assert.equal(err.status, 400);
  assert.equal(err.param, param);
  assert.equal(err.code, code);
  return err;
}

const weather = {
  type: 'function', name: 'get_weather', description: 'The weather in a city', strict: false,
  parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1 } },
    required: ['city', 'days'] },
};

describe(`the SDK's Responses API${proxied ? ` through an upstream (${process.env.OAF_UPSTREAM_RESPONSES || 'translate'})` : ''}`, () => {
  let srv;
  before(async () => { srv = await startServer({ env: { MOCK_STREAM_DELAY_MS: '5' } }); });
  after(async () => { await srv.stop(); });

  otest('responses.create, whole: one message with the text, usage, a resp_ id', async (oracle) => {
    const r = await client(srv, oracle).responses.create({ model: MODEL, input: 'Hello!', instructions: 'Be brief.' });
    assert.equal(r.object, 'response');
    assert.match(r.id, /^resp_/);
    assert.equal(r.status, 'completed');
    assert.equal(r.model, MODEL);
    assert.equal(r.instructions, 'Be brief.');
    assert.equal(r.output.length, 1);
    assert.equal(r.output[0].type, 'message');
    assert.equal(r.output[0].role, 'assistant');
    assert.equal(r.output_text, CANNED);
    assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
    assert.equal(r.error, null);
    assert.ok(!('user' in r), 'user is left out, as the schema wants');
  });

  otest('responses.create, streamed: OpenAI\'s event order, deltas that make the text', async (oracle) => {
    const stream = await client(srv, oracle).responses.create({
      model: MODEL, stream: true,
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Hello!' }] }],
    });
    const types = [];
    let text = '';
    let last;
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      last = ev;
    }
    assert.equal(text, CANNED);
    const head = ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added'];
    assert.deepEqual(types.slice(0, 4), head);
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done',
      'response.output_item.done', 'response.completed']);
    assert.ok(types.filter((t) => t === 'response.output_text.delta').length > 3, 'word by word');
    assert.equal(last.response.output_text ?? last.response.output[0].content[0].text, CANNED);
    assert.ok(last.response.usage.total_tokens > 0);
  });

  otest('responses.stream() rebuilds the response: finalResponse() and its output_text', async (oracle) => {
    const deltas = [];
    const s = client(srv, oracle).responses.stream({ model: MODEL, input: 'Hello!' });
    s.on('response.output_text.delta', (e) => deltas.push(e.delta));
    const final = await s.finalResponse();
    assert.equal(final.status, 'completed');
    assert.equal(final.output_text, CANNED);
    assert.equal(deltas.join(''), CANNED);
  });

  otest('a function-tool round trip: function_call, function_call_output, then an answer', async (oracle) => {
    const openai = client(srv, oracle);
    const input = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await openai.responses.create({ model: MODEL, input, tools: [weather], tool_choice: 'required' });
    assert.equal(first.status, 'completed');
    const call = first.output.find((o) => o.type === 'function_call');
    assert.ok(call, 'a function_call item');
    assert.equal(call.name, 'get_weather');
    assert.match(call.call_id, /^call_/);
    const args = JSON.parse(call.arguments);
    assert.equal(typeof args.city, 'string');
    assert.ok(Number.isInteger(args.days) && args.days >= 1, 'the arguments fit the schema');
    assert.equal(first.tools[0].name, 'get_weather');
    // The client's loop: the call as it came, then its output.
    input.push(...first.output, { type: 'function_call_output', call_id: call.call_id, output: '{"temp_c":21}' });
    const second = await openai.responses.create({ model: MODEL, input, tools: [weather], tool_choice: 'required' });
    assert.equal(second.output_text, CANNED, 'the loop ends after the output');
  });

  otest('a named function, streamed: arguments delta and done events, the SDK\'s final response', async (oracle) => {
    const s = client(srv, oracle).responses.stream({
      model: MODEL, input: 'Weather?', tools: [weather], tool_choice: { type: 'function', name: 'get_weather' },
    });
    const seen = new Set();
    s.on('event', (e) => seen.add(e.type));
    const final = await s.finalResponse();
    assert.ok(seen.has('response.function_call_arguments.delta'));
    assert.ok(seen.has('response.function_call_arguments.done'));
    const call = final.output.find((o) => o.type === 'function_call');
    assert.equal(typeof JSON.parse(call.arguments).city, 'string');
  });

  otest('max_output_tokens cuts the answer: status incomplete, whole and streamed', async (oracle) => {
    const openai = client(srv, oracle);
    const r = await openai.responses.create({ model: MODEL, input: 'Hello!', max_output_tokens: 16 });
    assert.equal(r.status, 'incomplete');
    assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
    assert.ok(r.output_text.length > 0 && CANNED.startsWith(r.output_text) && r.output_text !== CANNED);
    assert.equal(r.max_output_tokens, 16);
    const stream = await openai.responses.create({ model: MODEL, input: 'Hello!', max_output_tokens: 16, stream: true });
    let last;
    for await (const ev of stream) last = ev;
    assert.equal(last.type, 'response.incomplete');
    assert.equal(last.response.incomplete_details.reason, 'max_output_tokens');
  });

  otest('text.format json_schema: output_text is JSON that fits the schema', async (oracle) => {
    const r = await client(srv, oracle).responses.create({
      model: MODEL, input: 'A city, as JSON.',
      text: { format: { type: 'json_schema', name: 'city', strict: true,
        schema: { type: 'object', properties: { name: { type: 'string' }, pop: { type: 'integer' } },
          required: ['name', 'pop'], additionalProperties: false } } },
    });
    const v = JSON.parse(r.output_text);
    assert.equal(typeof v.name, 'string');
    assert.ok(Number.isInteger(v.pop));
    assert.equal(r.text.format.type, 'json_schema');
    const o = await client(srv, oracle).responses.create({ model: MODEL, input: 'JSON please', text: { format: { type: 'json_object' } } });
    assert.equal(typeof JSON.parse(o.output_text), 'object');
  });

  otest('bad requests get OpenAI\'s 400s, param paths included', async (oracle) => {
    const openai = client(srv, oracle);
    await rejects400(openai.responses.create({ input: 'x' }), 'model', 'missing_required_parameter');
    await rejects400(openai.responses.create({ model: MODEL, input: 'x', max_output_tokens: 15 }),
      'max_output_tokens', 'integer_below_min_value');
    await rejects400(openai.responses.create({ model: MODEL, input: [{ role: 'user', content: 'a' },
      { role: 'user', content: [{ type: 'output_audio', text: 'b' }] }] }), 'input[1].content[0].type', 'invalid_value');
    await rejects400(openai.responses.create({ model: MODEL, input: 'x', tools: [{ type: 'function', name: 'bad name' }] }),
      'tools[0].name', 'invalid_value');
    await rejects400(openai.responses.create({ model: MODEL, input: 'x', temperature: 'hot' }), 'temperature', 'invalid_type');
    await rejects400(openai.responses.create({ model: MODEL, input: 'x', frobnicate: 1 }), 'frobnicate', 'unknown_parameter');
    await rejects400(openai.responses.create({ model: 'no-such-model', input: 'x' }), 'model', 'model_not_found');
    const e = await rejects400(openai.responses.create({ model: MODEL, input: 'x', previous_response_id: 'resp_abc' }),
      'previous_response_id', 'previous_response_not_found');
    assert.match(e.message, /resp_abc/);
  });

  // through the proxy only the upstream's models exist
  if (!proxied) otest('a model that does not chat is refused by name', async (oracle) => {
    const e = await rejects400(client(srv, oracle).responses.create({ model: 'blueprint-embedding', input: 'x' }), 'model', null);
    assert.match(e.message, /blueprint-embedding/);
  });
});
