#!/usr/bin/env bash
# Proves the hardening tests test the hardening: runs them against a build made with the
# `unhardened` feature (no sealed headers or links, no metadata checks), where every one that
# is not skipped must FAIL (the program survives its misuse, or dies without the line).
#
# usage: tests/c/without_hardening.sh OUTDIR BACKEND_NAME
#     OUTDIR holds an unhardened libbestbuddy.a and .so (make builds out/unhardened-*).
set -u
[ $# -eq 2 ] || { echo "usage: $0 OUTDIR BACKEND_NAME" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
tests='^abort_(uaf|overflow)_'
log=$(BB_CTESTS_FILTER="$tests" BB_CTESTS_BUILD="$1/ctests" bash "$here/run.sh" "$1" "$2" 2>&1)
passed=$(grep -c '^PASS ' <<<"$log")
failed=$(grep -c '^FAIL ' <<<"$log")
if [ "$passed" -ne 0 ] || [ "$failed" -eq 0 ]; then
    echo "$log" | grep -E '^(PASS|FAIL|SKIP) '
    echo "without_hardening: $passed hardening tests passed without the hardening (want 0 of $((passed + failed)))"
    exit 1
fi
echo "without_hardening ($2): all $failed hardening test runs fail without the hardening, as they must"
