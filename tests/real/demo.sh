#!/usr/bin/env bash
# Demo: run python3 on bestbuddy and show that it really is.
#
#   tests/real/demo.sh path/to/libbestbuddy.so
#
# Runs a short Python snippet with LD_PRELOAD=libbestbuddy.so and
# PYTHONMALLOC=malloc (so every Python object allocation goes through the C
# malloc, i.e. through bestbuddy), then the same snippet on glibc malloc for
# comparison. Only numbers measured by the snippet are printed.
set -u -o pipefail

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    echo "usage: $0 path/to/libbestbuddy.so" >&2
    exit 2
fi
SO=$(readlink -f -- "$1")

# The real interpreter binary (not a pyenv shim script), so the preload
# applies to python itself.
if [ -x /usr/bin/python3 ]; then
    PY=$(readlink -f /usr/bin/python3)
else
    PY=$(env -u LD_PRELOAD python3 -c 'import os, sys; print(os.path.realpath(sys.executable))') || {
        echo "demo: python3 not found" >&2
        exit 1
    }
fi

read -r -d '' SNIPPET <<'EOF'
import ctypes, json, platform, resource, sys, time

mode = sys.argv[1]
if mode == "bestbuddy":
    # libbestbuddy.so must be mapped, and its malloc symbol must point into
    # it (a preloaded library's malloc interposes on glibc's).
    maps = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].strip().endswith("/libbestbuddy.so"):
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                maps.append((lo, hi, fields[5].strip()))
    if not maps:
        sys.exit("python3 is NOT running on bestbuddy: libbestbuddy.so is not mapped")
    try:
        addr = ctypes.cast(ctypes.CDLL(maps[0][2]).malloc, ctypes.c_void_p).value
    except AttributeError:
        addr = None
    if not any(lo <= (addr or 0) < hi for lo, hi, _ in maps):
        sys.exit("python3 is NOT running on bestbuddy: %s does not define malloc" % maps[0][2])
    fn = ctypes.CDLL(None).bestbuddy_backend
    fn.restype = ctypes.c_char_p
    label = "bestbuddy (%s)" % fn().decode()

t0 = time.perf_counter()
n = 50_000
records = [{"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 7), "x" * (i % 50)]}
           for i in range(n)]
text = json.dumps(records)
back = json.loads(text)
assert back == records
words = sorted(text.split(","))
index = {r["name"]: r for r in back}
for i in range(0, n, 2):
    del index["item%d" % i]
assert len(index) == n // 2
dt = time.perf_counter() - t0
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

if mode == "bestbuddy":
    print("python3 %s ran on %s: %d records (dict + list + strings each), "
          "JSON round trip of %.1f MB, %d strings sorted, %d dict deletes: "
          "%.2f s, peak RSS %.0f MB"
          % (platform.python_version(), label, n, len(text) / 1e6, len(words),
             n // 2, dt, rss_mb))
else:
    print("the same work on glibc malloc: %.2f s, peak RSS %.0f MB" % (dt, rss_mb))
EOF

LD_PRELOAD="$SO" PYTHONMALLOC=malloc "$PY" -c "$SNIPPET" bestbuddy || exit 1
env -u LD_PRELOAD PYTHONMALLOC=malloc "$PY" -c "$SNIPPET" glibc || exit 1
