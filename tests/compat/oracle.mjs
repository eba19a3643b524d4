// oracle.mjs: OpenAI's published schemas as the judge of every answer: a fetch
// that records each exchange and checks its body (or each SSE event) with ajv,
// and a test wrapper that prints every request and whole answer on failure.
import Ajv2020 from 'ajv/dist/2020.js';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { checkout } from '../e2e/harness.mjs';

// CI clones the repository with shared/ beside it; a missing oracle is an
// error, never a reason to pass.
export const schemaPath = process.env.OPENAI_SCHEMAS ||
  path.resolve(checkout, '..', 'shared', 'openai', 'schemas.json');
if (!fs.existsSync(schemaPath)) {
  throw new Error(`OpenAI's schemas are missing: ${schemaPath} (clone shared/ beside the repository)`);
}
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));
const validators = {};
for (const name of ['CreateChatCompletionResponse', 'CreateChatCompletionStreamResponse',
  'ListModelsResponse', 'Model', 'ErrorResponse', 'Response', 'ResponseStreamEvent',
  'CreateCompletionResponse', 'CreateEmbeddingResponse']) {
  validators[name] = ajv.getSchema(`urn:openai-compat:schemas#/$defs/${name}`);
  if (!validators[name]) throw new Error(`${schemaPath} has no $defs/${name}`);
}

// The problems of value v against the named schema, as text ('' when valid).
export function schemaErrors(name, v) {
  const validate = validators[name];
  if (validate(v)) return '';
  return `not a valid ${name}: ${ajv.errorsText(validate.errors, { separator: '; ' })}`;
}

// Which schema a JSON answer must satisfy: an error envelope for any
// failure, else by path; null for our own endpoints (health, /v1).
function jsonSchemaFor(url, status) {
  if (status >= 400) return 'ErrorResponse';
  const p = new URL(url).pathname;
  if (/\/v1\/models$/.test(p)) return 'ListModelsResponse';
  if (/\/v1\/models\/[^/]+$/.test(p)) return 'Model';
  if (/\/v1\/chat\/completions$/.test(p)) return 'CreateChatCompletionResponse';
  if (/\/v1\/responses$/.test(p)) return 'Response';
  if (/\/v1\/completions$/.test(p)) return 'CreateCompletionResponse';
  if (/\/v1\/embeddings$/.test(p)) return 'CreateEmbeddingResponse';
  return null;
}

// An embedding asked for as base64 is the base64 of little-endian float32s
// (what the official SDK asks for by default and decodes); the spec's
// Embedding.embedding is the number array it stands for, so it is judged
// decoded. A string that is not whole float32s stays a string, and fails.
function embeddingsForSchema(v) {
  const c = structuredClone(v);
  for (const d of Array.isArray(c.data) ? c.data : []) {
    if (typeof d?.embedding !== 'string') continue;
    const b = Buffer.from(d.embedding, 'base64');
    if (b.length % 4 || b.toString('base64') !== d.embedding) continue;
    d.embedding = Array.from({ length: b.length / 4 }, (_, i) => b.readFloatLE(4 * i));
  }
  return c;
}

// A legacy completion chunk says "finish_reason": null until its last, as
// OpenAI sends it; the spec's enum leaves that null out, so it is judged
// as if the reason were given.
function completionChunkForSchema(v) {
  const c = structuredClone(v);
  for (const ch of c.choices || []) if (ch.finish_reason === null) ch.finish_reason = 'stop';
  return c;
}

// The Responses API's stream rules beyond each event's schema: the SSE
// event name is the data's type, sequence_number counts from 0 one by one,
// an item is added before its content and done after it, and the stream
// ends with the response's last event.
const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);
function checkResponseEvent(st, name, v, problem) {
  if (name !== v.type) problem(`event name "${name}" but data type "${v.type}"`);
  if (v.sequence_number !== st.seq) problem(`sequence_number ${v.sequence_number}, expected ${st.seq}`);
  st.seq = (v.sequence_number ?? st.seq) + 1;
  if (st.ended) problem(`${v.type} after ${st.ended}`);
  if (st.seq === 1 && v.type !== 'response.created') problem(`the first event is ${v.type}`);
  if (st.seq === 2 && v.type !== 'response.in_progress') problem(`the second event is ${v.type}`);
  if (v.response?.id) {
    st.id ??= v.response.id;
    if (v.response.id !== st.id) problem(`response id ${v.response.id} after ${st.id}`);
  }
  if (v.type === 'response.output_item.added') st.items.set(v.output_index, 'open');
  else if (v.type === 'response.output_item.done') {
    if (st.items.get(v.output_index) !== 'open') problem(`item ${v.output_index} done before added`);
    st.items.set(v.output_index, 'done');
  } else if ('output_index' in v && st.items.get(v.output_index) !== 'open') {
    problem(`${v.type} for item ${v.output_index}, which is not open`);
  }
  if (TERMINAL.has(v.type)) {
    st.ended = v.type;
    if (!v.response?.usage && v.type !== 'response.failed') problem(`${v.type} without usage`);
  }
}

