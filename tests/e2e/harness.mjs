// harness.mjs: starts the real thing for end-to-end tests: lighttpd from
// lighttpd.conf.example (or conf/lighttpd-cgi.conf) with the built binary under
// spawn-fcgi, on free loopback ports in a temp dir; stops everything by PID.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const top = process.env.top_srcdir || path.resolve(new URL('../..', import.meta.url).pathname);
export const build = process.env.top_builddir || path.join(top, 'build-test');
export const app = path.join(build, 'fcgi', 'openai-fcgi');
export const TOKEN = 'e2e-key-0123456789abcdef';
export const TOKEN2 = 'e2e-other-key-0123456789';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function lighttpdConfig({ port, dir, mount, cgi }) {
  if (cgi) {
    return fs.readFileSync(path.join(top, 'conf', 'lighttpd-cgi.conf'), 'utf8')
      .replace(/^var\.bind *=.*$/m, 'var.bind = "127.0.0.1"')
      .replace(/^var\.port *=.*$/m, `var.port = ${port}`)
      .replace(/^var\.app *=.*$/m, `var.app = "${app}"`)
      .replace(/^var\.statedir *=.*$/m, `var.statedir = "${dir}/www"`)
      .replace(/^var\.mount *=.*$/m, `var.mount = "${mount === '/' ? '' : mount}"`)
      .replace(/^setenv\.set-environment[\s\S]*?\n\)\n/m, '');
  }
  let conf = fs.readFileSync(path.join(top, 'lighttpd.conf.example'), 'utf8')
    .replace(/^var\.bind *=.*$/m, 'var.bind = "127.0.0.1"')
    .replace(/^var\.port *=.*$/m, `var.port = ${port}`)
    .replace(/^var\.socket *=.*$/m, `var.socket = "${dir}/app.sock"`)
    .replace(/^var\.statedir *=.*$/m, `var.statedir = "${dir}"`);
  if (mount !== '/') conf = conf.replace('"/" => ((', `"${mount}/" => ((`);
  return conf;
}

// Starts lighttpd + the app. opts: env (extra settings), processes, threads,
// mount ('/' or '/api'), cgi (plain CGI through mod_cgi instead of FastCGI).
export async function startServer(opts = {}) {
  const { processes = 1, threads = 4, mount = '/', cgi = false } = opts;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-e2e-'));
  const port = await freePort();
  const env = {
    PATH: process.env.PATH,
    ENVIRONMENT: 'test',
    API_AUTH_TOKENS: `${TOKEN},${TOKEN2}`,
    OPENAI_FCGI_CONFIG: path.join(top, 'conf', 'openai-fcgi.conf'),
    PYPROJECT_PATH: path.join(top, 'pyproject.toml'),
    STATE_DIR: dir,
    RATE_LIMIT_FILE: path.join(dir, 'ratelimit'),
    RATE_LIMIT_PER_MINUTE: '100000',
    MOCK_STREAM_DELAY_MS: '0',
    LOG_LEVEL: 'INFO',
    LOG_FILE: path.join(dir, 'app.log'),
    ASAN_OPTIONS: `log_path=${dir}/asan:detect_leaks=1`,
    UBSAN_OPTIONS: `log_path=${dir}/ubsan:print_stacktrace=1`,
    ...opts.env,
  };
  // Plain CGI starts a process per request: LeakSanitizer's scan at each exit
  // (~200 ms) would dominate. FastCGI runs keep it.
  if (cgi && !opts.env?.ASAN_OPTIONS) env.ASAN_OPTIONS += ':detect_leaks=0';
  const pids = [];
  const stderrPath = path.join(dir, 'server.log');
  const log = fs.openSync(stderrPath, 'a');
  if (cgi) {
    fs.mkdirSync(path.join(dir, 'www'));
    fs.symlinkSync(app, path.join(dir, 'www', 'openai-fcgi.cgi'));
  } else {
    const r = spawnSync('spawn-fcgi', ['-s', `${dir}/app.sock`, '-M', '0600', '-F', String(processes),
      '-P', `${dir}/app.pids`, '--', app, '--threads', String(threads)], { env, stdio: ['ignore', log, log] });
    if (r.status !== 0) throw new Error(`spawn-fcgi failed: ${fs.readFileSync(stderrPath, 'utf8')}`);
    for (const l of fs.readFileSync(`${dir}/app.pids`, 'utf8').split('\n')) if (l.trim()) pids.push(Number(l));
  }
  let conf = lighttpdConfig({ port, dir, mount, cgi });
  if (cgi) {
    // mod_cgi passes only what the config says: the settings go through setenv.
    const setenv = Object.entries(env).filter(([k]) => k !== 'PATH')
      .map(([k, v]) => `"${k}" => "${v}"`).join(', ');
    conf += `\nsetenv.set-environment = ( ${setenv} )\n`;
  }
  fs.writeFileSync(path.join(dir, 'lighttpd.conf'), conf);
  const lt = spawn('lighttpd', ['-D', '-f', path.join(dir, 'lighttpd.conf')], { env, stdio: ['ignore', log, log] });
  pids.push(lt.pid);
  const base = `http://127.0.0.1:${port}`;
  const prefix = mount === '/' ? '' : mount;
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${base}${prefix}/health`);
      if (r.status === 200) break;
    } catch { /* not up yet */ }
    await sleep(50);
  }
  return {
    base, url: `${base}${prefix}`, dir, pids, env,
    log: () => fs.readFileSync(stderrPath, 'utf8') + (fs.existsSync(env.LOG_FILE) ? fs.readFileSync(env.LOG_FILE, 'utf8') : ''),
    async stop() {
      for (const pid of pids) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
      for (let i = 0; i < 100 && pids.some(alive); i++) await sleep(50);
      for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      const reports = fs.readdirSync(dir).filter((f) => f.startsWith('asan') || f.startsWith('ubsan'));
      const text = reports.map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n');
      fs.rmSync(dir, { recursive: true, force: true });
      if (text) throw new Error(`sanitizer reports:\n${text}`);
    },
  };
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

// fetch with the key; returns { status, headers, text, json }.
export async function call(srv, method, p, { body, headers = {}, token = TOKEN, raw } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined && !raw) h['Content-Type'] = h['Content-Type'] || 'application/json';
  const r = await fetch(`${srv.url}${p}`, {
    method, headers: h, body: body === undefined ? undefined : (raw ? body : JSON.stringify(body)),
  });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, text, json };
}

// Asserts an OpenAI error envelope: all four keys, the given status/code/param.
export function expectError(assert, res, status, code, param = null) {
  const ctx = `${res.status} ${res.text}`;
  assert.equal(res.status, status, ctx);
  assert.ok(res.json && res.json.error, ctx);
  assert.deepEqual(Object.keys(res.json.error).sort(), ['code', 'message', 'param', 'type'], ctx);
  assert.equal(typeof res.json.error.message, 'string', ctx);
  if (code !== undefined) assert.equal(res.json.error.code, code, ctx);
  assert.equal(res.json.error.param, param, ctx);
  assert.match(res.headers.get('content-type') || '', /^application\/json/, ctx);
}
