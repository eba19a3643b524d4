// log.test.mjs: what a client or an upstream sends never forges a log line:
// the binary run as a CGI program, as a web server would run it, with
// REQUEST_METHODs that would break or fake a line, in text and JSON logs.
// (An upstream's error body is in upstream.test.mjs.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { app, TOKEN, top } from './harness.mjs';

const FORGED = '2026-12-01T00:00:00Z access req_forged GET "/v1/models" 200 0 0.000ms key=-';
const METHODS = [
  `GET\n${FORGED}`,          // a line break, then a line of our own shape
  `GET\r\n${FORGED}`,
  `GET\r${FORGED}`,
  'GET /v1/models 200 0',    // spaces: fields of our own shape
  'G\x01E\x1bT\x7f',         // other control bytes
];

// One CGI request, as a web server would start it; returns the log's lines.
function cgi(method, format) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-log-'));
  const log = path.join(dir, 'app.log');
  const r = spawnSync(app, [], {
    input: '', encoding: 'utf8',
    env: {
      PATH: process.env.PATH, GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: method, REQUEST_URI: '/v1/models',
      SERVER_PROTOCOL: 'HTTP/1.1', HTTP_AUTHORIZATION: `Bearer ${TOKEN}`,
      ENVIRONMENT: 'test', API_AUTH_TOKENS: TOKEN, STATE_DIR: dir, LOG_FILE: log, LOG_FORMAT: format,
      LOG_LEVEL: 'DEBUG', PYPROJECT_PATH: path.join(top, 'pyproject.toml'),
      OPENAI_FCGI_CONFIG: path.join(top, 'conf', 'openai-fcgi.conf'), ASAN_OPTIONS: 'detect_leaks=0',
    },
  });
  const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Status: 40[45]/, r.stdout);  // no such method: an error answer, not a crash
  assert.ok(text.endsWith('\n'), text);
  return text.slice(0, -1).split('\n');
}

describe('log lines under CGI', () => {
  test('a REQUEST_METHOD with line breaks or spaces stays inside its one access line (text)', () => {
    for (const method of METHODS) {
      const lines = cgi(method, 'text');
      const access = lines.filter((l) => / access /.test(l));
      assert.equal(access.length, 1, `${JSON.stringify(method)}:\n${lines.join('\n')}`);
      assert.ok(!lines.some((l) => l.startsWith('2026-12-01T00:00:00Z')), `a forged line: ${lines.join('\n')}`);
      // time, "access", id, method, path, status, bytes, duration, key, tokens: the method is one field
      const fields = access[0].split(' ');
      assert.equal(fields.length, 10, access[0]);
      assert.equal(fields[9], 'tokens=0+0', access[0]);
      assert.equal(fields[4], '"/v1/models"', access[0]);
      for (const l of lines) assert.doesNotMatch(l, /[\x00-\x1f\x7f]/, l);
    }
  });

  test('the same in JSON lines: each line one object, the method kept exactly', () => {
    for (const method of METHODS) {
      const lines = cgi(method, 'json');
      const objs = lines.map((l) => JSON.parse(l));
      const access = objs.filter((o) => o.type === 'access');
      assert.equal(access.length, 1, lines.join('\n'));
      assert.equal(access[0].method, method);
      assert.equal(access[0].path, '/v1/models');
    }
  });
});
