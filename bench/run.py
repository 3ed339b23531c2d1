#!/usr/bin/python3
"""bestbuddy benchmark suite: every workload under every allocator.

    python3 bench/run.py                 full run (5 repetitions)
    python3 bench/run.py --reps 3        fewer repetitions
    python3 bench/run.py --quick         smoke test: 1 repetition, small scales
    python3 bench/run.py --callgrind     instructions per malloc(32)+free pair
    python3 bench/run.py --instructions  instructions of every C program (callgrind)

Allocators: glibc (no preload), jemalloc, mimalloc, tcmalloc (Debian packages,
installed with apt-get when missing) and the two bestbuddy heaps from out/
(run `make` first).  LD_PRELOAD is set only in the environment of each
benchmarked command, never in this process.

Runs are interleaved (for each repetition, for each program, for each
allocator) so that slow drifts of the machine's load spread over all
allocators alike.  Each run's wall time and peak RSS (ru_maxrss from wait4,
taken by the small bench/measure.c helper that forks the command, see there
why) go to out/bench/results.csv; the summary table (medians and ratios to glibc,
geometric means) is printed and saved to out/bench/summary.txt, and a chart of
the ratios to out/bench/ratios.png.

Standard library only.  The chart uses matplotlib (Debian python3-matplotlib)
when it can be had, else a small built-in PNG writer.
"""

import argparse
import csv
import hashlib
import json
import math
import os
import random
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "out", "bench")
CC = os.environ.get("CC", "gcc")
CFLAGS = ["-O2", "-fno-builtin", "-pthread"]
C_PROGRAMS = ["churn", "server", "prodcons", "realloc", "mix", "large", "larson", "xmalloc", "crossfree",
              "transfer", "churn-random", "pair", "measure"]
# The benchmarks that --instructions runs unless --only names others.
C_BENCHES = ["churn", "churn-2t", "server", "prodcons", "realloc", "mix", "large", "larson", "xmalloc",
             "crossfree", "transfer", "churn-random", "churn-random-2t"]

# name, Debian package, file name that must appear in `dpkg -L package`
PEERS = [
    ("jemalloc", "libjemalloc2", "libjemalloc.so.2"),
    ("mimalloc", "libmimalloc2.0", "libmimalloc.so.2"),
    ("tcmalloc", "libtcmalloc-minimal4", "libtcmalloc_minimal.so.4"),
]
BESTBUDDY = [
    ("bb-bestfit", os.path.join(ROOT, "out", "bestfit", "libbestbuddy.so")),
    ("bb-buddy", os.path.join(ROOT, "out", "buddy", "libbestbuddy.so")),
]
# Built by `make unhardened` (no sealed metadata); run only when named in --alloc, to
# measure what the hardening costs (`make bench-hardening`).
UNHARDENED = [
    ("bb-bestfit-unh", os.path.join(ROOT, "out", "unhardened-bestfit", "libbestbuddy.so")),
    ("bb-buddy-unh", os.path.join(ROOT, "out", "unhardened-buddy", "libbestbuddy.so")),
]

# --extra NAME=PATH: another build of the library (e.g. of an older commit), run beside the
# others in the same interleaved rounds, for a before/after comparison.
EXTRA = []


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fmt_elapsed(s):
    s = int(s)
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


# ------------------------------------------------------------ packages --

def dpkg_files(pkg):
    """Files of an installed Debian package, or None if it is not installed."""
    try:
        st = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                            capture_output=True, text=True)
        if st.returncode != 0 or "install ok installed" not in st.stdout:
            return None
        r = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True)
    except FileNotFoundError:
        return None
    return r.stdout.split() if r.returncode == 0 else None


def apt_install(pkgs):
    """Install Debian packages; apt-get update only if the first try fails."""
    pkgs = [p for p in pkgs if dpkg_files(p) is None]
    if not pkgs:
        return True
    if not shutil.which("apt-get"):
        log("cannot install %s: no apt-get" % " ".join(pkgs))
        return False
    if os.geteuid() != 0:
        log("cannot install %s: not root" % " ".join(pkgs))
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + pkgs
    log("installing: %s" % " ".join(pkgs))
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode == 0:
        return True
    log("apt-get install failed; running apt-get update and trying again")
    subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
    return subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode == 0


def find_peer_lib(pkg, fname):
    files = dpkg_files(pkg) or []
    hits = sorted((f for f in files if os.path.basename(f).startswith(fname)), key=len)
    for f in hits:
        if os.path.exists(f):
            return f
    return None


