#!/usr/bin/env bash
# bestbuddy C test suite.
#
# usage: tests/c/run.sh OUTDIR BACKEND_NAME
#     OUTDIR holds libbestbuddy.a and libbestbuddy.so (out/bestfit, out/buddy);
#     BACKEND_NAME is what bestbuddy_backend() must return ("best-fit", "buddy").
#     Every t_*.c and abort_*.c is built twice and run under `timeout 60`:
#       static   linked with OUTDIR/libbestbuddy.a
#       preload  linked with libc only, run with LD_PRELOAD=OUTDIR/libbestbuddy.so
#     plus the public-header checks (header_c.c, header_cpp.cpp) and
#     symbols.sh and layout.sh on the shared library.
#
# usage: tests/c/run.sh none
#     Validation mode: build the tests against libc only and run them on
#     glibc's own allocator (BESTBUDDY_EXPECT=glibc); bestbuddy-only
#     assertions are skipped, misuse tests only need to die of a signal.
#
# Environment: CC, CXX (default cc, g++), BB_STATIC_LIBS (extra libraries for
# the static link, default "-lpthread -ldl"), BB_CTESTS_FILTER (only tests
# whose name matches this extended regex), BB_CTESTS_BUILD (build folder, default
# out/ctests-<backend>).
# Build products go to the build folder.  Prints one PASS/FAIL line per
# test and mode and ends with "tests/c: N passed, M failed[, K skipped]".  An abort_*
# test that prints "skip: <why>" and exits 0 is skipped (the misuse has no meaning on
# that heap).
set -u

usage() {
    awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0" >&2
    exit 2
}

[ $# -ge 1 ] || usage
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

# Never let a caller's LD_PRELOAD leak into the build or the glibc runs; it is
# set on individual test commands only.
unset LD_PRELOAD

if [ "$1" = none ]; then
    glibc_mode=1
    backend=glibc
    outdir=
    modes="plain"
else
    glibc_mode=0
    [ $# -ge 2 ] && [ -n "$2" ] || usage
    backend=$2
    if ! outdir=$(cd "$1" 2>/dev/null && pwd); then
        echo "run.sh: no such directory: $1" >&2
        exit 2
    fi
    for f in libbestbuddy.a libbestbuddy.so; do
        if [ ! -f "$outdir/$f" ]; then
            echo "run.sh: missing $outdir/$f" >&2
            exit 2
        fi
    done
    modes="static preload"
fi

CC=${CC:-cc}
CXX=${CXX:-g++}
CFLAGS="-O2 -g -fno-builtin -Wall -Werror -pthread"
STATIC_LIBS=${BB_STATIC_LIBS:--lpthread -ldl}
filter=${BB_CTESTS_FILTER:-.}
jobs=$(nproc 2>/dev/null || echo 2)

build=${BB_CTESTS_BUILD:-"$root/out/ctests-$(echo "$backend" | tr -c 'A-Za-z0-9_.\n-' '_')"}
rm -rf "$build"
mkdir -p "$build/bin" "$build/log" "$build/cwd" || exit 2
build=$(cd "$build" && pwd)  # tests run in $build/cwd: no relative paths

ulimit -c 0 2>/dev/null

tests=()
for src in "$here"/t_*.c "$here"/abort_*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    [[ $name =~ $filter ]] || continue
    tests+=("$name")
done

# ---------------------------------------------------------------- build
compile() { # name mode
    local name=$1 mode=$2 src="$here/$1.c" bin="$build/bin/$1.$2" log="$build/log/$1.$2.build"
    case $mode in
    static)
        "$CC" $CFLAGS -DBB_STATIC_LINK -o "$bin" "$src" "$outdir/libbestbuddy.a" \
            -Wl,-u,bestbuddy_backend $STATIC_LIBS >"$log" 2>&1
        ;;
    preload | plain)
        "$CC" $CFLAGS -o "$bin" "$src" >"$log" 2>&1
        ;;
    esac
}

for name in "${tests[@]}"; do
    for mode in $modes; do
        compile "$name" "$mode" &
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
            wait -n
        done
    done
done
wait

# ---------------------------------------------------------------- run
passed=0
failed=0
skipped=0
failures=()

