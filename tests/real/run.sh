#!/usr/bin/env bash
# Real-program tests for bestbuddy.
#
#   tests/real/run.sh path/to/libbestbuddy.so
#
# Runs python3, gcc, git and sort with LD_PRELOAD set to the given library
# (only on the commands under test), checks each program's output against a
# glibc run of the same work done in this invocation (and against known
# answers where there are any), prints PASS/FAIL per program with wall times,
# and ends with "real: N passed, M failed". Exit status is non-zero if any
# program failed.
#
# Environment:
#   REAL_TIMEOUT   seconds allowed for each single command (default 120)
#   REAL_KEEP=1    keep the temporary directory (its path is printed)
#   REAL_ONLY      space-separated subset of: python3 gcc git sort

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ $# -ne 1 ]; then
    echo "usage: $0 path/to/libbestbuddy.so" >&2
    exit 2
fi
if [ ! -f "$1" ]; then
    echo "run.sh: no such file: $1" >&2
    exit 2
fi
SO=$(readlink -f -- "$1")
TIMEOUT=${REAL_TIMEOUT:-120}
ONLY=${REAL_ONLY:-python3 gcc git sort}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bestbuddy-real.XXXXXX") || exit 2
if [ "${REAL_KEEP:-0}" = 1 ]; then
    echo "keeping $TMP"
else
    trap 'rm -rf -- "$TMP"' EXIT
fi
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers --

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a + b }'; }

PRE_T=0   # seconds spent in commands under preload (current test)
REF_T=0   # seconds spent in glibc reference commands (current test)

# pre [VAR=value ...] cmd args...   run under LD_PRELOAD=$SO
# Never call pre/ref in a command substitution or pipeline: they update
# PRE_T/REF_T in the current shell. Redirect to files instead.
pre() {
    local s rc
    s=$(now)
    timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SO" "$@"
    rc=$?
    PRE_T=$(add "$PRE_T" "$(elapsed "$s" "$(now)")")
    [ $rc -eq 124 ] && echo "timed out after ${TIMEOUT}s: $*" >&2
    return $rc
}

# ref [VAR=value ...] cmd args...   run on glibc malloc (no preload)
ref() {
    local s rc
    s=$(now)
    timeout -k 5 "$TIMEOUT" env -u LD_PRELOAD "$@"
    rc=$?
    REF_T=$(add "$REF_T" "$(elapsed "$s" "$(now)")")
    [ $rc -eq 124 ] && echo "timed out after ${TIMEOUT}s: $*" >&2
    return $rc
}

# plain cmd args...   a helper command that is not under test (no preload)
plain() { env -u LD_PRELOAD "$@"; }

LOG=""    # failure log of the current test
fail() { echo "  $*" >>"$LOG"; return 1; }

# check_stderr FILE...: the preload must not have been ignored by ld.so
check_stderr() {
    local f
    for f in "$@"; do
        if [ -f "$f" ] && grep -q "cannot be preloaded" "$f"; then
            fail "ld.so refused the preload (see $f):"
            sed 's/^/    /' "$f" | head -5 >>"$LOG"
            return 1
        fi
    done
    return 0
}

# show_tail FILE: append the end of FILE to the failure log
show_tail() {
    [ -s "$1" ] || return 0
    echo "  --- tail of $(basename "$1"):" >>"$LOG"
    tail -n 15 "$1" | sed 's/^/    /' >>"$LOG"
}

# -------------------------------------------------------------- programs --

MISSING=""
find_prog() {   # find_prog NAME -> absolute path of a real binary, or ""
    local p
    p=$(command -v "$1" 2>/dev/null) || { MISSING="$MISSING $1"; echo ""; return; }
    readlink -f -- "$p"
}

# Python: prefer the system interpreter; otherwise ask whatever python3 is on
# PATH (possibly a pyenv shim script) where its real binary is, so that the
# preload applies to the interpreter itself.
if [ -x /usr/bin/python3 ]; then
    PY=$(readlink -f /usr/bin/python3)
