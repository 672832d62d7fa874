"""`retainers` of a class with 100,000 instances on a real ~1 GB core, against one
`histogram` of the same core in the same run (target: within 2x).

The program holds 100,000 Leak objects in a module-level Map's values (their path:
Map entries, a variable in the module's context) among ~500 MB of other rows. Times are
in this process (open, scan, and for retainers also finding the Leak objects and every
hop, as `v8scan retainers CORE Leak` does),
best of --repeat, warm cache; the core is deleted.

    python benches/bench_retainers.py [--heap-mb 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import v8scan
from v8scan.retainers import retainer_paths, targets_named

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _cores import FILL, histogram_time, make_core  # noqa: E402

PROGRAM = FILL.replace("const keep = [];", """const keep = [];
class Leak { constructor(i) { this.i = i; } }
const pending = new Map();
for (let i = 0; i < 100000; i++) pending.set(i, new Leak(i));
setInterval(() => pending.size, 1 << 30);""")


def retainers_time(path: str) -> tuple[float, list]:
    start = time.perf_counter()
    with v8scan.open_dump(path) as dump:
        paths = retainer_paths(dump, targets_named(dump, "Leak"))
    return time.perf_counter() - start, paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heap-mb", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="v8scan-bench-")
    try:
        core, _ = make_core(args.heap_mb, workdir, program=PROGRAM)
        size = os.path.getsize(core) / 2**30
        histogram_time(core)  # warm the page cache
        hist = min(histogram_time(core) for _ in range(args.repeat))
        runs = [retainers_time(core) for _ in range(args.repeat)]
        ret = min(r[0] for r in runs)
        print(f"core        {size:.2f} GiB")
        for p in runs[0][1][:3]:
            print(f"path        {p.count:,} Leak: {' <- '.join(p.steps)}")
        print(f"histogram   {hist:.3f} s")
        print(f"retainers   {ret:.3f} s  ({ret / hist:.2f}x histogram; best of {args.repeat}, "
              "warm cache)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
