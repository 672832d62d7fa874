"""The dominator tree and retained sizes of a real core, against one `histogram` of the
same core in the same run (issue 16's goal: the tree costs at most 1x a histogram).

Makes a core of a node process holding --heap-mb MB of live rows (the default: the 1 GB
bench core of bench_cold.py), then times, in this process with the core in the page
cache, best of --repeat rounds that each run both:

  histogram   open the dump, scan, name every row (as `v8scan histogram` does)
  dominators  on a dump already scanned: the marking again, the edges, the tree and the
              retained sizes (what `histogram --retained` and `dominators` add)

    python benches/bench_dominators.py [--heap-mb 30] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import v8scan

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _cores import histogram_time, make_core  # noqa: E402


def dominators_time(path: str) -> tuple[float, int, int]:
    """Seconds to build the dominator tree of a scanned dump; objects, live bytes."""
    with v8scan.open_dump(path) as dump:
        graph = dump.graph_of(dump.scan())
        start = time.perf_counter()
        tree = dump.dominators()
        return time.perf_counter() - start, len(graph.addresses), int(tree.retained[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heap-mb", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="v8scan-dominators-")
    try:
        path, rows = make_core(args.heap_mb, workdir)
        histogram, dominators = [], []
        for _ in range(args.repeat):  # in rounds: the machine's speed drifts
            histogram.append(histogram_time(path))
            seconds, objects, live = dominators_time(path)
            dominators.append(seconds)
        print(f"core {os.path.getsize(path) / 2**30:.2f} GiB, {rows:,} rows held: "
              f"{objects:,} objects, {live / 2**20:,.1f} MiB live; "
              f"{len(os.sched_getaffinity(0))} cores; best of {args.repeat}")
        print(f"  histogram   {min(histogram):.3f} s")
        print(f"  dominators  {min(dominators):.3f} s = "
              f"{min(dominators) / min(histogram):.2f}x the histogram (goal <= 1x)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