else
    PY=$(plain python3 -c 'import os, sys; print(os.path.realpath(sys.executable))' 2>/dev/null) || PY=""
    [ -n "$PY" ] || MISSING="$MISSING python3"
fi
GCC=$(find_prog gcc)
GIT=$(find_prog git)
SORT=$(find_prog sort)
for p in timeout awk sha256sum cmp nm readlink mktemp; do
    command -v "$p" >/dev/null 2>&1 || MISSING="$MISSING $p"
done

# --------------------------------------------------------------- preflight --

PREFLIGHT_ERR=""
preflight() {
    local syms s out
    if [ -n "$MISSING" ]; then
        PREFLIGHT_ERR="missing programs:$MISSING"
        return 1
    fi
    syms=$(nm -D --defined-only "$SO" 2>/dev/null | awk '{ print $NF }')
    for s in malloc free calloc realloc; do
        if ! grep -qx "$s" <<<"$syms"; then
            PREFLIGHT_ERR="$SO does not export $s"
            return 1
        fi
    done
    # The library must really get mapped into a preloaded process (ld.so only
    # warns and carries on when a preload cannot be loaded).
    out=$(timeout -k 5 30 env LD_PRELOAD="$SO" cat /proc/self/maps 2>&1)
    if ! grep -qF " $SO" <<<"$out"; then
        PREFLIGHT_ERR="$SO is not mapped into a preloaded cat: $(head -3 <<<"$out")"
        return 1
    fi
    return 0
}

backend_name() {
    local b
    b=$(timeout -k 5 30 env LD_PRELOAD="$SO" "$PY" -c '
import ctypes
f = ctypes.CDLL(None).bestbuddy_backend
f.restype = ctypes.c_char_p
print(f().decode())' 2>/dev/null) || b="? (calling bestbuddy_backend failed)"
    echo "$b"
}

# ================================================================= tests ==

# 1. python3 with PYTHONMALLOC=malloc running workload.py.
test_python3() {
    local d=$TMP/python3 sum_ref sum_pre
    mkdir -p "$d"
    ref PYTHONMALLOC=malloc PYTHONHASHSEED=0 REAL_EXPECT_PRELOAD=0 \
        "$PY" "$HERE/workload.py" >"$d/ref.out" 2>"$d/ref.err" \
        || { fail "glibc reference run failed (rc=$?)"; show_tail "$d/ref.err"; return 1; }
    pre PYTHONMALLOC=malloc PYTHONHASHSEED=0 REAL_EXPECT_PRELOAD="$SO" BESTBUDDY_STATS=1 \
        "$PY" "$HERE/workload.py" >"$d/pre.out" 2>"$d/pre.err"
    local rc=$?
    check_stderr "$d/pre.err" || return 1
    if [ $rc -ne 0 ]; then
        fail "$PY workload.py exited with $rc under preload"
        show_tail "$d/pre.err"
        return 1
    fi
    # BESTBUDDY_STATS=1: the table at exit, its heap walk agreeing with the counters, and
    # its live blocks those the walk finds held by the program plus the large ones.
    local live held large
    live=$(awk '$1 == "live" && $2 == "blocks" { gsub(",", "", $3); print $3 }' "$d/pre.err")
    held=$(sed -n 's/.*the program holds \([0-9,]*\) of them.*/\1/p' "$d/pre.err" | tr -d ,)
    large=$(awk '$1 == "large" && $2 == "blocks" { gsub(",", "", $7); print $7 }' "$d/pre.err")
    if ! grep -q "heap walk: .*: agrees with the counters" "$d/pre.err" || [ -z "$live" ] \
        || [ -z "$held" ] || [ -z "$large" ] || [ "$live" -ne $((held + large)) ]; then
        fail "BESTBUDDY_STATS=1: no table, or its live blocks ($live) are not the walk's ($held) plus the large ones ($large)"
        show_tail "$d/pre.err"
        return 1
    fi
    sum_ref=$(awk '$1 == "checksum" { print $2 }' "$d/ref.out")
    sum_pre=$(awk '$1 == "checksum" { print $2 }' "$d/pre.out")
    [ -n "$sum_ref" ] || { fail "no checksum from glibc run"; return 1; }
    if [ "$sum_ref" != "$sum_pre" ]; then
        fail "checksum mismatch: glibc $sum_ref, preload ${sum_pre:-<none>}"
        show_tail "$d/pre.out"
        return 1
    fi
}

# 2. gcc -O2 (driver, cc1, as, collect2, ld all preloaded) on a known-answer
#    C program: cprog.c plus a few hundred lines of generated functions.
gen_c_functions() {   # prints C code; sets GEN_EXPECT
    local n=$1 i k r x total=0
    for ((i = 0; i < n; i++)); do
        cat <<EOF
struct s$i { int a[$((i % 5 + 1))]; unsigned long long v; };
static unsigned long long g$i(unsigned long long x)
{
    struct s$i s = { {0}, $i };
    for (int k = 0; k < $((i % 7 + 1)); k++) s.v += x * $((2 * i + 1)) + k;
    switch (x % 3) {
    case 0: s.v ^= $i; break;
    case 1: s.v += $((i * i)); break;
    default: s.v -= 1; break;
    }
    s.a[0] = (int)(s.v & 1);
    return s.v + s.a[0];
}
EOF
        x=$i
        r=$i
        for ((k = 0; k < i % 7 + 1; k++)); do r=$((r + x * (2 * i + 1) + k)); done
        case $((x % 3)) in
            0) r=$((r ^ i)) ;;
            1) r=$((r + i * i)) ;;
            *) r=$((r - 1)) ;;
        esac
        r=$((r + (r & 1)))
        total=$((total + r))
    done
    echo "unsigned long long gen_total(void)"
    echo "{"
    echo "    unsigned long long t = 0;"
    for ((i = 0; i < n; i++)); do echo "    t += g$i($i);"; done
    echo "    return t;"
    echo "}"
    GEN_EXPECT=$total
}

