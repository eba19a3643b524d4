// cli.test.mjs: the binary itself: --version, --help, --check-config per
// environment, the development key that works, --listen, SIGTERM.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { app, freePort, top } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-cli-'));
}

// Runs the binary with only the given environment (plus PATH), in cwd.
function run(args, env = {}, cwd = tmpdir()) {
  const r = spawnSync(app, args, {
    cwd, encoding: 'utf8',
    env: { PATH: process.env.PATH, ASAN_OPTIONS: 'detect_leaks=1', STATE_DIR: path.join(cwd, 'state'), ...env },
  });
  return { status: r.status, out: r.stdout, err: r.stderr, cwd };
}

const PROD = {
  ENVIRONMENT: 'production', HOST: '127.0.0.1', PORT: '8000', LOG_LEVEL: 'INFO',
  RATE_LIMIT_PER_MINUTE: '60', API_AUTH_TOKENS: 'prod-key-0123456789abcdef',
  PYPROJECT_PATH: path.join(top, 'pyproject.toml'),
};

describe('the command line', () => {
  test('--version prints name and version from pyproject.toml; --help every option', () => {
    const v = run(['--version'], { PYPROJECT_PATH: path.join(top, 'pyproject.toml') });
    assert.equal(v.status, 0);
    assert.equal(v.out, 'openai-fcgi 0.1.0\n');
    const h = run(['--help']);
    assert.equal(h.status, 0);
    for (const opt of ['--config', '--listen', '--threads', '--check-config', '--version', '--help'])
      assert.ok(h.out.includes(opt), opt);
    assert.equal(run(['--bogus']).status, 64);
  });

  test('--check-config accepts a valid production setup and masks the keys', () => {
    const r = run(['--check-config'], PROD);
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /^ENVIRONMENT=production$/m);
    assert.ok(!r.out.includes(PROD.API_AUTH_TOKENS), 'a key was printed');
    assert.match(r.out, /^API_AUTH_TOKENS=prod…\(25 chars\)$/m);
  });

  test('--check-config refuses each production misconfiguration, naming the setting', () => {
    const cases = [
      [{ HOST: undefined }, /HOST \(not set\): required in production/],
      [{ PORT: undefined }, /PORT \(not set\): required in production/],
      [{ PORT: 'abc' }, /PORT \(environment\): must be an integer/],
      [{ LOG_LEVEL: undefined }, /LOG_LEVEL \(not set\): required/],
      [{ LOG_LEVEL: 'LOUD' }, /LOG_LEVEL \(environment\): must be DEBUG, INFO/],
      [{ RATE_LIMIT_PER_MINUTE: undefined }, /RATE_LIMIT_PER_MINUTE \(not set\): required/],
      [{ RATE_LIMIT_PER_MINUTE: 'ten' }, /RATE_LIMIT_PER_MINUTE \(environment\): must be an integer/],
      [{ API_AUTH_TOKENS: undefined }, /API_AUTH_TOKENS \(not set\): required in production/],
      [{ API_AUTH_TOKENS: 'short-key' }, /API_AUTH_TOKENS \(environment\): token 1 is 9 characters; production requires at least 16/],
      [{ PYPROJECT_PATH: '/nonexistent/pyproject.toml' }, /PYPROJECT_PATH: \/nonexistent\/pyproject.toml/],
      [{ ENVIRONMENT: 'staging', HOST: undefined }, /HOST \(not set\): required in staging/],
    ];
    for (const [change, want] of cases) {
      const env = { ...PROD, ...change };
      for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
      const r = run(['--check-config'], env);
      assert.equal(r.status, 78, `${JSON.stringify(change)}: ${r.err}`);
      assert.match(r.err, want);
      assert.ok(!r.err.includes('short-key'), 'a key was echoed');
    }
  });

  test('the config file, .env and the environment, in that order, with file:line in refusals', () => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'x.conf'), 'PORT = 7001;\nLOG_LEVEL = "DEBUG";\nHOST = "10.0.0.1";\n');
    fs.writeFileSync(path.join(dir, '.env'), '# comment\nexport LOG_LEVEL=WARNING\r\nHOST="10.0.0.2"\n');
    const r = run(['--check-config', '--config', 'x.conf'], { ...PROD, PORT: undefined, LOG_LEVEL: undefined, HOST: '10.0.0.3' }, dir);
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /^PORT=7001$/m);
    assert.match(r.out, /^LOG_LEVEL=WARNING$/m);
    assert.match(r.out, /^HOST=10\.0\.0\.3$/m);
    fs.writeFileSync(path.join(dir, 'x.conf'), 'PORT = 7001;\nRATE_LIMIT_PER_MINUTE = 0;\n');
    const bad = run(['--check-config', '--config', 'x.conf'], { ...PROD, RATE_LIMIT_PER_MINUTE: undefined }, dir);
    assert.equal(bad.status, 78);
    assert.match(bad.err, /RATE_LIMIT_PER_MINUTE \(x\.conf:2\): must be from 1 to/);
  });

  test('development: the printed dev_ key is the one that works', async () => {
    const dir = tmpdir();
    const sock = path.join(dir, 'app.sock');
    const env = { PATH: process.env.PATH, ENVIRONMENT: 'development', STATE_DIR: path.join(dir, 'state'),
      OPENAI_FCGI_CONFIG: path.join(top, 'conf', 'openai-fcgi.conf'), PYPROJECT_PATH: path.join(top, 'pyproject.toml') };
    const check = run(['--check-config'], env, dir);
    assert.equal(check.status, 0, check.err);
    const key = check.err.match(/development key: (dev_[0-9a-f]+)/)[1];
    const srv = await listenBehindLighttpd(['--listen', sock], env, dir, { socket: sock });
    try {
      const ok = await fetch(`${srv.base}/v1/models`, { headers: { Authorization: `Bearer ${key}` } });
      assert.equal(ok.status, 200);
      const no = await fetch(`${srv.base}/v1/models`, { headers: { Authorization: 'Bearer dev_0000000000000000000000' } });
      assert.equal(no.status, 401);
    } finally { await srv.stop(); }
  });

  test('--listen HOST:PORT serves FastCGI over TCP; SIGTERM lets a stream finish, then exits 0', async () => {
    const dir = tmpdir();
    const fport = await freePort();
    const env = { PATH: process.env.PATH, ENVIRONMENT: 'test', API_AUTH_TOKENS: 'cli-key-0123456789abcdef',
      STATE_DIR: path.join(dir, 'state'), MOCK_STREAM_DELAY_MS: '40',
      OPENAI_FCGI_CONFIG: path.join(top, 'conf', 'openai-fcgi.conf'), PYPROJECT_PATH: path.join(top, 'pyproject.toml') };
    const srv = await listenBehindLighttpd(['--listen', `127.0.0.1:${fport}`, '--threads', '2'], env, dir, { port: fport });
    try {
      const r = await fetch(`${srv.base}/v1/chat/completions`, {
        method: 'POST',
        headers: { Authorization: 'Bearer cli-key-0123456789abcdef', 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: 'blueprint-standard', messages: [{ role: 'user', content: 'hi' }], stream: true, max_tokens: 10 }),
      });
      const reader = r.body.getReader();
      await reader.read();
      srv.app.kill('SIGTERM');          // mid-stream
      let text = '';
      for (;;) { const { done, value } = await reader.read(); if (done) break; text += Buffer.from(value).toString(); }
      assert.match(text, /data: \[DONE\]\n\n$/);
      const code = await new Promise((res) => srv.app.on('exit', (c) => res(c)));
      assert.equal(code, 0);
    } finally { await srv.stop(); }
  });
});

