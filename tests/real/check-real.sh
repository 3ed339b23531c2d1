#!/usr/bin/env bash
# Real programs on bestbuddy: `make check-real` runs this for both heaps.
#
#   tests/real/check-real.sh path/to/libbestbuddy.so
#
# Each program runs with LD_PRELOAD set to the given library (only on the command under
# test) and checks its own result:
#
#   python  /usr/bin/python3 (PYTHONMALLOC=malloc) running some of its own test suite,
#           in a process that first checks that the library is mapped and names the heap
#   sqlite  sqlite3 building a 200k-row table with indexes (sqlite.sql): output equal to a
#           glibc run, and known counts and sums
#   redis   redis-server: a bounded redis-benchmark, then a known data set written through a
#           pipeline and read back (DBSIZE, MGET checksum, lists, hashes), UNLINK, then
#           FLUSHALL ASYNC (the data set freed on redis's lazyfree thread), SHUTDOWN: exit
#           status 0 and no message from the library
#   git     init, commit, fsck, gc: tests/real/run.sh's git test, called as it is
#   cxx     g++ compiling cxxprog.cpp (std::map, std::string, threads) and the program
#           run: its self-check, and output equal to a glibc run
#   xz      xz -T2 round trip of ~50 MB of generated data: checksums equal, and glibc's
#           xz accepts the compressed file
#
# That the preload took effect is checked for every program: ld.so's LD_DEBUG=files log of
# each process (sqlite, cxx, xz), /proc/PID/maps (redis, python) or run.sh's own check (git).
# Whatever is missing (sqlite3, redis-server, redis-tools, xz-utils, g++, git, python's test
# package) is installed with apt-get when running as root on Debian.
#
# Prints PASS/FAIL per program with wall times and ends with "check-real: N passed, M failed";
# the exit status is non-zero if any program failed.
#
# Environment:
#   REAL_TIMEOUT      seconds allowed for each single command (default 300)
#   REAL_KEEP=1       keep the temporary directory (its path is printed)
#   CHECK_REAL_ONLY   space-separated subset of: python sqlite redis git cxx xz
#   CHECK_REAL_PY_TESTS   python test modules (default: a dozen that take ~40 s in all)
#   CHECK_REAL_XZ_MB  size of the xz input in MiB (default 50)
#   CHECK_REAL_NO_INSTALL=1   never run apt-get
#   CHECK_REAL_VERBOSE=1  print every test's notes (benchmark rates, redis INFO), not only failures

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ $# -ne 1 ]; then
    echo "usage: $0 path/to/libbestbuddy.so" >&2
    exit 2
fi
if [ ! -f "$1" ]; then
    echo "check-real.sh: no such file: $1" >&2
    exit 2
