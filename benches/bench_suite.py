"""What the test suite costs a newcomer: wall time, peak temporary disk, download.

Clones this repository into a temporary directory and runs the README's test command
there, as from a fresh clone, with its own empty node cache (so every official node
binary is fetched from the npm registry, as on a fresh machine) unless --cached, and its
own temporary directory. Every half second it samples the disk the run holds: the
temporary directory (cores, snapshots, copies) and npm's cache; the node binaries, which
stay, are reported as the download. The clone and everything made are deleted.

    python benches/bench_suite.py [--cached] [--marker EXPR] [-- PYTEST_ARGS...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def disk_bytes(path: str) -> int:
    """Bytes of disk the files under `path` take (allocated blocks: holes are free)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:  # deleted while we looked
                pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cached", action="store_true",
                        help="use the node binaries already in ~/.cache/v8scan/node")
    parser.add_argument("--marker", help="run only tests matching this -m expression")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="v8scan-suite-")
    try:
        clone, scratch = os.path.join(workdir, "clone"), os.path.join(workdir, "tmp")
        nodes, npm = os.path.join(workdir, "nodes"), os.path.join(workdir, "npm-cache")
        for folder in (scratch, nodes, npm):
            os.makedirs(folder)
        subprocess.run(["git", "clone", "-q", ROOT, clone], check=True)
        env = {**os.environ, "TMPDIR": scratch, "npm_config_cache": npm}
        if not args.cached:
            env["V8SCAN_NODE_CACHE"] = nodes
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   *(["-m", args.marker] if args.marker else []), *args.pytest_args]
        peak, done = [0], threading.Event()

        def sample() -> None:
            while not done.wait(0.5):
                peak[0] = max(peak[0], disk_bytes(scratch) + disk_bytes(npm))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        result = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        lines = result.stdout.strip().splitlines()
        failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
        print(*failed, lines[-1] if lines else "", result.stderr[-2000:] if result.returncode
              else "", sep="\n")
        print(f"command        {' '.join(command[2:])}")
        print(f"exit status    {result.returncode}")
        print(f"wall time      {seconds:.0f} s ({seconds / 60:.1f} min) on "
              f"{len(os.sched_getaffinity(0))} cores")
        print(f"peak temp disk {peak[0] / 2**30:.2f} GiB (sampled every 0.5 s)")
        print(f"left behind    {disk_bytes(scratch) / 2**20:.1f} MiB in the temporary "
              "directory after the run")
        if not args.cached:
            print(f"downloaded     {disk_bytes(nodes) / 2**20:.0f} MiB of node binaries")
        sys.exit(result.returncode)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
