// keys.test.mjs: a key listed in API_AUTH_TOKENS and in the config file's
// keys gets its keys entry's limit, with one warning at start naming its
// fingerprint (never the key).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, startServer, top, TOKEN, TOKEN2 } from './harness.mjs';

const OWN = 3;  // the keys entry's limit; the global one is 10
const fingerprint = (t) => `key_${crypto.createHash('sha256').update(t).digest('hex').slice(0, 8)}`;

describe('a key in both API_AUTH_TOKENS and keys (lighttpd + 2 FastCGI processes)', () => {
  let srv;
  let conf;
  before(async () => {
    conf = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-keys-')), 'openai-fcgi.conf');
    fs.writeFileSync(conf, `@include "${path.join(top, 'conf', 'openai-fcgi.conf')}"\n`
      + `keys = ( { token = "${TOKEN}"; requests_per_minute = ${OWN}; },\n`
      + `         { token = "sha256:${crypto.createHash('sha256').update(TOKEN2).digest('hex')}"; } );\n`);
    fs.chmodSync(path.dirname(conf), 0o755);
    srv = await startServer({ processes: 2, env: { RATE_LIMIT_PER_MINUTE: '10', OPENAI_FCGI_CONFIG: conf } });
  });
  after(async () => {
    await srv?.stop();
    fs.rmSync(path.dirname(conf), { recursive: true, force: true });
  });

  test('gets its own limit, exactly, with a warning naming its fingerprint', async () => {
    const rs = await Promise.all(Array.from({ length: 12 }, () => call(srv, 'GET', '/v1/models')));
    assert.equal(rs.filter((r) => r.status === 200).length, OWN);
    assert.equal(rs.filter((r) => r.status === 429).length, 12 - OWN);
    assert.equal(rs[0].headers.get('x-ratelimit-limit-requests'), String(OWN));
    const log = srv.log();
    assert.match(log, new RegExp(`WARNING.*key ${fingerprint(TOKEN)} is also in the config file's keys\\[0\\]`));
    assert.ok(!log.includes(TOKEN), 'the key itself was logged');
  });

  test('a sha256: entry in keys matches its plain token in API_AUTH_TOKENS', async () => {
    // TOKEN2's keys entry sets no limit of its own: the global one applies.
    const r = await call(srv, 'GET', '/v1/models', { token: TOKEN2 });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), '10');
    assert.match(srv.log(), new RegExp(`key ${fingerprint(TOKEN2)} is also in the config file's keys\\[1\\]; that entry applies`));
  });
});