def preload_works(lib):
    """True if LD_PRELOAD=lib really maps lib into a process (checked with cat)."""
    env = base_env()
    env["LD_PRELOAD"] = lib
    r = subprocess.run(["cat", "/proc/self/maps"], env=env, capture_output=True, text=True)
    real = os.path.realpath(lib)
    return r.returncode == 0 and any(line.endswith(real) for line in r.stdout.splitlines())


def allocators(wanted):
    """[(name, lib or None)] in table order; installs missing peers."""
    need = [pkg for name, pkg, _ in PEERS if (not wanted or name in wanted)]
    if need:
        apt_install(need)
    out = []
    if not wanted or "glibc" in wanted:
        out.append(("glibc", None))
    for name, pkg, fname in PEERS:
        if wanted and name not in wanted:
            continue
        lib = find_peer_lib(pkg, fname)
        if lib is None:
            log("warning: %s (%s) not available, skipped" % (name, pkg))
            continue
        out.append((name, lib))
    for name, lib in BESTBUDDY + UNHARDENED + EXTRA:
        if (wanted or (name, lib) in UNHARDENED) and name not in wanted and (name, lib) not in EXTRA:
            continue
        if not os.path.exists(lib):
            log("warning: %s missing (run `make` in %s), skipped" % (lib, ROOT))
            continue
        # Run a private copy, so that a rebuild of out/ during the benchmark
        # neither crashes a run nor mixes two builds in one table.
        snap = os.path.join(OUT, "lib", name, "libbestbuddy.so")
        os.makedirs(os.path.dirname(snap), exist_ok=True)
        shutil.copy2(lib, snap + ".tmp")
        os.replace(snap + ".tmp", snap)
        log("%s: %s (built %s), copied to %s"
            % (name, lib, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(lib))), snap))
        out.append((name, snap))
    good = []
    for name, lib in out:
        if lib and not preload_works(lib):
            log("warning: LD_PRELOAD=%s does not load, %s skipped" % (lib, name))
            continue
        good.append((name, lib))
    return good


def base_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("PYTHONMALLOC", None)
    return env


# ------------------------------------------------------------- building --

def build(progs):
    bindir = os.path.join(OUT, "bin")
    os.makedirs(bindir, exist_ok=True)
    hdr = os.path.join(HERE, "common.h")
    for p in progs:
        src = os.path.join(HERE, p + ".c")
        exe = os.path.join(bindir, p)
        newest = max(os.path.getmtime(src), os.path.getmtime(hdr))
        if os.path.exists(exe) and os.path.getmtime(exe) >= newest:
            continue
        cmd = [CC] + CFLAGS + ["-o", exe, src]
        log("build: " + " ".join(cmd))
        subprocess.run(cmd, check=True)
    return bindir


# ------------------------------------------------------- real programs --

def system_python():
    """The real interpreter behind python3 (not a pyenv shim)."""
    if os.access("/usr/bin/python3", os.X_OK):
        return os.path.realpath("/usr/bin/python3")
    r = subprocess.run(["python3", "-c", "import os, sys; print(os.path.realpath(sys.executable))"],
                       capture_output=True, text=True)
    return r.stdout.strip() or None


def sqlite_script(path, rows):
    """Deterministic SQL: rows inserts (indexed table, batches of 10k per
    transaction) followed by queries, an update and a delete."""
    rng = random.Random(4242)
    syl = ["ka", "lo", "mi", "ne", "ru", "so", "ta", "vi", "xe", "zu", "be", "do"]
    with open(path, "w") as f:
        f.write("PRAGMA journal_mode=MEMORY;\nPRAGMA synchronous=OFF;\n"
                "PRAGMA cache_size=-65536;\n"
                "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " category INTEGER NOT NULL, price REAL NOT NULL, note TEXT);\n"
                "CREATE INDEX items_name ON items(name);\n"
                "CREATE INDEX items_cat_price ON items(category, price);\n")
        for i in range(rows):
            if i % 10000 == 0:
                f.write("BEGIN;\n")
            name = "".join(rng.choice(syl) for _ in range(rng.randint(2, 5)))
            note = " ".join(rng.choice(syl) * rng.randint(1, 3) for _ in range(rng.randint(0, 12)))
            f.write("INSERT INTO items(name, category, price, note) VALUES('%s', %d, %d.%02d, '%s');\n"
                    % (name, rng.randrange(97), rng.randrange(10000), rng.randrange(100), note))
            if i % 10000 == 9999 or i == rows - 1:
                f.write("COMMIT;\n")
        f.write("""SELECT count(*), sum(price) FROM items;
SELECT category, count(*), round(avg(price), 2), max(length(note)) FROM items GROUP BY category ORDER BY category;
SELECT name, price FROM items WHERE name >= 'ka' AND name < 'kb' ORDER BY price DESC, id LIMIT 10;
SELECT count(*) FROM items a JOIN items b ON a.name = b.name AND a.id < b.id WHERE a.category = 7;
SELECT group_concat(name, ',') FROM (SELECT DISTINCT name FROM items ORDER BY name LIMIT 40);
SELECT count(DISTINCT name), count(DISTINCT note) FROM items;
UPDATE items SET note = note || ' updated ' || name WHERE category % 7 = 3;
DELETE FROM items WHERE id % 5 = 0;
SELECT count(*), sum(length(note)), round(sum(price), 2) FROM items;
SELECT name, count(*) AS c FROM items GROUP BY name ORDER BY c DESC, name LIMIT 10;
""")


