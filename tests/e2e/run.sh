#!/bin/sh
# tests/e2e/run.sh: the end-to-end suite (node:test) against a real lighttpd
# with the real binary under spawn-fcgi; `make check` runs it.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build-test}"
export top_srcdir top_builddir
command -v lighttpd >/dev/null && command -v spawn-fcgi >/dev/null || {
	echo "lighttpd and spawn-fcgi are required (scripts/test installs them)" >&2
	exit 99   # a hard error for automake, never a silent pass
}
exec node --test --test-concurrency=1 "$top_srcdir"/tests/e2e/*.test.mjs
