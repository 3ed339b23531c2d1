#!/usr/bin/env bash
# tests/install/run.sh (make check-install): what `make install` gives a user, used as a user
# would, from a temporary DESTDIR.
#
# 1. `make install PREFIX=/opt/bestbuddy-check DESTDIR=<tmp>` (make must have built out/):
#    exactly the expected files, the SONAME links, each library's SONAME;
# 2. for each heap (bestbuddy, bestbuddy-buddy): tests/install/app.c built with
#    `cc app.c $(pkg-config --cflags --libs NAME)` and run with LD_LIBRARY_PATH into the
#    DESTDIR, and with `cc -static app.c $(pkg-config --static --cflags --libs NAME)`; each
#    checks bestbuddy_backend(), that bestbuddy_stats_get counts its malloc, and what
#    /proc/self/maps holds;
# 3. the installed `bestbuddy run` (both heaps) on app.c built with libc alone, `--stats`,
#    `--trace` read by the installed bestbuddy-trace, and `bestbuddy replay` running its
#    installed replayer under both installed libraries;
# 4. both man pages render with `man --warnings` without a warning, and name what they must
#    (every option of the tool's --help; every function, struct field and BESTBUDDY_*
#    variable of the library, and its misuse messages);
# 5. `make uninstall` with the same variables leaves no file in the DESTDIR.
#
# Installs pkg-config (which the test cannot do without), man-db and groff-base from Debian
# when missing and running as root; without man, step 4 is skipped and says so.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# LD_PRELOAD only ever goes on the command under test.
unset LD_PRELOAD

# Not /usr/local: nothing may assume the default prefix.
prefix=/opt/bestbuddy-check
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bestbuddy-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tmp=$(realpath "$tmp")  # /proc/self/maps shows real paths
dest=$tmp/dest
inst=$dest$prefix
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
major=${version%%.*}
CC=${CC:-cc}
CFLAGS="-O2 -fno-builtin -Wall -Werror"

fail() {
    echo "check-install: FAIL: $*" >&2
    exit 1
}
pass() { echo "check-install: PASS: $*"; }

# ------------------------------------------------------------------ what the test needs
need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v groff >/dev/null 2>&1 || need+=(groff-base)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "check-install: installing ${need[*]} from Debian"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null ||
            echo "check-install: apt-get install ${need[*]} failed"
    fi
fi
command -v pkg-config >/dev/null 2>&1 ||
    fail "pkg-config is missing and could not be installed (apt-get install pkg-config)"

# ------------------------------------------------------------------------------ install
make_install() {
    make -C "$root" --no-print-directory "$1" PREFIX="$prefix" DESTDIR="$dest" >"$tmp/$1.log" 2>&1 ||
        { cat "$tmp/$1.log" >&2; fail "make $1 PREFIX=$prefix DESTDIR=$dest"; }
}
make_install install
# A second install over the first must work too (an upgrade in place).
make_install install

expected=$(
    for b in bestbuddy bestbuddy-replayer bestbuddy-trace; do echo "bin/$b"; done
    for l in libbestbuddy libbestbuddy-buddy; do
        printf '%s\n' "lib/$l.so.$version" "lib/$l.so.$major" "lib/$l.so" "lib/$l.a" \
            "lib/pkgconfig/${l#lib}.pc"
    done
    echo include/bestbuddy.h
    echo share/man/man1/bestbuddy.1
    echo share/man/man3/bestbuddy.3
)
got=$(cd "$inst" && find . ! -type d | sed 's|^\./||')
if [ "$(sort <<<"$expected")" != "$(sort <<<"$got")" ]; then
    diff <(sort <<<"$expected") <(sort <<<"$got") >&2 || true
    fail "make install did not install exactly the expected files (< expected, > installed)"
