// stream_cost.mjs: instructions the app spends on one relayed stream event, by callgrind, free of wall-clock noise.
// The app answers one CGI request (its start-up the same in both runs) from an
// upstream on loopback that sends a stream of N chunks at once in OpenAI's
// shape; (the run with 1,100 chunks - the run with 100) / 1,000 is the cost
// of one event. Use an optimised build without sanitizers:
//   node bench/stream_cost.mjs build-bench/fcgi/openai-fcgi [include_usage]
// KEEP_CG=PREFIX keeps the two callgrind files (PREFIX.100, PREFIX.1100) for callgrind_annotate.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const app = path.resolve(process.argv[2] || path.join(top, 'build-bench/fcgi/openai-fcgi'));
const includeUsage = process.argv[3] === 'include_usage';
const TOKEN = 'bench-key-0123456789abcdef';

// a word per event, as OpenAI and vLLM send them (usage null until the last)
const chunk = (i, finish) => JSON.stringify({
  id: 'chatcmpl-0123456789abcdefghijklmnopqrs', object: 'chat.completion.chunk', created: 1733000000,
  model: 'up-model', system_fingerprint: 'fp_0123456789', service_tier: 'default',
  choices: [{ index: 0, delta: finish ? {} : { content: ` word${i}` }, logprobs: null, finish_reason: finish ? 'stop' : null }],
  usage: null,
});
let chunks = 0;  // what the next request gets: one CGI request at a time
const upstream = http.createServer((req, res) => {
  const n = chunks;
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    let out = '';
    for (let i = 0; i < n; i++) out += `data: ${chunk(i, false)}\n\n`;
    out += `data: ${chunk(n, true)}\n\n`;
    out += `data: ${JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1, model: 'up-model',
      choices: [], usage: { prompt_tokens: 9, completion_tokens: n, total_tokens: 9 + n } })}\n\n`;
    res.end(`${out}data: [DONE]\n\n`);
  });
});
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));

// the child runs while this process serves the upstream: no spawnSync
function run(cmd, args, env, input) {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env });
    let stdout = '';
    c.stdout.on('data', (d) => { stdout += d; });
    c.stderr.on('data', (d) => process.stderr.write(d));
    c.on('close', (code) => resolve({ code, stdout }));
    c.stdin.end(input);
  });
}

async function instructions(n) {
  chunks = n;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-cost-'));
  const body = JSON.stringify({ model: 'relay', stream: true, messages: [{ role: 'user', content: 'Hello!' }],
    ...(includeUsage ? { stream_options: { include_usage: true } } : {}) });
  const out = path.join(dir, 'cg.out');
  const env = {
    PATH: process.env.PATH, GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'POST', REQUEST_URI: '/v1/chat/completions',
    SERVER_PROTOCOL: 'HTTP/1.1', HTTP_AUTHORIZATION: `Bearer ${TOKEN}`, CONTENT_TYPE: 'application/json',
    CONTENT_LENGTH: String(Buffer.byteLength(body)), ENVIRONMENT: 'test', API_AUTH_TOKENS: TOKEN, STATE_DIR: dir,
    LOG_FILE: path.join(dir, 'app.log'), LOG_LEVEL: 'WARNING', PYPROJECT_PATH: path.join(top, 'pyproject.toml'),
    OPENAI_FCGI_CONFIG: path.join(top, 'conf', 'openai-fcgi.conf'),
    UPSTREAM_BASE_URL: `http://127.0.0.1:${upstream.address().port}/v1`, UPSTREAM_API_KEY: TOKEN,
    UPSTREAM_MODELS: 'relay=up-model',
  };
  const r = await run('valgrind', ['-q', '--tool=callgrind', `--callgrind-out-file=${out}`, app], env, body);
  if (process.env.KEEP_CG) fs.copyFileSync(out, `${process.env.KEEP_CG}.${n}`);
  const total = Number((fs.readFileSync(out, 'utf8').match(/^summary: (\d+)/m) || [])[1]);
  const events = (r.stdout.match(/^data: \{/gm) || []).length;
  fs.rmSync(dir, { recursive: true, force: true });
  if (r.code !== 0 || events < n) throw new Error(`the app answered ${events} events of ${n}: ${r.stdout.slice(0, 300)}`);
  return { total, events };
}

try {
  const a = await instructions(100);
  const b = await instructions(1100);
  console.log(`events ${a.events} and ${b.events}; instructions ${a.total} and ${b.total}`);
  console.log(`RESULT instructions_per_event=${Math.round((b.total - a.total) / (b.events - a.events))} include_usage=${includeUsage}`);
} finally {
  upstream.close();
}
