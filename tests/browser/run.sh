#!/bin/sh
# tests/browser/run.sh: the docs pages in headless Chromium (Debian's), the OpenAPI document's checks
# and the compose file's watch section; `make check` runs it after tests/e2e.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build-test}"
export top_srcdir top_builddir
for need in chromium lighttpd spawn-fcgi; do
	command -v $need >/dev/null || { echo "$need is required (scripts/test installs it)" >&2; exit 99; }
done
for dir in www tests/browser; do
	[ -d "$top_srcdir/$dir/node_modules" ] || { echo "$dir/node_modules is missing: npm ci there (scripts/test does)" >&2; exit 99; }
done
exec node --test --test-concurrency=1 "$top_srcdir"/tests/browser/*.test.mjs
