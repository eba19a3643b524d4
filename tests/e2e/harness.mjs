// harness.mjs: starts the real thing for end-to-end tests: a web server (the
// "front") from its config file in the repo, the built binary behind it, on a
// free loopback port in a temp dir; stops everything by PID.
//
// Fronts: lighttpd (lighttpd.conf.example + spawn-fcgi), lighttpd-cgi
// (conf/lighttpd-cgi.conf), nginx-tcp and nginx-unix (conf/nginx*.conf +
// spawn-fcgi), apache-proxy-fcgi (+ spawn-fcgi), apache-fcgid, apache-cgi
// (conf/apache-cgi.conf), apache-htaccess (conf/apache-cgi.htaccess), and
// docker-entry (scripts/docker-entry, lighttpd + spawn-fcgi as in the image),
// systemd (conf/openai-fcgi.{socket,service} as systemd would run them, with
// the socket on fd 0, behind conf/nginx-unix.conf: no systemd runs here).
// Only ports, paths and settings are substituted into the config files.
// Run as root, every server and the app drop to nobody, as in production.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const AS_ROOT = process.getuid() === 0;
const NOBODY = AS_ROOT ? { uid: idOf('-u'), gid: idOf('-g') } : null;
const APACHE_MODULES = '/usr/lib/apache2/modules';

function idOf(flag) {
  const r = spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout) : 65534;
}

const srcTop = process.env.top_srcdir || path.resolve(new URL('../..', import.meta.url).pathname);
// E2E_APP: another build of the program (tests/static/run.sh: the static file).
const srcApp = process.env.E2E_APP ||
  path.join(process.env.top_builddir || path.join(srcTop, 'build-test'), 'fcgi', 'openai-fcgi');

// Run as root, the servers and the app drop to nobody, who must reach the
// binary and the files the fronts are started from. A checkout under a
// private directory (a clone in a 0700 temp dir) is out of its reach: then
// the suites use a world-readable copy of just those files, made once per
// process and removed at exit.
function staged() {
  if (!AS_ROOT || spawnSync('test', ['-x', srcApp, '-a', '-r', path.join(srcTop, 'pyproject.toml')],
    { uid: NOBODY.uid, gid: NOBODY.gid }).status === 0) return { top: srcTop, app: srcApp };
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-stage-'));
  fs.chmodSync(stage, 0o755);
  for (const f of ['conf', 'scripts', 'pyproject.toml', 'lighttpd.conf.example', 'Dockerfile']) {
    fs.cpSync(path.join(srcTop, f), path.join(stage, f), { recursive: true });
  }
  fs.mkdirSync(path.join(stage, 'fcgi'));
  fs.copyFileSync(srcApp, path.join(stage, 'fcgi', 'openai-fcgi'));
  fs.chmodSync(path.join(stage, 'fcgi', 'openai-fcgi'), 0o755);
  process.on('exit', () => fs.rmSync(stage, { recursive: true, force: true }));
  return { top: stage, app: path.join(stage, 'fcgi', 'openai-fcgi') };
}

export const { top, app } = staged();
// The checkout itself (top may be the staged copy): for what lies beside it.
export const checkout = srcTop;
export const TOKEN = 'e2e-key-0123456789abcdef';
export const TOKEN2 = 'e2e-other-key-0123456789';

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export const FRONTS = ['lighttpd', 'lighttpd-cgi', 'nginx-tcp', 'nginx-unix', 'apache-proxy-fcgi',
  'apache-fcgid', 'apache-cgi', 'apache-htaccess', 'docker-entry', 'systemd'];