# --------------------------------------------------------------- runs --

class Bench:
    def __init__(self, name, argv, env=None, stdin=None, setup=None):
        self.name, self.argv, self.env, self.stdin, self.setup = name, argv, env or {}, stdin, setup


def benchmarks(bindir, scale, sql_rows, tmpdir, only):
    def c(name, prog, *extra):
        return Bench(name, [os.path.join(bindir, prog), "--scale", repr(scale)] + list(extra))

    bs = [
        c("churn", "churn"),
        c("churn-2t", "churn", "--threads", "2"),
        c("server", "server"),
        c("prodcons", "prodcons"),
        c("realloc", "realloc"),
        c("mix", "mix"),
        c("large", "large"),
        c("larson", "larson"),
        c("xmalloc", "xmalloc"),
        c("crossfree", "crossfree"),
        c("transfer", "transfer"),
        c("churn-random", "churn-random"),
        c("churn-random-2t", "churn-random", "--threads", "2"),
    ]
    py = system_python()
    if py:
        bs.append(Bench("python", [py, os.path.join(ROOT, "tests", "real", "workload.py")],
                        env={"PYTHONMALLOC": "malloc"}))
    else:
        log("warning: no python3 interpreter found, python workload skipped")
    if not only or "sqlite" in only:
        apt_install(["sqlite3"])
    sq = shutil.which("sqlite3")
    if sq:
        script = os.path.join(tmpdir, "bench.sql")
        db = os.path.join(tmpdir, "bench.db")
        if not only or "sqlite" in only:
            sqlite_script(script, sql_rows)

        def fresh_db():
            for suffix in ("", "-journal", "-wal", "-shm"):
                try:
                    os.unlink(db + suffix)
                except FileNotFoundError:
                    pass

        bs.append(Bench("sqlite", [sq, "-bail", db], stdin=script, setup=fresh_db))
    else:
        log("warning: sqlite3 not available, sqlite workload skipped")
    if only:
        unknown = set(only) - {b.name for b in bs}
        if unknown:
            sys.exit("unknown program(s): %s (have: %s)"
                     % (", ".join(sorted(unknown)), ", ".join(b.name for b in bs)))
        bs = [b for b in bs if b.name in only]
    return bs


def run_once(bench, lib, timeout, measure):
    """Run one benchmark through the measure helper (which sets LD_PRELOAD on
    the command only).  Returns (wall_s, maxrss_kib, exit_code, stdout,
    stderr, timed_out)."""
    env = base_env()
    assign = ["%s=%s" % kv for kv in sorted(bench.env.items())]
    if lib:
        assign.append("LD_PRELOAD=" + lib)
    if bench.setup:
        bench.setup()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="bestbuddy-measure.") as res:
        stdin = open(bench.stdin, "rb") if bench.stdin else subprocess.DEVNULL
        timed_out = False
        try:
            p = subprocess.Popen([measure, res.name] + assign + ["--"] + bench.argv, env=env,
                                 stdin=stdin, stdout=out, stderr=err, cwd=ROOT,
                                 start_new_session=True)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        finally:
            if bench.stdin:
                stdin.close()
        fields = open(res.name).read().split()
        out.seek(0)
        err.seek(0)
        o, e = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if len(fields) != 3:
            return (0.0, 0, p.returncode if not timed_out else -9, o, e, timed_out)
        return (float(fields[0]), int(fields[1]), int(fields[2]), o, e, timed_out)


def result_digest(bench, stdout):
    """What must be the same under every allocator: the checksum line(s), or
    for sqlite the whole output."""
    if bench.name == "sqlite":
        text = stdout
    else:
        text = "\n".join(l for l in stdout.splitlines() if l.startswith("checksum"))
    return hashlib.sha256(text.encode()).hexdigest()[:16] if text else ""


def extra_info(bench, stdout):
    """mix: its live bytes and RSS at the end; transfer: its own VmHWM."""
    for line in stdout.splitlines():
        if bench.name == "mix" and line.startswith("mix "):
            return " ".join(f for f in line.split() if "=" in f and not f.startswith("steps"))
        if bench.name == "transfer" and line.startswith("transfer "):
            return " ".join(f for f in line.split() if f.startswith("vmhwm_kib="))
    return ""


