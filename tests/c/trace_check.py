#!/usr/bin/python3
"""Checks a trace written with BESTBUDDY_TRACE (the tests t_trace_*.c call it).

usage: trace_check.py check TRACE
           `bestbuddy-trace check TRACE` must pass: the merged order is a possible history.
       trace_check.py sequence TRACE EXPECTED
           as check, and for each thread (by kernel tid) the records EXPECTED lists (JSON
           lines in the fields of `bestbuddy-trace dump`) appear in the dump in that order,
           every field equal; expected `live` records may come in any order, before the
           thread's other records.
       trace_check.py misuse TRACE EXPECTED WORDS
           as sequence, for the trace of a program stopped by misuse: the check must fail,
           with WORDS in its message (the misuse record is not a possible history).

The reader is $BB_TRACE_READER, else out/bin/bestbuddy-trace (built by `make`). Without
one, only the file header is checked, and a note says so.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READER = os.environ.get("BB_TRACE_READER") or os.path.join(ROOT, "out", "bin", "bestbuddy-trace")
POINTERS = ("ptr", "result")


def fail(msg):
    print("trace_check: " + msg, file=sys.stderr)
    sys.exit(1)


def reader(*args):
    # The reader runs on glibc's malloc, whatever the test runs on.
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "BESTBUDDY_TRACE")}
    return subprocess.run([READER, *args], env=env, capture_output=True, text=True)


def norm(record):
    return {k: (int(v, 16) if k in POINTERS else v) for k, v in record.items()}


def check(trace, misuse=None):
    with open(trace, "rb") as f:
        if f.read(8) != b"BBTRACE\0":
            fail("%s: not a trace (magic)" % trace)
    if not os.access(READER, os.X_OK):
        print("trace_check: no reader at %s: only the header of %s was checked" % (READER, trace))
        return False
    r = reader("check", trace)
    if misuse is not None:
        # A trace that ends in misuse: the check must fail at that record, naming it.
        if r.returncode == 0 or misuse not in r.stderr:
            fail("bestbuddy-trace check %s: status %d, expected a failure naming %r\n%s%s"
                 % (trace, r.returncode, misuse, r.stdout, r.stderr))
        print("trace_check: %s: %s" % (trace, r.stderr.strip()))
        return True
    if r.returncode != 0:
        fail("bestbuddy-trace check %s: status %d\n%s%s" % (trace, r.returncode, r.stdout, r.stderr))
    if "cut" in r.stderr or "END" in r.stderr or "finish" in r.stderr:
        fail("%s is not whole: %s" % (trace, r.stderr.strip()))
    print("trace_check: %s: %s" % (trace, r.stdout.strip() or "check passed"))
    return True


def sequence(trace, expected_path, misuse=None):
    if not check(trace, misuse):
        return
    r = reader("dump", trace)
    if r.returncode != 0:
        fail("bestbuddy-trace dump %s: status %d\n%s" % (trace, r.returncode, r.stderr))
    actual = {}
    for line in r.stdout.splitlines():
        rec = norm(json.loads(line))
        actual.setdefault(rec["tid"], []).append(rec)
    expected = {}
    with open(expected_path) as f:
        for line in f:
            rec = norm(json.loads(line))
            expected.setdefault(rec["tid"], []).append(rec)
    for tid, want in expected.items():
        have = actual.get(tid, [])
        live = [w for w in want if w["kind"] == "live"]
        have_live = [h for h in have if h["kind"] == "live"]
        for w in live:
            if not any(all(h.get(k) == v for k, v in w.items()) for h in have_live):
                fail("tid %d: no record %s among its live records" % (tid, w))
        i = 0
        for w in (w for w in want if w["kind"] != "live"):
            while i < len(have) and not all(have[i].get(k) == v for k, v in w.items()):
                i += 1
            if i == len(have):
                fail("tid %d: expected %s, not found in order (thread's records: %d)"
                     % (tid, w, len(have)))
            i += 1
    print("trace_check: %s: %d threads, %d expected records found"
          % (trace, len(expected), sum(map(len, expected.values()))))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "sequence":
        sequence(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "misuse":
        sequence(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
