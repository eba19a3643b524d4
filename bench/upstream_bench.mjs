// upstream_bench.mjs: what going through openai-fcgi costs compared with calling
// the upstream directly: added p50 latency, throughput ratio, time to first
// streamed byte. The upstream is a second openai-fcgi in mock mode, both behind
// lighttpd (tests/e2e/harness.mjs). Use an optimised build without sanitizers:
//   top_builddir=$PWD/build node bench/upstream_bench.mjs [requests] [concurrency]
import { startServer, TOKEN } from '../tests/e2e/harness.mjs';

const N = Number(process.argv[2] || 300);
const C = Number(process.argv[3] || 8);
const body = (model, stream) => JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'Hello!' }] });
const headers = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };

async function once(url, model, stream) {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body: body(model, stream) });
  const reader = r.body.getReader();
  let first = null;
  for (;;) {
    const { done } = await reader.read();
    if (first === null) first = performance.now() - t0;
    if (done) break;
  }
  if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
  return { total: performance.now() - t0, first };
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function measure(url, model) {
  for (let i = 0; i < 20; i++) await once(url, model, false);  // warm: connections, caches
  const lat = [];
  for (let i = 0; i < N; i++) lat.push((await once(url, model, false)).total);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: C }, async () => { while (next++ < N) await once(url, model, false); }));
  const rps = N / ((performance.now() - t0) / 1000);
  const ttfb = [];
  for (let i = 0; i < Math.min(N, 50); i++) ttfb.push((await once(url, model, true)).first);
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99), rps, ttfb: pct(ttfb, 0.5) };
}

const up = await startServer({ threads: 4, env: { MOCK_STREAM_DELAY_MS: '0', LOG_LEVEL: 'WARNING' } });
const px = await startServer({
  threads: 4,
  env: { LOG_LEVEL: 'WARNING', UPSTREAM_BASE_URL: `${up.url}/v1`, UPSTREAM_API_KEY: TOKEN, UPSTREAM_MODELS: 'fast=blueprint-standard' },
});
try {
  const d = await measure(up.url, 'blueprint-standard');
  const p = await measure(px.url, 'fast');
  const f = (x) => x.toFixed(2);
  console.log(`requests ${N}, concurrency ${C}`);
  console.log(`direct: p50 ${f(d.p50)} ms  p99 ${f(d.p99)} ms  ${f(d.rps)} req/s  first streamed byte p50 ${f(d.ttfb)} ms`);
  console.log(`proxy:  p50 ${f(p.p50)} ms  p99 ${f(p.p99)} ms  ${f(p.rps)} req/s  first streamed byte p50 ${f(p.ttfb)} ms`);
  console.log(`added p50 latency ${f(p.p50 - d.p50)} ms; throughput ratio ${f(p.rps / d.rps)}; added time to first byte ${f(p.ttfb - d.ttfb)} ms`);
} finally {
  await px.stop();
  await up.stop();
}