def median(xs):
    return statistics.median(xs) if xs else None


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def summarize(benches, allocs, rows):
    """Medians per (program, allocator), ratios to glibc, geometric means."""
    by = {}
    for r in rows:
        if r["status"] == "ok":
            by.setdefault((r["program"], r["allocator"]), []).append(r)
    counts = {}
    for r in rows:
        counts.setdefault((r["program"], r["allocator"]), [0, 0])
        counts[(r["program"], r["allocator"])][1] += 1
        if r["status"] == "ok":
            counts[(r["program"], r["allocator"])][0] += 1
    med = {}
    for key, rs in by.items():
        med[key] = (median([r["wall_s"] for r in rs]), median([r["maxrss_kib"] for r in rs]))
    ref = "glibc" if any(a == "glibc" for a, _ in allocs) else allocs[0][0]
    lines = []
    hdr = "%-15s %-11s %5s %9s %8s %10s %8s" % ("program", "allocator", "ok", "time_s", "t/" + ref[:5],
                                                  "rss_MiB", "rss/" + ref[:5])
    lines.append(hdr)
    lines.append("-" * len(hdr))
    ratios = {a: ([], []) for a, _ in allocs}
    chart = {"programs": [b.name for b in benches], "allocators": [a for a, _ in allocs],
             "time": {}, "rss": {}}
    for b in benches:
        base = med.get((b.name, ref))
        for a, _ in allocs:
            ok, n = counts.get((b.name, a), [0, 0])
            m = med.get((b.name, a))
            if m is None:
                lines.append("%-15s %-11s %2d/%-2d %9s %8s %10s %8s" % (b.name, a, ok, n, "FAIL" if n else "-",
                                                                       "-", "-", "-"))
                continue
            tr = m[0] / base[0] if base else None
            rr = m[1] / base[1] if base else None
            if tr is not None:
                ratios[a][0].append(tr)
                ratios[a][1].append(rr)
                chart["time"].setdefault(a, {})[b.name] = tr
                chart["rss"].setdefault(a, {})[b.name] = rr
            lines.append("%-15s %-11s %2d/%-2d %9.3f %8s %10.1f %8s" % (
                b.name, a, ok, n, m[0], "%.3f" % tr if tr else "-", m[1] / 1024.0,
                "%.3f" % rr if rr else "-"))
        lines.append("")
    for a, _ in allocs:
        t, r = ratios[a]
        if t:
            lines.append("%-15s %-11s %5s %9s %8.3f %10s %8.3f" % ("geomean", a, "n=%d" % len(t), "",
                                                                 geomean(t), "", geomean(r)))
    # thread scaling: churn (1 thread) vs churn-2t (2 threads, each the same work), and the
    # same for churn-random
    names = {b.name for b in benches}
    for one in ("churn", "churn-random"):
        if {one, one + "-2t"} <= names:
            lines.append("")
            lines.append("thread scaling, share-nothing %s: throughput(2 threads) / throughput(1 thread)"
                         " = 2 * time(1t) / time(2t); ideal 2.0 on %d cores" % (one, os.cpu_count() or 0))
            for a, _ in allocs:
                t1, t2 = med.get((one, a)), med.get((one + "-2t", a))
                if t1 and t2:
                    lines.append("  %-11s %.2f   (1t %.3f s, 2t %.3f s)" % (a, 2 * t1[0] / t2[0], t1[0], t2[0]))
    if "transfer" in names:
        lines.append("")
        lines.append("transfer: peak RSS the program read from its own VmHWM at the end (medians)")
        for a, _ in allocs:
            vals = [int(r["extra"].split("=")[1]) for r in by.get(("transfer", a), []) if r["extra"]]
            if vals:
                lines.append("  %-11s %7.1f MiB" % (a, median(vals) / 1024.0))
    if "mix" in names:
        lines.append("")
        lines.append("mix fragmentation: RSS at the end vs bytes still live (medians)")
        for a, _ in allocs:
            ex = [r["extra"] for r in by.get(("mix", a), []) if r["extra"]]
            vals = []
            for e in ex:
                d = dict(f.split("=", 1) for f in e.split())
                vals.append((int(d["final_rss_bytes"]), int(d["final_live_bytes"]), int(d["peak_live_bytes"])))
            if vals:
                rss = median([v[0] for v in vals])
                live = vals[0][1]
                lines.append("  %-11s final RSS %7.1f MiB   final live %6.1f MiB   peak live %6.1f MiB"
                             "   (RSS/live %.2f)" % (a, rss / 2**20, live / 2**20, vals[0][2] / 2**20,
                                                     rss / live if live else 0))
    return "\n".join(lines), chart


