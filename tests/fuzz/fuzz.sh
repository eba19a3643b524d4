# tests/fuzz/fuzz.sh: builds and runs the libFuzzer harnesses; sourced by scripts/fuzz and scripts/test
# Needs lib.sh's $top and say().

fuzz_harnesses() {
	local f
	for f in "$top"/tests/fuzz/fuzz_*.c; do
		f=${f##*/fuzz_}
		printf '%s\n' "${f%.c}"
	done
}

# fuzz_build DIR: every harness, into DIR (configure-independent: clang and
# tests/fuzz/fuzz.mk).
fuzz_build() {
	local dir=$1
	mkdir -p "$dir"
	say "build fuzzers in ${dir#$top/}"
	make -C "$dir" -s -f "$top/tests/fuzz/fuzz.mk" top="$top" -j"$(nproc)"
}

# Harnesses whose inputs are checked for leaks after the run, not during it:
# libconfig leaks on most malformed files (lsan.supp), and a leak check after
# every such input makes the config harness 25 times slower. Every unit of the
# corpus the run leaves is then executed once more with leak detection.
FUZZ_LEAKS_AFTER="config"

# fuzz_run DIR NAME SECONDS [libFuzzer flags...]: one harness from its
# committed corpus (new inputs go to DIR/corpus/NAME, not into the tree).
# Prints "fuzz NAME: PASS|FAIL, E executions, coverage C, S s". Returns 1
# on a crash, a leak, a sanitizer report, a timeout or an out-of-memory.
fuzz_run() {
	local dir=$1 name=$2 seconds=$3; shift 3
	local work=$dir/corpus/$name log=$dir/logs/$name.log rc=0
	mkdir -p "$work" "$dir/logs" "$dir/artifacts"
	local leaks_after=
	case " $FUZZ_LEAKS_AFTER " in *" $name "*) leaks_after=1; set -- -detect_leaks=0 "$@" ;; esac
	# Every UBSan report is fatal but those tests/fuzz/ubsan-pending.supp names:
	# known bugs being fixed on other branches, each line removed with its fix.
	# Every leak is fatal but libconfig's own (tests/fuzz/lsan.supp).
	UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$top/tests/fuzz/ubsan-pending.supp" \
	LSAN_OPTIONS="suppressions=$top/tests/fuzz/lsan.supp:print_suppressions=0" \
	ASAN_OPTIONS="detect_leaks=1" \
		"$dir/fuzz_$name" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
		-max_len=8192 -print_final_stats=1 -artifact_prefix="$dir/artifacts/$name-" \
		"$@" "$work" "$top/tests/fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
	if [ $rc -eq 0 ] && [ -n "$leaks_after" ]; then
		LSAN_OPTIONS="suppressions=$top/tests/fuzz/lsan.supp:print_suppressions=0" \
		UBSAN_OPTIONS="halt_on_error=1:suppressions=$top/tests/fuzz/ubsan-pending.supp" \
		ASAN_OPTIONS="detect_leaks=1" \
			"$dir/fuzz_$name" -runs=0 -detect_leaks=1 -artifact_prefix="$dir/artifacts/$name-" \
			"$work" "$top/tests/fuzz/corpus/$name" >"$log.leaks" 2>&1 || { rc=$?; cat "$log.leaks" >>"$log"; }
	fi
	# The last status line: "#N<tab>DONE cov: C ..." ("#N: cov: C ..." when
	# forking); the final stats, when there are any, count executions best.
	local last execs cov
	last=$(grep -E '^#[0-9]+' "$log" | grep 'cov: ' | tail -n 1)
	execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
	[ -n "$execs" ] || execs=$(printf '%s\n' "$last" | sed -nE 's/^#([0-9]+).*/\1/p')
	cov=$(printf '%s\n' "$last" | sed -nE 's/.*cov: ([0-9]+).*/\1/p')
	# libFuzzer's own count of seconds ("Done N runs in S second(s)"), as
	# -runs may end a run before SECONDS.
	local took
	took=$(sed -nE 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log" | tail -n 1)
	if [ $rc -eq 0 ]; then
		echo "fuzz $name: PASS, ${execs:-0} executions, coverage ${cov:-?}, ${took:-$seconds} s"
	else
		echo "fuzz $name: FAIL (exit $rc), ${execs:-0} executions, coverage ${cov:-?}; log ${log#$top/}:"
		grep -E 'ERROR|runtime error|SUMMARY|Test unit written|Base64' "$log" | head -n 20 | sed 's/^/    /'
	fi
	return $rc
}

# fuzz_run_all DIR SECONDS [flags...]: every harness (or those FUZZ_HARNESSES
# names), one after the other, or all at once with FUZZ_PARALLEL=1 (a long
# run on a machine with cores to spare). Returns 1 if any failed;
# FUZZ_PASSED and FUZZ_FAILED count them.
fuzz_run_all() {
	local dir=$1 seconds=$2; shift 2
	local name rc=0 pids=() names=() i
	FUZZ_PASSED=0 FUZZ_FAILED=0
	for name in ${FUZZ_HARNESSES:-$(fuzz_harnesses)}; do
		if [ -n "${FUZZ_PARALLEL:-}" ]; then
			fuzz_run "$dir" "$name" "$seconds" ${FUZZ_ARGS:-} "$@" &
			pids+=($!) names+=("$name")
		elif fuzz_run "$dir" "$name" "$seconds" ${FUZZ_ARGS:-} "$@"; then
			FUZZ_PASSED=$((FUZZ_PASSED + 1))
		else
			FUZZ_FAILED=$((FUZZ_FAILED + 1)); rc=1
		fi
	done
	for i in "${!pids[@]}"; do
		if wait "${pids[$i]}"; then
			FUZZ_PASSED=$((FUZZ_PASSED + 1))
		else
			FUZZ_FAILED=$((FUZZ_FAILED + 1)); rc=1
		fi
	done
	echo "fuzz: $FUZZ_PASSED passed, $FUZZ_FAILED failed"
	return $rc
}
