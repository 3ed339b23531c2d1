#!/usr/bin/env python3
"""Writes report/tests/sample-replay.json: a replay.json shaped like a real run, for the
report's tests and `make report-sample`.

Not a real trace: a seeded workload (grow, churn, shrink, churn) replayed through two toy
heaps at 4 KiB cell granularity, so that the timeline and the maps agree with each other the
way a real replay's do. "best-fit" carves the smallest free run that fits and coalesces on
free; "buddy" rounds each block up to a power of two of cells and splits and merges buddies.
Both map 4 MiB regions (first cell metadata), unmap a region once it is wholly free, and put
requests above 1 MiB in mappings of their own.

    python3 report/tests/make-sample.py [OUT.json]
"""
import json
import random
import sys

CELL = 4096
REGION_CELLS = 1024  # 4 MiB regions
HEADER = 16
LARGE = 1 << 20
SAMPLES = 2000


def cells_for(req):
    return (req + HEADER + CELL - 1) // CELL


class BestFit:
    name = "best-fit"

    def __init__(self):
        self.regions = {}  # base -> list of kinds per cell
        self.free = {}  # base -> {start: length}
        self.blocks = {}  # id -> (base, start, ncells, live)
        self.next_base = 0x7F3A00000000

    def new_region(self):
        base = self.next_base
        self.next_base += REGION_CELLS * CELL * 3  # leave gaps, as mmap does
        cells = ["F"] * REGION_CELLS
        cells[0] = "M"
        self.regions[base] = cells
        self.free[base] = {1: REGION_CELLS - 1}
        return base

    def alloc(self, oid, req):
        n = cells_for(req)
        pad = 1 if req % 7 == 0 and n > 2 else 0  # an aligned request now and then
        need = n + pad
        best = None
        for base, spans in self.free.items():
            for start, length in spans.items():
                if length >= need and (best is None or length < best[2]):
                    best = (base, start, length)
        if best is None:
            base = self.new_region()
            best = (base, 1, REGION_CELLS - 1)
        base, start, length = best
        del self.free[base][start]
        if length > need:
            self.free[base][start + need] = length - need
        cells = self.regions[base]
        for i in range(start, start + n):
            cells[i] = "L"
        for i in range(start + n, start + need):
            cells[i] = "P"
        self.blocks[oid] = (base, start, need, n)
        # the block's own size: the request and header, 16-aligned (the cells only approximate it)
        return (req + HEADER + 15) // 16 * 16 + pad * CELL

    def release(self, oid):
        base, start, need, _ = self.blocks.pop(oid)
        cells = self.regions[base]
        for i in range(start, start + need):
            cells[i] = "F"
        spans = self.free[base]
        end = start + need
        if end in spans:
            need += spans.pop(end)
        for s, l in list(spans.items()):
            if s + l == start:
                del spans[s]
                start, need = s, l + need
                break
        spans[start] = need
        if need == REGION_CELLS - 1 and len(self.regions) > 1:
            del self.regions[base]
            del self.free[base]

    def largest_free(self):
        return max((l for spans in self.free.values() for l in spans.values()), default=0)


class Buddy:
    name = "buddy"
    TOP = 10  # order of a region

    def __init__(self):
        self.regions = {}
        self.free = {}  # order -> set of (base, start)
        self.blocks = {}
        self.next_base = 0x7F5C00000000

    def new_region(self):
        base = self.next_base
        self.next_base += REGION_CELLS * CELL * 2
        cells = ["F"] * REGION_CELLS
        cells[0] = "M"
        self.regions[base] = cells
        # cell 0 holds the metadata: the rest is free blocks of order 0, 1, ..., 9
        for order in range(self.TOP):
            self.free.setdefault(order, set()).add((base, 1 << order))
        return base

    def alloc(self, oid, req):
        n = cells_for(req)
        order = max(0, (n - 1).bit_length())
        o = order
        while o < self.TOP and not self.free.get(o):
            o += 1
        if o == self.TOP:
            self.new_region()
            o = order
            while not self.free.get(o):
                o += 1
        base, start = min(self.free[o])
        self.free[o].discard((base, start))
        while o > order:
            o -= 1
            self.free.setdefault(o, set()).add((base, start + (1 << o)))
        size = 1 << order
        cells = self.regions[base]
        for i in range(start, start + size):
            cells[i] = "L" if i < start + n else "P"
        self.blocks[oid] = (base, start, order)
        # the block's own size: a power of two of bytes (of cells when it spans several)
        return size * CELL if n > 1 else 1 << max(5, (req + HEADER - 1).bit_length())

    def release(self, oid):
        base, start, order = self.blocks.pop(oid)
        cells = self.regions[base]
        for i in range(start, start + (1 << order)):
            cells[i] = "F"
        while order < self.TOP - 1:
            buddy = start ^ (1 << order)
            if buddy == 0 or (base, buddy) not in self.free.get(order, ()):
                break
            self.free[order].discard((base, buddy))
            start = min(start, buddy)
            order += 1
        self.free.setdefault(order, set()).add((base, start))
        if cells.count("F") == REGION_CELLS - 1 and len(self.regions) > 1:
            for o in range(self.TOP):
                self.free[o].discard((base, 1 << o))
            del self.regions[base]

    def largest_free(self):
        return max(((1 << o) for o, s in self.free.items() if s), default=0)