test_gcc() {
    local d=$TMP/gcc rc
    mkdir -p "$d"
    cat "$HERE/cprog.c" >"$d/prog.c"
    GEN_EXPECT=""
    gen_c_functions 250 >"$d/gen.c"   # (not in a pipeline: sets GEN_EXPECT)
    cat "$d/gen.c" >>"$d/prog.c"
    cat >"$d/expected" <<EOF
primes_below_2e6 148933
prime_sum_below_2e6 142913828922
prime_10001st 104743
crc32 cbf43926
fib90 2880067194370816120
collatz_longest 837799 525
queens_8 92
queens_10 724
qsort_200000 ok
hash_distinct 70000 2
list_sum 1 50005000
euler1 233168
palindrome 906609
digitsum_2pow1000 1366
lattice_20 137846528820
triangle_500 76576500
lcs 4
gen_total $GEN_EXPECT
EOF
    # Compile and link under preload.
    pre TMPDIR="$d" "$GCC" -O2 -Wall -o "$d/prog" "$d/prog.c" >"$d/gcc.out" 2>"$d/gcc.err"
    rc=$?
    check_stderr "$d/gcc.err" || return 1
    if [ $rc -ne 0 ]; then
        fail "gcc -O2 exited with $rc under preload"
        show_tail "$d/gcc.err"
        return 1
    fi
    if [ -s "$d/gcc.err" ]; then
        fail "gcc printed diagnostics under preload"
        show_tail "$d/gcc.err"
        return 1
    fi
    # Object code must be byte-identical to what gcc produces on glibc.
    pre TMPDIR="$d" "$GCC" -O2 -c -o "$d/pre.o" "$d/prog.c" 2>"$d/gcc-c.err" \
        || { fail "gcc -O2 -c exited with $? under preload"; show_tail "$d/gcc-c.err"; return 1; }
    ref TMPDIR="$d" "$GCC" -O2 -c -o "$d/ref.o" "$d/prog.c" 2>"$d/ref.err" \
        || { fail "gcc -O2 -c failed on glibc"; show_tail "$d/ref.err"; return 1; }
    cmp -s "$d/pre.o" "$d/ref.o" || { fail "object file differs from the glibc-built one"; return 1; }
    # Run the program (not under test: no preload) and check its answers.
    if ! plain "$d/prog" >"$d/run.out" 2>&1; then
        fail "compiled program exited with $?"
        show_tail "$d/run.out"
        return 1
    fi
    if ! cmp -s "$d/run.out" "$d/expected"; then
        fail "compiled program printed wrong answers:"
        diff "$d/expected" "$d/run.out" | head -20 | sed 's/^/    /' >>"$LOG"
        return 1
    fi
}