fi
SO=$(readlink -f -- "$1")
TIMEOUT=${REAL_TIMEOUT:-300}
ONLY=${CHECK_REAL_ONLY:-python sqlite redis git cxx xz}
PY_TESTS=${CHECK_REAL_PY_TESTS:-test_dict test_list test_json test_threading test_re test_set test_collections test_deque test_thread test_gc test_unicode test_bytes}
XZ_MB=${CHECK_REAL_XZ_MB:-50}
PY=/usr/bin/python3

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bestbuddy-check-real.XXXXXX") || exit 2
REDIS_PID=""
cleanup() {
    if [ -n "$REDIS_PID" ] && kill -0 "$REDIS_PID" 2>/dev/null; then
        kill -9 "$REDIS_PID" 2>/dev/null
    fi
    if [ "${REAL_KEEP:-0}" = 1 ]; then
        echo "kept $TMP"
    else
        rm -rf -- "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers --

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# pre [VAR=value ...] cmd args...   run under LD_PRELOAD=$SO
pre() {
    local rc
    timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SO" "$@"
    rc=$?
    [ $rc -eq 124 ] && echo "timed out after ${TIMEOUT}s: $*" >&2
    return $rc
}

# pre_traced DIR [VAR=value ...] cmd args...: pre, with ld.so logging every process's
# loaded objects to DIR/ld.PID (see loaded_everywhere)
pre_traced() {
    local dir=$1
    shift
    mkdir -p "$dir"
    pre LD_DEBUG=files LD_DEBUG_OUTPUT="$dir/ld" "$@"
}

# ref [VAR=value ...] cmd args...   run on glibc malloc (no preload)
ref() {
    local rc
    timeout -k 5 "$TIMEOUT" env -u LD_PRELOAD "$@"
    rc=$?
    [ $rc -eq 124 ] && echo "timed out after ${TIMEOUT}s: $*" >&2
    return $rc
}

# plain cmd args...   a helper command that is not under test (no preload)
plain() { env -u LD_PRELOAD "$@"; }

LOG=""
fail() { echo "  $*" >>"$LOG"; return 1; }

show_tail() {   # show_tail FILE [LINES]
    [ -s "$1" ] || return 0
    echo "  --- tail of $(basename "$1"):" >>"$LOG"
    tail -n "${2:-15}" "$1" | sed 's/^/    /' >>"$LOG"
}

# loaded_everywhere DIR WHAT: every process logged under DIR ran the library's initialiser
loaded_everywhere() {
    local dir=$1 what=$2 f n=0 bad=0
    for f in "$dir"/ld.*; do
        [ -e "$f" ] || continue
        n=$((n + 1))
        grep -qF "calling init: $SO" "$f" || { bad=$((bad + 1)); echo "  not preloaded: $f" >>"$LOG"; }
    done
    [ $n -gt 0 ] || { fail "$what: no ld.so log: cannot tell whether the preload took effect"; return 1; }
    [ $bad -eq 0 ] || { fail "$what: $bad of $n processes ran without $SO"; return 1; }
    echo "  $what: $SO loaded in all $n processes" >>"$LOG"
}

# no_bestbuddy_errors FILE...: no message from the library, no refused preload
no_bestbuddy_errors() {
    local f
    for f in "$@"; do
        [ -f "$f" ] || continue
        if grep -qE "^bestbuddy:|cannot be preloaded" "$f"; then
            fail "$(basename "$f") has errors:"
            grep -E "^bestbuddy:|cannot be preloaded" "$f" | head -5 | sed 's/^/    /' >>"$LOG"
            return 1
        fi
    done
}

# ------------------------------------------------- what each test needs --

py_minor() { plain "$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }

# missing_for TEST: prints the Debian packages TEST lacks
missing_for() {
    case $1 in
        python)
            if [ ! -x "$PY" ]; then
                echo python3
            elif ! plain "$PY" -c 'import test.libregrtest, test.test_dict' 2>/dev/null; then
                echo "libpython$(py_minor)-testsuite"
            fi ;;
        sqlite) command -v sqlite3 >/dev/null || echo sqlite3 ;;
        redis)
            command -v redis-server >/dev/null || echo redis-server
            { command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null; } || echo redis-tools
            [ -x "$PY" ] || echo python3 ;;   # finds a free port
        git)   # run.sh checks for all of its programs, whichever it runs
            command -v git >/dev/null || echo git
            command -v gcc >/dev/null || echo gcc
            [ -x "$PY" ] || echo python3 ;;
        cxx) command -v g++ >/dev/null || echo g++ ;;
        xz)
            command -v xz >/dev/null || echo xz-utils
            [ -x "$PY" ] || echo python3 ;;
    esac
}

