// tests/layering/layering.test.mjs: the shape STYLE.md asks for, read from the built objects and the sources:
// no two modules call each other (directly or round a chain), common/ knows nothing of FastCGI,
// and per-thread state is only where its declaration says why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, basename } from 'node:path';

const src = process.env.top_srcdir;
const build = process.env.top_builddir;

// common/libcommon_a-usage.o → "common/usage"; fcgi/openai_fcgi-main.o → "fcgi/main"
function objects() {
	const out = [];
	for (const dir of ['common', 'fcgi'])
		for (const f of readdirSync(join(build, dir)))
			if (f.endsWith('.o'))
				out.push({ path: join(build, dir, f), module: `${dir}/${basename(f, '.o').replace(/^[a-z_]+-/, '')}` });
	return out;
}

function symbols(path) {
	const defined = [], undefined_ = [];
	for (const line of execFileSync('nm', [path], { encoding: 'utf8' }).split('\n')) {
		const p = line.trim().split(/\s+/);
		if (p.length === 3 && 'TDRB'.includes(p[1])) defined.push(p[2]);
		else if (p.length === 2 && p[0] === 'U') undefined_.push(p[1]);
	}
	return { defined, undefined_ };
}

test('no module calls back into one that calls it, directly or round a chain', () => {
	const objs = objects().map((o) => ({ ...o, ...symbols(o.path) }));
	assert.ok(objs.length > 40, `only ${objs.length} objects under ${build}: build first`);
	const owner = new Map();
	for (const o of objs) for (const s of o.defined) owner.set(s, o.module);
	const edges = new Map(objs.map((o) => [o.module, new Set()]));
	for (const o of objs)
		for (const s of o.undefined_) {
			const m = owner.get(s);
			if (m && m !== o.module) edges.get(o.module).add(m);
		}
	// Tarjan's strongly connected components: any with two modules is a cycle
	let index = 0;
	const idx = new Map(), low = new Map(), stack = [], on = new Set(), cycles = [];
	const visit = (v) => {
		idx.set(v, index); low.set(v, index); index++;
		stack.push(v); on.add(v);
		for (const w of edges.get(v)) {
			if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
			else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
		}
		if (low.get(v) === idx.get(v)) {
			const comp = [];
			let w;
			do { w = stack.pop(); on.delete(w); comp.push(w); } while (w !== v);
			if (comp.length > 1) cycles.push(comp.sort().join(' ↔ '));
		}
	};
	for (const v of edges.keys()) if (!idx.has(v)) visit(v);
	assert.deepEqual(cycles, [], 'modules that call each other');
});

test('common/ uses nothing of libfcgi', () => {
	for (const o of objects().filter((x) => x.module.startsWith('common/'))) {
		const fcgi = symbols(o.path).undefined_.filter((s) => /^FCGX?_|^FCGI/.test(s));
		assert.deepEqual(fcgi, [], `${o.module} calls libfcgi`);
	}
	for (const dir of ['common'])
		for (const f of readdirSync(join(src, dir)))
			if (/\.[ch]$/.test(f))
				assert.doesNotMatch(readFileSync(join(src, dir, f), 'utf8'), /#include\s*[<"]fcgi/, `${dir}/${f} includes a libfcgi header`);
});

// Per-thread state is owned by what it belongs to (a store's connection
// pool, the request context); the two thread-locals left say why at their
// declaration: a signal handler's recovery point and the log's request id.
test('thread-locals only where their declaration says why', () => {
	const allowed = new Map([['common/log.c', 1], ['common/ratelimit.c', 1]]);
	for (const dir of ['common', 'fcgi'])
		for (const f of readdirSync(join(src, dir))) {
			if (!/\.[ch]$/.test(f)) continue;
			const text = readFileSync(join(src, dir, f), 'utf8');
			const n = (text.match(/_Thread_local|__thread\b|pthread_key_create|pthread_setspecific/g) || []).length;
			assert.equal(n, allowed.get(`${dir}/${f}`) ?? 0, `${dir}/${f}: per-thread state`);
		}
});
