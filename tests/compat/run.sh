#!/bin/sh
# tests/compat/run.sh: the official OpenAI SDK and OpenAI's own schemas
# against the server under lighttpd (node:test), directly and through the
# upstream backend; `make check` runs it.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build-test}"
export top_srcdir top_builddir
here=$top_srcdir/tests/compat
# Hard errors for automake (99), never a silent pass.
command -v lighttpd >/dev/null && command -v spawn-fcgi >/dev/null || {
	echo "lighttpd and spawn-fcgi are required (scripts/test installs them)" >&2
	exit 99
}
[ -d "$here/node_modules/openai" ] && [ -d "$here/node_modules/ajv" ] || {
	echo "tests/compat/node_modules is missing: run 'npm ci' in $here (scripts/test does)" >&2
	exit 99
}
schemas=${OPENAI_SCHEMAS:-$top_srcdir/../shared/openai/schemas.json}
[ -f "$schemas" ] || {
	echo "OpenAI's schemas are missing: $schemas (clone shared/ beside the repository)" >&2
	exit 99
}
# Under every front the deployment configs describe, then once more through
# the upstream backend (a second openai-fcgi in mock mode behind the first):
# the SDK must not see a difference. A front that cannot run here is said so.
fronts=$(node --input-type=module -e "
	const h = await import('$top_srcdir/tests/e2e/harness.mjs');
	for (const f of h.FRONTS) console.log(f + ' ' + (h.frontUnavailable(f) || 'ok'));")
echo "$fronts" | while read -r front why; do
	if [ "$why" != ok ]; then
		echo "# SKIP compat suite under $front: $why"
		continue
	fi
	echo "# compat suite under $front"
	OAF_FRONT=$front node --test --test-concurrency=1 "$here"/*.test.mjs || exit 1
done || exit 1
echo "# compat suite through the upstream backend, under lighttpd"
OAF_VIA=proxy node --test --test-concurrency=1 "$here"/*.test.mjs || exit 1
# The Responses API relayed to an upstream that speaks it (the suites above
# went through the translation to chat completions).
echo "# the Responses API relayed natively through the upstream backend, under lighttpd"
OAF_VIA=proxy OAF_UPSTREAM_RESPONSES=native exec node --test --test-concurrency=1 "$here"/responses.test.mjs
