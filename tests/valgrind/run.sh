#!/usr/bin/env bash
# bestbuddy under valgrind's memcheck.
#
# usage: tests/valgrind/run.sh OUTDIR BACKEND_NAME
#     OUTDIR holds libbestbuddy.a and libbestbuddy.so built with the cargo feature
#     `valgrind` (`make valgrind-libs`: out/valgrind-bestfit, out/valgrind-buddy);
#     BACKEND_NAME is what bestbuddy_backend() must return ("best-fit", "buddy").
#     Every vg_*.c is built with -g -fno-builtin twice, linked with OUTDIR/libbestbuddy.a
#     (static) and with libc alone (preload: run with LD_PRELOAD=OUTDIR/libbestbuddy.so),
#     and run under memcheck with the options of $VG_OPTIONS below, among them
#     --soname-synonyms=somalloc=nouserintercepts, which keeps valgrind from replacing
#     the malloc of the program or of a preloaded library (its default since 3.8; with
#     somalloc=NONE it would replace the program's own, the static link's).
#     Each test's opening comment says what must happen:
#       expect-status: N    the exit status (134: died of SIGABRT)
#       expect: RE          a line of memcheck's log matches the extended regex RE
#       expect-not: RE      no line of memcheck's log matches RE
#       expect-stdout: RE   a line of the program's stdout matches RE
#       expect-stderr: RE   a line of the program's stderr matches RE
#     and no log may mention vg_replace_malloc.c (valgrind's own malloc at work). A child
#     the program forks is followed and logs to a file of its own; "memcheck's log" is
#     all of them.
#     Installs valgrind with apt-get when it is missing and this runs as root.
#
# Environment: CC (default cc), BB_VG_FILTER (only tests whose name matches this extended
# regex), BB_VG_BUILD (build folder, default out/vgtests-<backend>).
# Prints one PASS/FAIL line per test and mode and ends with
# "tests/valgrind: N passed, M failed".
set -u

usage() {
    awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0" >&2
    exit 2
}

[ $# -eq 2 ] || usage
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
backend=$2
if ! outdir=$(cd "$1" 2>/dev/null && pwd); then
    echo "run.sh: no such directory: $1" >&2
    exit 2
fi
for f in libbestbuddy.a libbestbuddy.so; do
    if [ ! -f "$outdir/$f" ]; then
        echo "run.sh: missing $outdir/$f (make valgrind-libs builds it)" >&2
        exit 2
    fi
done

# LD_PRELOAD is set on the command under test only.
unset LD_PRELOAD

if ! command -v valgrind >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "tests/valgrind: installing valgrind (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >/dev/null ||
            { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >/dev/null; } ||
            { echo "tests/valgrind: could not install valgrind" >&2; exit 1; }
    else
        echo "tests/valgrind: valgrind is missing: install it (apt-get install valgrind)" >&2
        exit 1
    fi
fi

CC=${CC:-cc}
CFLAGS="-O0 -g -fno-builtin -Wall -Werror -pthread"
VG_OPTIONS="--tool=memcheck --soname-synonyms=somalloc=nouserintercepts --leak-check=full --track-origins=yes --error-limit=no"
filter=${BB_VG_FILTER:-.}
build=${BB_VG_BUILD:-"$root/out/vgtests-$(echo "$backend" | tr -c 'A-Za-z0-9_.\n-' '_')"}
rm -rf "$build"
mkdir -p "$build/bin" "$build/log" || exit 2
build=$(cd "$build" && pwd)
ulimit -c 0 2>/dev/null

passed=0
failed=0
failures=()

fail() { # label why files...
    local label=$1 why=$2
    shift 2
    echo "FAIL $label: $why"
    failed=$((failed + 1))
    failures+=("$label")
    for f in "$@"; do
        [ -s "$f" ] && sed -n '1,40p' "$f" | sed 's/^/    | /'
    done
}

# The lines "KEY: VALUE" of a test's opening comment.
directives() { # src key
    sed -n "s/^ \* $2: //p" "$1"
}

matches() { # file regex
    grep -Eq -- "$2" "$1"
}

for src in "$here"/vg_*.c; do
    name=$(basename "$src" .c)
    [[ $name =~ $filter ]] || continue
    for mode in static preload; do
        label="$name $mode"
        bin="$build/bin/$name.$mode"
        blog="$build/log/$name.$mode.build"
        if [ $mode = static ]; then
            "$CC" $CFLAGS -o "$bin" "$src" "$outdir/libbestbuddy.a" -Wl,-u,bestbuddy_backend \
                -lpthread -ldl >"$blog" 2>&1
        else
            "$CC" $CFLAGS -o "$bin" "$src" >"$blog" 2>&1
        fi || { fail "$label" "build failed" "$blog"; continue; }
        log="$build/log/$name.$mode.memcheck"
        rm -f "$log" "$log".*
        out="$build/log/$name.$mode.out"
        err="$build/log/$name.$mode.err"
        preload=
        [ $mode = preload ] && preload="LD_PRELOAD=$outdir/libbestbuddy.so"
        # In a subshell whose stderr is dropped: bash's "Aborted" for the misuse test.
        (timeout 120 env BESTBUDDY_EXPECT="$backend" $preload \
            valgrind $VG_OPTIONS --log-file="$log.%p" "$bin" >"$out" 2>"$err"; exit $?) 2>/dev/null
        rc=$?
        cat "$log".* >"$log" 2>/dev/null
        want=$(directives "$src" expect-status)
        why=
        if [ "$rc" != "${want:-0}" ]; then
            why="exit status $rc, expected ${want:-0}"
        elif matches "$log" 'vg_replace_malloc\.c'; then
            why="valgrind's own malloc served the program (vg_replace_malloc.c in the log)"
        else
            while IFS= read -r re; do
                matches "$log" "$re" || { why="memcheck's log lacks: $re"; break; }
            done < <(directives "$src" expect)
            [ -n "$why" ] || while IFS= read -r re; do
                ! matches "$log" "$re" || { why="memcheck's log has: $re"; break; }
            done < <(directives "$src" expect-not)
            [ -n "$why" ] || while IFS= read -r re; do
                matches "$out" "$re" || { why="stdout lacks: $re"; break; }
            done < <(directives "$src" expect-stdout)
            [ -n "$why" ] || while IFS= read -r re; do
                matches "$err" "$re" || { why="stderr lacks: $re"; break; }
            done < <(directives "$src" expect-stderr)
        fi
        if [ -n "$why" ]; then
            fail "$label" "$why" "$err" "$log"
        else
            echo "PASS $label"
            passed=$((passed + 1))
        fi
    done
done

if [ $failed -gt 0 ]; then
    echo "failed:"
    printf '    %s\n' "${failures[@]}"
    echo "logs: $build/log"
fi
echo "tests/valgrind: $passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