install_missing() {
    local t pkgs=()
    for t in $ONLY; do
        # shellcheck disable=SC2207
        pkgs+=($(missing_for "$t"))
    done
    [ ${#pkgs[@]} -gt 0 ] || return 0
    if [ "${CHECK_REAL_NO_INSTALL:-0}" = 1 ] || ! command -v apt-get >/dev/null || [ "$(id -u)" -ne 0 ]; then
        echo "missing (not installing: need root and apt-get): ${pkgs[*]}"
        return 0
    fi
    echo "installing: ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    plain apt-get install -y -qq "${pkgs[@]}" >"$TMP/apt.log" 2>&1 ||
        { plain apt-get update -qq >>"$TMP/apt.log" 2>&1 &&
          plain apt-get install -y -qq "${pkgs[@]}" >>"$TMP/apt.log" 2>&1; } ||
        { echo "apt-get install failed:"; tail -5 "$TMP/apt.log"; }
    # python3 was just installed: now its test package can be named
    if [[ " $ONLY " == *" python "* ]] && [ -n "$(missing_for python)" ] && [ -x "$PY" ]; then
        plain apt-get install -y -qq "$(missing_for python)" >>"$TMP/apt.log" 2>&1 ||
            { echo "apt-get install failed:"; tail -5 "$TMP/apt.log"; }
    fi
    hash -r
}

# ================================================================= tests ==

# 1. python3 running part of its own test suite.
PY_MAIN='
import ctypes, runpy, sys
so = sys.argv[1]
with open("/proc/self/maps") as f:
    if not any(line.rstrip("\n").endswith(" " + so) for line in f):
        sys.exit("check-real: %s is not mapped into python3" % so)
backend = ctypes.CDLL(None).bestbuddy_backend
backend.restype = ctypes.c_char_p
print("check-real: python3 runs on bestbuddy, heap %s" % backend().decode(), flush=True)
sys.argv = ["python3 -m test"] + sys.argv[2:]
runpy.run_module("test", run_name="__main__", alter_sys=True)
'
test_python() {
    local d=$TMP/python rc
    mkdir -p "$d"
    # shellcheck disable=SC2086
    (cd "$d" && pre PYTHONMALLOC=malloc "$PY" -c "$PY_MAIN" "$SO" --timeout 600 $PY_TESTS) >"$d/pre.out" 2>&1
    rc=$?
    grep '^check-real:' "$d/pre.out" | sed 's/^/  /' >>"$LOG"
    no_bestbuddy_errors "$d/pre.out" || { show_tail "$d/pre.out"; return 1; }
    grep -q '^check-real: python3 runs on bestbuddy' "$d/pre.out" ||
        { fail "python3 did not run on the library"; show_tail "$d/pre.out"; return 1; }
    if [ $rc -ne 0 ] || ! grep -q 'Tests result: SUCCESS' "$d/pre.out"; then
        fail "python3 -m test failed under preload (exit status $rc)"
        show_tail "$d/pre.out" 25
        # Does the same fail on glibc? (tells a bestbuddy bug from a broken test setup)
        # shellcheck disable=SC2086
        if (cd "$d" && ref PYTHONMALLOC=malloc "$PY" -m test --timeout 600 $PY_TESTS) >"$d/ref.out" 2>&1; then
            fail "the same tests pass on glibc's malloc"
        else
            fail "the same tests fail on glibc's malloc too (see its output below)"
            show_tail "$d/ref.out"
        fi
        return 1
    fi
    echo "  $(grep -E '^(All )?[0-9]+ tests? OK' "$d/pre.out" | tail -1)" >>"$LOG"
}

# 2. sqlite3: 200k rows, two indexes, queries; compared with glibc and known values.
test_sqlite() {
    local d=$TMP/sqlite sumk rc
    mkdir -p "$d"
    pre_traced "$d/ld" sqlite3 -batch -bail "$d/pre.db" <"$HERE/sqlite.sql" >"$d/pre.out" 2>"$d/pre.err"
    rc=$?
    no_bestbuddy_errors "$d/pre.err" || return 1
    [ $rc -eq 0 ] || { fail "sqlite3 exited with $rc under preload"; show_tail "$d/pre.err"; return 1; }
    loaded_everywhere "$d/ld" sqlite3 || return 1
    ref sqlite3 -batch -bail "$d/ref.db" <"$HERE/sqlite.sql" >"$d/ref.out" 2>"$d/ref.err" ||
        { fail "sqlite3 failed on glibc (exit status $?)"; show_tail "$d/ref.err"; return 1; }
    if ! cmp -s "$d/pre.out" "$d/ref.out"; then
        fail "sqlite3 output differs from the glibc run:"
        diff "$d/ref.out" "$d/pre.out" | head -10 | sed 's/^/    /' >>"$LOG"
        return 1
    fi
    sumk=$(awk 'BEGIN { s = 0; for (i = 1; i <= 200000; i++) s += (i * 7919) % 1000003; printf "%.0f", s }')
    grep -q "^count|200000|$sumk|" "$d/pre.out" || { fail "expected count|200000|$sumk|..."; show_tail "$d/pre.out"; return 1; }
    grep -q '^after|180000|' "$d/pre.out" || { fail "expected after|180000|... (rows left after the delete)"; show_tail "$d/pre.out"; return 1; }
    grep -q '^group|97|180000$' "$d/pre.out" || { fail "expected group|97|180000"; show_tail "$d/pre.out"; return 1; }
    [ "$(tail -n 1 "$d/pre.out")" = ok ] || { fail "integrity_check did not say ok"; show_tail "$d/pre.out"; return 1; }
}

# 3. redis-server under preload: benchmark, a known data set, clean shutdown.
NKEYS=10000
gen_redis_data() {   # gen_redis_data RESP_FILE EXPECTED_MGET_FILE
    LC_ALL=C awk -v nkeys=$NKEYS -v resp="$1" -v mget="$2" '
    function bulk(s) { return "$" length(s) "\r\n" s "\r\n" }
    function val(i,   s, r, n, k) {
        r = substr("0123456789abcdefghijklmnopqrstuvwxyz", 1 + i % 36)
        n = 1 + i % 23
        if (i % 997 == 0) n = 3000            # a few values of 30-100 KB
        s = i ":"
        for (k = 0; k < n; k++) s = s r
        return s
    }
    BEGIN {
        for (i = 0; i < nkeys; i++) {
            v = val(i)
            printf "*3\r\n%s%s%s", bulk("SET"), bulk("key:" i), bulk(v) >resp
            print v >mget
        }
        for (j = 0; j < 100; j++) {
            printf "*%d\r\n%s%s", 102, bulk("RPUSH"), bulk("list:" j) >resp
            for (k = 0; k < 100; k++) printf "%s", bulk("e" j "-" k) >resp
            printf "*%d\r\n%s%s", 102, bulk("HSET"), bulk("hash:" j) >resp
            for (k = 0; k < 50; k++) printf "%s%s", bulk("f" k), bulk("h" j "." k) >resp
        }
    }'
}

redis_cli() { plain timeout -k 5 60 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# expect WHAT WANT GOT
expect() {
    [ "$2" = "$3" ] || { fail "$1: expected '$2', got '$(head -c 200 <<<"$3")'"; return 1; }
}

test_redis() {
    local d=$TMP/redis i rc keys want got server
    mkdir -p "$d"
    server=$(command -v redis-server)
    REDIS_PORT=$(plain "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
        { fail "could not find a free port"; return 1; }
    env LD_PRELOAD="$SO" "$server" --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --dir "$d" --logfile "$d/redis.log" --daemonize no \
        >"$d/server.out" 2>&1 &
    REDIS_PID=$!
    for ((i = 0; i < 100; i++)); do
        [ "$(redis_cli ping 2>/dev/null)" = PONG ] && break
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.2
    done
    if [ "$(redis_cli ping 2>/dev/null)" != PONG ]; then
        fail "redis-server did not answer on port $REDIS_PORT"
        show_tail "$d/server.out"; show_tail "$d/redis.log"
        return 1
    fi
    if ! grep -qF " $SO" "/proc/$REDIS_PID/maps"; then
        fail "$SO is not mapped into redis-server (pid $REDIS_PID)"
        return 1
    fi
    echo "  redis-server (pid $REDIS_PID, port $REDIS_PORT) has $SO mapped" >>"$LOG"

    # a bounded benchmark: 50 clients, 16 commands per round trip, random keys, 100-byte values
    plain timeout -k 5 "$TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -n 50000 -P 16 -r 100000 -d 100 \
        -q -t set,get,incr,lpush,rpop,sadd,hset,spop,zadd,lrange_100 >"$d/bench.out" 2>&1
    rc=$?
    tr '\r' '\n' <"$d/bench.out" | grep -E 'requests per second' | sed 's/^/  /' >"$d/bench.txt"
    [ $rc -eq 0 ] || { fail "redis-benchmark exited with $rc"; show_tail "$d/bench.txt"; return 1; }
    [ "$(wc -l <"$d/bench.txt")" -ge 10 ] || { fail "redis-benchmark did not report every test"; show_tail "$d/bench.txt"; return 1; }
    cat "$d/bench.txt" >>"$LOG"
    got=$(redis_cli flushall sync) && expect "FLUSHALL" OK "$got" || return 1

    # a known data set through a pipeline, read back
    gen_redis_data "$d/data.resp" "$d/mget.expected"
    redis_cli --pipe <"$d/data.resp" >"$d/pipe.out" 2>&1 ||
        { fail "redis-cli --pipe failed"; show_tail "$d/pipe.out"; return 1; }
    grep -q "errors: 0, replies: $((NKEYS + 200))" "$d/pipe.out" ||
        { fail "pipeline: not all replies were OK"; show_tail "$d/pipe.out"; return 1; }
    got=$(redis_cli dbsize) && expect DBSIZE $((NKEYS + 200)) "$got" || return 1
    keys=$(seq -f 'key:%.0f' 0 $((NKEYS - 1)))
    # shellcheck disable=SC2086
    redis_cli --raw mget $keys >"$d/mget.out" || { fail "MGET failed"; return 1; }
    want=$(sha256sum <"$d/mget.expected") got=$(sha256sum <"$d/mget.out")
    expect "MGET of all $NKEYS keys (sha256)" "$want" "$got" || return 1
    for i in 0 37 99; do
        want=$(seq -f "e$i-%.0f" 0 99)
        got=$(redis_cli --raw lrange "list:$i" 0 -1) && expect "LRANGE list:$i" "$want" "$got" || return 1
        got=$(redis_cli hlen "hash:$i") && expect "HLEN hash:$i" 50 "$got" || return 1
        got=$(redis_cli --raw hget "hash:$i" f17) && expect "HGET hash:$i f17" "h$i.17" "$got" || return 1
    done
    # UNLINK the even keys
    for ((i = 0; i < NKEYS; i += 2)); do printf '*2\r\n$6\r\nUNLINK\r\n$%d\r\nkey:%d\r\n' $((4 + ${#i})) $i; done >"$d/unlink.resp"
    redis_cli --pipe <"$d/unlink.resp" >"$d/pipe2.out" 2>&1 && grep -q "errors: 0, replies: $((NKEYS / 2))" "$d/pipe2.out" ||
        { fail "UNLINK pipeline failed"; show_tail "$d/pipe2.out"; return 1; }
    got=$(redis_cli dbsize) && expect "DBSIZE after UNLINK" $((NKEYS / 2 + 200)) "$got" || return 1
    got=$(redis_cli --raw get key:1993) && expect "GET key:1993" "$(sed -n 1994p "$d/mget.expected")" "$got" || return 1
    got=$(redis_cli --raw exists key:1994) && expect "EXISTS key:1994" 0 "$got" || return 1
    # jemalloc-only commands: they act on libjemalloc's own, nearly empty heap
    redis_cli memory purge >"$d/purge.out" 2>&1
    echo "  MEMORY PURGE: $(head -1 "$d/purge.out")" >>"$LOG"
    redis_cli info memory | tr -d '\r' | grep -E '^(used_memory|mem_allocator|allocator_allocated|allocator_resident|mem_fragmentation_ratio):' |
        sed 's/^/  INFO /' >>"$LOG"
    # FLUSHALL ASYNC: the whole data set is freed on redis's lazyfree (bio) thread
    got=$(redis_cli flushall async) && expect "FLUSHALL ASYNC" OK "$got" || return 1
    got=$(redis_cli dbsize) && expect "DBSIZE after FLUSHALL" 0 "$got" || return 1

    # clean shutdown: exit status 0
    redis_cli shutdown nosave >"$d/shutdown.out" 2>&1
    for ((i = 0; i < 150; i++)); do
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$REDIS_PID" 2>/dev/null; then
        kill -9 "$REDIS_PID"
        fail "redis-server did not exit within 30 s of SHUTDOWN"
        return 1
    fi
    wait "$REDIS_PID"
    rc=$?
    REDIS_PID=""
    no_bestbuddy_errors "$d/server.out" "$d/redis.log" || return 1
    if [ $rc -ne 0 ]; then
        fail "redis-server exited with status $rc"
        show_tail "$d/server.out"; show_tail "$d/redis.log"
        return 1
    fi
    grep -q 'ready to exit, bye bye' "$d/redis.log" || { fail "redis.log does not show a clean exit"; show_tail "$d/redis.log"; return 1; }
}

# 4. git: tests/real/run.sh's test, called as it is (it checks the preload itself).
test_git() {
    REAL_ONLY=git REAL_TIMEOUT="$TIMEOUT" bash "$HERE/run.sh" "$SO" >"$TMP/git.out" 2>&1
    local rc=$?
    sed 's/^/  /' "$TMP/git.out" >>"$LOG"
    [ $rc -eq 0 ] || { fail "tests/real/run.sh (git) failed with $rc"; return 1; }
}

# 5. g++ (driver, cc1plus, as, ld under preload) and a threaded C++ program.
test_cxx() {
    local d=$TMP/cxx rc
    mkdir -p "$d"
    pre_traced "$d/ldc" g++ -O2 -std=c++17 -pthread -o "$d/prog" "$HERE/cxxprog.cpp" >"$d/cc.out" 2>&1
    rc=$?
    no_bestbuddy_errors "$d/cc.out" || return 1
    [ $rc -eq 0 ] || { fail "g++ exited with $rc under preload"; show_tail "$d/cc.out"; return 1; }
    loaded_everywhere "$d/ldc" "g++ and its subprocesses" || return 1
    pre_traced "$d/ldr" "$d/prog" >"$d/pre.out" 2>"$d/pre.err"
    rc=$?
    no_bestbuddy_errors "$d/pre.err" || return 1
    [ $rc -eq 0 ] || { fail "the C++ program exited with $rc under preload"; show_tail "$d/pre.out"; show_tail "$d/pre.err"; return 1; }
    loaded_everywhere "$d/ldr" "the C++ program" || return 1
    ref "$d/prog" >"$d/ref.out" 2>"$d/ref.err" || { fail "the C++ program failed on glibc ($?)"; show_tail "$d/ref.out"; return 1; }
    grep -qE '^cxx [0-9]+ [0-9]+$' "$d/pre.out" || { fail "unexpected output"; show_tail "$d/pre.out"; return 1; }
    cmp -s "$d/pre.out" "$d/ref.out" || { fail "output differs from glibc: '$(cat "$d/pre.out")' vs '$(cat "$d/ref.out")'"; return 1; }
    echo "  $(cat "$d/pre.out")" >>"$LOG"
}

# 6. xz -T2 round trip of generated data.
test_xz() {
    local d=$TMP/xz rc sum_in sum_out
    mkdir -p "$d"
    plain "$PY" -c '
import random, sys
r = random.Random(20240601)
out = sys.stdout.buffer
words = [("w%d" % i).encode() * (1 + i % 5) for i in range(5000)]
lines = [b" ".join(r.choice(words) for _ in range(200)) + b"\n" for _ in range(2000)]
n, target = 0, int(sys.argv[1]) << 20
while n < target:
    x = r.random()
    if x < 0.02:
        chunk = r.randbytes(4096)
    elif x < 0.3:
        chunk = b" ".join(r.choice(words) for _ in range(200)) + b"\n"
    else:
        chunk = r.choice(lines)
    out.write(chunk[:target - n])
    n += min(len(chunk), target - n)
' "$XZ_MB" >"$d/in" || { fail "generating the input failed"; return 1; }
    sum_in=$(sha256sum <"$d/in")
    pre_traced "$d/ldc" xz -T2 -0 --block-size=4MiB -c "$d/in" >"$d/in.xz" 2>"$d/c.err"
    rc=$?
    no_bestbuddy_errors "$d/c.err" || return 1
    [ $rc -eq 0 ] || { fail "xz -T2 exited with $rc under preload"; show_tail "$d/c.err"; return 1; }
    loaded_everywhere "$d/ldc" "xz (compress)" || return 1
    plain xz -t "$d/in.xz" 2>"$d/t.err" || { fail "glibc's xz -t rejects the compressed file"; show_tail "$d/t.err"; return 1; }
    pre_traced "$d/ldd" xz -T2 -d -c "$d/in.xz" >"$d/out" 2>"$d/d.err"
    rc=$?
    no_bestbuddy_errors "$d/d.err" || return 1
    [ $rc -eq 0 ] || { fail "xz -T2 -d exited with $rc under preload"; show_tail "$d/d.err"; return 1; }
    loaded_everywhere "$d/ldd" "xz (decompress)" || return 1
    sum_out=$(sha256sum <"$d/out")
    [ "$sum_in" = "$sum_out" ] || { fail "round trip changed the data: $sum_in -> $sum_out"; return 1; }
    echo "  $XZ_MB MiB -> $(stat -c %s "$d/in.xz") bytes -> same sha256" >>"$LOG"
}

# ================================================================== main ==

echo "check-real: $SO"
for t in $ONLY; do
    case $t in
        python | sqlite | redis | git | cxx | xz) ;;
        *) echo "check-real.sh: unknown test '$t'" >&2; exit 2 ;;
    esac
done
install_missing

passed=0
failed=0
# ld.so ignores a preload it cannot load (with a warning) and runs the program anyway
maps=$(timeout -k 5 30 env LD_PRELOAD="$SO" cat /proc/self/maps 2>&1)
if ! grep -qF " $SO" <<<"$maps"; then
    echo "FAIL: $SO is not mapped into a preloaded cat; nothing run"
    exit 1
fi

for t in $ONLY; do
    LOG=$TMP/$t.log
    : >"$LOG"
    start=$(now)
    miss=$(missing_for "$t" | tr '\n' ' ')
    if [ -n "${miss// /}" ]; then
        echo "  not run: missing $miss" >"$LOG"
        rc=1
    else
        "test_$t" >>"$LOG" 2>&1
        rc=$?
    fi
    wall=$(elapsed "$start" "$(now)")
    if [ $rc -eq 0 ]; then
        status=PASS
        passed=$((passed + 1))
    else
        status=FAIL
        failed=$((failed + 1))
        [ -s "$LOG" ] || echo "  (test failed without a message)" >"$LOG"
    fi
    printf '%s %-7s %7.2fs\n' "$status" "$t" "$wall"
    if [ $status = FAIL ] || [ "${CHECK_REAL_VERBOSE:-0}" = 1 ]; then cat "$LOG"; fi
done

echo "check-real: $passed passed, $failed failed ($(basename "$(dirname "$SO")"))"
[ $failed -eq 0 ]
