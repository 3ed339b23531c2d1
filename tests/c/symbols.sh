#!/bin/sh
# usage: tests/c/symbols.sh SOFILE
# The dynamic symbols SOFILE defines (nm types T, W, i; version suffixes
# stripped), sorted, must equal tests/c/exported-symbols.txt exactly.
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 SOFILE" >&2
    exit 2
fi
so=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$so" ]; then
    echo "symbols.sh: no such file: $so" >&2
    exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$so" >"$tmp/nm"
awk 'NF >= 3 && $2 ~ /^[TWi]$/ { sub(/@.*/, "", $3); print $3 }' "$tmp/nm" |
    LC_ALL=C sort -u >"$tmp/actual"
if diff -u "$here/exported-symbols.txt" "$tmp/actual" >"$tmp/diff"; then
    echo "symbols.sh: $so exports exactly the $(wc -l <"$tmp/actual") expected symbols"
    exit 0
fi
echo "symbols.sh: exported symbols of $so differ from exported-symbols.txt" \
    "(- expected only, + library only):"
cat "$tmp/diff"
exit 1
