// static.test.mjs: the static executable (scripts/build-static) in a root that
// holds nothing else: no /lib, no /usr, no shell; only the binary, a
// resolv.conf and hosts file, a CA file, its config beside it and its state
// dir. Run as plain CGI (environment + stdin, as cgit's tests do) and as a
// FastCGI server listening on a loopback port from inside the chroot, behind
// a lighttpd outside; it answers from the mock and relays from an upstream
// over HTTPS: nginx with TLS (a CA made here with openssl) in front of a
// second openai-fcgi behind lighttpd, named by the root's /etc/hosts or by a
// dnsmasq its resolv.conf points at. tests/static/run.sh sets STATIC_APP.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, expectError, freePort, startServer, TOKEN } from '../e2e/harness.mjs';
import { makeCerts, startTlsProxy } from '../e2e/tls.mjs';

const STATIC_APP = process.env.STATIC_APP;
const CHROOT = '/usr/sbin/chroot';
const AS_ROOT = process.getuid() === 0;
const why = !STATIC_APP ? 'STATIC_APP is not set (tests/static/run.sh sets it)'
  : !AS_ROOT ? 'a chroot needs root' : !fs.existsSync(CHROOT) ? `${CHROOT} is missing` : null;

// The gateway's own key (production wants 32+ characters) and the upstream's host name,
// which only the root's /etc/hosts knows: resolving it proves musl's resolver reads it.
const KEY = 'static-gateway-key-0123456789abcdef';
const LIMITED = 'static-limited-key-0123456789abcdef';
const UPSTREAM_HOST = 'oaf-upstream.test';
// A name only the DNS server started here knows: resolving it proves musl
// asks the nameserver of the root's /etc/resolv.conf itself, with no NSS.
const DNS_HOST = 'oaf-dns.test';
const EXE = '/cgi-bin/openai-fcgi-static';
const MOCK_TEXT = /THIS IS THE MOCKED CHAT RESPONSE/;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

// dnsmasq answering DNS_HOST (A 127.0.0.1; AAAA empty, not REFUSED: --local)
// on port 53 of a loopback address of its own (resolv.conf cannot name a port).
async function startDns(dir) {
  const addr = `127.${2 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.53`;
  fs.writeFileSync(`${dir}/dnsmasq.log`, '');
  sh('chown', ['nobody:nogroup', `${dir}/dnsmasq.log`]);  // it writes its log as nobody
  const p = spawn('dnsmasq', ['--keep-in-foreground', '--no-resolv', '--no-hosts', '--no-poll', `--listen-address=${addr}`,
    '--bind-interfaces', '--port=53', `--local=/${DNS_HOST}/`, `--host-record=${DNS_HOST},127.0.0.1`, '--user=nobody', '--group=nogroup',
    `--pid-file=${dir}/dnsmasq.pid`, `--log-facility=${dir}/dnsmasq.log`, '--log-queries'],
  { stdio: 'ignore', detached: true });
  for (let i = 0; i < 100 && !fs.existsSync(`${dir}/dnsmasq.pid`); i++) await sleep(50);
  return { addr, pid: p.pid };
}