// Why a front cannot run here, or null when it can.
export function frontUnavailable(front) {
  const needs = {
    lighttpd: ['lighttpd', 'spawn-fcgi'], 'lighttpd-cgi': ['lighttpd'], 'docker-entry': ['lighttpd', 'spawn-fcgi'],
    'nginx-tcp': ['nginx', 'spawn-fcgi'], 'nginx-unix': ['nginx', 'spawn-fcgi'],
    'apache-proxy-fcgi': ['apache2', 'spawn-fcgi'], 'apache-fcgid': ['apache2'],
    'apache-cgi': ['apache2'], 'apache-htaccess': ['apache2'], systemd: ['nginx', 'spawn-fcgi'],
  }[front];
  if (!needs) return `unknown front ${front}`;
  for (const cmd of needs) if (!have(cmd)) return `${cmd} is not installed (scripts/test installs it)`;
  const mods = { 'apache-proxy-fcgi': ['mod_proxy_fcgi'], 'apache-fcgid': ['mod_fcgid'],
    'apache-cgi': ['mod_cgi'], 'apache-htaccess': ['mod_cgi', 'mod_rewrite'] }[front] || [];
  for (const m of mods) {
    if (!fs.existsSync(path.join(APACHE_MODULES, `${m}.so`))) return `Apache's ${m} is not installed`;
  }
  return null;
}

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
const read = (f) => fs.readFileSync(path.join(top, f), 'utf8');

// Replaces the value of one line (matched by re) in a config file; throws if
// the file no longer has that line, so that a config edit cannot silently
// make the tests run something else.
function sub(text, re, line, file) {
  if (!re.test(text)) throw new Error(`${file}: no line matching ${re}`);
  return text.replace(re, line);
}

