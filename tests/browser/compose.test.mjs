// compose.test.mjs: docker-compose.yaml's develop.watch, as the Compose spec defines it, rebuilds
// the image whenever something the image is built from changes.
//
// No Docker engine runs here, and Debian 12 has neither `docker compose` (v2,
// the one with `watch`) nor a podman-compose with `config`; when a
// `docker compose` is on PATH its `config` must accept the file too. The rules
// are otherwise checked against compose-go's definition of a watch trigger
// (path, action, target, exec, include, ignore; the actions below).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';

import { checkout } from '../e2e/harness.mjs';

const FILE = path.join(checkout, 'docker-compose.yaml');
const compose = YAML.parse(fs.readFileSync(FILE, 'utf8'));
const ACTIONS = ['rebuild', 'sync', 'restart', 'sync+restart', 'sync+exec'];
const TRIGGER_KEYS = ['path', 'action', 'target', 'exec', 'include', 'ignore'];
// What the image is built from: sources, the build system, configs, pages.
const BUILT_FROM = ['common/config.c', 'common/docs_assets.h', 'fcgi/routes.c', 'fcgi/h_docs.c',
  'conf/openai-fcgi.conf', 'conf/spawn-fcgi.sh', 'www/docs.html', 'www/playground.js', 'www/openapi.json',
  'www/package-lock.json', 'scripts/docker-entry', 'configure.ac', 'Makefile.am', 'pyproject.toml',
  'lighttpd.conf.example', 'Dockerfile'];

const rules = compose.services.api.develop?.watch || [];

test('develop.watch: every trigger is one the Compose spec defines, on a path that exists', () => {
  assert.ok(compose.services.api.build, 'rebuild needs a build section');
  assert.ok(rules.length > 0, 'services.api.develop.watch is a non-empty list');
  for (const rule of rules) {
    for (const k of Object.keys(rule)) assert.ok(TRIGGER_KEYS.includes(k) || k.startsWith('x-'), `unknown key ${k}`);
    assert.ok(ACTIONS.includes(rule.action), `action ${rule.action}`);
    assert.equal(typeof rule.path, 'string');
    assert.ok(fs.existsSync(path.resolve(path.dirname(FILE), rule.path)), `${rule.path} exists`);
    if (rule.action.startsWith('sync')) assert.ok(rule.target, `${rule.path}: sync needs a target`);
    for (const pattern of rule.ignore || []) assert.equal(typeof pattern, 'string');
  }
});

test('develop.watch: a change to a source, config or page rebuilds the image', () => {
  for (const file of BUILT_FROM) {
    assert.ok(fs.existsSync(path.join(checkout, file)), `${file} exists`);
    const rule = rules.find((r) => {
      const rel = path.relative(path.resolve(path.dirname(FILE), r.path), path.join(checkout, file));
      if (rel.startsWith('..') || path.isAbsolute(rel)) return false;
      return !(r.ignore || []).some((g) => rel === g.replace(/\/$/, '') || rel.startsWith(g.endsWith('/') ? g : `${g}/`));
    });
    assert.ok(rule, `${file} is watched`);
    assert.equal(rule.action, 'rebuild', `${file}: rebuild`);
  }
  // npm's files are ignored: the image installs them itself, as the lock says.
  assert.match(fs.readFileSync(path.join(checkout, 'Dockerfile'), 'utf8'), /cd www && npm ci/);
});

test('`docker compose config` accepts the file, when a Compose v2 is installed', (t) => {
  const probe = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip('no `docker compose` here (Debian 12 has none); the rules are checked by the tests above');
    return;
  }
  const r = spawnSync('docker', ['compose', '-f', FILE, 'config', '--format', 'json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).services.api.develop.watch.length === rules.length);
});
