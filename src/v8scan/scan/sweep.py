"""Runs the scanner over a core in chunks, on several threads, with one progress count.

The compiled scanner releases the GIL for the whole of each call, so chunks of one sweep
run on all cores at once. Picks the compiled `_scan` extension, or its plain-Python twin
`_scan_py` when V8SCAN_PUREPYTHON=1 is set or no compiled extension is installed (the twin
gives the same results, one thread at a time). Knows nothing of V8.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..errors import Warnings
from . import _scan_py

Progress = Callable[[int, int], None]  # (work done, total work), in bytes scanned
CHUNK_BYTES = 8 << 20  # per task: small enough to spread over cores and move a bar


def scanner_module(warnings: Optional[Warnings] = None):
    """The compiled scanner, or the Python twin (V8SCAN_PUREPYTHON=1, or no compiler)."""
    if os.environ.get("V8SCAN_PUREPYTHON"):
        return _scan_py
    try:
        from . import _scan  # type: ignore[attr-defined]
    except ImportError:
        if warnings is not None:
            warnings.add("the compiled scanner is not installed; using the slow Python scanner")
        return _scan_py
    return _scan


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def area_groups(areas: np.ndarray, chunk_bytes: Optional[int] = None) -> list[tuple[int, int]]:
    """[start, stop) ranges of consecutive (vaddr, offset, size) areas of about `chunk_bytes`
    (default CHUNK_BYTES) each. Areas are never split, so a walk that must start at an
    object start can use them."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    groups, start, held = [], 0, 0
    for i, size in enumerate(areas[:, 2].tolist()):
        held += size
        if held >= chunk_bytes:
            groups.append((start, i + 1))
            start, held = i + 1, 0
    if start < len(areas):
        groups.append((start, len(areas)))
    return groups


def split_areas(areas: np.ndarray, chunk_bytes: Optional[int] = None,
               overlap: int = 0) -> np.ndarray:
    """Areas cut into pieces of at most `chunk_bytes` (a multiple of 8; default CHUNK_BYTES),
    each piece reaching `overlap` bytes into the next so that a pattern of that many bytes
    plus one word that starts in a piece is wholly inside it."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    pieces = []
    for vaddr, offset, size in areas.tolist():
        for at in range(0, size, chunk_bytes):
            pieces.append((vaddr + at, offset + at, min(chunk_bytes + overlap, size - at)))
    return np.array(pieces, dtype=np.uint64).reshape(-1, 3)


class Sweeper:
    """Runs chunks on a pool of `jobs` threads and adds their bytes to one progress count
    that spans every sweep of a scan (`total`, announced up front, may be an estimate).

    Use as a context manager; the pool's threads end with it.
    """

    def __init__(self, jobs: Optional[int] = None, progress: Optional[Progress] = None,
                 total: int = 0) -> None:
        self.jobs = max(1, jobs or available_cores())
        self.progress = progress
        self.total = total
        self.done = 0
        self._pool = ThreadPoolExecutor(self.jobs) if self.jobs > 1 else None

    def run(self, fn: Callable[..., Any], tasks: Sequence[tuple[tuple, int]],
            weight: int = 1, fold: Optional[Callable[[Any], None]] = None) -> list[Any]:
        """fn(*args) for each (args, bytes) task; results in task order. `weight` scales
        the task's bytes in the progress count, for sweeps that cost more per byte. With
        `fold`, each result is handed to it as it arrives (in any order) and not kept,
        so memory does not grow with the number of chunks."""
        results: dict[int, Any] = {}

        def take(i: int, result: Any) -> None:
            if fold is not None:
                fold(result)
            else:
                results[i] = result
            self.advance(tasks[i][1] * weight)

        if self._pool is None:
            for i, (args, _) in enumerate(tasks):
                take(i, fn(*args))
        else:
            pending: dict[Future, int] = {self._pool.submit(fn, *args): i
                                          for i, (args, _) in enumerate(tasks)}
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        take(pending.pop(future), future.result())
            finally:
                for future in pending:
                    future.cancel()
        return [results[i] for i in range(len(results))]

    def advance(self, amount: int) -> None:
        """Count `amount` more work done (for work done outside `run`)."""
        self.done += amount
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)

    def finish(self) -> None:
        """Mark the count complete (the total may have been an estimate)."""
        if self.progress is not None and self.total:
            self.progress(self.total, self.total)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "Sweeper":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