report() { # status label log...
    local status=$1 label=$2
    shift 2
    echo "$status $label"
    if [ "$status" = PASS ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$label")
        for f in "$@"; do
            [ -s "$f" ] && sed -n '1,15p' "$f" | sed 's/^/    | /'
        done
    fi
}

run_bin() { # mode bin out err  -> sets rc
    local mode=$1 bin=$2 out=$3 err=$4
    if [ "$mode" = preload ]; then
        (cd "$build/cwd" && timeout 60 env BESTBUDDY_EXPECT="$backend" \
            LD_PRELOAD="$outdir/libbestbuddy.so" "$bin" >"$out" 2>"$err"; exit $?) 2>/dev/null
    else
        (cd "$build/cwd" && timeout 60 env BESTBUDDY_EXPECT="$backend" \
            "$bin" >"$out" 2>"$err"; exit $?) 2>/dev/null
    fi
    rc=$?
}

for name in "${tests[@]}"; do
    for mode in $modes; do
        label="$name $mode"
        bin="$build/bin/$name.$mode"
        out="$build/log/$name.$mode.out"
        err="$build/log/$name.$mode.err"
        if [ ! -x "$bin" ]; then
            report FAIL "$label (build failed)" "$build/log/$name.$mode.build"
            continue
        fi
        run_bin "$mode" "$bin" "$out" "$err"
        if [[ $name == abort_* ]] && [ $rc -eq 0 ] && grep -q '^skip: ' "$out"; then
            # The misuse has no meaning on this heap (e.g. buddy blocks have no header).
            echo "SKIP $label ($(sed -n 's/^skip: //p' "$out" | head -1))"
            skipped=$((skipped + 1))
        elif [[ $name == abort_* ]]; then
            expect=$(sed -n 's/^expect: //p' "$out")
            nexp=$(grep -c '^expect: ' "$out")
            if [ "$nexp" -ne 1 ] || [ -z "$expect" ]; then
                echo "expected exactly one 'expect:' line on stdout, got $nexp (rc $rc)" >>"$err"
                report FAIL "$label" "$err" "$out"
            elif [ $glibc_mode = 1 ]; then
                # glibc reports misuse in its own words, and a freed mmapped
                # block may fault instead: only require death by SIGABRT/SIGSEGV
                if [ $rc -eq 134 ] || [ $rc -eq 139 ]; then
                    report PASS "$label"
                else
                    echo "exit status $rc, expected death by signal" >>"$err"
                    report FAIL "$label" "$err" "$out"
                fi
            elif [ $rc -ne 134 ]; then
                echo "exit status $rc, expected 134 (SIGABRT); expected stderr line: $expect" >>"$err"
                report FAIL "$label" "$err" "$out"
            elif ! awk -v want="$expect: " 'index($0, want) == 1 { found = 1 } END { exit !found }' "$err"; then
                echo "died of SIGABRT but stderr lacks the line: $expect" >>"$err.why"
                report FAIL "$label" "$err.why" "$err"
            else
                report PASS "$label"
            fi
        else
            if [ $rc -eq 0 ]; then
                report PASS "$label"
            else
                case $rc in
                124) why="timed out after 60 s" ;;
                1) why="exit status 1" ;;
                *) why="exit status $rc$([ $rc -gt 128 ] && echo " (signal $((rc - 128)))")" ;;
                esac
                echo "$why" >>"$err"
                report FAIL "$label" "$err"
            fi
        fi
    done
done

# ---------------------------------------------------------------- header and symbols
if [ $glibc_mode = 0 ] && [[ header =~ $filter || symbols =~ $filter ]]; then
    for lang in c cpp; do
        label="header_$lang static"
        log="$build/log/header_$lang.build"
        bin="$build/bin/header_$lang"
        if [ ! -f "$root/include/bestbuddy.h" ]; then
            echo "include/bestbuddy.h does not exist" >"$log"
            report FAIL "$label" "$log"
            continue
        fi
        if [ $lang = c ]; then
            "$CC" -O2 -Wall -Wextra -Werror -I"$root/include" -o "$bin" "$here/header_c.c" \
                "$outdir/libbestbuddy.a" $STATIC_LIBS >"$log" 2>&1
        else
            "$CXX" -O2 -Wall -Wextra -Werror -I"$root/include" -o "$bin" "$here/header_cpp.cpp" \
                "$outdir/libbestbuddy.a" $STATIC_LIBS >"$log" 2>&1
        fi
        if [ $? -ne 0 ]; then
            report FAIL "$label (build failed)" "$log"
            continue
        fi
        run_bin static "$bin" "$build/log/header_$lang.out" "$build/log/header_$lang.err"
        if [ $rc -eq 0 ]; then
            report PASS "$label"
        else
            echo "exit status $rc" >>"$build/log/header_$lang.err"
            report FAIL "$label" "$build/log/header_$lang.err"
        fi
    done
    if "$here/symbols.sh" "$outdir/libbestbuddy.so" >"$build/log/symbols.out" 2>&1; then
        report PASS "symbols libbestbuddy.so"
    else
        report FAIL "symbols libbestbuddy.so" "$build/log/symbols.out"
    fi
    # Each heap's library has a SONAME of its own (build.rs), so both install side by side.
    soname=libbestbuddy.so.0
    [ "$backend" = buddy ] && soname=libbestbuddy-buddy.so.0
    if "$here/layout.sh" "$outdir/libbestbuddy.so" "$soname" >"$build/log/layout.out" 2>&1; then
        report PASS "layout libbestbuddy.so"
    else
        report FAIL "layout libbestbuddy.so" "$build/log/layout.out"
    fi
fi

if [ $failed -gt 0 ]; then
    echo "failed:"
    printf '    %s\n' "${failures[@]}"
    echo "logs: $build/log"
fi
echo "tests/c: $passed passed, $failed failed$([ $skipped -gt 0 ] && echo ", $skipped skipped")"
[ $failed -eq 0 ]
