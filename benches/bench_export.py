"""`v8scan snapshot` of a heap of at least 5M objects, end to end, against issue 16's
goals: at most 60 s on this machine class (andb's published figure: 811 s for 7.8M
objects), peak memory beyond the mapped core at most 2x the graph arrays, and a file no
larger than V8's own snapshot of the same heap.

Makes a node process holding --heap-mb MB of live rows (each a small object, a string
and a one-element array), has it write its own heap snapshot (v8.writeHeapSnapshot()),
then takes a core, and exports it in this process (as `v8scan snapshot` does), timing it
and sampling the anonymous memory it holds beyond what it held before (RssAnon: the
mapped core's pages are file-backed and not in it). The graph arrays are those the
export builds on: the object graph (addresses, info words, marks: 17 bytes per object)
and its edges (sources, targets, slots: 12 bytes per edge).

    python benches/bench_export.py [--heap-mb 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

import v8scan
from v8scan.graph.heapsnapshot import write_heap_snapshot_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _cores import FILL, make_core  # noqa: E402

SNAPSHOT_FIRST = FILL.replace(
    "console.log('ready', keep.length);",
    "require('v8').writeHeapSnapshot(process.env.V8_SNAPSHOT);\n"
    "globalThis.gc();\nconsole.log('ready', keep.length);")


def anonymous_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heap-mb", type=int, default=200)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="v8scan-export-")
    try:
        theirs = os.path.join(workdir, "v8.heapsnapshot")
        os.environ["V8_SNAPSHOT"] = theirs
        path, rows = make_core(args.heap_mb, workdir, program=SNAPSHOT_FIRST)
        ours = os.path.join(workdir, "core.heapsnapshot")
        before = anonymous_bytes()
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                peak[0] = max(peak[0], anonymous_bytes())
        sampler = threading.Thread(target=sample)
        sampler.start()
        start = time.perf_counter()
        with v8scan.open_dump(path) as dump:
            write_heap_snapshot_file(dump, ours)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        peak = peak[0] - before
        with open(ours) as f:
            header = json.loads(f.readline().removeprefix('{"snapshot":').rstrip().rstrip(","))
        nodes, edges = header["node_count"], header["edge_count"]
        graph_bytes = 17 * nodes + 12 * edges
        size, v8_size = os.path.getsize(ours), os.path.getsize(theirs)
        print(f"core {os.path.getsize(path) / 2**30:.2f} GiB, {rows:,} rows held; "
              f"{len(os.sched_getaffinity(0))} cores")
        print(f"  export      {nodes:,} nodes, {edges:,} edges in {seconds:.1f} s "
              f"(goal <= 60 s)")
        print(f"  memory      {peak / 2**20:,.0f} MiB at the peak beyond the mapped core; "
              f"graph arrays {graph_bytes / 2**20:,.0f} MiB: {peak / graph_bytes:.2f}x "
              f"(goal <= 2x)")
        print(f"  file        {size / 2**20:,.1f} MiB; V8's own {v8_size / 2**20:,.1f} MiB: "
              f"{size / v8_size:.2f}x (goal <= 1x)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
