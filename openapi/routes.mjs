// routes.mjs: what the OpenAPI document says of each row of fcgi/routes.c.
//
// Documenting a route is one entry here, then `node openapi/build.mjs`
// (which rewrites www/openapi.json). tests/unit/test_docs fails while the
// route table and the document disagree, in either direction, and also when
// an entry's auth, rateLimited or body disagrees with the row's flags.
//
// An entry: method and path (OpenAPI's {name} where the table has {}), tag,
// operationId, summary, description; auth (R_AUTH: 401 and the bearer
// scheme), rateLimited (R_RATE_LIMITED: 429 and the x-ratelimit-* headers);
// params: path parameters with an example each; body: the request schema
// (a name from ../shared/openai, bundled) with named examples, every one of
// which tests/browser/openapi.test.mjs sends to the server; ok: the 200
// answer: json (a schema name, or an inline schema) and/or sse (the schema
// of each streamed event; sseDone: false when the stream does not end with
// `data: [DONE]`), or types (content types of a file); errors: the other
// statuses the route can answer (400, 431 and 500 every route can).

const PAGE = { types: ['text/html'] };

export const routes = [
  {
    method: 'GET', path: '/health', tag: 'Service', operationId: 'health',
    summary: 'Liveness', description: 'Answers as long as the application runs. No key, not rate-limited.',
    auth: false, rateLimited: false,
    ok: { json: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } } },
  },
  {
    method: 'GET', path: '/v1', tag: 'Service', operationId: 'welcome',
    summary: 'Welcome message', description: 'The project name and version from pyproject.toml.',
    auth: false, rateLimited: true, ok: { json: 'Welcome' },
  },
  {
    method: 'GET', path: '/v1/', tag: 'Service', operationId: 'welcomeSlash',
    summary: 'Welcome message (trailing slash)', description: 'The same as GET /v1.',
    auth: false, rateLimited: true, ok: { json: 'Welcome' },
  },
  {
    method: 'GET', path: '/v1/models', tag: 'Models', operationId: 'listModels',
    summary: 'List models', description: 'The configured models, and those of upstreams with `discover = true`.',
    auth: true, rateLimited: true, ok: { json: 'ListModelsResponse' },
  },
  {
    method: 'GET', path: '/v1/models/{model}', tag: 'Models', operationId: 'retrieveModel',
    summary: 'Retrieve a model', description: 'One model by id.',
    auth: true, rateLimited: true,
    params: [{ name: 'model', description: 'The model id.', example: 'blueprint-standard' }],
    ok: { json: 'Model' }, errors: [404],
  },
  {
    method: 'POST', path: '/v1/chat/completions', tag: 'Chat', operationId: 'createChatCompletion',
    summary: 'Create a chat completion',
    description: 'A `chat.completion`, or with `"stream": true` Server-Sent Events: one ' +
      '`chat.completion.chunk` per `data:` line, then `data: [DONE]`. Requests are validated as ' +
      'OpenAI validates them (400 with `param`, e.g. `messages[0].role`).',
    auth: true, rateLimited: true,
    body: {
      schema: 'CreateChatCompletionRequest',
      examples: {
        hello: {
          summary: 'A question',
          value: { model: 'blueprint-standard', messages: [{ role: 'user', content: 'Hello!' }] },
        },
        stream: {
          summary: 'Streamed, with a system prompt',
          value: {
            model: 'blueprint-standard', stream: true,
            messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello!' }],
          },
        },
      },
    },
    ok: { json: 'CreateChatCompletionResponse', sse: 'CreateChatCompletionStreamResponse' },
    errors: [404, 413, 415, 502, 504],
  },
  {
    method: 'POST', path: '/v1/responses', tag: 'Responses', operationId: 'createResponse',
    summary: 'Create a model response',
    description: 'A `response`, or with `"stream": true` Server-Sent Events (`event:` and `data:` per event) ' +
      'from `response.created` to `response.completed`.',
    auth: true, rateLimited: true,
    body: { schema: 'CreateResponse', examples: {
      hello: { summary: 'A question', value: { model: 'blueprint-standard', input: 'Hello!' } },
      stream: { summary: 'Streamed, with instructions',
        value: { model: 'blueprint-standard', input: 'Hello!', instructions: 'You are terse.', stream: true } } } },
    ok: { json: 'Response', sse: 'ResponseStreamEvent', sseDone: false },
    errors: [413, 415, 502, 504],
  },
  {
    method: 'POST', path: '/v1/completions', tag: 'Completions', operationId: 'createCompletion',
    summary: 'Create a completion (legacy)',
    description: 'A `text_completion`, or with `"stream": true` one per `data:` line, then `data: [DONE]`.',
    auth: true, rateLimited: true,
    body: { schema: 'CreateCompletionRequest', examples: {
      hello: { summary: 'A prompt', value: { model: 'blueprint-standard', prompt: 'Say hello' } },
      stream: { summary: 'Streamed', value: { model: 'blueprint-standard', prompt: 'Say hello', stream: true } } } },
    ok: { json: 'CreateCompletionResponse', sse: 'CreateCompletionStreamChunk' },
    errors: [404, 413, 415, 502, 504],
  },
  {
    method: 'POST', path: '/v1/embeddings', tag: 'Embeddings', operationId: 'createEmbedding',
    summary: 'Create embeddings',
    description: 'One embedding per input; `encoding_format: "base64"` gives little-endian float32s in base64.',
    auth: true, rateLimited: true,
    body: { schema: 'CreateEmbeddingRequest', examples: {
      one: { summary: 'One input, floats', value: { model: 'blueprint-embedding', input: 'Hello!', encoding_format: 'float' } },
      several: { summary: 'Several inputs, shortened',
        value: { model: 'blueprint-embedding', input: ['first', 'second'], encoding_format: 'float', dimensions: 256 } } } },
    ok: { json: 'CreateEmbeddingResponse' },
    errors: [404, 413, 415, 502, 504],
  },
  {
    method: 'GET', path: '/metrics', tag: 'Service', operationId: 'metrics',
    summary: 'Prometheus metrics',
    description: 'Requests, tokens, durations, time to first token, in-flight requests and open streams, ' +
      '429s by kind and upstream errors, summed over every process of the host, in Prometheus\' text ' +
      'format. With METRICS_TOKEN set, only that bearer token is let in (401 otherwise); without it, only ' +
      'clients on loopback (403 otherwise). Scrapes count against no key.',
    auth: false, rateLimited: false, ok: { types: ['text/plain'] }, errors: [401, 403, 503],
  },
  {
    method: 'GET', path: '/openapi.json', tag: 'Documentation', operationId: 'openapi',
    summary: 'This document', description: 'Served when DOCS is on (by default outside staging and production).',
    auth: false, rateLimited: false, ok: { types: ['application/json'] }, errors: [404],
  },
  {
    method: 'GET', path: '/docs', tag: 'Documentation', operationId: 'swaggerUi',
    summary: 'Swagger UI on this document', description: 'Served when DOCS is on.',
    auth: false, rateLimited: false, ok: PAGE, errors: [404],
  },
  {
    method: 'GET', path: '/docs/{asset}', tag: 'Documentation', operationId: 'docsAsset',
    summary: 'A script, stylesheet or image of the pages', description: 'Only the files the pages use; anything else is 404.',
    auth: false, rateLimited: false,
    params: [{ name: 'asset', description: 'A file name, e.g. swagger-ui.css.', example: 'playground.css' }],
    ok: { types: ['text/css', 'text/javascript', 'image/png'] }, errors: [404],
  },
  {
    method: 'GET', path: '/redoc', tag: 'Documentation', operationId: 'redoc',
    summary: 'ReDoc on this document', description: 'Served when DOCS is on.',
    auth: false, rateLimited: false, ok: PAGE, errors: [404],
  },
  {
    method: 'GET', path: '/playground', tag: 'Documentation', operationId: 'playground',
    summary: 'A chat playground', description: 'Served when DOCS is on. The key typed there stays in the tab (sessionStorage).',
    auth: false, rateLimited: false, ok: PAGE, errors: [404],
  },
];
