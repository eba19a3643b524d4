// install.test.mjs: `make install` puts every page and asset where DOCS_DIR's default points,
// and a server reading them from there serves each page and everything it loads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { checkout, startServer } from '../e2e/harness.mjs';

const builddir = process.env.top_builddir || path.join(checkout, 'build-test');

function find(dir, name) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isFile() && e.name === name) return p;
    if (e.isDirectory()) { const hit = find(p, name); if (hit) return hit; }
  }
  return null;
}

test('make install DESTDIR=…: the installed pages are served, with everything they load', async () => {
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-install-'));
  fs.chmodSync(dest, 0o755);
  try {
    const r = spawnSync('make', ['-s', '-C', builddir, 'install', `DESTDIR=${dest}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const page = find(dest, 'docs.html');
    assert.ok(page, 'docs.html is installed');
    const www = path.dirname(page);
    assert.match(www, /\/share\/openai-fcgi\/www$/);
    assert.equal(find(path.join(www, 'node_modules'), 'swagger-ui-bundle.js.map'), null, 'source maps stay out');
    const srv = await startServer({ env: { DOCS_DIR: www } });
    try {
      for (const url of ['/docs', '/redoc', '/playground']) {
        const html = await (await fetch(`${srv.url}${url}`)).text();
        for (const [, ref] of html.matchAll(/\b(?:src|href)="([^"]+)"/g)) {
          const res = await fetch(new URL(ref, `${srv.url}${url}`));
          assert.equal(res.status, 200, `${url} -> ${ref}`);
        }
      }
      const doc = await fetch(`${srv.url}/openapi.json`);
      assert.equal(await doc.text(), fs.readFileSync(path.join(checkout, 'www', 'openapi.json'), 'utf8'));
    } finally { await srv.stop(); }
  } finally { fs.rmSync(dest, { recursive: true, force: true }); }
});
