#!/usr/bin/env python3
"""Checks that every module of src/ imports only modules of lower layers.

The layers, top to bottom, are those of docs/ARCHITECTURE.md ("Layers"); a module may
name another module of the crate (`use crate::x`, `crate::x::...`) only if that module's
layer is below its own. Files of one module folder (src/global/*.rs) are one module and
may use each other. Unit tests (src/tests/) and the shadow model that drives the heaps
from outside (src/shadow/, for the tests and the fuzz targets) are exempt. Prints each import that goes
sideways or up, and exits 1 if there is any; prints the module graph with --graph.
"""
import os
import re
import sys

LAYERS = [
    ["exports", "rust_alloc"],
    ["cabi", "introspect"],
    ["global"],
    ["tcache"],
    ["arena"],
    ["freed", "large"],
    ["bestfit", "buddy"],
    ["heap"],
    ["chunkmap", "options", "trace"],
    ["seal", "sync", "counters"],
    ["os", "diag"],
    ["valgrind"],
]

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
LEVEL = {m: i for i, layer in enumerate(LAYERS) for m in layer}
USE = re.compile(r"\buse\s+crate::(\{[^;]*\}|[A-Za-z_][A-Za-z0-9_]*)", re.S)
PATH = re.compile(r"\bcrate::([A-Za-z_][A-Za-z0-9_]*)")


def module_of(rel):
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def imports(text):
    found = set()
    for m in USE.finditer(text):
        group = m.group(1)
        if group.startswith("{"):
            for name in re.findall(r"(?:^|[{,])\s*([A-Za-z_][A-Za-z0-9_]*)", group):
                found.add(name)
        else:
            found.add(group)
    found.update(PATH.findall(text))
    return found


def main():
    graph = {}
    unknown = []
    for dirpath, _, files in os.walk(ROOT):
        for name in sorted(files):
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, ROOT)
            mod = module_of(rel)
            if mod in ("lib", "tests", "shadow"):
                continue
            if mod not in LEVEL:
                unknown.append(rel)
                continue
            with open(path) as f:
                text = strip_comments(f.read())
            for target in imports(text):
                if target != mod:
                    graph.setdefault(mod, {}).setdefault(target, set()).add(rel)
    bad = []
    for mod, targets in sorted(graph.items()):
        for target, files in sorted(targets.items()):
            if target not in LEVEL:
                unknown.append("%s (imported by %s)" % (target, ", ".join(sorted(files))))
            elif LEVEL[target] <= LEVEL[mod]:
                bad.append("%s (layer %d) imports %s (layer %d): %s"
                           % (mod, LEVEL[mod], target, LEVEL[target], ", ".join(sorted(files))))
    if "--graph" in sys.argv:
        for mod, targets in sorted(graph.items(), key=lambda kv: LEVEL.get(kv[0], 99)):
            print("%-11s -> %s" % (mod, " ".join(sorted(targets))))
    for line in unknown:
        print("check-layers: not in any layer (add it to LAYERS and ARCHITECTURE.md): " + line)
    for line in bad:
        print("check-layers: import goes sideways or up: " + line)
    if bad or unknown:
        return 1
    print("check-layers: %d modules, every import goes down a layer" % len(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main())