function headerText(headers) {
  return [...headers].map(([k, v]) => `${k}: ${k === 'authorization' ? v.replace(/ .*/, ' ***') : v}`).join('\n');
}

function bodyText(body) {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return Buffer.from(body).toString('utf8');
  return `<${body.constructor?.name || typeof body}>`;
}

// One exchange, as a failure prints it: the request, then the whole answer.
export function transcript(x) {
  const answer = x.status === undefined ? '(no answer)'
    : `${x.status}\n${x.responseHeaders}\n\n${x.text}${x.aborted ? '\n(aborted by the client)' : ''}`;
  return `>>> ${x.method} ${x.url}\n${x.requestHeaders}\n\n${x.requestBody}\n<<< ${answer}`;
}

export class Oracle {
  constructor() {
    this.exchanges = [];
    this.problems = [];
    this.fetch = this.fetch.bind(this);
  }

  problem(x, what) {
    this.problems.push({ x, what });
  }

  // A fetch for the OpenAI client (and for raw checks): the answer it returns
  // carries the same bytes, read through the oracle on their way.
  async fetch(input, init = {}) {
    const x = {
      method: (init.method || input.method || 'GET').toUpperCase(),
      url: typeof input === 'string' ? input : (input.url ?? String(input)),
      requestHeaders: headerText(new Headers(init.headers || input.headers)),
      requestBody: bodyText(init.body), text: '', events: [], sse: false, done: false, aborted: false,
    };
    this.exchanges.push(x);
    init.signal?.addEventListener('abort', () => { x.aborted = true; });
    const res = await fetch(input, init);
    x.status = res.status;
    x.headers = res.headers;
    x.responseHeaders = headerText(res.headers);
    const type = res.headers.get('content-type') || '';
    if (res.status === 204 || x.method === 'HEAD') {
      x.done = true;
      return res;
    }
    if (type.startsWith('text/event-stream')) {
      x.sse = true;
      if (res.status !== 200) this.problem(x, `an event stream with status ${res.status}`);
      return new Response(res.body.pipeThrough(this.sseChecker(x)),
        { status: res.status, statusText: res.statusText, headers: res.headers });
    }
    x.text = await res.text();
    x.done = true;
    this.checkJson(x, type);
    return new Response(x.text, { status: res.status, statusText: res.statusText, headers: res.headers });
  }

  checkJson(x, type) {
    if (!/^application\/json(;|$)/.test(type)) {
      this.problem(x, `Content-Type "${type}", not application/json`);
      return;
    }
    let v;
    try { v = JSON.parse(x.text); } catch (e) {
      this.problem(x, `the body is not JSON: ${e.message}`);
      return;
    }
    x.json = v;
    const name = jsonSchemaFor(x.url, x.status);
    const errs = name && schemaErrors(name, name === 'CreateEmbeddingResponse' ? embeddingsForSchema(v) : v);
    if (errs) this.problem(x, errs);
  }

