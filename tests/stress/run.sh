#!/usr/bin/env bash
# Builds tests/stress/stress.c and runs it under LD_PRELOAD, once per seed.
#
#   tests/stress/run.sh path/to/libbestbuddy.so THREADS OPS_PER_THREAD SEED...
#
# `make stress-quick` (part of `make check`) and `make stress` call this for both heaps.
# Each run is limited to STRESS_TIMEOUT seconds (default 600); the program must report
# that it ran on bestbuddy and end with "stress: OK". Prints one PASS/FAIL line per seed
# and exits non-zero if any failed.
#
# Environment: CC (default cc), STRESS_BUILD (build folder, default out/stress),
# STRESS_TIMEOUT, BESTBUDDY_EXPECT (passed on: the heap the program must report).
set -u -o pipefail

if [ $# -lt 4 ]; then
    echo "usage: $0 path/to/libbestbuddy.so THREADS OPS_PER_THREAD SEED..." >&2
    exit 2
fi
[ -f "$1" ] || { echo "stress/run.sh: no such file: $1" >&2; exit 2; }
SO=$(readlink -f -- "$1")
threads=$2
ops=$3
shift 3

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${STRESS_BUILD:-$root/out/stress}
bin=$build/stress
unset LD_PRELOAD   # set on the program under test only

mkdir -p "$build"
if [ ! -x "$bin" ] || [ "$here/stress.c" -nt "$bin" ]; then
    # build to a temporary name: two makes may share the folder
    ${CC:-cc} -O2 -g -fno-builtin -pthread -Wall -Wextra -o "$bin.$$" "$here/stress.c" &&
        mv -f "$bin.$$" "$bin" || { rm -f "$bin.$$"; echo "FAIL stress: build failed"; exit 1; }
fi

failed=0
for seed in "$@"; do
    out=$(timeout -k 5 "${STRESS_TIMEOUT:-600}" env LD_PRELOAD="$SO" "$bin" "$threads" "$ops" "$seed" 2>&1)
    rc=$?
    first=$(head -n 1 <<<"$out")
    if [ $rc -eq 0 ] && grep -q '^stress: OK$' <<<"$out" && ! grep -q 'not bestbuddy' <<<"$first"; then
        echo "PASS ${first#stress: }"
        grep -v -e '^stress: OK$' <<<"$out" | sed -n '2,$s/^stress: /  /p'
    else
        failed=$((failed + 1))
        [ $rc -eq 124 ] && echo "  timed out after ${STRESS_TIMEOUT:-600}s"
        echo "FAIL stress $threads x $ops seed $seed on $SO (exit status $rc):"
        tail -n 20 <<<"$out" | sed 's/^/  /'
    fi
done
[ $failed -eq 0 ]
