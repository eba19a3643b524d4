// sse_client.mjs: N concurrent SSE chat streams, repeated for a while; time
// to first event (p50/p99), events/s, errors. Prints one RESULT line.
// Time to first event runs from the request's write (the socket's connect
// event) to the first "data: " line: what the servers take. The time from
// asking node for the connection to that event is the client's own (node
// opens a burst's sockets one after another on one thread) and is reported
// apart, as connect_p99_ms.
//   node sse_client.mjs URL TOKEN CONCURRENCY SECONDS [MODEL] [RAMP_MS]
// RAMP_MS spreads the lanes' first streams over that time instead of one
// burst of CONCURRENCY connections (then no first wave is reported apart).
import net from 'node:net';

const [url, token, concArg, secsArg, model, rampArg] = process.argv.slice(2);
const ramp = Number(rampArg || 0);
const u = new URL(url);
const conc = Number(concArg || 256);
const until = Date.now() + 1000 * Number(secsArg || 5);
const body = JSON.stringify({ model: model || 'blueprint-standard', stream: true,
  messages: [{ role: 'user', content: 'Hello!' }] });
const request = `POST ${u.pathname} HTTP/1.0\r\nHost: ${u.host}\r\n` +
  `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
  `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

const ttfe = [], firstWave = [], connects = [];
let events = 0, errors = 0, streams = 0;
const t0 = process.hrtime.bigint();

// One stream: counts "data: " lines; an error is a non-200, no [DONE], or a socket error.
function one(wave) {
  return new Promise((resolve) => {
    const asked = process.hrtime.bigint();
    let start = asked;
    let first = true, carry = '', head = null, text = '', done = false, n = 0;
    const s = net.connect(Number(u.port || 80), u.hostname);
    s.setEncoding('utf8');
    s.on('connect', () => {
      start = process.hrtime.bigint();
      connects.push(Number(start - asked) / 1e6);
      s.write(request);
    });
    s.on('data', (chunk) => {
      let d = carry + chunk;
      if (head === null) {
        const i = d.indexOf('\r\n\r\n');
        if (i < 0) { carry = d; return; }
        head = d.slice(0, i);
        d = d.slice(i + 4);
      }
      let k = 0, at;
      while ((at = d.indexOf('data: ', k)) >= 0) {
        if (first) {
          first = false;
          const ms = Number(process.hrtime.bigint() - start) / 1e6;
          (wave ? firstWave : ttfe).push(ms);
        }
        n++;
        k = at + 6;
      }
      if (d.includes('[DONE]')) done = true;
      carry = d.slice(Math.max(k, d.length - 6));
    });
    let ended = false;
    const end = (bad) => {
      if (ended) return;
      ended = true;
      events += n;
      streams++;
      if (bad || !head || !/^HTTP\/1\.[01] 200/.test(head) || !done) errors++;
      resolve();
    };
    s.on('error', () => { s.destroy(); end(true); });
    s.on('close', () => end(false));
  });
}

// The first stream of every lane starts at once (a burst of CONCURRENCY
// connections); its time to first event is reported apart from the rest.
async function lane(i) {
  if (ramp) await new Promise((r) => setTimeout(r, (i * ramp) / conc));
  await one(!ramp);
  while (Date.now() < until) await one(false);
}

await Promise.all(Array.from({ length: conc }, (_, i) => lane(i)));
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const all = ttfe.concat(firstWave);
const pct = (a, p) => {
  a.sort((x, y) => x - y);
  return a.length ? a[Math.min(a.length - 1, Math.floor(p / 100 * a.length))] : NaN;
};
const cpu = process.cpuUsage();
console.log(`RESULT streams=${streams} events=${events} events_per_s=${(events / secs).toFixed(0)} ` +
  `ttfe_p50_ms=${pct(all, 50).toFixed(2)} ttfe_p99_ms=${pct(all, 99).toFixed(2)} ` +
  `burst_p99_ms=${pct(firstWave, 99).toFixed(2)} steady_p99_ms=${pct(ttfe, 99).toFixed(2)} ` +
  `connect_p99_ms=${pct(connects, 99).toFixed(2)} client_cpu_pct=${((cpu.user + cpu.system) / 1e4 / secs).toFixed(0)} errors=${errors}`);
