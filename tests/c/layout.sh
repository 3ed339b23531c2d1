#!/bin/sh
# usage: tests/c/layout.sh SOFILE [SONAME]
# Link-time facts about the shared library that nothing else tests:
# - its SONAME is SONAME (default libbestbuddy.so.0; the buddy build's is
#   libbestbuddy-buddy.so.0, so that both install side by side): valgrind's
#   --soname-synonyms and packagers need one; build.rs passes it to the linker;
# - the table of arenas (global::ARENAS) lies in .bss: its initial value must stay all zero
#   bytes, or the 260 KiB table moves to .data and is relocated and partly faulted in at
#   load (see docs/ARCHITECTURE.md, "Threads, fork, initialisation").
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 SOFILE [SONAME]" >&2
    exit 2
fi
so=$1
want=${2:-libbestbuddy.so.0}
if [ ! -f "$so" ]; then
    echo "layout.sh: no such file: $so" >&2
    exit 2
fi
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "$want" ]; then
    echo "layout.sh: $so has SONAME '$soname', want $want"
    exit 1
fi
# nm type b/B: the symbol is in .bss; d/D would be .data.
arenas=$(nm "$so" | awk '$3 ~ /9bestbuddy6global6ARENAS/ { print $2 }')
if [ -z "$arenas" ]; then
    echo "layout.sh: no symbol for the arena table in $so (stripped?)"
    exit 1
fi
case $arenas in
b | B) ;;
*)
    echo "layout.sh: the arena table is in a section of type '$arenas', not .bss:" \
        "its initial value is no longer all zero bytes"
    exit 1
    ;;
esac
echo "layout.sh: $so: SONAME $soname, arena table in .bss"