// The app started by hand (--listen), lighttpd in front of it.
async function listenBehindLighttpd(args, env, dir, { socket, port }) {
  const child = spawn(app, args, { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  for (let i = 0; i < 100 && !(socket ? fs.existsSync(socket) : log.includes('serving')); i++) await sleep(30);
  const hport = await freePort();
  let conf = fs.readFileSync(path.join(top, 'lighttpd.conf.example'), 'utf8')
    .replace(/^var\.bind *=.*$/m, 'var.bind = "127.0.0.1"')
    .replace(/^var\.port *=.*$/m, `var.port = ${hport}`)
    .replace(/^var\.socket *=.*$/m, `var.socket = "${socket || ''}"`)
    .replace(/^var\.statedir *=.*$/m, `var.statedir = "${dir}"`);
  if (port) conf = conf.replace('"socket"              => var.socket,', `"host" => "127.0.0.1", "port" => ${port},`);
  fs.writeFileSync(path.join(dir, 'lighttpd.conf'), conf);
  const lt = spawn('lighttpd', ['-D', '-f', path.join(dir, 'lighttpd.conf')], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${hport}`;
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`${base}/health`)).status === 200) break; } catch { /* not yet */ }
    await sleep(30);
  }
  return {
    base, app: child,
    async stop() {
      for (const p of [child, lt]) if (p.exitCode === null) p.kill('SIGTERM');
      await sleep(100);
      for (const p of [child, lt]) if (p.exitCode === null) p.kill('SIGKILL');
      assert.ok(!/ERROR: AddressSanitizer|runtime error/.test(log), log);
    },
  };
}