# -------------------------------------------------------------- chart --

PLOT_CODE = r'''
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
d = json.load(open(sys.argv[1]))
progs, allocs = d["programs"], d["allocators"]
fig, axes = plt.subplots(2, 1, figsize=(max(8, 1.3 * len(progs)), 8), sharex=True)
w = 0.8 / max(1, len(allocs))
for ax, key, title in ((axes[0], "time", "wall time / glibc"), (axes[1], "rss", "peak RSS / glibc")):
    for j, a in enumerate(allocs):
        vals = [d[key].get(a, {}).get(p, float("nan")) for p in progs]
        ax.bar([i + (j - (len(allocs) - 1) / 2) * w for i in range(len(progs))], vals, w, label=a)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log", base=2)
    lo, hi = ax.get_ylim()
    ticks = [t for t in (1/16, 1/8, 1/4, 1/2, 2/3, 0.8, 1, 1.25, 1.5, 2, 3, 4, 6, 8, 16, 32) if lo <= t <= hi]
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: "%.3g" % v))
    ax.set_ylabel(title)
    ax.grid(axis="y", alpha=0.3)
axes[0].legend(ncol=min(6, len(allocs)), fontsize=8)
axes[1].set_xticks(range(len(progs)))
axes[1].set_xticklabels(progs, rotation=20)
fig.suptitle("bestbuddy benchmarks: ratio to glibc (median of runs, lower is better)")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
'''

PALETTE = [(90, 90, 90), (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194)]


def write_png(path, width, height, pixels):
    """pixels: bytearray of width*height*3 RGB bytes."""
    raw = b"".join(b"\x00" + bytes(pixels[y * width * 3:(y + 1) * width * 3]) for y in range(height))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def plain_chart(chart, path):
    """Text-free fallback: two panels (time, RSS) of grouped bars on a log2
    scale from 1/4 to 4; the black line is ratio 1 (glibc), grey lines are
    powers of two; one colour per allocator in table order, shown as swatches
    at the top left."""
    progs, allocs = chart["programs"], chart["allocators"]
    bw, gap, ph, pad = 8, 16, 240, 20
    width = pad * 2 + len(progs) * (len(allocs) * bw + gap)
    height = pad * 3 + 2 * ph + 20
    px = bytearray(b"\xff" * (width * height * 3))

    def rect(x0, y0, x1, y1, col):
        for y in range(max(0, y0), min(height, y1)):
            row = y * width * 3
            for x in range(max(0, x0), min(width, x1)):
                px[row + x * 3:row + x * 3 + 3] = bytes(col)

    for j, _ in enumerate(allocs):
        rect(pad + j * 14, 4, pad + j * 14 + 10, 14, PALETTE[j % len(PALETTE)])
    for k, key in enumerate(("time", "rss")):
        top = 20 + pad + k * (ph + pad)
        mid = top + ph // 2

        def ypos(r):
            l2 = max(-2.0, min(2.0, math.log2(r)))
            return int(mid - l2 * (ph / 4))

        for l2 in (-2, -1, 1, 2):
            rect(pad, mid - int(l2 * ph / 4), width - pad, mid - int(l2 * ph / 4) + 1, (210, 210, 210))
        for i, p in enumerate(progs):
            x = pad + i * (len(allocs) * bw + gap) + gap // 2
            for j, a in enumerate(allocs):
                r = chart[key].get(a, {}).get(p)
                if r:
                    y = ypos(r)
                    rect(x + j * bw, min(y, mid), x + j * bw + bw - 1, max(y, mid) + 1, PALETTE[j % len(PALETTE)])
        rect(pad, mid, width - pad, mid + 1, (0, 0, 0))
    write_png(path, width, height, px)


def make_chart(chart, path, allow_install=True):
    data = os.path.join(OUT, "ratios.json")
    with open(data, "w") as f:
        json.dump(chart, f)
    candidates = [sys.executable]
    sp = system_python()
    if sp and os.path.realpath(sp) != os.path.realpath(sys.executable):
        candidates.append(sp)

    def try_plot():
        for py in candidates:
            ok = subprocess.run([py, "-c", "import matplotlib"], capture_output=True).returncode == 0
            if ok and subprocess.run([py, "-c", PLOT_CODE, data, path]).returncode == 0:
                return True
        return False

    if try_plot():
        return "matplotlib"
    if allow_install and apt_install(["python3-matplotlib"]) and try_plot():
        return "matplotlib"
    plain_chart(chart, path)
    return "built-in PNG writer (no labels)"