# 3. git: init, add and commit a few hundred files, modify, commit again,
#    fsck, gc, log -- the whole scenario once under preload and once on glibc;
#    with fixed dates the commit ids must match.
GIT_ENV=(
    GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    GIT_AUTHOR_NAME=bestbuddy GIT_AUTHOR_EMAIL=bb@example.invalid
    GIT_COMMITTER_NAME=bestbuddy GIT_COMMITTER_EMAIL=bb@example.invalid
    GIT_AUTHOR_DATE="2024-01-01T00:00:00 +0000"
    GIT_COMMITTER_DATE="2024-01-01T00:00:00 +0000"
)

make_tree() {   # make_tree DIR: 300 files in nested directories
    local dir=$1 i j sub
    for ((i = 0; i < 300; i++)); do
        sub="$dir/d$((i % 7))/e$((i % 13))"
        [ $((i % 3)) -eq 0 ] && sub="$sub/f$((i % 5))"
        mkdir -p "$sub"
        {
            echo "file $i"
            for ((j = 0; j < i % 40; j++)); do
                echo "line $j of file $i: $((i * 7919 + j * 104729))"
            done
        } >"$sub/file$i.txt"
    done
    # a few larger files
    for ((i = 0; i < 3; i++)); do
        seq $((i * 100000)) $((i * 100000 + 60000)) >"$dir/big$i.txt"
    done
}

modify_tree() {   # modify_tree DIR
    local dir=$1 f n=0 i
    while IFS= read -r f; do
        n=$((n + 1))
        if [ $((n % 5)) -eq 0 ]; then
            echo "modified $n" >>"$f"
        elif [ $((n % 31)) -eq 0 ]; then
            rm -f "$f"
        fi
    done < <(cd "$dir" && find . -name '*.txt' -path './d*' | LC_ALL=C sort | sed "s|^\.|$dir|")
    mkdir -p "$dir/new/sub"
    for ((i = 0; i < 20; i++)); do echo "new file $i" >"$dir/new/sub/n$i.txt"; done
    seq 1 5000 >>"$dir/big1.txt"
}

