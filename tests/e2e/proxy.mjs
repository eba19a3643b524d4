// proxy.mjs: the same server as startServer(), but its models are served by
// an upstream that is a second openai-fcgi in mock mode, so that a suite
// written against the mock also runs through the upstream backend.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, TOKEN } from './harness.mjs';

const MODELS = ['blueprint-standard', 'blueprint-advanced', 'blueprint-experimental', 'blueprint-embedding'];

export async function startProxied(opts = {}) {
  const upEnv = { MOCK_STREAM_DELAY_MS: opts.env?.MOCK_STREAM_DELAY_MS ?? '0' };
  const up = await startServer({ env: upEnv });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-proxied-'));
  const conf = path.join(dir, 'proxy.conf');
  fs.writeFileSync(conf, '# models come from UPSTREAM_* only\n');
  let px;
  try {
    px = await startServer({
      ...opts,
      env: {
        ...opts.env,
        OPENAI_FCGI_CONFIG: conf,
        UPSTREAM_BASE_URL: `${up.url}/v1`,
        UPSTREAM_API_KEY: TOKEN,
        UPSTREAM_MODELS: MODELS.join(','),
        UPSTREAM_TIMEOUT_S: '10',
        // /v1/responses translated to chat completions (the default), or
        // relayed to the upstream's own /v1/responses
        UPSTREAM_RESPONSES: process.env.OAF_UPSTREAM_RESPONSES || 'translate',
      },
    });
  } catch (e) {
    await up.stop();
    throw e;
  }
  return {
    ...px,
    upstream: up,
    async stop() {
      try { await px.stop(); } finally {
        await up.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

// What the suites call: direct, or through the proxy when OAF_VIA=proxy;
// behind the front OAF_FRONT names (lighttpd by default).
export function start(opts = {}) {
  const o = { front: process.env.OAF_FRONT || undefined, ...opts };
  return process.env.OAF_VIA === 'proxy' ? startProxied(o) : startServer(o);
}
