"""End-to-end `histogram` time on a real ~1 GB core against a one-pass read of the same bytes.

Makes a core of a node process holding ~500 MB of live rows (about 1 GB of core), warms the
page cache, then times in the same run: (a) numpy summing every byte of the core's segments
once, the baseline, (b) v8scan's histogram in this process (open the core, scan, name),
and (c) the `v8scan histogram` command as a user runs it (Python start-up included).
Prints the times and ratios; the core is deleted.

    python benches/bench_histogram.py [--heap-mb 500] [--repeat 3] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from v8scan.scan.sweep import available_cores

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _cores import histogram_time, make_core, one_pass_read  # noqa: E402


def command_time(path: str, jobs: int) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "v8scan", "histogram", path, "--jobs", str(jobs),
                    "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heap-mb", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=available_cores())
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="v8scan-bench-")
    try:
        core, rows = make_core(args.heap_mb, workdir)
        size = os.path.getsize(core) / 2**30
        one_pass_read(core)  # warm the page cache
        histogram_time(core, args.jobs)
        read = min(one_pass_read(core) for _ in range(args.repeat))
        hist = min(histogram_time(core, args.jobs) for _ in range(args.repeat))
        command = min(command_time(core, args.jobs) for _ in range(args.repeat))
        print(f"core                {size:.2f} GiB, {rows:,} rows held")
        print(f"one-pass numpy read {read:.3f} s  ({size / read:.2f} GiB/s)")
        print(f"histogram (library) {hist:.3f} s  ({size / hist:.2f} GiB/s), "
              f"ratio {hist / read:.2f}x")
        print(f"v8scan histogram    {command:.3f} s  (the command, Python start-up included), "
              f"ratio {command / read:.2f}x")
        print(f"best of {args.repeat}, warm cache, --jobs {args.jobs}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
