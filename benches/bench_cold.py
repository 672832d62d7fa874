"""Read the heap, not the core (issue 15): what `histogram`, `instances` and `diff` read of
a core, and how long they take, cold and warm.

Makes two cores, a second apart, of a node process holding --heap-mb MB of live rows (the
issue's bench core: a ~1 GB core of a small heap), kept as gcore writes them (zeros
written out, as a core copied from another machine is; --sparse digs holes). Each run is
a fresh process, timed from its start (Python start-up included), with the bytes that
process read from the disk (/proc/PID/io read_bytes):

  cold   each core's pages evicted first (fsync, posix_fadvise(POSIX_FADV_DONTNEED)):
         reading every byte of the core, reading only its heap pages' object areas, and
         the commands; the goals: a command at most 1.5x the heap pages' read and at
         least 4x faster than the whole core's, reading at most the heap pages plus 1%
         of the rest (diff: both cores)
  warm   the cores in the page cache: the commands against the goal of 0.25 s plus the
         heap pages' bytes at 2 GB/s per scanning thread, and against this machine's
         floor, a Python process that imports numpy

Needs a file system that honours POSIX_FADV_DONTNEED (not tmpfs: --workdir elsewhere).

    python benches/bench_cold.py [--heap-mb 30] [--repeat 3] [--sparse] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _cores import make_cores  # noqa: E402

CHUNK = 8 << 20
GOAL_FIXED, GOAL_RATE = 0.25, 2e9  # seconds; bytes per second per scanning thread


def evict(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_bytes() -> int:
    """Bytes this process has caused to be read from storage."""
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("read_bytes:"))


def heap_ranges(path: str) -> list[tuple[int, int]]:
    """(file offset, size) of the heap pages' object areas."""
    import v8scan
    with v8scan.open_dump(path) as dump:
        return [(p.area_start - seg.vaddr + seg.offset, p.area_end - p.area_start)
                for p in dump.pages for seg in [dump.core.memory.segment_at(p.area_start)]]


def child(mode: str, paths: list[str], ranges_file: str) -> None:
    """One run, in this fresh process: prints the bytes it read from the disk."""
    before = read_bytes()
    commands = {"histogram": ["histogram", paths[0], "--quiet"],
                "instances": ["instances", paths[0], "Row", "--limit", "1"],
                "diff": ["diff", *paths, "--quiet"]}
    if mode == "numpy":
        import numpy  # noqa: F401
    elif mode in commands:
        from v8scan.cli import main
        try:
            main(commands[mode])
        except SystemExit as exc:
            if exc.code:
                raise
    else:
        with open(ranges_file) as f:
            ranges = json.load(f)
        buffer = bytearray(CHUNK)
        for path in paths:
            parts = ranges[path] if mode == "heap" else [[0, os.path.getsize(path)]]
            with open(path, "rb", buffering=0) as core:
                for offset, size in parts:
                    core.seek(offset)
                    while size > 0:
                        got = core.readinto(memoryview(buffer)[:min(size, CHUNK)])
                        if not got:
                            break
                        size -= got
    print(json.dumps({"read_bytes": read_bytes() - before}), file=sys.__stderr__)


def measure(mode: str, paths: list[str], ranges_file: str, cold: bool) -> dict:
    if cold:
        for path in paths:
            evict(path)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", mode, ranges_file, *paths],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=True)
    # The whole process, Python's start-up included, as a user waits for it.
    return {"seconds": time.perf_counter() - started,
            "read_bytes": json.loads(done.stderr.strip().splitlines()[-1])["read_bytes"]}


def best_of(runs: dict[str, tuple[str, list[str]]], ranges_file: str, cold: bool,
            repeat: int) -> dict[str, dict]:
    """The fastest of `repeat` runs of each of `runs` (name: mode, cores), in rounds that
    run each once: this machine's speed drifts by tens of percent over minutes, and
    rounds expose every mode to the same drift."""
    found: dict[str, dict] = {}
    for _ in range(repeat):
        for name, (mode, paths) in runs.items():
            r = measure(mode, paths, ranges_file, cold)
            if name not in found or r["seconds"] < found[name]["seconds"]:
                found[name] = r
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heap-mb", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sparse", action="store_true")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[2:], args.child[1])
        return
    # As pip does on install: else, under PYTHONDONTWRITEBYTECODE or an editable install
    # whose sources changed, every run would compile v8scan's modules first (50 ms).
    import v8scan
    compileall.compile_dir(os.path.dirname(v8scan.__file__), quiet=1)
    workdir = tempfile.mkdtemp(prefix="v8scan-cold-", dir=args.workdir)
    try:
        paths, rows = make_cores(args.heap_mb, workdir, count=2, sparse=args.sparse)
        ranges_file = os.path.join(workdir, "heap.json")
        ranges = {path: heap_ranges(path) for path in paths}
        with open(ranges_file, "w") as f:
            json.dump(ranges, f)
        heap = {path: sum(size for _, size in ranges[path]) for path in paths}
        size = {path: os.path.getsize(path) for path in paths}
        threads = len(os.sched_getaffinity(0))
        print(f"cores           2 x {size[paths[0]] / 2**30:.2f} GiB "
              f"({'sparse' if args.sparse else 'dense, as gcore writes them'}), "
              f"{rows:,} rows held; heap pages' object areas "
              f"{heap[paths[0]] / 2**20:,.1f} MiB each; {threads} cores")
        one, two = paths[:1], paths
        cold = best_of({"whole": ("whole", one), "heap": ("heap", one),
                        "histogram": ("histogram", one), "instances": ("instances", one),
                        "whole x2": ("whole", two), "heap x2": ("heap", two),
                        "diff": ("diff", two)}, ranges_file, True, args.repeat)
        print("\ncold (evicted before each run), best of", args.repeat, "rounds")
        for name, r in cold.items():
            print(f"  {name:<10} {r['seconds']:7.3f} s   read {r['read_bytes'] / 2**20:8,.1f} MiB")
        for command, base in (("histogram", ""), ("instances", ""), ("diff", " x2")):
            r, h, w = cold[command], cold["heap" + base], cold["whole" + base]
            cores = two if base else one
            rest = sum(size[p] - heap[p] for p in cores)
            extra = r["read_bytes"] - sum(heap[p] for p in cores)
            print(f"  {command:<10} {r['seconds'] / h['seconds']:.2f}x the heap pages' read "
                  f"(goal <= 1.5x), whole core {w['seconds'] / r['seconds']:.2f}x its time "
                  f"(goal >= 4x), read beyond the heap pages {extra / 2**20:,.1f} MiB = "
                  f"{100 * extra / rest:.2f}% of the rest (goal <= 1%)")
        warm = best_of({"numpy": ("numpy", one), "histogram": ("histogram", one),
                        "instances": ("instances", one), "diff": ("diff", two)},
                       ranges_file, False, args.repeat)
        floor = warm["numpy"]["seconds"]
        print(f"\nwarm (in the page cache), best of {args.repeat}; a Python process that "
              f"imports numpy takes {floor:.3f} s here")
        for command, cores in (("histogram", one), ("instances", one), ("diff", two)):
            seconds = warm[command]["seconds"]
            goal = GOAL_FIXED + sum(heap[p] for p in cores) / (GOAL_RATE * threads)
            print(f"  {command:<10} {seconds:.3f} s; goal {goal:.3f} s "
                  f"({seconds / goal:.2f}x it); {seconds - floor:.3f} s beyond numpy's "
                  "start-up")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
