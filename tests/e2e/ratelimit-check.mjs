// ratelimit-check.mjs: the burst check (30 at once against 10/min: exactly 10
// pass), shared by ratelimit.test.mjs and fronts.test.mjs.
import assert from 'node:assert/strict';
import { call, expectError } from './harness.mjs';

// 30 requests at once against a limit of 10: exactly 10 pass.
export async function burst(srv, n = 30) {
  const t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: n }, () => call(srv, 'GET', '/v1/models')));
  return {
    ms: performance.now() - t0,
    ok: rs.filter((r) => r.status === 200),
    limited: rs.filter((r) => r.status === 429),
    other: rs.filter((r) => r.status !== 200 && r.status !== 429),
  };
}

export function checkBurst(b) {
  assert.equal(b.other.length, 0, b.other.map((r) => `${r.status} ${r.text}`).join('\n'));
  // 10/min frees one request every 6 s. A burst that takes longer (plain CGI
  // under sanitizers on a loaded machine) has earned that many more.
  const refills = Math.floor(b.ms / 6000);
  if (refills) console.log(`# burst took ${(b.ms / 1000).toFixed(1)} s: ${refills} refill(s) allowed`);
  assert.ok(b.ok.length >= 10 && b.ok.length <= 10 + refills, `${b.ok.length} admitted in ${b.ms} ms`);
  assert.equal(b.limited.length, 30 - b.ok.length);
  for (const r of b.ok) {
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), '10');
    assert.match(r.headers.get('x-ratelimit-remaining-requests'), /^\d$/);
    assert.match(r.headers.get('x-ratelimit-reset-requests'), /^(\d+m)?\d+(\.\d+)?(ms|s)$/);
  }
  // Concurrent requests read the clock a few microseconds apart, so two may
  // report the same remaining count; the last admitted one sees 0.
  const remaining = b.ok.map((r) => Number(r.headers.get('x-ratelimit-remaining-requests')));
  if (!refills) assert.equal(Math.min(...remaining), 0, `${remaining}`);
  for (const r of b.limited) {
    expectError(assert, r, 429, 'rate_limit_exceeded');
    assert.equal(r.json.error.type, 'requests');
    assert.match(r.json.error.message, /^Rate limit reached for requests .* Please try again in [\d.]+m?s\.$/);
    const ms = Number(r.headers.get('retry-after-ms'));
    assert.ok(ms > 0 && ms <= 6000, `retry-after-ms ${ms}`);
    assert.equal(r.headers.get('retry-after'), String(Math.ceil(ms / 1000)));
    assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0');
  }
}