# ---------------------------------------------------------- callgrind --

def callgrind(allocs, bindir, n1, n2):
    """Instructions per malloc(32)+free pair, loop included.

    Method: run `pair N` (bench/pair.c) under
        valgrind --tool=callgrind --soname-synonyms=somalloc=NONE \
                 --callgrind-out-file=F out/bench/bin/pair N
    with LD_PRELOAD=<allocator's .so> in valgrind's environment (nothing for
    glibc; valgrind passes it on to the program), for N = n1 and N = n2, and
    take (Ir(n2) - Ir(n1)) / (n2 - n1) from the "totals:" line of F, so that
    start-up, allocator initialisation and exit cancel out.

    Callgrind, unlike memcheck, does not replace malloc: the program runs the
    preloaded allocator's own code.  --soname-synonyms=somalloc=NONE is
    belt and braces (it tells valgrind not to redirect any malloc found in a
    library); the counts are the same without it.  Check that it worked: the
    counts differ by allocator; if all were equal the allocator would not be
    the one being measured, and the report says so.  pair.c keeps one extra 32-byte block
    live so that the size class's page never empties (see there).
    """
    if not shutil.which("valgrind"):
        apt_install(["valgrind"])
    if not shutil.which("valgrind"):
        sys.exit("valgrind not available")
    exe = os.path.join(bindir, "pair")
    res = []
    with tempfile.TemporaryDirectory(prefix="bestbuddy-cg.") as tmp:
        for a, lib in allocs:
            irs = []
            for n in (n1, n2):
                outf = os.path.join(tmp, "cg.%s.%d" % (a, n))
                env = base_env()
                if lib:
                    env["LD_PRELOAD"] = lib
                cmd = ["valgrind", "--tool=callgrind", "--soname-synonyms=somalloc=NONE",
                       "--callgrind-out-file=" + outf, exe, str(n)]
                r = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if r.returncode != 0:
                    log("callgrind failed for %s N=%d:\n%s" % (a, n, r.stderr[-2000:]))
                    irs = None
                    break
                total = None
                with open(outf) as f:
                    for line in f:
                        if line.startswith("totals:") or (total is None and line.startswith("summary:")):
                            total = int(line.split()[1])
                irs.append(total)
            if irs and None not in irs:
                per = (irs[1] - irs[0]) / (n2 - n1)
                res.append((a, irs[0], irs[1], per))
                log("callgrind %-11s Ir(%d)=%d Ir(%d)=%d  -> %.1f per pair" % (a, n1, irs[0], n2, irs[1], per))
    lines = ["instructions per malloc(32)+free pair (loop included), callgrind, N=%d and N=%d" % (n1, n2),
             "%-11s %14s %14s %10s" % ("allocator", "Ir(N1)", "Ir(N2)", "Ir/pair")]
    for a, i1, i2, per in res:
        lines.append("%-11s %14d %14d %10.1f" % (a, i1, i2, per))
    pers = [p for _, _, _, p in res]
    if len(pers) > 1 and max(pers) - min(pers) < 0.5:
        lines.append("WARNING: all allocators give the same count: the allocator is not being measured")
    return "\n".join(lines)


