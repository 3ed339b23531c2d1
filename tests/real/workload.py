"""Allocation-heavy, deterministic Python workload for bestbuddy real-program tests.

Run with PYTHONMALLOC=malloc so that every Python object allocation goes
through the C malloc (and therefore through an LD_PRELOADed allocator).

Prints one line "checksum <sha256>" that depends only on the computed results,
so a glibc run and a bestbuddy run must print the same value.

Environment:
  REAL_EXPECT_PRELOAD=1     fail unless some libbestbuddy.so is mapped in this process
  REAL_EXPECT_PRELOAD=PATH  fail unless the file PATH (a libbestbuddy.so) is mapped
  REAL_EXPECT_PRELOAD=0     fail if any libbestbuddy.so is mapped
  REAL_SCALE=N           multiply the amount of work (default 1)
"""
import hashlib
import json
import os
import random
import sys


def check_preload():
    want = os.environ.get("REAL_EXPECT_PRELOAD")
    if want is None:
        return
    mapped = set()
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].rstrip("\n").endswith("/libbestbuddy.so"):
                mapped.add(fields[5].rstrip("\n"))
    if want == "0":
        if mapped:
            sys.exit("workload.py: REAL_EXPECT_PRELOAD=0 but %s is mapped" % ", ".join(sorted(mapped)))
    elif want == "1":
        if not mapped:
            sys.exit("workload.py: REAL_EXPECT_PRELOAD=1 but no libbestbuddy.so is mapped")
    else:
        path = os.path.realpath(want)
        if path not in mapped:
            sys.exit("workload.py: %s is not mapped (mapped: %s)" % (path, ", ".join(sorted(mapped)) or "none"))
    if os.environ.get("PYTHONMALLOC") != "malloc":
        sys.exit("workload.py: PYTHONMALLOC=malloc is required")


WORDS = None


def word(rng):
    return WORDS[rng.randrange(len(WORDS))]


def make_words(rng, n):
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = []
    for _ in range(n):
        k = rng.randint(2, 12)
        out.append("".join(rng.choice(letters) for _ in range(k)))
    return out


def nested(rng, depth):
    """Random nested JSON-able structure."""
    r = rng.random()
    if depth <= 0 or r < 0.25:
        c = rng.randrange(5)
        if c == 0:
            return rng.randint(-10**9, 10**9)
        if c == 1:
            return word(rng) * rng.randint(1, 4)
        if c == 2:
            return rng.random() < 0.5
        if c == 3:
            return None
        return round(rng.uniform(-1e6, 1e6), 3)
    if r < 0.6:
        return [nested(rng, depth - 1) for _ in range(rng.randint(0, 8))]
    return {word(rng) + str(i): nested(rng, depth - 1) for i in range(rng.randint(0, 8))}


def phase_json(rng, rounds, h):
    total = 0
    for i in range(rounds):
        doc = {"id": i, "items": [nested(rng, 4) for _ in range(20)]}
        s = json.dumps(doc, sort_keys=True)
        back = json.loads(s)
        if back != doc:
            raise AssertionError("json round trip mismatch in round %d" % i)
        s2 = json.dumps(back, sort_keys=True, indent=1)
        again = json.loads(s2)
        if json.dumps(again, sort_keys=True) != s:
            raise AssertionError("json re-dump mismatch in round %d" % i)
        total += len(s)
        h.update(s.encode())
    return total


def phase_dict_churn(rng, ops, h):
    d = {}
    keys = []
    inserts = deletes = 0
    for i in range(ops):
        r = rng.random()
        if r < 0.5 or not keys:
            k = "%s:%d" % (word(rng), rng.randrange(1 << 30))
            d[k] = [i, word(rng) * rng.randint(1, 20), {"n": i}]
            keys.append(k)
            inserts += 1
        elif r < 0.85:
            j = rng.randrange(len(keys))
            keys[j], keys[-1] = keys[-1], keys[j]
            k = keys.pop()
            if k in d:
                del d[k]
                deletes += 1
        else:
            # overwrite an existing key with a fresh value
            k = keys[rng.randrange(len(keys))]
            d[k] = [i, word(rng) * rng.randint(1, 20), {"n": i}]
        if i % 20000 == 19999:
            # periodic rebuild through a comprehension (drops ~1/7 of entries)
            d = {k: v for k, v in d.items() if v[0] % 7 != 3}
            keys = list(d.keys())
    items = sorted((k, v[0], len(v[1])) for k, v in d.items())
    h.update(repr(items).encode())
    return inserts, deletes, len(d)


