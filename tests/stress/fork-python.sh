#!/usr/bin/env bash
# Python with threads that print, log, allocate, fork and run subprocesses, on the allocator.
#
#   tests/stress/fork-python.sh path/to/libbestbuddy.so SECONDS
#   tests/stress/fork-python.sh none SECONDS      (validation: glibc's own malloc)
#
# Runs tests/stress/fork_threads.py SECONDS with LD_PRELOAD=LIB and PYTHONMALLOC=malloc (so
# that Python's objects come from malloc too), under `timeout` SECONDS + 60. The program
# must report that it ran on bestbuddy (bestbuddy_backend(), read through ctypes; with
# BESTBUDDY_EXPECT set, that heap: "best-fit", "buddy") and end with "fork_threads: OK".
# A loop that makes no progress for 20 s is a hang: the program prints "hang: ..." or
# faulthandler's "Timeout (...)!" and every thread's traceback, and exits non-zero.
# Prints "fork-python: OK N forks, M subprocesses, K seconds" and exits 0, or
# "fork-python: FAIL ..." with the end of the program's output and exits 1.
#
# Environment: PYTHON (default python3), BESTBUDDY_EXPECT.
set -u -o pipefail

if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 path/to/libbestbuddy.so|none SECONDS" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
secs=$2
unset LD_PRELOAD   # set on the program under test only
if [ "$1" = none ]; then
    preload=()
    expect=glibc
else
    [ -f "$1" ] || { echo "fork-python.sh: no such file: $1" >&2; exit 2; }
    preload=(LD_PRELOAD="$(readlink -f -- "$1")")
    expect=${BESTBUDDY_EXPECT:-}
fi

log=$(mktemp "${TMPDIR:-/tmp}/fork-python.XXXXXX") || exit 2
trap 'rm -f "$log"' EXIT

start=$(date +%s)
timeout -k 5 $((secs + 60)) env "${preload[@]}" PYTHONMALLOC=malloc \
    "${PYTHON:-python3}" "$here/fork_threads.py" "$secs" >"$log" 2>&1
rc=$?
took=$(($(date +%s) - start))

fail() {
    echo "fork-python: FAIL $* (exit status $rc after $took s, ${preload[*]:-no LD_PRELOAD})"
    head -n 100 "$log" | sed 's/^/  /'
    exit 1
}

backend=$(sed -n '1s/^backend: //p' "$log")
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    fail "timed out after $((secs + 60)) s"
elif grep -q -e '^hang: ' -e '^Timeout (' "$log"; then
    fail "hang: $(grep -m1 -e '^hang: ' -e '^Timeout (' "$log")"
elif [ $rc -ne 0 ]; then
    fail "error"
elif [ -z "$backend" ]; then
    fail "no backend line"
elif [ "$expect" = glibc ] && [ "$backend" != glibc ]; then
    fail "ran on bestbuddy ($backend), expected glibc's malloc"
elif [ "$expect" != glibc ] && [ "$backend" = glibc ]; then
    fail "not running on bestbuddy"
elif [ -n "$expect" ] && [ "$backend" != "$expect" ]; then
    fail "backend is $backend, expected $expect"
fi
ok=$(grep '^fork_threads: OK ' "$log" | tail -n 1)
[ -n "$ok" ] || fail "no 'fork_threads: OK' line"
forks=$(sed -n 's/.* \([0-9][0-9]*\) forks.*/\1/p' <<<"$ok")
subs=$(sed -n 's/.* \([0-9][0-9]*\) subprocesses.*/\1/p' <<<"$ok")
ran=$(sed -n 's/.*, \([0-9.]*\) s$/\1/p' <<<"$ok")
echo "fork-python: OK $forks forks, $subs subprocesses, $ran seconds on $backend"
echo "  ${ok#fork_threads: OK }"