def workload(seed):
    """(call, op, id, size): op 'm' malloc or 'f' free."""
    rnd = random.Random(seed)
    live = []
    ops = []
    oid = 0
    calls = 40000
    for call in range(calls):
        phase = call / calls
        if phase < 0.45:
            p_alloc, big = 0.70, 0.10
        elif phase < 0.60:
            p_alloc, big = 0.50, 0.22
        elif phase < 0.78:
            p_alloc, big = 0.20, 0.10
        else:
            p_alloc, big = 0.52, 0.04
        if live and rnd.random() >= p_alloc:
            i = rnd.randrange(len(live))
            live[i], live[-1] = live[-1], live[i]
            ops.append((call, "f", live.pop(), 0))
            continue
        r = rnd.random()
        if r < 0.0006:
            size = rnd.randint(LARGE + 1, 3 * LARGE)
        elif r < big:
            size = int(2 ** rnd.uniform(12.5, 17.2)) + rnd.randint(0, 4000)
        else:
            size = int(2 ** rnd.uniform(10.5, 12.6))
        oid += 1
        live.append(oid)
        ops.append((call, "m", oid, size))
    return ops


def replay(heap, ops, seed):
    rnd = random.Random(seed)
    requested = reserved = large = 0
    sizes = {}
    timeline = []
    peak = (-1, 0)
    peak_state = None
    every = max(1, len(ops) // SAMPLES)
    ns = 0.0
    base_ns = {"best-fit": 61.0, "buddy": 47.0}[heap.name]
    for i, (call, op, oid, size) in enumerate(ops):
        ns += base_ns * rnd.uniform(0.7, 1.4)
        if op == "m":
            if size > LARGE:
                got = (size + HEADER + CELL - 1) // CELL * CELL
                large += got
            else:
                got = heap.alloc(oid, size)
            sizes[oid] = (size, got)
            requested += size
            reserved += got
        else:
            size, got = sizes.pop(oid)
            requested -= size
            reserved -= got
            if size > LARGE:
                large -= got
            else:
                heap.release(oid)
        foot = len(heap.regions) * REGION_CELLS * CELL + large
        if foot > peak[1]:
            peak = (call, foot)
            cells = [c for r in heap.regions.values() for c in r]
            free_cells = cells.count("F")
            peak_state = {
                "requested": requested,
                "reserved": reserved,
                "map": snapshot(heap, call),
                "largest": heap.largest_free() * CELL,
                "free": free_cells * CELL,
            }
        if i % every == 0 or i == len(ops) - 1:
            timeline.append({"call": call, "time_ns": int(ns), "requested": requested,
                             "reserved": reserved, "heap": foot})
    peak_requested = max(s["requested"] for s in timeline)
    table = {
        "calls": len(ops),
        "peak_footprint": peak[1],
        "peak_live_requested": peak_requested,
        "internal_fragmentation": round(peak_state["reserved"] / max(1, peak_state["requested"]), 4),
        "external_fragmentation_at_peak": round(1 - peak_state["largest"] / max(1, peak_state["free"]), 4),
        "largest_free_at_peak": peak_state["largest"],
        "ns_per_call": round(ns / len(ops), 1),
        "peak_call": peak[0],
    }
    return {"name": heap.name, "table": table, "timeline": timeline,
            "maps": {"peak": peak_state["map"], "end": snapshot(heap, ops[-1][0])}}


def snapshot(heap, call):
    return {"call": call, "cell_bytes": CELL,
            "regions": [{"base": hex(b), "cells": "".join(c)} for b, c in sorted(heap.regions.items())]}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "report/tests/sample-replay.json"
    ops = workload(15)
    heaps = [replay(BestFit(), ops, 1), replay(Buddy(), ops, 2)]
    doc = {
        "trace": "out/insight/python3-workload.bbtrace",
        "records": len(ops),
        "threads": 2,
        "complete": True,
        "warnings": [],
        "heaps": heaps,
        "peers": [
            {"name": "glibc", "peak_rss": 131203072, "seconds": 0.0041},
            {"name": "jemalloc", "peak_rss": 119537664, "seconds": 0.0035},
            {"name": "mimalloc", "peak_rss": 125829120, "seconds": 0.0031},
        ],
    }
    # One timeline sample or map region a line: small diffs when the generator changes.
    text = json.dumps(doc, separators=(",", ":"))
    text = text.replace('},{"call"', '},\n{"call"').replace('},{"base"', '},\n{"base"')
    with open(out, "w") as f:
        f.write(text + "\n")
    for h in heaps:
        m = h["maps"]["peak"]
        print(h["name"], h["table"], "regions at peak:", len(m["regions"]),
              "end:", len(h["maps"]["end"]["regions"]), file=sys.stderr)


if __name__ == "__main__":
    main()