# git_scenario RUNNER DIR: RUNNER is pre or ref; results land in DIR/*.txt
git_scenario() {
    local run=$1 d=$2 r=$2/repo on
    local -a G=("${GIT_ENV[@]}" "$GIT")
    if [ "$run" = pre ]; then on="under preload"; else on="on glibc"; fi
    mkdir -p "$r"
    $run "${G[@]}" init -q -b main "$r" || { fail "git init failed, exit status $? ($on)"; return 1; }
    cp -R "$TMP/git-src/." "$r/"
    $run "${G[@]}" -C "$r" add -A || { fail "git add failed, exit status $? ($on)"; return 1; }
    $run "${G[@]}" -C "$r" commit -q -m "first commit" || { fail "git commit failed, exit status $? ($on)"; return 1; }
    modify_tree "$r"
    $run "${G[@]}" -C "$r" add -A || { fail "second git add failed, exit status $? ($on)"; return 1; }
    $run "${G[@]}" -C "$r" commit -q -m "second commit" || { fail "second git commit failed, exit status $? ($on)"; return 1; }
    $run "${G[@]}" -C "$r" fsck --full --strict --no-dangling >"$d/fsck1.txt" 2>&1 \
        || { fail "git fsck failed, exit status $? ($on)"; show_tail "$d/fsck1.txt"; return 1; }
    $run "${G[@]}" -C "$r" gc --quiet --prune=now >"$d/gc.txt" 2>&1 \
        || { fail "git gc failed, exit status $? ($on)"; show_tail "$d/gc.txt"; return 1; }
    $run "${G[@]}" -C "$r" fsck --full --strict --no-dangling >"$d/fsck2.txt" 2>&1 \
        || { fail "git fsck after gc failed, exit status $? ($on)"; show_tail "$d/fsck2.txt"; return 1; }
    $run "${G[@]}" -C "$r" log --format='%H %s' >"$d/log.txt" || { fail "git log failed, exit status $? ($on)"; return 1; }
    $run "${G[@]}" -C "$r" ls-files >"$d/ls-files.txt" || { fail "git ls-files failed, exit status $? ($on)"; return 1; }
    $run "${G[@]}" -C "$r" diff --stat HEAD~1 HEAD >"$d/diffstat.txt" || { fail "git diff failed, exit status $? ($on)"; return 1; }
    $run "${G[@]}" -C "$r" status --porcelain >"$d/status.txt" || { fail "git status failed, exit status $? ($on)"; return 1; }
    $run "${G[@]}" -C "$r" cat-file -p HEAD:big1.txt >"$d/big1.txt" || { fail "git cat-file failed, exit status $? ($on)"; return 1; }
    $run "${G[@]}" -C "$r" count-objects -v >"$d/count.txt" || { fail "git count-objects failed, exit status $? ($on)"; return 1; }
    cmp -s "$d/big1.txt" "$r/big1.txt" || { fail "blob content differs from work tree ($on)"; return 1; }
    [ ! -s "$d/status.txt" ] || { fail "work tree not clean after commit ($on)"; show_tail "$d/status.txt"; return 1; }
    [ "$(wc -l <"$d/log.txt")" -eq 2 ] || { fail "expected 2 commits in git log ($on)"; show_tail "$d/log.txt"; return 1; }
    grep -q '^in-pack: [1-9]' "$d/count.txt" || { fail "gc did not pack objects ($on)"; show_tail "$d/count.txt"; return 1; }
}

test_git() {
    local d=$TMP/git nfiles
    mkdir -p "$d/pre" "$d/ref" "$TMP/git-src"
    make_tree "$TMP/git-src"
    nfiles=$(cd "$TMP/git-src" && find . -type f | wc -l)
    git_scenario ref "$d/ref" || return 1
    git_scenario pre "$d/pre" 2>"$d/pre.err"
    local rc=$?
    check_stderr "$d/pre.err" || return 1
    [ $rc -eq 0 ] || { show_tail "$d/pre.err"; return 1; }
    # ls-files must list exactly the files of the work tree
    local f k tracked present
    for k in ref pre; do
        tracked=$(wc -l <"$d/$k/ls-files.txt")
        present=$(cd "$d/$k/repo" && find . -path ./.git -prune -o -type f -print | wc -l)
        if [ "$tracked" -ne "$present" ] || [ "$tracked" -lt "$nfiles" ]; then
            fail "$k: git ls-files lists $tracked files, work tree has $present (started with $nfiles)"
            return 1
        fi
    done
    for f in log.txt ls-files.txt diffstat.txt; do
        if ! cmp -s "$d/ref/$f" "$d/pre/$f"; then
            fail "git $f differs between glibc and preload:"
            diff "$d/ref/$f" "$d/pre/$f" | head -10 | sed 's/^/    /' >>"$LOG"
            return 1
        fi
    done
}

