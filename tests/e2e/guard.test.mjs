// guard.test.mjs: bodies that once reached undefined behaviour in the
// sanitizer build (empty duplicate keys, integers beyond int64) get
// OpenAI's 400 from the real binary, the worker stays up, and no sanitizer
// report is written (stop() fails on one).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, expectError, startServer } from './harness.mjs';

const BASE = '"model":"blueprint-standard","messages":[{"role":"user","content":"hi"}]';

describe('bodies on the edge of undefined behaviour (lighttpd + 2 FastCGI processes)', () => {
  let srv;
  before(async () => { srv = await startServer({ processes: 2 }); });
  after(async () => { await srv.stop(); });

  const post = (raw) => call(srv, 'POST', '/v1/chat/completions',
    { body: raw, raw: true, headers: { 'Content-Type': 'application/json' } });

  test('duplicate empty keys, at any depth, are a 400 naming the key', async () => {
    for (const body of ['{"":1,"":2}', `{${BASE},"":1,"":2}`, `{${BASE},"metadata":{"":"a","":"b"}}`,
      '[{"":{"":1,"":2}}]']) {
      const r = await post(body);
      expectError(assert, r, 400, 'invalid_value');
      assert.match(r.json.error.message, /duplicate key ''/, body);
    }
    assert.equal((await call(srv, 'GET', '/health')).status, 200);
  });

  test('integers beyond int64 are refused with the param, not clamped', async () => {
    const cases = [
      ['seed', '9223372036854775808', 'integer_above_max_value'],
      ['seed', '-9223372036854775809', 'integer_below_min_value'],
      ['seed', '123456789012345678901234567890', 'integer_above_max_value'],
      ['max_tokens', '18446744073709551616', 'integer_above_max_value'],
      ['max_completion_tokens', '9999999999999999999', 'integer_above_max_value'],
    ];
    for (const [param, value, code] of cases) {
      const r = await post(`{${BASE},"${param}":${value}}`);
      expectError(assert, r, 400, code, param);
      assert.ok(r.json.error.message.includes(value), r.text);
    }
    const nested = await post(`{${BASE},"logit_bias":{"50256":9223372036854775808}}`);
    expectError(assert, nested, 400, 'integer_above_max_value', 'logit_bias.50256');
    // The ends of the range are fine.
    for (const seed of ['9223372036854775807', '-9223372036854775808']) {
      const r = await post(`{${BASE},"seed":${seed}}`);
      assert.equal(r.status, 200, r.text);
    }
  });
});
