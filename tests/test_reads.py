"""What v8scan reads of a core: the heap pages, and of the rest only where V8 keeps what
the pages do not say (issue 15).

The allocation areas and the global handles are found through V8's Isolate, not by a
search of all writable memory; heap pages are found at segment starts and by their links,
not by a read at every page alignment. These tests check on every Node version that
nothing is lost by looking in fewer places, and that the bytes v8scan says it read are
the bytes the kernel read for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter

import numpy as np
import pytest

import v8scan
from v8scan.graph.roots import (
    _node_blocks_anywhere,
    global_handle_blocks,
    strong_global_handles,
)
from v8scan.scan.heapscan import stale_allocation_areas
from v8scan.scan.isolate import stack_in_use
from v8scan.scan.pages import _aligned_in, _pages_at, find_allocation_areas, outside_pages
from v8scan.scan.sweep import Sweeper

FALLBACKS = ("not found next to its Isolate", "not found through its Isolate")


def test_allocation_areas_and_global_handles_are_found_through_the_isolate(version_cores):
    """No fallback to a search of all memory on any version. Every allocation area that
    search finds is found in the Isolate's neighbourhood too, but stale copies: those
    whose rest V8 has handed out again, those in the dead part of a stack (below its
    stack pointer), and empty ones (nothing allocated: start == top) left in freed memory
    by a GC's evacuators (test_allocation_areas). The global handles the Isolate's links
    lead to are blocks that search finds too."""
    with v8scan.open_dump(version_cores.before) as dump:
        scan = dump.scan()
        assert not [w for w in dump.warnings if any(f in w for f in FALLBACKS)]
        memory, layout, pages = dump.core.memory, dump.layout, dump.pages
        rest = outside_pages(memory, pages, layout.page_alignment)
        near = find_allocation_areas(memory, layout, pages,
                                     dump.isolate.neighbourhood(memory, pages))
        everywhere = find_allocation_areas(memory, layout, pages, rest)
        with Sweeper() as sweeper:
            stale = stale_allocation_areas(memory, scan.areas, scan.maps, scan.walk_rules,
                                           everywhere, sweeper)
        assert near and set(near) <= set(everywhere)
        for area in set(everywhere) - set(near) - set(stale):
            kept = _where_kept(memory, rest, area)
            assert kept and (area.start == area.top or all(
                _in_a_dead_frame(memory, dump.core.threads, at) for at in kept)), area

        blocks = global_handle_blocks(memory, dump.isolate.block[0], dump.isolate.words)
        assert blocks and set(blocks) <= set(_node_blocks_anywhere(memory, pages,
                                                                   layout.page_alignment))
        assert len(strong_global_handles(memory, blocks)) > 0


def _where_kept(memory, rows: np.ndarray, area) -> list[int]:
    """Addresses of the (start, top, limit) words of `area` in the `rows`."""
    data, found = memory.as_array(), []
    for vaddr, offset, size in rows.tolist():
        words = data[offset:offset + size // 8 * 8].view("<u8")
        at = np.flatnonzero((words[:-2] == area.start) & (words[1:-1] == area.top)
                            & (words[2:] == area.limit))
        found += (vaddr + 8 * at).tolist()
    return found


def _in_a_dead_frame(memory, threads, address: int) -> bool:
    """Whether `address` is on a thread's stack below the part in use."""
    seg = memory.segment_at(address)
    return any(memory.segment_at(t.stack_pointer) == seg
               and address < stack_in_use(memory, t)[0] for t in threads)


def test_heap_pages_are_those_a_read_at_every_alignment_finds(version_cores):
    """find_pages looks at segment starts, the code range and the pages' links: it finds
    the pages that probing every page alignment of every segment finds."""
    with v8scan.open_dump(version_cores.before) as dump:
        memory, layout = dump.core.memory, dump.layout
        probed = _pages_at(memory, layout, np.concatenate(
            [_aligned_in(seg, layout.page_alignment) for seg in memory.segments]))
        isolate_heap = Counter(p.heap for p in probed if p.heap).most_common(1)[0][0]
        expected = [p.base for p in probed if p.heap in (0, isolate_heap)]
        assert [p.base for p in dump.pages] == expected


def _evict(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _cached_bytes(path: str) -> int:
    """Bytes of `path` in the page cache (util-linux's fincore)."""
    done = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.split()[0])


@pytest.mark.skipif(shutil.which("fincore") is None, reason="needs util-linux's fincore")
def test_a_histogram_reads_the_heap_pages_and_under_one_percent_of_the_rest(census_cores):
    """From a cold page cache: the histogram reads every heap page and under 1% of the
    rest of the core, and the bytes it says it read (--debug) are those the kernel read
    from the file for it."""
    path = census_cores.before
    _evict(path)
    if _cached_bytes(path) > os.path.getsize(path) // 100:
        pytest.skip("this file system keeps the core cached (POSIX_FADV_DONTNEED ignored)")
    with v8scan.open_dump(path) as dump:
        dump.histogram()
        read, heap = dump.bytes_read(), dump.heap_page_bytes()
        rest = dump.core.memory.total_bytes - heap
    cached = _cached_bytes(path)
    assert heap <= read <= heap + rest // 100
    # Counted in whole pages, as the kernel reads; the notes are read as a file (pyelftools).
    assert abs(cached - read) <= max(read // 50, 1 << 20)
