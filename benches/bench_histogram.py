"""End-to-end `histogram` time on a real ~1 GB core against a one-pass read of the same bytes.

Makes a core of a node process holding ~1 GB of heap, warms the page cache, then times in
the same run: (a) numpy summing every byte of the core's segments once, the baseline, and
(b) v8scan's histogram (open, scan, name). Prints both and the ratio; the core is deleted.

    python benches/bench_histogram.py [--heap-mb 900] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np

import v8scan
from v8scan.core import CoreFile
from v8scan.demo import take_core

FILL = r"""
const keep = [];
const target = Number(process.argv[2]) * 1024 * 1024;
class Row { constructor(i) { this.id = i; this.name = 'row ' + i; this.tags = [i]; } }
let i = 0;
while (process.memoryUsage().heapUsed < target) {
  for (let k = 0; k < 10000; k++) keep.push(new Row(i++));
}
globalThis.gc();
console.log('ready', keep.length);
setInterval(() => {}, 1000);
"""


def one_pass_read(path: str) -> float:
    with CoreFile(path) as core:
        data = core.memory.as_array()
        start = time.perf_counter()
        total = 0
        for seg in core.memory.segments:
            total += int(data[seg.offset: seg.offset + seg.filesz].sum(dtype=np.uint64))
        return time.perf_counter() - start


def histogram_time(path: str) -> float:
    start = time.perf_counter()
    with v8scan.open_dump(path) as dump:
        dump.histogram()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heap-mb", type=int, default=900)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="v8scan-bench-")
    try:
        script = os.path.join(workdir, "fill.js")
        with open(script, "w") as f:
            f.write(FILL)
        proc = subprocess.Popen(["node", "--expose-gc", f"--max-old-space-size={args.heap_mb * 2}",
                                 script, str(args.heap_mb)], stdout=subprocess.PIPE, text=True)
        try:
            proc.stdout.readline()
            core = take_core(shutil.which("gcore") or "gcore", proc.pid,
                             os.path.join(workdir, "core"))
        finally:
            proc.kill()
            proc.wait()
        size = os.path.getsize(core)
        one_pass_read(core)  # warm the page cache
        histogram_time(core)
        reads = [one_pass_read(core) for _ in range(args.repeat)]
        hists = [histogram_time(core) for _ in range(args.repeat)]
        read, hist = min(reads), min(hists)
        print(f"core size           {size / 2**30:.2f} GiB")
        print(f"one-pass numpy read {read:.3f} s  ({size / 2**30 / read:.2f} GiB/s)")
        print(f"v8scan histogram    {hist:.3f} s  ({size / 2**30 / hist:.2f} GiB/s)")
        print(f"ratio               {hist / read:.2f}x (best of {args.repeat}, warm cache)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
