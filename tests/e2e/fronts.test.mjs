// fronts.test.mjs: the same API checks through every front (nginx, Apache,
// lighttpd, plain CGI, the Docker entry script), each from its config file in
// the repo, mounted at / and under /api. A front that cannot run here is
// reported as skipped with the reason, never passed.
// E2E_FRONTS=nginx-tcp,apache-cgi picks some.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  app, call, dockerEntryEnv, expectError, FRONTS, frontUnavailable, makeTempDir, startServer, testEnv, top, TOKEN,
} from './harness.mjs';
import { burst, checkBurst } from './ratelimit-check.mjs';

const chat = (extra = {}) => ({
  model: 'blueprint-standard', messages: [{ role: 'user', content: 'Hello!' }], ...extra,
});
const fronts = process.env.E2E_FRONTS ? process.env.E2E_FRONTS.split(',') : FRONTS;
const SPAWNED = new Set(['lighttpd', 'nginx-tcp', 'nginx-unix', 'apache-proxy-fcgi', 'docker-entry']);

// Reads an SSE response, noting when each event arrived.
async function readEvents(r) {
  const arrivals = [];
  let text = '';
  const dec = new TextDecoder();
  for await (const chunk of r.body) {
    const s = dec.decode(chunk, { stream: true });
    const now = performance.now();
    for (let i = 0; i < (s.match(/\n\n/g) || []).length; i++) arrivals.push(now);
    text += s;
  }
  return { arrivals, events: text.split('\n\n').filter(Boolean) };
}