def instructions(allocs, benches, scale, jobs):
    """Instructions each C program executes under each allocator, counted by
    callgrind: the figure that repeats from run to run on a machine whose wall
    times do not (see docs/PERFORMANCE.md).

    Method: each program at `scale` under
        valgrind --tool=callgrind --fair-sched=yes --soname-synonyms=somalloc=NONE
    with LD_PRELOAD=<allocator's .so>, the total from the "totals:" line of the
    output file; start-up and exit are included (a few million instructions).
    --fair-sched=yes hands the CPU round-robin between threads, so that the
    threaded programs interleave alike from run to run; their counts still move
    by a few per cent, as which thread waits for which changes.  The program's
    checksum must be the same under every allocator, as in the timed runs.
    Counts include the program's own work, which is the same under every
    allocator: the ratios understate the allocators' own differences.
    """
    if not shutil.which("valgrind"):
        apt_install(["valgrind"])
    if not shutil.which("valgrind"):
        sys.exit("valgrind not available")
    import concurrent.futures

    def one(tmp, b, a, lib):
        outf = os.path.join(tmp, "cg.%s.%s" % (b.name, a))
        env = base_env()
        env.update(b.env)
        if lib:
            env["LD_PRELOAD"] = lib
        cmd = ["valgrind", "--tool=callgrind", "--fair-sched=yes", "--soname-synonyms=somalloc=NONE",
               "--callgrind-out-file=" + outf] + b.argv
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0:
            log("callgrind failed for %s under %s:\n%s" % (b.name, a, r.stderr[-2000:]))
            return None, ""
        total = None
        with open(outf) as f:
            for line in f:
                if line.startswith("totals:") or (total is None and line.startswith("summary:")):
                    total = int(line.split()[1])
        return total, result_digest(b, r.stdout)

    counts = {}
    with tempfile.TemporaryDirectory(prefix="bestbuddy-ir.") as tmp, \
            concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futs = {pool.submit(one, tmp, b, a, lib): (b.name, a) for b in benches for a, lib in allocs}
        for fut in concurrent.futures.as_completed(futs):
            key = futs[fut]
            counts[key] = fut.result()
            log("callgrind %-16s %-11s %s" % (key[0], key[1],
                "failed" if counts[key][0] is None else "%.1fM" % (counts[key][0] / 1e6)))
    names = [a for a, _ in allocs]
    ref = "mimalloc" if "mimalloc" in names else names[0]
    ours = [a for a in names if a.startswith("bb-") or a in dict(EXTRA)]
    heads = ["%s/%s" % (a.replace("bb-", ""), ref) for a in ours]
    widths = [max(10, len(a) + 2) for a in names] + [max(8, len(h) + 2) for h in heads]
    lines = ["instructions per program (millions, callgrind, scale %g, start-up included); "
             "the last columns: ratios to %s" % (scale, ref),
             "%-16s" % "program" + "".join("%*s" % (w, h) for w, h in zip(widths, names + heads))]
    ratios = {a: [] for a in ours}
    for b in benches:
        cells = []
        for a in names:
            x = counts.get((b.name, a), (None, ""))[0]
            cells.append("-" if x is None else "%.1f" % (x / 1e6))
        r = counts.get((b.name, ref), (None, ""))[0]
        for a in ours:
            x = counts.get((b.name, a), (None, ""))[0]
            if x and r:
                ratios[a].append(x / r)
                cells.append("%.3f" % (x / r))
            else:
                cells.append("-")
        line = "%-16s" % b.name + "".join("%*s" % (w, c) for w, c in zip(widths, cells))
        digests = {counts.get((b.name, a), (None, ""))[1] for a in names} - {""}
        if len(digests) > 1:
            line += "   CHECKSUMS DIFFER"
        lines.append(line)
    cells = [""] * len(names) + ["%.3f" % geomean(ratios[a]) if ratios[a] else "-" for a in ours]
    lines.append("%-16s" % "geomean" + "".join("%*s" % (w, c) for w, c in zip(widths, cells)))
    return "\n".join(lines)


