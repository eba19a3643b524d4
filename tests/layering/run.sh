#!/bin/sh
# tests/layering/run.sh: the module graph and per-thread state checks (node:test over nm and
# the sources); `make check` runs it after building.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build-test}"
export top_srcdir top_builddir
command -v nm >/dev/null || { echo "nm (binutils) is required" >&2; exit 99; }
exec node --test "$top_srcdir"/tests/layering/layering.test.mjs