fi
[ -z "$(cd "$dest" && find . ! -type d ! -path "./${prefix#/}/*")" ] || fail "files outside PREFIX"
for l in libbestbuddy libbestbuddy-buddy; do
    [ "$(readlink "$inst/lib/$l.so.$major")" = "$l.so.$version" ] || fail "$l.so.$major -> $l.so.$version"
    [ "$(readlink "$inst/lib/$l.so")" = "$l.so.$major" ] || fail "$l.so -> $l.so.$major"
    soname=$(readelf -d "$inst/lib/$l.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
    [ "$soname" = "$l.so.$major" ] || fail "$l.so.$version has SONAME '$soname', want $l.so.$major"
done
pass "make install: $(wc -l <<<"$got") files, links and SONAMEs as expected"

# ------------------------------------------------------------- C programs via pkg-config
# Only the installed .pc files, and their paths taken inside the DESTDIR.
export PKG_CONFIG_LIBDIR=$inst/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
unset PKG_CONFIG_PATH
for pc in bestbuddy:best-fit:libbestbuddy bestbuddy-buddy:buddy:libbestbuddy-buddy; do
    IFS=: read -r name heap lib <<<"$pc"
    v=$(pkg-config --modversion "$name") || fail "pkg-config knows no $name"
    [ "$v" = "$version" ] || fail "pkg-config --modversion $name says $v, want $version"
    flags=$(pkg-config --cflags --libs "$name")
    static_flags=$(pkg-config --static --cflags --libs "$name")
    echo "check-install: pkg-config --cflags --libs $name: $flags"
    echo "check-install: pkg-config --static --cflags --libs $name: $static_flags"

    # shellcheck disable=SC2086 # the flags are words
    "$CC" $CFLAGS -o "$tmp/app-$name" "$here/app.c" $flags || fail "cc app.c \$(pkg-config --cflags --libs $name)"
    needed=$(readelf -d "$tmp/app-$name" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p')
    grep -qx "$lib.so.$major" <<<"$needed" || fail "app-$name needs $needed, not $lib.so.$major"
    LD_LIBRARY_PATH=$inst/lib "$tmp/app-$name" "$heap" shared "$inst/lib/$lib.so.$version" ||
        fail "app-$name on $inst/lib"
    pass "$name: cc app.c \$(pkg-config --cflags --libs $name), run from the DESTDIR"

    # shellcheck disable=SC2086
    "$CC" $CFLAGS -static -o "$tmp/app-$name-static" "$here/app.c" $static_flags ||
        fail "cc -static app.c \$(pkg-config --static --cflags --libs $name)"
    if readelf -d "$tmp/app-$name-static" 2>/dev/null | grep -q NEEDED; then
        fail "app-$name-static has dynamic dependencies"
    fi
    "$tmp/app-$name-static" "$heap" static || fail "app-$name-static"
    pass "$name: cc -static app.c \$(pkg-config --static --cflags --libs $name)"
done

# --------------------------------------------------------------- the installed tool
bin=$inst/bin
"$CC" $CFLAGS -DBB_PRELOADED -I "$inst/include" -o "$tmp/app-plain" "$here/app.c" -ldl ||
    fail "cc app.c (libc alone)"
for pair in best-fit:libbestbuddy buddy:libbestbuddy-buddy; do
    IFS=: read -r heap lib <<<"$pair"
    "$bin/bestbuddy" run --heap "$heap" --stats --trace "$tmp/$heap.trace" -- \
        "$tmp/app-plain" "$heap" preload "$inst/lib/$lib.so.$version" 2>"$tmp/run-$heap.err" ||
        { cat "$tmp/run-$heap.err" >&2; fail "bestbuddy run --heap $heap from $bin"; }
    grep -q "^bestbuddy: statistics of process [0-9]*, $heap heap" "$tmp/run-$heap.err" ||
        { cat "$tmp/run-$heap.err" >&2; fail "bestbuddy run --stats printed no statistics"; }
    "$bin/bestbuddy-trace" check "$tmp/$heap.trace" >"$tmp/trace-$heap.out" 2>&1 ||
        { cat "$tmp/trace-$heap.out" >&2; fail "installed bestbuddy-trace check"; }
    pass "installed bestbuddy run --heap $heap --stats --trace, and bestbuddy-trace check"
done
"$bin/bestbuddy" replay "$tmp/buddy.trace" --out "$tmp/replay" >"$tmp/replay.out" 2>&1 ||
    { cat "$tmp/replay.out" >&2; fail "installed bestbuddy replay"; }
for peer in '"bestbuddy best-fit"' '"bestbuddy buddy"'; do
    grep -q "\"name\": *$peer" "$tmp/replay/replay.json" ||
        { cat "$tmp/replay.out" >&2; fail "bestbuddy replay ran no replayer under $peer"; }
done
pass "installed bestbuddy replay: its replayer under both installed libraries"

# ------------------------------------------------------------------------- man pages
if ! command -v man >/dev/null 2>&1 || ! command -v groff >/dev/null 2>&1; then
    echo "!!! check-install: man or groff missing and not installable: man pages SKIPPED !!!"
else
    for page in man1/bestbuddy.1 man3/bestbuddy.3; do
        file=$inst/share/man/$page
        MANWIDTH=80 man --warnings -l "$file" >"$tmp/page.txt" 2>"$tmp/page.err" ||
            { cat "$tmp/page.err" >&2; fail "man -l $page"; }
        [ ! -s "$tmp/page.err" ] || { cat "$tmp/page.err" >&2; fail "man --warnings: $page"; }
        [ "$(wc -l <"$tmp/page.txt")" -gt 40 ] || fail "man -l $page rendered next to nothing"
        if grep -q '@VERSION@' "$file"; then fail "$page: @VERSION@ left in place"; fi
    done
    pass "man --warnings -l: both pages render without a warning"

    # What each page must name, from its source (the rendered text hyphenates).
    words() { sed 's/\\-/-/g; s/\\(aq/'"'"'/g' "$1"; }
    missing=()
    page1=$(words "$inst/share/man/man1/bestbuddy.1")
    opts=$({ "$bin/bestbuddy" --help; "$bin/bestbuddy" run --help; "$bin/bestbuddy" replay --help; } |
        grep -oE '^ +(-[a-zA-Z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+' | sort -u)
    [ "$(wc -l <<<"$opts")" -ge 6 ] || fail "found only these options in the tool's help: $opts"
    for o in $opts; do grep -qF -- "$o" <<<"$page1" || missing+=("bestbuddy.1: $o"); done
    page3=$(words "$inst/share/man/man3/bestbuddy.3")
    header=$inst/include/bestbuddy.h
    names=$(grep -oE '\bbestbuddy_[a-z_]+\(' "$header" | tr -d '(' | sort -u)
    fields=$(sed -n '/^struct bestbuddy_stats {/,/^};/p' "$header" | grep -oE '[a-z_0-9]+;$' | tr -d ';')
    vars=$(grep -rhoE '"BESTBUDDY_[A-Z_]+=' "$root/src" --include='*.rs' | tr -d '"=' | sort -u)
    # The words of each misuse message: the literal ones and Misuse::describe's.
    whats=$({ grep -rhoE 'misuse\([^,()]+, "[^"]+"' "$root/src" --include='*.rs' | grep -oE '"[^"]+"$'
        sed -n '/fn describe/,/^    }/p' "$root/src/heap/mod.rs" | grep -oE '"[^"]+"'; } | tr -d '"' | sort -u)
    [ "$(wc -w <<<"$names")" -ge 2 ] && [ "$(wc -w <<<"$fields")" -ge 30 ] &&
        [ "$(wc -w <<<"$vars")" -ge 3 ] && [ "$(wc -l <<<"$whats")" -ge 4 ] ||
        fail "found too few functions, fields, variables or messages to check bestbuddy.3 against"
    for w in $names $fields $vars; do grep -qw -- "$w" <<<"$page3" || missing+=("bestbuddy.3: $w"); done
    while read -r w; do grep -qF -- "$w" <<<"$page3" || missing+=("bestbuddy.3: message '$w'"); done <<<"$whats"
    if [ ${#missing[@]} -gt 0 ]; then
        printf '  not in the man page: %s\n' "${missing[@]}" >&2
        fail "the man pages miss what the tool or the library has (dist/bestbuddy.1, dist/bestbuddy.3)"
    fi
    pass "man pages name every option, function, field, variable and misuse message"
fi

# -------------------------------------------------------------------------- uninstall
make_install uninstall
left=$(cd "$dest" && find . ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"
pass "make uninstall removed every file"
echo "check-install: all passed"
