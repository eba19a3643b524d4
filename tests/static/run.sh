#!/bin/sh
# tests/static/run.sh: the static executable (scripts/build-static) in an
# empty root as CGI and FastCGI, then through the Apache .htaccess front of
# the e2e suite; `make check` runs it. Builds the file when it is missing
# (the libraries are cached in build-static/, so only the first run is slow).
# STATIC_APP=/path/to/openai-fcgi-static tests a file built elsewhere.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build-test}"
top_srcdir=$(cd "$top_srcdir" && pwd); top_builddir=$(cd "$top_builddir" && pwd)
export top_srcdir top_builddir
if [ -z "${STATIC_APP:-}" ]; then
	# the cache beside the checkout (shared with `make static`), unless read-only (distcheck)
	cache=$top_srcdir/build-static
	{ mkdir -p "$cache" && [ -w "$cache" ]; } 2>/dev/null || cache=$top_builddir/build-static
	STATIC_APP=$(bash "$top_srcdir/scripts/build-static" "$cache" | tail -n 1) || {
		echo "scripts/build-static failed" >&2
		exit 99   # a hard error for automake, never a silent pass
	}
fi
[ -x "$STATIC_APP" ] || { echo "no executable at $STATIC_APP" >&2; exit 99; }
export STATIC_APP
node --test --test-concurrency=1 "$top_srcdir"/tests/static/static.test.mjs || exit 1
# The same file as the program of the shared-hosting front.
E2E_APP=$STATIC_APP E2E_FRONTS=apache-htaccess exec node --test "$top_srcdir"/tests/e2e/fronts.test.mjs