  // Passes the bytes through; checks each event as it completes, and the
  // framing and the ending once the stream closes.
  sseChecker(x) {
    const dec = new TextDecoder();
    let pending = '';
    const seen = new Map();  // choice index -> chunks seen
    const path = new URL(x.url).pathname;
    const responses = /\/v1\/responses$/.test(path);
    const completions = /\/v1\/completions$/.test(path) && !/chat\/completions$/.test(path);
    const rst = { seq: 0, items: new Map(), ended: null, id: null };
    const onResponseEvent = (ev) => {
      const m = /^event: ([^\n]+)\ndata: ([^\n]*)$/.exec(ev);
      if (!m) {
        this.problem(x, `event ${x.events.length} is not "event: " + one "data: " line: ${JSON.stringify(ev)}`);
        return;
      }
      let v;
      try { v = JSON.parse(m[2]); } catch (e) {
        this.problem(x, `event ${x.events.length} is not JSON: ${e.message}`);
        return;
      }
      const errs = schemaErrors('ResponseStreamEvent', v);
      if (errs) this.problem(x, `event ${x.events.length} (${v.type}): ${errs}`);
      checkResponseEvent(rst, m[1], v, (what) => this.problem(x, `event ${x.events.length}: ${what}`));
    };
    const onEvent = (ev) => {
      // our keep-alive, an SSE comment line: what a client must ignore (it
      // is not an event), and the one kind of comment we send
      if (ev === ': keep-alive') {
        x.keepalives = (x.keepalives || 0) + 1;
        return;
      }
      x.events.push(ev);
      if (responses) {
        onResponseEvent(ev);
        return;
      }
      if (!/^data: [^\n]*$/.test(ev)) {
        this.problem(x, `event ${x.events.length} is not one "data: " line: ${JSON.stringify(ev)}`);
        return;
      }
      const data = ev.slice(6);
      if (data === '[DONE]') return;
      if (x.events.length > 1 && x.events.at(-2) === 'data: [DONE]') this.problem(x, 'an event after [DONE]');
      let v;
      try { v = JSON.parse(data); } catch (e) {
        this.problem(x, `event ${x.events.length} is not JSON: ${e.message}`);
        return;
      }
      const errs = v.error ? schemaErrors('ErrorResponse', v)
        : completions ? schemaErrors('CreateCompletionResponse', completionChunkForSchema(v))
          : schemaErrors('CreateChatCompletionStreamResponse', v);
      if (errs) this.problem(x, `event ${x.events.length}: ${errs}`);
      if (v.error) return;
      x.id ??= v.id;
      if (v.id !== x.id) this.problem(x, `chunk id ${v.id} after ${x.id}: one stream, one id`);
      for (const c of completions ? [] : v.choices || []) {
        // OpenAI's first delta of each choice says who speaks; clients
        // (the SDK's stream accumulator among them) build the message on it.
        if (!seen.has(c.index) && c.delta?.role !== 'assistant') {
          this.problem(x, `the first delta of choice ${c.index} has role ${c.delta?.role}, not "assistant"`);
        }
        seen.set(c.index, (seen.get(c.index) || 0) + 1);
      }
    };
    const split = () => {
      let at;
      while ((at = pending.indexOf('\n\n')) >= 0) {
        onEvent(pending.slice(0, at));
        pending = pending.slice(at + 2);
      }
    };
    return new TransformStream({
      transform: (chunk, ctl) => {
        const s = dec.decode(chunk, { stream: true });
        x.text += s;
        if (s.includes('\r')) this.problem(x, 'a CR in the stream: SSE lines end with LF only');
        pending += s;
        split();
        ctl.enqueue(chunk);
      },
      flush: () => {
        x.done = true;
        if (pending !== '') this.problem(x, `the stream ends inside an event: ${JSON.stringify(pending)}`);
        if (responses) {
          if (!rst.ended) this.problem(x, 'the stream ends without response.completed, .incomplete or .failed');
        } else if (x.events.at(-1) !== 'data: [DONE]') {
          this.problem(x, 'the last event is not "data: [DONE]"');
        }
      },
    });
  }

  // Throws, printing every exchange, when any answer broke the oracle or a
  // stream was left unread without being aborted.
  assertClean() {
    for (const x of this.exchanges) {
      if (x.sse && !x.done && !x.aborted) this.problem(x, 'the stream never ended');
    }
    if (!this.problems.length) return;
    const lines = this.problems.map(({ x, what }) => `- ${what}\n${transcript(x)}`);
    const err = new Error(`OpenAI's schemas/wire rules refuse ${this.problems.length} answer(s):\n${lines.join('\n\n')}`);
    err.oracleShown = true;
    throw err;
  }

  // Every exchange of the test, for the message of a failed assertion.
  transcript() {
    return this.exchanges.map(transcript).join('\n\n');
  }
}

// test(), but with a fresh Oracle handed in and checked at the end; any
// failure carries the requests and whole answers of that test.
export function otest(name, fn) {
  return test(name, async (t) => {
    const oracle = new Oracle();
    try {
      await fn(oracle, t);
      oracle.assertClean();
    } catch (e) {
      if (!oracle.exchanges.length || e.oracleShown) throw e;
      e.message += `\n\n--- exchanges of this test ---\n${oracle.transcript()}`;
      e.oracleShown = true;
      throw e;
    }
  });
}
