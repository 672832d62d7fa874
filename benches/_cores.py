"""Shared by the benchmarks: a real core of a node process holding a heap of a given size,
the one-pass read every timing is compared with, and the histogram timing."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Optional

import numpy as np

import v8scan
from v8scan.core import CoreFile
from v8scan.demo import take_core

# Rows like a service's cache: a small object, a string and a one-element array each,
# held by a global (a module's const that no closure uses dies with the module function).
FILL = r"""
const keep = globalThis.keep = [];
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


def make_core(heap_mb: int, workdir: str, node: str = "node",
              program: str = FILL) -> tuple[str, int]:
    """gcore of a node process filled to `heap_mb` MB of live rows: (path, rows)."""
    paths, rows = make_cores(heap_mb, workdir, node, program)
    return paths[0], rows


def make_cores(heap_mb: int, workdir: str, node: str = "node", program: str = FILL,
               count: int = 1, sparse: bool = True) -> tuple[list[str], int]:
    """`count` gcores, a second apart, of a node process filled to `heap_mb` MB of live
    rows: (paths, rows). `sparse=False` keeps them as gcore writes them (zeros written
    out, as a core copied from another machine is), for cold reads."""
    script = os.path.join(workdir, "fill.js")
    with open(script, "w") as f:
        f.write(program)
    proc = subprocess.Popen([node, "--expose-gc", f"--max-old-space-size={heap_mb * 2 + 512}",
                             script, str(heap_mb)], stdout=subprocess.PIPE, text=True)
    try:
        ready = proc.stdout.readline()
        if not ready.startswith("ready"):
            raise RuntimeError(f"node did not fill its heap to {heap_mb} MB")
        paths = []
        for n in range(count):
            if n:
                time.sleep(1)
            paths.append(take_core(shutil.which("gcore") or "gcore", proc.pid,
                                   os.path.join(workdir, f"core{n}"), sparse=sparse))
    finally:
        proc.kill()
        proc.wait()
    return paths, int(ready.split()[1])


def one_pass_read(path: str) -> float:
    """Seconds numpy takes to sum every byte the core's segments hold, once."""
    with CoreFile(path) as core:
        data = core.memory.as_array()
        start = time.perf_counter()
        total = 0
        for seg in core.memory.segments:
            total += int(data[seg.offset: seg.offset + seg.filesz].sum(dtype=np.uint64))
        return time.perf_counter() - start


def histogram_time(path: str, jobs: Optional[int] = None) -> float:
    """Seconds to open the core and make its histogram, in this process."""
    start = time.perf_counter()
    with v8scan.open_dump(path) as dump:
        dump.histogram(jobs=jobs)
    return time.perf_counter() - start
