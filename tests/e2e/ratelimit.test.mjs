// ratelimit.test.mjs: the limit holds exactly across worker processes and
// across CGI invocations, with OpenAI's 429 and rate-limit headers.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { call, startServer, TOKEN, TOKEN2 } from './harness.mjs';
import { burst, checkBurst } from './ratelimit-check.mjs';

const modes = [
  ['lighttpd + 4 FastCGI processes x 4 threads', { processes: 4, threads: 4 }],
  ['lighttpd + plain CGI, one process per request', { cgi: true }],
];

for (const [name, opts] of modes) {
  describe(name, () => {
    let srv;
    before(async () => { srv = await startServer({ ...opts, env: { RATE_LIMIT_PER_MINUTE: '10' } }); });
    after(async () => { await srv.stop(); });

    test('a burst of 30 gets exactly 10 x 200 and 20 x 429', async () => {
      checkBurst(await burst(srv));
    });

    test('another key is untouched; /health and preflights are not limited', async () => {
      const other = await call(srv, 'GET', '/v1/models', { token: TOKEN2 });
      assert.equal(other.status, 200);
      assert.equal(other.headers.get('x-ratelimit-remaining-requests'), '9');
      for (let i = 0; i < 12; i++) assert.equal((await call(srv, 'GET', '/health')).status, 200);
      const pre = await fetch(`${srv.url}/v1/models`, { method: 'OPTIONS' });
      assert.equal(pre.status, 204);
      const again = await call(srv, 'GET', '/v1/models', { token: TOKEN });
      assert.ok(again.status === 429 || Number(again.headers.get('x-ratelimit-remaining-requests')) === 0,
        `${again.status} remaining ${again.headers.get('x-ratelimit-remaining-requests')}`);
    });

    test('failed auth counts against the client address', async () => {
      const rs = await Promise.all(Array.from({ length: 14 }, () =>
        call(srv, 'GET', '/v1/models', { token: 'guess-key-0123456789abcdef' })));
      assert.equal(rs.filter((r) => r.status === 401).length, 10);
      assert.equal(rs.filter((r) => r.status === 429).length, 4);
    });
  });
}

describe('a corrupt state file', () => {
  let srv;
  before(async () => { srv = await startServer({ processes: 2, env: { RATE_LIMIT_PER_MINUTE: '10' } }); });
  after(async () => { await srv.stop(); });

  test('is rebuilt with a warning and the service stays up', async () => {
    assert.equal((await call(srv, 'GET', '/v1/models')).status, 200);
    const file = srv.env.RATE_LIMIT_FILE;
    fs.writeFileSync(file, 'garbage'.repeat(10));       // truncated and foreign
    for (let i = 0; i < 5; i++) {
      const r = await call(srv, 'GET', '/v1/models');
      assert.equal(r.status, 200, r.text);
    }
    fs.writeFileSync(file, Buffer.alloc(300000, 0xff)); // right-ish size, bad magic
    const b = await burst(srv);
    assert.equal(b.other.length, 0);
    assert.ok(b.ok.length <= 10 && b.ok.length >= 1, `${b.ok.length} admitted`);
    assert.equal((await call(srv, 'GET', '/health')).status, 200);
    assert.match(srv.log(), /WARNING.*(rebuil|repair|corrupt|damag)/i);
  });
});
