"""Scaling: time and peak memory of `histogram` on real cores of 1, 4 and 8 GB heaps.

For each heap size it makes a core of a node process filled to that size (see _cores.py),
warms the page cache, and runs each measurement in a fresh child process, best of
--repeat, warm cache:
  read     numpy summing every byte of the core's segments once (the baseline)
  v8scan   open + scan + name, with --jobs 1 and with every core
  numpy    the same scan written in plain numpy (numpy_scan.py; its counts are checked
           against v8scan's), open + scan, no naming
Peak memory is the child's anonymous resident memory (RssAnon + RssShmem, sampled every
5 ms): what
the process holds beyond the core's mmapped file pages, also per object the walk lists
(the object graph's size). Each core is deleted after use.

    python benches/bench_scaling.py [--heaps-gb 1,4,8] [--repeat 2] [--skip-numpy]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def child(mode: str, core: str, jobs: int) -> None:
    """Run one measurement and print its seconds (and the objects walked, for the numpy
    check and the memory per object)."""
    from _cores import one_pass_read

    import v8scan
    if mode == "read":
        print(json.dumps({"seconds": one_pass_read(core)}))
        return
    start = time.perf_counter()
    with v8scan.open_dump(core) as dump:
        if mode == "v8scan":
            dump.histogram(jobs=jobs)
            seconds = time.perf_counter() - start
            # The numpy reference counts every object the walk finds, reachable or not:
            # compare it with v8scan's census of the same areas before marking.
            from v8scan.scan.heapscan import count_all
            from v8scan.scan.sweep import Sweeper
            scan = dump.scan()
            with Sweeper(jobs) as sweeper:
                walked = count_all(dump.core.memory, scan.plan, scan.per_object, sweeper)
            counts = walked.counts
        else:
            from numpy_scan import numpy_scan
            _, counts, _ = numpy_scan(dump)
            seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "objects": int(counts.sum())}))


def measure(mode: str, core: str, jobs: int) -> dict:
    """Run `child` in a fresh process; add its peak RssAnon in MiB."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, core, str(jobs)],
                            stdout=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _rss_anon_kib(proc.pid))
        time.sleep(0.005)
    out = proc.stdout.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed on {core}")
    result = json.loads(out)
    result["peak_mib"] = peak / 1024
    return result


def _rss_anon_kib(pid: int) -> int:
    """Resident memory that is not a file's pages: RssAnon, plus RssShmem (anonymous
    shared mappings count there)."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssShmem:")):
                    total += int(line.split()[1])
    except OSError:
        pass
    return total


def best(mode: str, core: str, jobs: int, repeat: int) -> dict:
    runs = [measure(mode, core, jobs) for _ in range(repeat)]
    fastest = min(runs, key=lambda r: r["seconds"])
    fastest["peak_mib"] = max(r["peak_mib"] for r in runs)
    return fastest


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    from _cores import make_core

    from v8scan.scan.sweep import available_cores
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heaps-gb", default="1,4,8")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-numpy", action="store_true")
    args = parser.parse_args()
    cores = available_cores()
    rows = []
    for heap_gb in [float(x) for x in args.heaps_gb.split(",")]:
        workdir = tempfile.mkdtemp(prefix="v8scan-scaling-")
        try:
            made = time.perf_counter()
            core, held = make_core(int(heap_gb * 1024), workdir)
            size = os.path.getsize(core) / 2**30
            print(f"# {heap_gb:g} GB heap: {held:,} rows, core {size:.2f} GiB "
                  f"(made in {time.perf_counter() - made:.0f} s)", flush=True)
            measure("read", core, 1)  # warm the page cache
            read = best("read", core, 1, args.repeat)
            one = best("v8scan", core, 1, args.repeat)
            every = best("v8scan", core, cores, args.repeat)
            reference = None if args.skip_numpy else best("numpy", core, 1, 1)
            # The reference does the same walk, without v8scan's refinements (stale
            # allocation areas): it must count the same objects, give or take a few.
            if reference is not None and \
                    abs(reference["objects"] - every["objects"]) > every["objects"] // 1000:
                raise RuntimeError("the numpy reference counted differently from v8scan")
            rows.append((heap_gb, size, read, one, every, reference))
            print(_row(*rows[-1], cores), flush=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(_header(cores))
    for row in rows:
        print(_row(*row, cores))
    print(f"\nbest of {args.repeat}, warm cache, {cores} cores; peak = RssAnon + RssShmem "
          "(beyond the mmapped core); numpy reference: one run")


def _header(cores: int) -> str:
    return (f"| heap | core GiB | read s | jobs 1 s | jobs {cores} s | GiB/s | ratio to read | "
            f"speed-up | objects | peak MiB | bytes per object | numpy ref s | "
            f"numpy / v8scan |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def _row(heap_gb, size, read, one, every, reference, cores) -> str:
    ref = (f"{reference['seconds']:.1f} | {reference['seconds'] / every['seconds']:.0f}x"
           if reference else "- | -")
    peak = max(one["peak_mib"], every["peak_mib"])
    return (f"| {heap_gb:g} GB | {size:.2f} | {read['seconds']:.2f} | {one['seconds']:.2f} | "
            f"{every['seconds']:.2f} | {size / every['seconds']:.2f} | "
            f"{every['seconds'] / read['seconds']:.2f}x | "
            f"{one['seconds'] / every['seconds']:.2f}x | {every['objects']:,} | {peak:.0f} | "
            f"{peak * 2**20 / every['objects']:.1f} | {ref} |")


if __name__ == "__main__":
    main()
