"""Smoke test of an installed v8scan: no node, gdb or network needed.

Checks that the package imports, that the command and every subcommand answer --help,
and that the compiled scanner and its pure-Python twin agree, on a heap made here, with
each other and with what the heap was made of: the objects counted and listed, and the
objects reachable from the roots. Run by the wheel builds (cibuildwheel's test command)
and by tools/release_check.py on every wheel and sdist it installs.

    python tools/smoke_test.py [--compiled | --pure]

--compiled fails if the compiled scanner is not installed; --pure fails if it is (an
install made without a compiler must still work, with the twin).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import deque

import numpy as np

import v8scan
from v8scan.scan import _scan_py, scanrules

VADDR = 0x7F0000000000
HEADER_MAPS = 4  # words at the area's start that hold the maps' stand-ins
SIZES = (16, 24, 40, 64)  # bytes, one map per size


def made_heap(n_objects: int, seed: int):
    """An area of objects of four fixed-size maps, their words pointing at random other
    objects (tagged ...001), Smis, or weak references (...011, not followed)."""
    rng = np.random.default_rng(seed)
    maps = rng.integers(0, len(SIZES), n_objects)
    sizes = np.array(SIZES)[maps]
    starts = HEADER_MAPS * 8 + np.concatenate([[0], np.cumsum(sizes)[:-1]])
    words = np.zeros((HEADER_MAPS * 8 + int(sizes.sum())) // 8, dtype=np.uint64)
    addresses = (VADDR + starts).astype(np.uint64)
    map_words = VADDR + 8 * np.arange(len(SIZES), dtype=np.uint64) + 1
    words[starts // 8] = map_words[maps]
    edges: dict[int, list[int]] = {i: [] for i in range(n_objects)}
    for i, (start, size) in enumerate(zip(starts.tolist(), sizes.tolist())):
        for w in range(start // 8 + 1, (start + size) // 8):
            kind, target = rng.integers(0, 3), int(rng.integers(0, n_objects))
            if kind == 0:
                words[w] = int(addresses[target]) + 1  # strong
                edges[i].append(target)
            elif kind == 1:
                words[w] = int(addresses[target]) + 3  # weak
            else:
                words[w] = int(rng.integers(0, 1 << 20)) << 32  # a Smi
    rules = (np.full(len(SIZES), scanrules.SIZE_FIXED, np.uint8),
             np.array(SIZES, np.int64), np.zeros(len(SIZES), np.uint8),
             scanrules.ScanParams(*[0] * len(scanrules.ScanParams._fields))._replace(
                 tagged_size=8, header_size=16, length_offset=8))
    area = np.array([[VADDR + HEADER_MAPS * 8, HEADER_MAPS * 8,
                      8 * len(words) - HEADER_MAPS * 8]], dtype=np.uint64)
    return words.view(np.uint8), area, map_words, rules, addresses, maps, edges


def reachable(edges: dict[int, list[int]], roots: list[int]) -> set[int]:
    seen, queue = set(roots), deque(roots)
    while queue:
        for j in edges[queue.popleft()]:
            if j not in seen:
                seen.add(j)
                queue.append(j)
    return seen


def check_scanners(compiled) -> None:
    data, area, keys, (kinds, fixed, flags, params), addresses, maps, edges = made_heap(
        3000, seed=7)
    for impl in (_scan_py, compiled):
        counts, sizes, _, _ = impl.count_objects(data, area, keys, kinds, fixed, flags, params)
        assert counts.tolist() == np.bincount(maps, minlength=len(SIZES)).tolist(), impl
        listed, info = np.zeros(len(maps), np.uint64), np.zeros(len(maps), np.uint64)
        assert impl.list_objects(data, area, keys, kinds, fixed, flags, params, 0, 1,
                                 listed, info, 0) == len(maps)
        assert np.array_equal(listed, addresses), impl
        assert np.array_equal(info >> np.uint64(32), maps.astype(np.uint64)), impl
        roots = addresses[[0, 5, 5]] + np.uint64(1)
        marks, _ = impl.mark_reachable(
            data, area, addresses, info, np.full(len(SIZES), scanrules.TRACE_ALL, np.int64),
            np.zeros(len(SIZES), np.uint8), 16, 18, roots, np.zeros(3, np.int32))
        assert set(np.flatnonzero(marks).tolist()) == reachable(edges, [0, 5]), impl


def check_commands() -> None:
    commands = ["histogram", "diff", "instances", "inspect", "retainers", "info", "demo"]
    for args in [["--help"], ["--version"]] + [[c, "--help"] for c in commands]:
        done = subprocess.run([sys.executable, "-m", "v8scan", *args], capture_output=True,
                              text=True)
        assert done.returncode == 0 and done.stdout.strip(), (args, done.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--compiled", action="store_true",
                       help="fail if the compiled scanner is not installed")
    which.add_argument("--pure", action="store_true",
                       help="fail if the compiled scanner is installed")
    args = parser.parse_args()
    for name in v8scan.__all__:
        getattr(v8scan, name)
    try:
        from v8scan.scan import _scan as compiled
    except ImportError:
        compiled = None
    if args.compiled and compiled is None:
        sys.exit("smoke test: the compiled scanner is not installed")
    if args.pure and compiled is not None:
        sys.exit(f"smoke test: a compiled scanner is installed ({compiled.__file__})")
    check_scanners(compiled or _scan_py)
    check_commands()
    print(f"v8scan {v8scan.__version__} smoke test passed "
          f"({'compiled' if compiled else 'pure-Python'} scanner, Python "
          f"{sys.version.split()[0]})")


if __name__ == "__main__":
    main()
