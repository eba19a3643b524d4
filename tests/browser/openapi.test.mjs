// openapi.test.mjs: www/openapi.json is valid OpenAPI 3.1, is what openapi/build.mjs makes of its sources,
// and every example in it, sent to the real server, is answered as the document says.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';

import { checkout, startServer, TOKEN } from '../e2e/harness.mjs';

const WWW = path.join(checkout, 'www');
const DOC_FILE = path.join(WWW, 'openapi.json');
const doc = JSON.parse(fs.readFileSync(DOC_FILE, 'utf8'));
const SHARED = process.env.OPENAI_SCHEMAS || path.resolve(checkout, '..', 'shared', 'openai');

const ajv = new Ajv2020({ strict: false, validateFormats: false, validateSchema: false, allErrors: false });
ajv.addSchema({ ...doc, $id: 'urn:openai-fcgi:openapi' });
const schemaFor = (ref) => ajv.getSchema(`urn:openai-fcgi:openapi${ref}`);  // ref: "#/components/..."

function assertValid(schema, value, what) {
  const validate = schema.$ref ? schemaFor(schema.$ref) : ajv.compile(schema);
  assert.ok(validate(value), `${what}: ${JSON.stringify(validate.errors?.slice(0, 3))}\n${JSON.stringify(value).slice(0, 400)}`);
}

function operations() {
  const out = [];
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) out.push({ method: method.toUpperCase(), path: p, op });
  }
  return out;
}

// The path with each parameter's example in its place.
function concretePath(p, op) {
  return p.replace(/\{([^}]+)\}/g, (_, name) => {
    const param = (op.parameters || []).find((x) => x.name === name);
    assert.ok(param && param.example !== undefined, `${p}: parameter ${name} has no example`);
    return encodeURIComponent(param.example);
  });
}

test('a pinned OpenAPI validator accepts the document', async () => {
  const result = await new Validator().validate(doc);
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 1)?.slice(0, 2000));
  assert.equal(doc.openapi, '3.1.0');
});

test('the committed document is what openapi/build.mjs makes of routes.mjs and ../shared/openai', (t) => {
  if (!fs.existsSync(path.join(SHARED, 'schemas.json'))) {
    t.skip(`${SHARED} is not there: the bundled schemas cannot be compared`);
    return;
  }
  const r = spawnSync(process.execPath, [path.join(checkout, 'openapi', 'build.mjs'), '--check'],
    { env: { ...process.env, OPENAI_SCHEMAS: SHARED }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('the document is self-contained: every $ref points inside it', () => {
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]);
  assert.ok(refs.length > 100);
  for (const ref of new Set(refs)) {
    assert.match(ref, /^#\//, ref);
    let node = doc;
    for (const part of ref.slice(2).split('/')) node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    assert.ok(node !== undefined, `${ref} resolves`);
  }
});

test('every error example is an OpenAI error envelope', () => {
  for (const { method, path: p, op } of operations()) {
    for (const [status, resp] of Object.entries(op.responses)) {
      if (status === '200') continue;
      const media = resp.content['application/json'];
      assertValid(media.schema, media.example, `${method} ${p} ${status} example`);
    }
  }
});

for (const mount of ['/', '/api']) {
  describe(`every example sent to the server mounted at ${mount}`, () => {
    let srv;
    before(async () => { srv = await startServer({ mount, env: { DOCS_DIR: WWW } }); });
    after(async () => { await srv.stop(); });

    for (const { method, path: p, op } of operations()) {
      const bodies = op.requestBody
        ? Object.entries(op.requestBody.content['application/json'].examples).map(([k, v]) => [k, v.value])
        : [['(no body)', undefined]];
      for (const [name, body] of bodies) {
        test(`${method} ${p} ${name}: 200 as documented, with the documented headers`, async () => {
          const headers = {};
          if (op.security.length) headers.Authorization = `Bearer ${TOKEN}`;
          if (body !== undefined) headers['Content-Type'] = 'application/json';
          const r = await fetch(`${srv.url}${concretePath(p, op)}`, {
            method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
          const text = await r.text();
          assert.equal(r.status, 200, text.slice(0, 300));
          const ok = op.responses['200'];
          for (const h of Object.keys(ok.headers)) assert.ok(r.headers.get(h) !== null, `header ${h}`);
          const type = (r.headers.get('content-type') || '').split(';')[0];
          assert.ok(Object.keys(ok.content).includes(type), `${type} is one of ${Object.keys(ok.content)}`);
          const media = ok.content[type];
          if (type === 'application/json') {
            assertValid(media.schema, JSON.parse(text), `${method} ${p}`);
          } else if (type === 'text/event-stream') {
            // Each event's data: lines (an event: line may come first).
            const events = text.split(/\r?\n\r?\n/).filter((e) => e.trim())
              .map((e) => e.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n'));
            if (media['x-ends-with-done']) assert.equal(events.pop(), '[DONE]');
            else assert.notEqual(events[events.length - 1], '[DONE]');
            assert.ok(events.length >= 2);
            const validate = schemaFor(media['x-event-schema']);
            for (const e of events) assert.ok(validate(JSON.parse(e)), `${e}: ${JSON.stringify(validate.errors)}`);
          }
        });
      }
      if (op.security.length) {
        test(`${method} ${p} without a key: the documented 401 envelope`, async () => {
          const r = await fetch(`${srv.url}${concretePath(p, op)}`, { method });
          assert.equal(r.status, 401);
          assert.ok(op.responses['401']);
          assert.equal(r.headers.get('www-authenticate'), 'Bearer');
          assertValid(op.responses['401'].content['application/json'].schema, await r.json(), `${method} ${p} 401`);
        });
      }
    }
  });
}