# 4. sort: ~60 MB of lines, a default in-memory sort (threads) and a numeric
#    key sort with a small buffer (external merge through temp files).
test_sort() {
    local d=$TMP/sort n
    mkdir -p "$d/tpre" "$d/tref"
    plain awk 'BEGIN {
        srand(20240601)
        letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        for (i = 0; i < 2000000; i++) {
            printf "%08x %d %s\n", int(rand() * 4294967296),
                int(rand() * 1000000000) - 500000000,
                substr(letters, 1 + int(rand() * 30), int(rand() * 24))
        }
    }' >"$d/in.txt" || { fail "generating input failed"; return 1; }
    n=$(wc -l <"$d/in.txt")
    pre LC_ALL=C "$SORT" -o "$d/pre1.txt" "$d/in.txt" 2>"$d/pre1.err" \
        || { check_stderr "$d/pre1.err"; fail "sort exited with $? under preload"; show_tail "$d/pre1.err"; return 1; }
    pre LC_ALL=C "$SORT" -n -k2,2 -S 8M --parallel=2 -T "$d/tpre" -o "$d/pre2.txt" "$d/in.txt" 2>"$d/pre2.err" \
        || { check_stderr "$d/pre2.err"; fail "sort -n exited with $? under preload"; show_tail "$d/pre2.err"; return 1; }
    check_stderr "$d/pre1.err" "$d/pre2.err" || return 1
    ref LC_ALL=C "$SORT" -o "$d/ref1.txt" "$d/in.txt" || { fail "glibc sort failed"; return 1; }
    ref LC_ALL=C "$SORT" -n -k2,2 -S 8M --parallel=2 -T "$d/tref" -o "$d/ref2.txt" "$d/in.txt" \
        || { fail "glibc sort -n failed"; return 1; }
    plain env LC_ALL=C "$SORT" -c "$d/pre1.txt" 2>"$d/c1.err" || { fail "preload sort output is not sorted"; show_tail "$d/c1.err"; return 1; }
    plain env LC_ALL=C "$SORT" -c -n -k2,2 "$d/pre2.txt" 2>"$d/c2.err" || { fail "preload sort -n output is not sorted"; show_tail "$d/c2.err"; return 1; }
    [ "$(wc -l <"$d/pre1.txt")" -eq "$n" ] || { fail "sort output has a different line count"; return 1; }
    cmp -s "$d/pre1.txt" "$d/ref1.txt" || { fail "sort output differs from glibc sort output"; return 1; }
    cmp -s "$d/pre2.txt" "$d/ref2.txt" || { fail "sort -n output differs from glibc sort -n output"; return 1; }
}

# ================================================================== main ==

echo "real-program tests: $SO"
passed=0
failed=0
if ! preflight; then
    echo "preflight FAILED: $PREFLIGHT_ERR"
    for t in $ONLY; do
        echo "FAIL $t (not run)"
        failed=$((failed + 1))
    done
    echo "real: $passed passed, $failed failed"
    exit 1
fi
echo "backend: $(backend_name)"

for t in $ONLY; do
    case $t in
        python3 | gcc | git | sort) ;;
        *) echo "run.sh: unknown test '$t'" >&2; exit 2 ;;
    esac
    LOG=$TMP/$t.log
    : >"$LOG"
    PRE_T=0
    REF_T=0
    start=$(now)
    "test_$t" >>"$LOG" 2>&1
    rc=$?
    wall=$(elapsed "$start" "$(now)")
    if [ $rc -eq 0 ]; then
        status=PASS
        passed=$((passed + 1))
    else
        status=FAIL
        failed=$((failed + 1))
        [ -s "$LOG" ] || echo "  (test failed without a message)" >"$LOG"
    fi
    printf '%s %-8s %6.2fs  (under preload %.2fs, glibc reference %.2fs)\n' \
        "$status" "$t" "$wall" "$PRE_T" "$REF_T"
    [ $status = PASS ] || cat "$LOG"
done

echo "real: $passed passed, $failed failed"
[ $failed -eq 0 ]