def phase_strings(rng, rounds, h):
    acc = 0
    for i in range(rounds):
        n = rng.randint(100, 3000)
        parts = [word(rng) for _ in range(n)]
        line = " ".join(parts)
        if line.split(" ") != parts:
            raise AssertionError("split/join mismatch")
        up = line.upper().replace("A", "<a>")
        pieces = up.split("<a>")
        joined = "A".join(pieces)
        if joined != line.upper():
            raise AssertionError("replace/split mismatch")
        csv = "\n".join(",".join(parts[j:j + 7]) for j in range(0, n, 7))
        rows = [r.split(",") for r in csv.splitlines()]
        acc += sum(len(r) for r in rows)
        fmt = "".join("%s=%d;" % (p, len(p)) for p in parts[:200])
        h.update(fmt.encode())
        h.update(hashlib.md5(up.encode()).digest())
    return acc


def phase_sort(rng, n, h):
    recs = [(word(rng), rng.randrange(1000), rng.random()) for _ in range(n)]
    a = sorted(recs)
    b = sorted(recs, key=lambda t: (t[1], t[0]))
    c = sorted((r[0] for r in recs), key=len, reverse=True)
    strs = sorted(str(rng.getrandbits(64)) for _ in range(n))
    h.update(repr(a[:50] + a[-50:]).encode())
    h.update(repr(b[::997]).encode())
    h.update(repr(c[::991]).encode())
    h.update("".join(strs[::101]).encode())
    return len(a)


def phase_large(rng, rounds, h):
    """Some large objects: big lists, bytearrays, big strings, growing/shrinking."""
    total = 0
    for i in range(rounds):
        size = rng.choice([1 << 16, 1 << 18, 1 << 20, 3 << 20, 200_000, 1_500_000])
        ba = bytearray(rng.getrandbits(8) for _ in range(256)) * (size // 256)
        ba.extend(b"x" * rng.randint(0, 100_000))
        del ba[: rng.randint(0, len(ba) // 2)]
        big_list = list(range(size // 8))
        big_list.extend(big_list[: len(big_list) // 3])
        s = ("%d," % i) * (size // 16)
        bl = bytes(ba)
        h.update(hashlib.sha256(bl).digest())
        total += len(bl) + len(big_list) + len(s)
        del ba, big_list, s, bl
    return total


def phase_objects(rng, n, h):
    class Node:
        __slots__ = ("key", "val", "kids")

        def __init__(self, key, val):
            self.key = key
            self.val = val
            self.kids = []

    class Plain:
        def __init__(self, i):
            self.i = i
            self.name = "obj%d" % i
            self.tags = {"t%d" % (i % 13): i}

    root = Node("root", 0)
    nodes = [root]
    for i in range(n):
        parent = nodes[rng.randrange(len(nodes))]
        nd = Node(word(rng), i)
        parent.kids.append(nd)
        nodes.append(nd)
    plains = [Plain(i) for i in range(n // 2)]
    # tuples, frozensets, small ints/floats in containers
    tups = [tuple(range(i % 10)) for i in range(n)]
    fs = [frozenset(str(x) for x in t) for t in tups[:: 3]]
    # depth-first walk
    stack, total, depth_sum = [(root, 0)], 0, 0
    while stack:
        nd, dep = stack.pop()
        total += nd.val
        depth_sum += dep
        for k in nd.kids:
            stack.append((k, dep + 1))
    h.update(("%d %d %d %d" % (total, depth_sum, len(plains), sum(len(f) for f in fs))).encode())
    del nodes, root, plains, tups, fs
    return total


def main():
    check_preload()
    scale = int(os.environ.get("REAL_SCALE", "1"))
    global WORDS
    rng = random.Random(20240601)
    WORDS = make_words(rng, 5000)
    h = hashlib.sha256()
    results = {}
    for rep in range(scale):
        results["json%d" % rep] = phase_json(rng, 80, h)
        results["dict%d" % rep] = phase_dict_churn(rng, 200_000, h)
        results["str%d" % rep] = phase_strings(rng, 300, h)
        results["sort%d" % rep] = phase_sort(rng, 60_000, h)
        results["large%d" % rep] = phase_large(rng, 40, h)
        results["obj%d" % rep] = phase_objects(rng, 80_000, h)
    h.update(json.dumps(results, sort_keys=True).encode())
    print("results", json.dumps(results, sort_keys=True))
    print("checksum", h.hexdigest())


if __name__ == "__main__":
    main()