// The empty root: what `ls -R` shows is all there is.
function makeRoot(dir, certs, upstreamPort, dnsAddr) {
  const root = path.join(dir, 'root');
  for (const d of ['cgi-bin', 'etc', 'etc/pki/tls/certs', 'openai-fcgi-state']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync(STATIC_APP, path.join(root, EXE));
  fs.chmodSync(path.join(root, EXE), 0o755);
  fs.writeFileSync(path.join(root, 'etc/resolv.conf'), `nameserver ${dnsAddr}\noptions timeout:2 attempts:2\n`);
  fs.writeFileSync(path.join(root, 'etc/hosts'), `127.0.0.1 localhost\n127.0.0.1 ${UPSTREAM_HOST}\n`);
  // The CA where RHEL/CloudLinux keep theirs (found with no setting), and
  // two more for CA_BUNDLE: the right one and one that signed nothing here.
  fs.copyFileSync(path.join(certs, 'ca.pem'), path.join(root, 'etc/pki/tls/certs/ca-bundle.crt'));
  fs.copyFileSync(path.join(certs, 'ca.pem'), path.join(root, 'ca.pem'));
  fs.copyFileSync(path.join(certs, 'wrong-ca.pem'), path.join(root, 'wrong-ca.pem'));
  // The config where the relocatable build looks first: home, which for
  // /cgi-bin/x outside any web root is /, so /openai-fcgi.conf. Production:
  // the strictest rules, no pyproject.toml.
  fs.writeFileSync(path.join(root, 'openai-fcgi.conf'), `ENVIRONMENT = "production";
HOST = "127.0.0.1";
PORT = 8000;
LOG_LEVEL = "INFO";
RATE_LIMIT_PER_MINUTE = 100000;
API_AUTH_TOKENS = "${KEY}";
MOCK_STREAM_DELAY_MS = 0;
UPSTREAM_BASE_URL = "https://${UPSTREAM_HOST}:${upstreamPort}/v1";
UPSTREAM_API_KEY = "${TOKEN}";
UPSTREAM_MODELS = "relayed=blueprint-standard";
models = (
	{ id = "blueprint-standard"; backend = "mock"; mock = { mode = "canned"; }; },
	{ id = "blueprint-advanced"; backend = "mock"; mock = { mode = "canned"; }; }
);
keys = ( { token = "${LIMITED}"; requests_per_minute = 2; } );
`);
  sh('chown', ['nobody:nogroup', path.join(root, 'openai-fcgi-state')]);
  return root;
}

// One CGI request: the variables a web server sets, the body on stdin, no
// other environment (no PATH, no HOME), run as nobody inside the root.
function cgi(root, { method = 'POST', pathInfo, body, env = {}, key = KEY }) {
  const input = body === undefined ? '' : JSON.stringify(body);
  const r = spawnSync(CHROOT, ['--userspec=nobody:nogroup', root, EXE], {
    input,
    env: {
      GATEWAY_INTERFACE: 'CGI/1.1', SERVER_PROTOCOL: 'HTTP/1.1', REQUEST_METHOD: method,
      SCRIPT_NAME: EXE, PATH_INFO: pathInfo, REQUEST_URI: `${EXE}${pathInfo}`,
      SERVER_NAME: '127.0.0.1', SERVER_PORT: '80', REMOTE_ADDR: '127.0.0.1',
      ...(key ? { HTTP_AUTHORIZATION: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { CONTENT_TYPE: 'application/json', CONTENT_LENGTH: String(Buffer.byteLength(input)) } : {}),
      ...env,
    },
    encoding: 'utf8',
    timeout: 30000,
  });
  assert.equal(r.status, 0, `exit ${r.status} ${r.signal || ''}: ${r.stderr}`);
  const sep = r.stdout.indexOf('\r\n\r\n') >= 0 ? '\r\n\r\n' : '\n\n';
  const head = r.stdout.slice(0, r.stdout.indexOf(sep));
  const text = r.stdout.slice(r.stdout.indexOf(sep) + sep.length);
  const headers = new Map(head.split(/\r?\n/).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const status = Number((headers.get('status') || '200').split(' ')[0]);
  let json = null;
  try { json = JSON.parse(text); } catch { /* a stream, or not JSON */ }
  return { status, headers: { get: (h) => headers.get(h.toLowerCase()) ?? null }, text, json, stderr: r.stderr };
}

function assertCompletion(r, model, content = MOCK_TEXT) {
  assert.equal(r.status, 200, `${r.text}\n${r.stderr || ''}`);
  assert.equal(r.json.object, 'chat.completion');
  assert.equal(r.json.model, model);
  assert.match(r.json.id, /^chatcmpl-/);
  assert.match(r.json.choices[0].message.content, content);
  assert.equal(r.json.choices[0].finish_reason, 'stop');
}

function assertStream(text, model) {
  const events = text.split('\n\n').filter(Boolean);
  assert.equal(events.at(-1), 'data: [DONE]', text);
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')));
  assert.ok(chunks.length >= 2, text);
  for (const c of chunks) { assert.equal(c.object, 'chat.completion.chunk'); assert.equal(c.model, model); }
  assert.match(chunks.map((c) => c.choices[0]?.delta?.content || '').join(''), MOCK_TEXT);
}

const chat = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'Hello!' }], ...extra });