for (const front of fronts) {
  const why = frontUnavailable(front);
  const mounts = front === 'docker-entry' ? ['/'] : ['/', '/api'];
  for (const mount of mounts) {
    describe(`${front} at ${mount}`, { skip: why || false }, () => {
      let srv;
      before(async () => {
        srv = await startServer({
          front, mount, processes: 2, threads: 4, unprivileged: true, env: { MOCK_STREAM_DELAY_MS: '50' },
        });
      });
      after(async () => { await srv?.stop(); });

      test('health, without a key', async () => {
        const r = await call(srv, 'GET', '/health', { token: null });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json, { status: 'ok' });
        assert.match(r.headers.get('content-type'), /^application\/json/);
        assert.match(r.headers.get('x-request-id'), /^req_[0-9a-f]{24}$/);
      });

      test('models list and retrieve', async () => {
        const r = await call(srv, 'GET', '/v1/models');
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.object, 'list');
        assert.ok(r.json.data.some((m) => m.id === 'blueprint-standard'));
        const one = await call(srv, 'GET', '/v1/models/blueprint-advanced');
        assert.equal(one.json.id, 'blueprint-advanced');
        expectError(assert, await call(srv, 'GET', '/v1/models/gpt-none'), 404, 'model_not_found', 'model');
        expectError(assert, await call(srv, 'GET', '/nope'), 404, 'unknown_url');
      });

      test('auth: the Authorization header reaches the app', async () => {
        // A 200 with the key and invalid_key with another prove the header
        // got through; missing_api_key for both would mean it was dropped.
        assert.equal((await call(srv, 'GET', '/v1/models', { token: TOKEN })).status, 200);
        expectError(assert, await call(srv, 'GET', '/v1/models', { token: 'wrong-key-0123456789abcdef' }),
          401, 'invalid_key');
        expectError(assert, await call(srv, 'GET', '/v1/models', { token: null }), 401, 'missing_api_key');
        const basic = await call(srv, 'GET', '/v1/models', { token: null, headers: { Authorization: 'Basic abc' } });
        expectError(assert, basic, 401, 'invalid_auth_format');
        assert.equal(basic.headers.get('www-authenticate'), 'Bearer');
      });

      test('chat completion, non-streaming', async () => {
        const r = await call(srv, 'POST', '/v1/chat/completions', { body: chat() });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.object, 'chat.completion');
        assert.match(r.json.choices[0].message.content, /^THIS IS THE MOCKED CHAT RESPONSE/);
        assert.equal(r.json.choices[0].finish_reason, 'stop');
        const bad = await call(srv, 'POST', '/v1/chat/completions', { body: chat({ temperature: 3 }) });
        expectError(assert, bad, 400, 'decimal_above_max_value', 'temperature');
      });

      test('chat completion, streaming, unbuffered: events 50 ms apart arrive at least 40 ms apart', async () => {
        const r = await fetch(`${srv.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(chat({ stream: true, max_tokens: 8 })),
        });
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type'), /^text\/event-stream/);
        const { arrivals, events } = await readEvents(r);
        assert.equal(events.at(-1), 'data: [DONE]');
        const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')));
        assert.equal(chunks[0].choices[0].delta.role, 'assistant');
        assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
        // Each word leaves the app 50 ms after the one before; a buffering
        // front delivers them together at the end.
        const words = chunks.map((c, i) => (c.choices[0]?.delta?.content ? arrivals[i] : null)).filter((t) => t !== null);
        const gaps = words.slice(1).map((t, i) => t - words[i]);
        assert.ok(gaps.length >= 4, `${words.length} words in ${arrivals.length} events`);
        // On a loaded machine one event may leave late, which shortens the
        // gap after it by as much as it lengthened the one before: a gap
        // under 40 ms passes only if it and a neighbour make 80 together.
        // The first word rides with the response head, which the front may
        // hold a few ms longer: the gap after it is not judged.
        const ok = (g, i) => i === 0 || g >= 40 ||
          (g >= 20 && ((gaps[i - 1] ?? 0) + g >= 80 || g + (gaps[i + 1] ?? 0) >= 80));
        assert.ok(gaps.every(ok), `gaps ${gaps.map((g) => g.toFixed(1)).join(' ')} ms`);
      });

      test('responses and completions stream unbuffered too, each from its first event', async () => {
        const opts = (p, body) => fetch(`${srv.url}${p}`, {
          method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ model: 'blueprint-standard', stream: true, ...body }),
        });
        for (const [p, body, word] of [
          ['/v1/responses', { input: 'Hello!', max_output_tokens: 16 }, (e) => e.startsWith('event: response.output_text.delta\n')],
          ['/v1/completions', { prompt: 'Hello!', max_tokens: 8 }, (e) => e !== 'data: [DONE]'],
        ]) {
          const r = await opts(p, body);
          assert.equal(r.status, 200, p);
          const { arrivals, events } = await readEvents(r);
          const words = events.map((e, i) => (word(e) ? arrivals[i] : null)).filter((t) => t !== null);
          assert.ok(words.length >= 5, `${p}: ${words.length} words`);
          // 50 ms apart at the source; a buffering front delivers them at once
          assert.ok(words.at(-1) - words[0] >= 4 * 50 * 0.6, `${p}: spread ${(words.at(-1) - words[0]).toFixed(0)} ms`);
        }
      });
    });
  }

  describe(`${front}: rate limit across processes`, { skip: why || false }, () => {
    let srv;
    before(async () => {
      // FastCGI fronts: 4 processes of 1 thread; mod_fcgid starts processes on
      // demand; CGI runs one process per request. All share one file.
      srv = await startServer({ front, mount: front === 'docker-entry' ? '/' : '/api', processes: 4, threads: 1, unprivileged: true,
        env: { RATE_LIMIT_PER_MINUTE: '10', ...(front === 'docker-entry' ? { PROCESSES: '4', THREADS: '1' } : {}) } });
    });
    after(async () => { await srv?.stop(); });

    test('30 parallel requests: exactly 10 x 200 and 20 x 429', async () => {
      checkBurst(await burst(srv));
      if (SPAWNED.has(front)) {
        const served = new Set(srv.log().match(/openai-fcgi\[\d+\] INFO: .* serving FastCGI/g));
        assert.ok(served.size >= 4, `processes: ${[...served].join('; ')}`);
      }
    });
  });
}

describe('docker-entry refuses what the image must refuse', { skip: frontUnavailable('docker-entry') || false }, () => {
  test('production without API keys exits 78 before anything listens', () => {
    const dir = makeTempDir();
    try {
      const env = { ...testEnv(dir), ...dockerEntryEnv(dir, 9), ENVIRONMENT: 'production' };
      delete env.API_AUTH_TOKENS;
      delete env.LOG_FILE;
      const r = spawnSync(path.join(top, 'scripts', 'docker-entry'), [], { env, encoding: 'utf8', timeout: 20000 });
      assert.equal(r.status, 78, r.stderr);
      assert.match(r.stderr, /API_AUTH_TOKENS/);
      assert.ok(!fs.existsSync(path.join(dir, 'app.pids')), 'spawn-fcgi was started');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the Dockerfile's HEALTHCHECK command passes against the running entry", async () => {
    const docker = fs.readFileSync(path.join(top, 'Dockerfile'), 'utf8');
    const cmd = docker.match(/^HEALTHCHECK[^\n]*\\\n\s*CMD (.*)$/m)?.[1];
    assert.ok(cmd, 'no HEALTHCHECK CMD in the Dockerfile');
    const srv = await startServer({ front: 'docker-entry', unprivileged: true });
    try {
      const port = new URL(srv.base).port;
      const ok = spawnSync('sh', ['-c', cmd], { env: { PATH: process.env.PATH, PORT: port }, encoding: 'utf8' });
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(ok.stdout, /"status":\s*"ok"/);
    } finally {
      await srv.stop();
    }
  });
});

describe('systemd units', () => {
  test('pass systemd-analyze verify (with the built binary in ExecStart)', (t) => {
    if (spawnSync('sh', ['-c', 'command -v systemd-analyze'], { stdio: 'ignore' }).status !== 0) {
      t.skip('systemd-analyze is not installed');
      return;
    }
    const dir = makeTempDir();
    try {
      fs.writeFileSync(path.join(dir, 'openai-fcgi.service'), fs.readFileSync(path.join(top, 'conf', 'openai-fcgi.service'), 'utf8')
        .replace(/^ExecStart=\S+/m, `ExecStart=${app}`));
      fs.copyFileSync(path.join(top, 'conf', 'openai-fcgi.socket'), path.join(dir, 'openai-fcgi.socket'));
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', path.join(dir, 'openai-fcgi.socket'),
        path.join(dir, 'openai-fcgi.service')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
