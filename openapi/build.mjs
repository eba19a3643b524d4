// build.mjs: writes www/openapi.json from openapi/routes.mjs and OpenAI's schemas in ../shared/openai.
//
//   node openapi/build.mjs            rewrite www/openapi.json
//   node openapi/build.mjs --check    exit 1 when www/openapi.json is not what this would write
//   OPENAI_SCHEMAS=DIR                where schemas.json and chat-request-schema.json are
//
// The document is committed, not built by make: a release tarball, a Docker
// build context and a packager have no ../shared beside them. The check
// (tests/browser/openapi.test.mjs) keeps the committed copy true to its sources.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { routes } from './routes.mjs';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(top, 'www', 'openapi.json');

const REASONS = {
  400: 'Bad request: invalid JSON, a parameter OpenAI would refuse (`param` names it), a malformed path or Content-Length.',
  401: 'No key, a malformed Authorization header, or an unknown key (`WWW-Authenticate: Bearer`).',
  403: 'Forbidden: /metrics from a client that is not on loopback while no METRICS_TOKEN is set.',
  404: 'Not found.',
  413: 'The body is larger than MAX_BODY_BYTES; it is not read.',
  415: 'The body is not JSON (`application/json` or `+json`).',
  429: 'Rate limit reached for the key (or, without a valid key, the address). `Retry-After` and `retry-after-ms` say when to try again.',
  431: 'A request header is larger than 8 KiB.',
  500: 'The server had an error while processing the request.',
  502: 'The upstream serving this model failed or could not be reached.',
  503: 'The usage counters behind /metrics cannot be read right now.',
  504: 'The upstream serving this model did not answer in time.',
};
const ERROR_EXAMPLES = {
  400: ['invalid_request_error', 'invalid_value', 'messages[0].role', "Invalid value: 'robot'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."],
  401: ['authentication_error', 'invalid_key', null, 'Incorrect API key provided.'],
  403: ['permission_error', 'metrics_forbidden', null, '/metrics answers loopback clients only unless METRICS_TOKEN is set.'],
  404: ['invalid_request_error', 'model_not_found', 'model', 'The model `gpt-x` does not exist or you do not have access to it.'],
  413: ['invalid_request_error', 'request_too_large', null, 'The request body is too large.'],
  415: ['invalid_request_error', 'unsupported_media_type', null, 'Unsupported Content-Type: the request body must be JSON (application/json).'],
  429: ['requests', 'rate_limit_exceeded', null, 'Rate limit reached for requests per min (RPM) on key_1a2b3c4d: Limit 60, Used 60, Requested 1. Please try again in 1s.'],
  431: ['invalid_request_error', 'header_too_large', null, 'A request header is too large (more than 8192 bytes).'],
  500: ['server_error', 'internal_server_error', null, 'The server had an error while processing your request. Sorry about that!'],
  502: ['server_error', 'upstream_error', null, 'The upstream server could not be reached.'],
  503: ['server_error', 'metrics_unavailable', null, 'The usage counters cannot be read right now.'],
  504: ['server_error', 'upstream_timeout', null, 'The upstream server did not answer in time.'],
};
const EVERY_ROUTE_ERRORS = [400, 431, 500];

function schemaSources() {
  const dir = process.env.OPENAI_SCHEMAS || path.resolve(top, '..', 'shared', 'openai');
  const read = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).$defs;
  // schemas.json first: where a name is in both, its copy has nullable rewritten.
  return [read('schemas.json'), read('chat-request-schema.json')];
}

// OpenAPI 3.0's `nullable: true`, which 3.1 does not have, as JSON Schema.
function withoutNullable(node) {
  if (Array.isArray(node)) return node.map(withoutNullable);
  if (!node || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) if (k !== 'nullable') out[k] = withoutNullable(v);
  if (node.nullable !== true) return out;
  if (typeof out.type === 'string') out.type = [out.type, 'null'];
  else if (Array.isArray(out.type)) { if (!out.type.includes('null')) out.type.push('null'); }
  else {
    const { description, default: def, ...rest } = out;
    return { ...(description ? { description } : {}), ...(def !== undefined ? { default: def } : {}),
      anyOf: [rest, { type: 'null' }] };
  }
  if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum.push(null);
  return out;
}