function lighttpdConfig({ port, dir, mount, cgi, drop }) {
  let conf;
  if (cgi) {
    const f = 'conf/lighttpd-cgi.conf';
    conf = read(f);
    conf = sub(conf, /^var\.bind *=.*$/m, 'var.bind = "127.0.0.1"', f);
    conf = sub(conf, /^var\.port *=.*$/m, `var.port = ${port}`, f);
    conf = sub(conf, /^var\.app *=.*$/m, `var.app = "${app}"`, f);
    conf = sub(conf, /^var\.statedir *=.*$/m, `var.statedir = "${dir}/www"`, f);
    conf = sub(conf, /^var\.mount *=.*$/m, `var.mount = "${mount === '/' ? '' : mount}"`, f);
    conf = conf.replace(/^setenv\.set-environment[\s\S]*?\n\)\n/m, '');
  } else {
    const f = 'lighttpd.conf.example';
    conf = read(f);
    conf = sub(conf, /^var\.bind *=.*$/m, 'var.bind = "127.0.0.1"', f);
    conf = sub(conf, /^var\.port *=.*$/m, `var.port = ${port}`, f);
    conf = sub(conf, /^var\.socket *=.*$/m, `var.socket = "${dir}/app.sock"`, f);
    conf = sub(conf, /^var\.statedir *=.*$/m, `var.statedir = "${dir}"`, f);
    if (mount !== '/') conf = sub(conf, /"\/" => \(\(/, `"${mount}/" => ((`, f);
  }
  if (drop) conf += '\nserver.username = "nobody"\nserver.groupname = "nogroup"\n';
  return conf;
}

// nginx: the site file inside a minimal main config that keeps every path in dir.
function nginxConfig({ port, dir, mount, front }) {
  const f = front !== 'nginx-tcp' ? 'conf/nginx-unix.conf' : 'conf/nginx.conf';
  let site = read(f);
  site = sub(site, /^(\s*)listen [^;]*;/m, `$1listen 127.0.0.1:${port};`, f);
  site = sub(site, /^(\s*)location \/ \{/m, `$1location ${mount === '/' ? '/' : `${mount}/`} {`, f);
  site = sub(site, /^(\s*)fastcgi_pass [^;]*;/m,
    `$1fastcgi_pass ${front === 'nginx-tcp' ? `127.0.0.1:${appTcpPort(dir)}` : `unix:${dir}/app.sock`};`, f);
  fs.writeFileSync(path.join(dir, 'site.conf'), site);
  return `${AS_ROOT ? 'user nobody nogroup;\n' : ''}daemon off;
worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/server.log info;
events { worker_connections 256; }
http {
	access_log ${dir}/access.log;
	client_body_temp_path ${dir}/nginx-body;
	fastcgi_temp_path ${dir}/nginx-fastcgi;
	proxy_temp_path ${dir}/nginx-proxy;
	uwsgi_temp_path ${dir}/nginx-uwsgi;
	scgi_temp_path ${dir}/nginx-scgi;
	include ${dir}/site.conf;
}
`;
}

const appTcpPort = (dir) => Number(fs.readFileSync(path.join(dir, 'app.port'), 'utf8'));

// Apache: the conf/ file inside a minimal server config that keeps every path in dir.
function apacheConfig({ port, dir, mount, front, env }) {
  const prefix = mount === '/' ? '' : mount;
  const appDir = path.dirname(app);
  const modules = ['authz_core', 'mime', 'alias', 'env'];
  let mpm = 'event';
  let site;
  const define = (text, name, value, f) => sub(text, new RegExp(`^Define ${name} .*$`, 'm'), `Define ${name} ${value}`, f);
  if (front === 'apache-proxy-fcgi') {
    const f = 'conf/apache-proxy-fcgi.conf';
    modules.push('proxy', 'proxy_fcgi');
    site = define(read(f), 'OAF_PROXY_PREFIX', `${prefix}/`, f);
    site = define(site, 'OAF_PROXY_SOCKET', `${dir}/app.sock`, f);
  } else if (front === 'apache-fcgid') {
    const f = 'conf/apache-fcgid.conf';
    modules.push('fcgid');
    site = define(read(f), 'OAF_FCGID_PREFIX', `${prefix}/`, f);
    site = define(site, 'OAF_FCGID_APP', app, f);
    site = define(site, 'OAF_FCGID_DIR', appDir, f);
    site = site.replace(/^FcgidInitialEnv (OPENAI_FCGI_CONFIG|LOG_FILE) .*\n/mg, '');
    site += Object.entries(env).filter(([k]) => k !== 'PATH')
      .map(([k, v]) => `FcgidInitialEnv ${k} "${v}"\n`).join('');
    site += `FcgidIPCDir ${dir}/fcgid\nFcgidProcessTableFile ${dir}/fcgid/shm\n`;
    fs.mkdirSync(path.join(dir, 'fcgid'));
  } else if (front === 'apache-cgi') {
    const f = 'conf/apache-cgi.conf';
    modules.push('cgi');
    mpm = 'prefork';
    site = define(read(f), 'OAF_CGI_PREFIX', `${prefix}/`, f);
    site = define(site, 'OAF_CGI_APP', app, f);
    site = define(site, 'OAF_CGI_DIR', appDir, f);
    site = site.replace(/^\s*SetEnv (OPENAI_FCGI_CONFIG|LOG_FILE) .*\n/mg, '');
    site = site.replace(/^(\s*)Require all granted$/m, (m, ws) => Object.entries(env).filter(([k]) => k !== 'PATH')
      .map(([k, v]) => `${ws}SetEnv ${k} "${v}"\n`).join('') + m);
  } else {  // apache-htaccess: the server side is what a shared host has
    modules.push('cgi', 'rewrite');
    mpm = 'prefork';
    const www = path.join(dir, 'htdocs', prefix);
    fs.mkdirSync(www, { recursive: true });
    fs.copyFileSync(app, path.join(www, 'openai-fcgi.cgi'));
    fs.chmodSync(path.join(www, 'openai-fcgi.cgi'), 0o755);
    let ht = read('conf/apache-cgi.htaccess').replace(/^SetEnv .*\n/mg, '');
    ht += Object.entries(env).filter(([k]) => k !== 'PATH').map(([k, v]) => `SetEnv ${k} "${v}"\n`).join('');
    fs.writeFileSync(path.join(www, '.htaccess'), ht);
    site = `<Directory "${dir}/htdocs">\n\tAllowOverride FileInfo Options AuthConfig Limit\n\tRequire all granted\n</Directory>\n`;
  }
  fs.writeFileSync(path.join(dir, 'site.conf'), site);
  fs.mkdirSync(path.join(dir, 'htdocs'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'apache-run'));
  const load = [`mpm_${mpm}`, ...modules]
    .map((m) => `LoadModule ${m}_module ${APACHE_MODULES}/mod_${m}.so`).join('\n');
  return `ServerRoot "${dir}"
DefaultRuntimeDir "${dir}/apache-run"
PidFile "${dir}/apache.pid"
Mutex file:${dir}/apache-run default
${load}
${AS_ROOT ? 'User nobody\nGroup nogroup' : ''}
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
ErrorLog "${dir}/server.log"
LogLevel warn
CustomLog "${dir}/access.log" common
TypesConfig /etc/mime.types
DocumentRoot "${dir}/htdocs"
StartServers 2
MaxRequestWorkers 64
${mpm === 'prefork' ? 'MinSpareServers 4\nMaxSpareServers 16' : 'ThreadsPerChild 32\nServerLimit 2'}
<Directory />
	AllowOverride None
	Require all denied
</Directory>
Include "${dir}/site.conf"
`;
}

// Starts the app under spawn-fcgi through conf/spawn-fcgi.sh; returns its PIDs.
function spawnApp({ dir, front, processes, threads, env, log, drop }) {
  const socket = front === 'nginx-tcp' ? `127.0.0.1:${appTcpPort(dir)}` : `${dir}/app.sock`;
  const r = spawnSync(path.join(top, 'conf', 'spawn-fcgi.sh'), [], {
    env: { ...env, APP: app, SOCKET: socket, PROCESSES: String(processes), THREADS: String(threads),
      PIDFILE: `${dir}/app.pids`,
      ...(drop ? { SOCKET_USER: 'nobody', SOCKET_GROUP: 'nogroup', RUN_AS: 'nobody' } : { SOCKET_USER: '', RUN_AS: '' }) },
    stdio: ['ignore', log, log],
  });
  if (r.status !== 0) throw new Error(`spawn-fcgi failed: ${fs.readFileSync(path.join(dir, 'server.log'), 'utf8')}`);
  return fs.readFileSync(`${dir}/app.pids`, 'utf8').split('\n').filter((l) => l.trim()).map(Number);
}

// The settings every test server runs with; opts.env adds or overrides.
export function testEnv(dir, extra = {}) {
  return {
    PATH: process.env.PATH,
    ENVIRONMENT: 'test',
    API_AUTH_TOKENS: `${TOKEN},${TOKEN2}`,
    OPENAI_FCGI_CONFIG: path.join(top, 'conf', 'openai-fcgi.conf'),
    PYPROJECT_PATH: path.join(top, 'pyproject.toml'),
    STATE_DIR: dir,
    RATE_LIMIT_FILE: path.join(dir, 'ratelimit'),
    // the server's own, like its rate-limit file, even when a test shares a
    // STATE_DIR (usage.test.mjs shares one on purpose, by USAGE_FILE)
    USAGE_FILE: path.join(dir, 'usage'),
    RATE_LIMIT_PER_MINUTE: '100000',
    MOCK_STREAM_DELAY_MS: '0',
    LOG_LEVEL: 'INFO',
    LOG_FILE: path.join(dir, 'app.log'),
    ASAN_OPTIONS: `log_path=${dir}/asan:detect_leaks=1`,
    UBSAN_OPTIONS: `log_path=${dir}/ubsan:print_stacktrace=1`,
    ...extra,
  };
}

// A temp dir the unprivileged servers and app can write (and the log file in it).
export function makeTempDir(drop = AS_ROOT) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-e2e-'));
  fs.chmodSync(dir, 0o755);
  const log = path.join(dir, 'server.log');
  fs.writeFileSync(log, '');
  if (drop && NOBODY) for (const p of [dir, log]) fs.chownSync(p, NOBODY.uid, NOBODY.gid);
  return dir;
}

// Starts a front and the app. opts: front (default lighttpd, or lighttpd-cgi
// when cgi is set), mount ('/' or '/api'), env (extra settings), processes
// and threads (spawn-fcgi fronts), unprivileged (run as root, lighttpd and
// its app drop to nobody too; the other fronts always do).
export async function startServer(opts = {}) {
  const { processes = 1, threads = 4, mount = '/' } = opts;
  const front = opts.front || (opts.cgi ? 'lighttpd-cgi' : 'lighttpd');
  const why = frontUnavailable(front);
  if (why) throw new Error(why);
  const cgi = ['lighttpd-cgi', 'apache-cgi', 'apache-htaccess'].includes(front);
  // lighttpd runs as root unless asked (the suites that predate the other
  // fronts hand the app files in root's temp dirs); the others never do.
  const drop = AS_ROOT && (opts.unprivileged ?? !['lighttpd', 'lighttpd-cgi'].includes(front));
  const dir = makeTempDir(drop);
  const port = await freePort();
  const env = testEnv(dir, opts.env);
  // The unit's Environment= lines, under the test's own settings.
  if (front === 'systemd') Object.assign(env, { ...systemdUnits(dir).env, ...env });
  // Plain CGI starts a process per request: LeakSanitizer's scan at each exit
  // (~200 ms) would dominate. FastCGI runs keep it.
  if (cgi && !opts.env?.ASAN_OPTIONS) env.ASAN_OPTIONS += ':detect_leaks=0';
  const pids = [];
  const stderrPath = path.join(dir, 'server.log');
  const log = fs.openSync(stderrPath, 'a');
  const groups = [];  // each server runs in its own process group, so that
  // a stop also reaches what it started (Apache's children, mod_fcgid's apps)
  const server = (cmd, args, extra = {}) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', log, log], detached: true, ...extra });
    pids.push(p.pid);
    groups.push(-p.pid);
    return p;
  };
  const base = `http://127.0.0.1:${port}`;
  const prefix = mount === '/' ? '' : mount;
  const srv = {
    front, base, url: `${base}${prefix}`, dir, pids, env,
    log: () => fs.readFileSync(stderrPath, 'utf8') +
      (env.LOG_FILE && fs.existsSync(env.LOG_FILE) ? fs.readFileSync(env.LOG_FILE, 'utf8') : ''),
    async stop() {
      for (const pid of pids) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
      for (let i = 0; i < 300 && [...pids, ...groups].some(alive); i++) await sleep(50);
      for (const pid of [...pids, ...groups]) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      const reports = fs.readdirSync(dir).filter((f) => f.startsWith('asan') || f.startsWith('ubsan'));
      const text = reports.map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n');
      fs.rmSync(dir, { recursive: true, force: true });
      if (text) throw new Error(`sanitizer reports:\n${text}`);
    },
  };
  // A failure while starting must not leave what did start running.
  try {
    if (front === 'nginx-tcp') fs.writeFileSync(path.join(dir, 'app.port'), String(await freePort()));
    if (['lighttpd', 'nginx-tcp', 'nginx-unix', 'apache-proxy-fcgi'].includes(front)) {
      pids.push(...spawnApp({ dir, front, processes, threads, env, log, drop }));
    }
    if (front === 'lighttpd' || front === 'lighttpd-cgi') {
      if (cgi) {
        fs.mkdirSync(path.join(dir, 'www'));
        fs.symlinkSync(app, path.join(dir, 'www', 'openai-fcgi.cgi'));
      }
      let conf = lighttpdConfig({ port, dir, mount, cgi, drop });
      if (cgi) {
        // mod_cgi passes only what the config says: the settings go through setenv.
        const setenv = Object.entries(env).filter(([k]) => k !== 'PATH')
          .map(([k, v]) => `"${k}" => "${v}"`).join(', ');
        conf += `\nsetenv.set-environment = ( ${setenv} )\n`;
      }
      fs.writeFileSync(path.join(dir, 'lighttpd.conf'), conf);
      server('lighttpd', ['-D', '-f', path.join(dir, 'lighttpd.conf')]);
    } else if (front === 'systemd') {
      server('spawn-fcgi', systemdUnits(dir).args);
    }
    if (front.startsWith('nginx') || front === 'systemd') {
      fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig({ port, dir, mount, front }));
      server('nginx', ['-e', stderrPath, '-p', dir, '-c', path.join(dir, 'nginx.conf')]);
    } else if (front.startsWith('apache')) {
      fs.writeFileSync(path.join(dir, 'apache.conf'), apacheConfig({ port, dir, mount, front, env }));
      chownTree(dir);  // Apache's children and the apps they start run as nobody
      server('apache2', ['-D', 'FOREGROUND', '-f', path.join(dir, 'apache.conf')]);
    } else if (front === 'docker-entry') {
      if (mount !== '/') throw new Error('docker-entry serves at / only');
      // The entry's own default LOG_FILE (its stderr) is part of what is tested.
      if (!opts.env?.LOG_FILE) delete env.LOG_FILE;
      Object.assign(env, dockerEntryEnv(dir, port), opts.env);
      server(path.join(top, 'scripts', 'docker-entry'), [], NOBODY || {});  // the image's user is not root
    }
  } catch (e) {
    await srv.stop().catch(() => {});
    throw e;
  }
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${base}${prefix}/health`, { signal: AbortSignal.timeout(3000) });
      if (r.status === 200) return srv;
    } catch { /* not up yet */ }
    if (!pids.every(alive)) break;
    await sleep(50);
  }
  const text = srv.log();
  await srv.stop().catch(() => {});
  throw new Error(`${front} did not come up at ${base}${prefix}/health:\n${text}`);
}

// What systemd does with the units, done by spawn-fcgi in the foreground: the
// socket from ListenStream/SocketMode on fd 0 (StandardInput=socket), the
// argv of ExecStart (the built binary in place of the installed one), the
// Environment= lines, then the test's settings over them.
function systemdUnits(dir) {
  const unit = (f) => read(`conf/${f}`);
  const one = (text, key) => text.match(new RegExp(`^${key}=(.*)$`, 'm'))?.[1];
  const sock = unit('openai-fcgi.socket');
  const svc = unit('openai-fcgi.service');
  if (one(svc, 'StandardInput') !== 'socket' || !one(sock, 'ListenStream')) {
    throw new Error('openai-fcgi.service/.socket: expected StandardInput=socket and ListenStream=');
  }
  const argv = one(svc, 'ExecStart').split(/\s+/);
  const unitEnv = Object.fromEntries([...svc.matchAll(/^Environment=([A-Z_]+)=(.*)$/mg)].map((m) => [m[1], m[2]]));
  const args = ['-n', '-s', `${dir}/app.sock`, '-M', one(sock, 'SocketMode') || '0666'];
  if (AS_ROOT) args.push('-U', 'nobody', '-G', 'nogroup', '-u', 'nobody');
  return { args: [...args, '--', app, ...argv.slice(1)], env: unitEnv };
}

// What the image's environment gives scripts/docker-entry, pointed at this
// build and a temp dir instead of the installed paths.
export function dockerEntryEnv(dir, port) {
  return {
    OAF_APP: app,
    OAF_SPAWN: path.join(top, 'conf', 'spawn-fcgi.sh'),
    OAF_LIGHTTPD_CONF: path.join(top, 'lighttpd.conf.example'),
    OAF_RUN_DIR: dir,
    HOST: '127.0.0.1',
    PORT: String(port),
    PROCESSES: '2',
  };
}

function chownTree(p) {
  if (!NOBODY) return;
  fs.chownSync(p, NOBODY.uid, NOBODY.gid);
  if (fs.lstatSync(p).isDirectory()) for (const f of fs.readdirSync(p)) chownTree(path.join(p, f));
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}
// fetch with the key; returns { status, headers, text, json }.
export async function call(srv, method, p, { body, headers = {}, token = TOKEN, raw } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined && !raw) h['Content-Type'] = h['Content-Type'] || 'application/json';
  let r;
  try {
    r = await fetch(`${srv.url}${p}`, {
      method, headers: h, body: body === undefined ? undefined : (raw ? body : JSON.stringify(body)),
    });
  } catch (e) {
    // A connection the front dropped: show what the servers logged.
    const tail = srv.log ? srv.log().split('\n').slice(-40).join('\n') : '';
    throw new Error(`${method} ${p}: ${e.message} (${e.cause?.code || e.cause?.message || ''})\n--- server log ---\n${tail}`);
  }
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
