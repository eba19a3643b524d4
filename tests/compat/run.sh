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
# Once against the mock directly, once through the upstream backend (a
# second openai-fcgi in mock mode behind the first): the SDK must not see a
# difference.
for via in direct proxy; do
	echo "# compat suite, $via"
	OAF_VIA=$via node --test --test-concurrency=1 "$here"/*.test.mjs || exit 1
done