describe('static executable in an empty root', { skip: why || false, timeout: 300000 }, () => {
  let dir, root, upstream, tls, dns;
  const pids = [];
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-static-'));
    fs.chmodSync(dir, 0o755);
    makeCerts(dir, [UPSTREAM_HOST, DNS_HOST]);
    // The upstream: a second openai-fcgi (the sanitized build) in mock mode behind lighttpd,
    // reached only through nginx's TLS.
    upstream = await startServer({ front: 'lighttpd' });
    tls = await startTlsProxy(dir, Number(new URL(upstream.base).port), UPSTREAM_HOST);
    pids.push(tls.pid);
    dns = await startDns(dir);
    pids.push(dns.pid);
    root = makeRoot(dir, dir, tls.port, dns.addr);
  });
  after(async () => {
    for (const pid of pids) { try { process.kill(-pid, 'SIGTERM'); } catch { /* gone */ } }
    await upstream?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('file and ldd say static; no program interpreter', () => {
    assert.match(sh('file', ['-b', STATIC_APP]), /statically linked/);
    const ldd = spawnSync('ldd', [STATIC_APP], { encoding: 'utf8' });
    assert.match(ldd.stdout + ldd.stderr, /not a dynamic executable|statically linked/);
    assert.doesNotMatch(sh('readelf', ['-l', STATIC_APP]), /INTERP|Requesting program interpreter/);
    assert.doesNotMatch(sh('readelf', ['-d', STATIC_APP]), /NEEDED/);
  });

  test('the root holds nothing else', () => {
    const all = [];
    const walk = (d, rel) => {
      for (const f of fs.readdirSync(d).sort()) {
        all.push(path.join(rel, f));
        if (fs.lstatSync(path.join(d, f)).isDirectory()) walk(path.join(d, f), path.join(rel, f));
      }
    };
    walk(root, '/');
    assert.deepEqual(all.filter((f) => !f.startsWith('/openai-fcgi-state/')), [
      '/ca.pem', '/cgi-bin', EXE, '/etc', '/etc/hosts', '/etc/pki', '/etc/pki/tls', '/etc/pki/tls/certs',
      '/etc/pki/tls/certs/ca-bundle.crt', '/etc/resolv.conf', '/openai-fcgi-state', '/openai-fcgi.conf', '/wrong-ca.pem',
    ]);
  });

  describe('as plain CGI', () => {
    test('health and models', () => {
      const h = cgi(root, { method: 'GET', pathInfo: '/health', key: null });
      assert.equal(h.status, 200, h.text + h.stderr);
      assert.deepEqual(h.json, { status: 'ok' });
      const m = cgi(root, { method: 'GET', pathInfo: '/v1/models' });
      assert.equal(m.status, 200, m.text + m.stderr);
      assert.deepEqual(m.json.data.map((x) => x.id).sort(), ['blueprint-advanced', 'blueprint-standard', 'relayed']);
    });

    test('chat completion from the mock, whole and streamed', () => {
      assertCompletion(cgi(root, { pathInfo: '/v1/chat/completions', body: chat('blueprint-advanced') }), 'blueprint-advanced');
      const s = cgi(root, { pathInfo: '/v1/chat/completions', body: chat('blueprint-standard', { stream: true }) });
      assert.equal(s.status, 200, s.text + s.stderr);
      assert.match(s.headers.get('content-type'), /^text\/event-stream/);
      assertStream(s.text, 'blueprint-standard');
    });

    test('a bad key gets the OpenAI error envelope', () => {
      expectError(assert, cgi(root, { method: 'GET', pathInfo: '/v1/models', key: 'wrong-key-0123456789abcdef0123' }), 401, 'invalid_key');
    });

    test('relayed from the HTTPS upstream, CA given through CA_BUNDLE', () => {
      const r = cgi(root, { pathInfo: '/v1/chat/completions', body: chat('relayed'), env: { CA_BUNDLE: '/ca.pem' } });
      assertCompletion(r, 'relayed');
      const s = cgi(root, { pathInfo: '/v1/chat/completions', body: chat('relayed', { stream: true }), env: { CA_BUNDLE: '/ca.pem' } });
      assert.equal(s.status, 200, s.text + s.stderr);
      assertStream(s.text, 'relayed');
    });

    test('relayed from an upstream named in DNS, asked of resolv.conf\'s nameserver', () => {
      const url = `https://${DNS_HOST}:${tls.port}/v1`;
      assertCompletion(cgi(root, { pathInfo: '/v1/chat/completions', body: chat('relayed'), env: { UPSTREAM_BASE_URL: url } }), 'relayed');
      assert.match(fs.readFileSync(path.join(dir, 'dnsmasq.log'), 'utf8'), new RegExp(`query\\[A\\] ${DNS_HOST}`));
    });

    test('relayed with the CA found where RHEL keeps it, no setting', () => {
      assertCompletion(cgi(root, { pathInfo: '/v1/chat/completions', body: chat('relayed') }), 'relayed');
    });

    test('a CA that did not sign the upstream: refused, an envelope, no answer relayed', () => {
      const r = cgi(root, { pathInfo: '/v1/chat/completions', body: chat('relayed'), env: { CA_BUNDLE: '/wrong-ca.pem' } });
      expectError(assert, r, 502, 'upstream_unreachable');
      assert.match(r.stderr, /certificate|SSL|peer/i);
    });

    test('an unreadable CA_BUNDLE refuses start-up, naming it', () => {
      const r = spawnSync(CHROOT, ['--userspec=nobody:nogroup', root, EXE, '--check-config'],
        { env: { CA_BUNDLE: '/no/such.pem' }, encoding: 'utf8' });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /CA_BUNDLE: \/no\/such\.pem/);
    });

    test('state in the default dir beside the binary, shared by every request', () => {
      // the limiter's file, where the relocatable rule puts it: home (/) + openai-fcgi-state
      assert.ok(fs.statSync(path.join(root, 'openai-fcgi-state', 'ratelimit')).isFile());
      // a key allowed 2 a minute: the third CGI process finds the first two in it
      const statuses = [1, 2, 3].map(() => cgi(root, { method: 'GET', pathInfo: '/v1/models', key: LIMITED }).status);
      assert.deepEqual(statuses, [200, 200, 429]);
    });
  });

  // CA_BUNDLE is the dynamic build's too (its libcurl otherwise uses its own default).
  describe('the dynamic build with CA_BUNDLE', () => {
    for (const [ca, want] of [['ca.pem', 200], ['wrong-ca.pem', 502]]) {
      test(`${ca}: ${want}`, async () => {
        const gw = await startServer({
          front: 'lighttpd',
          env: { UPSTREAM_BASE_URL: `https://127.0.0.1:${tls.port}/v1`, UPSTREAM_API_KEY: TOKEN,
            UPSTREAM_MODELS: 'relayed=blueprint-standard', CA_BUNDLE: path.join(dir, ca) },
        });
        try {
          const r = await call(gw, 'POST', '/v1/chat/completions', { body: chat('relayed') });
          if (want === 200) assertCompletion(r, 'relayed');
          else expectError(assert, r, 502, 'upstream_unreachable');
        } finally {
          await gw.stop();
        }
      });
    }
  });

  describe('as a FastCGI server listening from inside the root', () => {
    let srv;
    before(async () => {
      const appPort = await freePort();
      const port = await freePort();
      const log = fs.openSync(path.join(dir, 'fastcgi.log'), 'a');
      // No CA_BUNDLE: the CA is found where RHEL keeps it.
      const p = spawn(CHROOT, ['--userspec=nobody:nogroup', root, EXE, '--listen', `127.0.0.1:${appPort}`, '--threads', '4'],
        { env: {}, stdio: ['ignore', log, log], detached: true });
      pids.push(p.pid);
      fs.writeFileSync(path.join(dir, 'lighttpd.conf'), `server.modules += ( "mod_fastcgi" )
server.bind = "127.0.0.1"
server.port = ${port}
server.document-root = "${dir}"
server.errorlog = "${dir}/lighttpd.log"
server.stream-response-body = 2
fastcgi.server = ( "/" => (( "host" => "127.0.0.1", "port" => ${appPort},
	"check-local" => "disable", "fix-root-scriptname" => "enable" )) )
`);
      const l = spawn('lighttpd', ['-D', '-f', path.join(dir, 'lighttpd.conf')], { stdio: 'ignore', detached: true });
      pids.push(l.pid);
      srv = { url: `http://127.0.0.1:${port}`, log: () => fs.readFileSync(path.join(dir, 'fastcgi.log'), 'utf8') };
      for (let i = 0; i < 200; i++) {
        try { if ((await fetch(`${srv.url}/health`)).status === 200) return; } catch { /* not yet */ }
        await sleep(50);
      }
      throw new Error(`the static FastCGI server did not come up:\n${srv.log()}`);
    });

    test('chat completion from the mock', async () => {
      const r = await call(srv, 'POST', '/v1/chat/completions', { body: chat('blueprint-standard'), token: KEY });
      assertCompletion(r, 'blueprint-standard');
    });

    test('relayed from the HTTPS upstream, whole and streamed, several at once', async () => {
      const rs = await Promise.all([1, 2, 3].map(() =>
        call(srv, 'POST', '/v1/chat/completions', { body: chat('relayed'), token: KEY })));
      for (const r of rs) assertCompletion(r, 'relayed');
      const s = await call(srv, 'POST', '/v1/chat/completions', { body: chat('relayed', { stream: true }), token: KEY });
      assert.equal(s.status, 200, s.text);
      assertStream(s.text, 'relayed');
    });
  });
});