function rewriteRefs(node) {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (!node || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === '$ref' && typeof v === 'string' ? v.replace(/^#\/\$defs\//, '#/components/schemas/') : rewriteRefs(v);
  }
  return out;
}

// Every OpenAI schema that roots reach, under components.schemas.
function bundle(roots) {
  const sources = schemaSources();
  const found = {};
  const todo = [...roots];
  while (todo.length) {
    const name = todo.pop();
    if (found[name]) continue;
    const src = sources.find((s) => s[name]);
    if (!src) throw new Error(`schema ${name} is in none of ../shared/openai's files`);
    found[name] = rewriteRefs(withoutNullable(src[name]));
    for (const m of JSON.stringify(src[name]).matchAll(/"\$ref":"#\/\$defs\/([^"]+)"/g)) todo.push(m[1]);
  }
  return Object.fromEntries(Object.keys(found).sort().map((k) => [k, found[k]]));
}

const ref = (name) => ({ $ref: `#/components/schemas/${name}` });
const schemaOf = (s) => (typeof s === 'string' ? ref(s) : s);

function headersFor(r, status) {
  const h = { 'x-request-id': { $ref: '#/components/headers/x-request-id' },
    'openai-processing-ms': { $ref: '#/components/headers/openai-processing-ms' } };
  if (r.rateLimited) {
    for (const n of ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests']) {
      h[n] = { $ref: `#/components/headers/${n}` };
    }
  }
  if (status === 429) {
    h['retry-after'] = { $ref: '#/components/headers/retry-after' };
    h['retry-after-ms'] = { $ref: '#/components/headers/retry-after-ms' };
  }
  if (status === 401) h['WWW-Authenticate'] = { $ref: '#/components/headers/WWW-Authenticate' };
  return h;
}

function okResponse(r) {
  const content = {};
  if (r.ok.json) content['application/json'] = { schema: schemaOf(r.ok.json) };
  if (r.ok.sse) {
    const done = r.ok.sseDone !== false;
    content['text/event-stream'] = {
      schema: { type: 'string', description: `\`data: <${r.ok.sse} as JSON>\` events${done ? ', then `data: [DONE]`' : ''}.` },
      'x-event-schema': `#/components/schemas/${r.ok.sse}`,
      'x-ends-with-done': done,
    };
  }
  for (const t of r.ok.types || []) {
    content[t] = { schema: t === 'application/json' ? { type: 'object' } : { type: 'string' } };
  }
  return { description: 'OK', headers: headersFor(r, 200), content };
}

function operation(r) {
  const statuses = [...new Set([...EVERY_ROUTE_ERRORS, ...(r.auth ? [401] : []), ...(r.rateLimited ? [429] : []),
    ...(r.body ? [413, 415] : []), ...(r.errors || [])])].sort((a, b) => a - b);
  const responses = { 200: okResponse(r) };
  for (const s of statuses) {
    responses[s] = { description: REASONS[s], headers: headersFor(r, s),
      content: { 'application/json': { schema: ref('ErrorResponse'), example: errorExample(s) } } };
  }
  const op = {
    tags: [r.tag], operationId: r.operationId, summary: r.summary, description: r.description,
    security: r.auth ? [{ bearer: [] }] : [],
  };
  if (r.params) {
    op.parameters = r.params.map((p) => ({ name: p.name, in: 'path', required: true, description: p.description,
      schema: { type: 'string' }, example: p.example }));
  }
  if (r.body) {
    op.requestBody = { required: true, content: { 'application/json': { schema: ref(r.body.schema), examples: r.body.examples } } };
  }
  op.responses = responses;
  return op;
}

function errorExample(status) {
  const [type, code, param, message] = ERROR_EXAMPLES[status];
  return { error: { message, type, param, code } };
}

function projectVersion() {
  const text = fs.readFileSync(path.join(top, 'pyproject.toml'), 'utf8');
  return text.match(/^version\s*=\s*"([^"]+)"/m)?.[1] || '0';
}

