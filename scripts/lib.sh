# scripts/lib.sh: what scripts/serve and scripts/test share: installing what is missing, building.
# Sourced, not run.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the build needs, and those serving and testing need.
BUILD_PKGS="build-essential autoconf automake pkg-config libfcgi-dev libjson-c-dev libconfig-dev libcurl4-openssl-dev libsodium-dev libhiredis-dev libhttp-parser-dev"
SERVE_PKGS="lighttpd spawn-fcgi curl"
TEST_PKGS="libcmocka-dev nginx-light apache2 libapache2-mod-fcgid prometheus redis-server"
# scripts/build-static: musl and what building the Debian source packages takes.
STATIC_PKGS="musl-tools libtool cmake dpkg-dev file binutils openssl dnsmasq-base"
# The docs pages' browser tests drive Debian's Chromium (never a downloaded one).
TEST_PKGS="$TEST_PKGS chromium"
# libFuzzer: Debian 12's clang, and the runtime (libclang_rt.fuzzer) it links.
FUZZ_PKGS="clang-14 libclang-rt-14-dev"

say() { printf '==> %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the packages that are not installed yet: apt-get update once,
# then one apt-get install. Nothing is assumed to be on the machine.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	# Node.js may come from Debian or elsewhere: only the command matters.
	if [ -n "${WANT_NODE:-}" ] && ! command -v node >/dev/null 2>&1; then
		missing+=(nodejs npm)
	elif [ -n "${WANT_NODE:-}" ] && ! command -v npm >/dev/null 2>&1; then
		missing+=(npm)  # tests/compat installs its packages with npm ci
	fi
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# Installing lighttpd/nginx/apache must not start their system services
	# (they would hold port 80): a policy-rc.d that says 101 makes
	# invoke-rc.d start nothing. One already there is left alone.
	local policy=/usr/sbin/policy-rc.d added= rc=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
		as_root chmod 755 "$policy"
		added=1
	fi
	as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
	[ -z "$added" ] || as_root rm -f "$policy"
	return "$rc"
}

# ensure_deb_src PKG: makes `apt-get source PKG` work. Where there is no
# deb-src entry, ours mirrors the deb entries of the Debian archive this
# machine already uses, in one file of our own, so running again changes
# nothing.
ensure_deb_src() {
	local srclist=/etc/apt/sources.list.d/openai-fcgi-src.sources f
	apt-get source --print-uris -qq "$1" >/dev/null 2>&1 && return 0
	say "adding deb-src entries ($srclist)"
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] && [ "$f" != "$srclist" ] || continue
			grep -q 'debian' "$f" || continue
			sed 's/^Types:.*/Types: deb-src/' "$f"; echo
		done
	} | as_root tee "$srclist.tmp" >/dev/null
	if [ ! -s "$srclist.tmp" ] && [ -f /etc/apt/sources.list ]; then
		# one-line style: the same lines with deb-src
		sed -n 's/^deb \(.*debian.*\)/deb-src \1/p' /etc/apt/sources.list | as_root tee "${srclist%.sources}.list" >/dev/null
		as_root rm -f "$srclist.tmp"
	else
		as_root mv "$srclist.tmp" "$srclist"
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
}

# src_version PKG: the version `apt-get source PKG` would fetch, read from
# the local lists (no network).
src_version() {
	apt-get source --print-uris -qq "$1" | sed -n "s/.*'[^']*\/$1_\([^']*\)\.dsc'.*/\1/p" | sed 's/%2b/+/g;s/%3a/:/g' | head -n1
}

# fetch_source WORK PKG: a fresh, patched source tree of Debian's PKG in
# WORK/PKG (dpkg-source applies Debian's patches: the security fixes the
# distribution ships). For curl, Debian's last two patches, which rename
# the library for its GnuTLS and NSS flavours, are taken off again: the
# plain libcurl is the one we build.
fetch_source() {
	local work=$1 pkg=$2 d
	(cd "$work" && apt-get source -qq "$pkg" >/dev/null 2>"$work/$pkg.fetch.log") ||
		{ cat "$work/$pkg.fetch.log" >&2; return 1; }
	d=$(find "$work" -maxdepth 1 -type d -name "$pkg-[0-9]*" | head -n1)
	mv "$d" "$work/$pkg"
	if [ "$pkg" = curl ]; then
		patch -s -R -d "$work/curl" -p1 <"$work/curl/debian/patches/99_nss.patch"
		patch -s -R -d "$work/curl" -p1 <"$work/curl/debian/patches/90_gnutls.patch"
	fi
}

# build DIR [configure options...]: configures (once) and builds in DIR.
build() {
	local dir=$1; shift
	if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ] || \
	   [ "$top/Makefile.am" -nt "$top/Makefile.in" ]; then
		say "autoreconf"
		(cd "$top" && autoreconf -fi >/dev/null 2>&1) || (cd "$top" && autoreconf -fi)
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ "$top/configure" -nt "$dir/Makefile" ]; then
		say "configure $*"
		(cd "$dir" && "$top/configure" -q "$@")
	fi
	say "make"
	make -C "$dir" -s -j"$(nproc)"
}

# npm_ci DIR: installs DIR's npm packages exactly as its lock says, again
# only when the lock changed since the last install.
npm_ci() {
	local dir=$1
	if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
		say "npm ci (${dir#"$top"/})"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
	fi
}