# --------------------------------------------------------------- main --

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 5, 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="1 repetition, small scales (smoke test)")
    ap.add_argument("--scale", type=float, default=None, help="work scale for the C programs "
                    "(default 1.0, 0.2 with --quick)")
    ap.add_argument("--sqlite-rows", type=int, default=None, help="rows inserted by the sqlite "
                    "workload (default 200000, 40000 with --quick)")
    ap.add_argument("--only", default="", help="comma-separated programs to run (default: all)")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                    help="also run this libbestbuddy.so under NAME (repeatable), e.g. a build of "
                    "an older commit for a before/after table")
    ap.add_argument("--alloc", default="", help="comma-separated allocators (default: all); names: "
                    "glibc jemalloc mimalloc tcmalloc bb-bestfit bb-buddy, and bb-bestfit-unh bb-buddy-unh "
                    "(unhardened builds, only when named)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds allowed per run (default 300)")
    ap.add_argument("--callgrind", action="store_true", help="only measure instructions per "
                    "malloc(32)+free pair with callgrind")
    ap.add_argument("--callgrind-n", default="100000,200000", help="the two loop counts N1,N2")
    ap.add_argument("--instructions", action="store_true", help="only count the instructions of "
                    "each C program under each allocator with callgrind (scale 0.1 unless --scale; "
                    "python only when named in --only; not sqlite)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="callgrind runs at once for --instructions (default: the cores)")
    ap.add_argument("--no-chart", action="store_true", help="do not write ratios.png")
    args = ap.parse_args()
    for spec in args.extra:
        name, sep, path = spec.partition("=")
        if not sep or not name or not os.path.exists(path):
            ap.error("--extra wants NAME=PATH of an existing library, got %r" % spec)
        EXTRA.append((name, os.path.abspath(path)))

    reps = args.reps if args.reps is not None else (1 if args.quick else 5)
    scale = args.scale if args.scale is not None else (0.2 if args.quick else 1.0)
    sql_rows = args.sqlite_rows if args.sqlite_rows is not None else (40000 if args.quick else 200000)
    only = [s for s in args.only.split(",") if s]
    wanted = [s for s in args.alloc.split(",") if s]
    start = time.time()
    os.makedirs(OUT, exist_ok=True)

    allocs = allocators(wanted)
    if not allocs:
        sys.exit("no allocator to run")
    bindir = build(C_PROGRAMS)

    if args.callgrind:
        n1, n2 = (int(x) for x in args.callgrind_n.split(","))
        text = callgrind(allocs, bindir, n1, n2)
        print(text)
        with open(os.path.join(OUT, "callgrind.txt"), "w") as f:
            f.write(text + "\n")
        log("done in %s" % fmt_elapsed(time.time() - start))
        return

    if args.instructions:
        ir_scale = args.scale if args.scale is not None else 0.1
        tmpdir = tempfile.mkdtemp(prefix="bestbuddy-bench.")
        try:
            if "sqlite" in only:
                sys.exit("--instructions does not run sqlite (its runs share one database file)")
            benches = benchmarks(bindir, ir_scale, sql_rows, tmpdir, only or C_BENCHES)
            text = instructions(allocs, benches, ir_scale, max(1, args.jobs))
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        print(text)
        with open(os.path.join(OUT, "instructions.txt"), "w") as f:
            f.write(text + "\n")
        log("done in %s" % fmt_elapsed(time.time() - start))
        return

    measure = os.path.join(bindir, "measure")
    tmpdir = tempfile.mkdtemp(prefix="bestbuddy-bench.")
    try:
        benches = benchmarks(bindir, scale, sql_rows, tmpdir, only)
        log("allocators: %s" % ", ".join("%s=%s" % (a, l or "(none)") for a, l in allocs))
        log("programs:   %s" % ", ".join(b.name for b in benches))
        log("%d repetition(s), scale %g, sqlite rows %d, %d cores, load average %s"
            % (reps, scale, sql_rows, os.cpu_count() or 0, " ".join("%.2f" % x for x in os.getloadavg())))
        csv_path = os.path.join(OUT, "results.csv")
        fields = ["rep", "program", "allocator", "wall_s", "maxrss_kib", "exit", "status", "digest", "extra"]
        rows, expect, failed, timed_out = [], {}, set(), set()
        total = reps * len(benches) * len(allocs)
        k = 0
        with open(csv_path, "w", newline="") as cf:
            w = csv.DictWriter(cf, fieldnames=fields)
            w.writeheader()
            for rep in range(1, reps + 1):
                for b in benches:
                    for a, lib in allocs:
                        k += 1
                        if (b.name, a) in timed_out:
                            log("[%d/%d] rep %d/%d %-9s %-11s skipped (timed out before)"
                                % (k, total, rep, reps, b.name, a))
                            continue
                        wall, rss, code, out, err, killed = run_once(b, lib, args.timeout, measure)
                        dig = result_digest(b, out)
                        if killed:
                            status = "timeout"
                        elif code != 0:
                            status = "exit %d" % code
                        elif not dig:
                            status = "no checksum"
                        elif expect.setdefault(b.name, dig) != dig:
                            status = "wrong result"
                        else:
                            status = "ok"
                        row = {"rep": rep, "program": b.name, "allocator": a, "wall_s": round(wall, 4),
                               "maxrss_kib": rss, "exit": code, "status": status, "digest": dig,
                               "extra": extra_info(b, out)}
                        rows.append(row)
                        w.writerow(row)
                        cf.flush()
                        log("[%d/%d] rep %d/%d %-9s %-11s %8.3f s %8.1f MiB  %s   elapsed %s"
                            % (k, total, rep, reps, b.name, a, wall, rss / 1024.0, status,
                               fmt_elapsed(time.time() - start)))
                        if killed:
                            timed_out.add((b.name, a))
                        if status != "ok":
                            failed.add((b.name, a))
                            tail = (err.strip().splitlines() or [""])[-3:]
                            log("    stderr: " + " | ".join(tail))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    text, chart = summarize(benches, allocs, rows)
    header = ("bestbuddy benchmarks: %d repetition(s), scale %g, medians; ratios to glibc (lower is better)"
              % (reps, scale))
    print(header)
    print(text)
    with open(os.path.join(OUT, "summary.txt"), "w") as f:
        f.write(header + "\n" + text + "\n")
    if not args.no_chart:
        how = make_chart(chart, os.path.join(OUT, "ratios.png"))
        log("chart: %s (%s)" % (os.path.join(OUT, "ratios.png"), how))
    log("raw results: %s" % csv_path)
    log("total time %s" % fmt_elapsed(time.time() - start))
    if failed:
        log("failed runs: %s" % ", ".join("%s/%s" % f for f in sorted(failed)))
        sys.exit(1)


if __name__ == "__main__":
    main()