// Schemas of ours, made from one of OpenAI's: a legacy completion's stream
// chunk is a CreateCompletionResponse whose finish_reason is null until the
// last chunk, as OpenAI sends it (the spec's enum leaves that null out).
const derived = {
  CreateCompletionStreamChunk: {
    from: 'CreateCompletionResponse',
    make(s) {
      const fr = s.properties.choices.items.properties.finish_reason;
      fr.type = [fr.type, 'null'].flat();
      if (fr.enum) fr.enum = [...fr.enum, null];
      s.description = 'One chunk of a streamed legacy completion: finish_reason is null until the last.';
      return s;
    },
  },
};

export function buildDocument() {
  const paths = {};
  for (const r of routes) {
    paths[r.path] ||= {};
    paths[r.path][r.method.toLowerCase()] = operation(r);
  }
  const roots = ['ErrorResponse'];
  for (const r of routes) {
    for (const s of [r.ok.json, r.ok.sse, r.body?.schema]) {
      if (typeof s === 'string' && s !== 'Welcome') roots.push(derived[s]?.from ?? s);
    }
  }
  const schemas = bundle(roots);
  for (const [name, d] of Object.entries(derived)) schemas[name] = d.make(structuredClone(schemas[d.from]));
  schemas.Welcome = { type: 'object', required: ['message'], properties: { message: { type: 'string' } },
    example: { message: 'Welcome to openai-fcgi 0.1.0 - Version 1' } };
  const header = (description, type = 'string') => ({ description, schema: { type } });
  return {
    openapi: '3.1.0',
    info: {
      title: 'openai-fcgi',
      version: projectVersion(),
      description: 'An OpenAI-compatible API served by a C CGI/FastCGI application. Every error is OpenAI\'s ' +
        'envelope `{"error":{"message","type","param","code"}}`. Every path also answers OPTIONS (CORS ' +
        'preflight, 204) and other methods with 405 and `Allow`.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '.', description: 'This server, wherever it is mounted' }],
    // The API's own tags first, then any a new entry brings, Documentation last.
    tags: [...new Set(['Chat', 'Models', ...routes.map((r) => r.tag).filter((t) => t !== 'Documentation'),
      'Documentation'])].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'One of API_AUTH_TOKENS (scripts/serve prints one).' } },
      headers: {
        'x-request-id': header('The request id: the client\'s X-Request-Id when plain and short, else req_<hex>.'),
        'openai-processing-ms': header('Milliseconds spent on the request.', 'integer'),
        'x-ratelimit-limit-requests': header('Requests per minute allowed for the key.', 'integer'),
        'x-ratelimit-remaining-requests': header('Requests left before the limit applies.', 'integer'),
        'x-ratelimit-reset-requests': header('When the limit is back to full, e.g. 1s or 6m0s.'),
        'retry-after': header('Seconds to wait before trying again.', 'integer'),
        'retry-after-ms': header('Milliseconds to wait before trying again.', 'integer'),
        'WWW-Authenticate': header('Bearer'),
      },
      schemas,
    },
  };
}

const text = `${JSON.stringify(buildDocument(), null, 2)}\n`;
if (process.argv.includes('--check')) {
  const now = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '';
  if (now !== text) {
    console.error('www/openapi.json is not what openapi/build.mjs makes from openapi/routes.mjs and ../shared/openai: run node openapi/build.mjs');
    process.exit(1);
  }
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  fs.writeFileSync(OUT, text);
  console.log(`wrote ${path.relative(process.cwd(), OUT)}: ${Object.keys(buildDocument().paths).length} paths`);
}
