"""Where V8 keeps what its heap pages do not say: the Isolate, and the threads' stacks.

Every heap page names its Heap, and the Heap is part of the Isolate, a glibc malloc block.
What the scan needs from outside the heap pages is in that block or one pointer away from
it (the allocation areas V8 bumps objects into, the global handles' blocks), or on the
stack of a thread running V8. Looking only there, instead of in all writable memory,
reads well under a MiB of a core, whatever its size. Knows glibc's malloc chunks and the
x86-64 stack, not V8's objects.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..arrays import distinct
from ..core import AddressSpace, Thread
from ..errors import Warnings
from .pages import PF_W, HeapPage

# glibc malloc: a chunk's size word sits just before the block, its low bits are flags.
CHUNK_FLAGS = 7
CHUNK_IS_MMAPPED = 2
ISOLATE_SEARCH = 256 << 10   # the Isolate starts at most this far before its Heap
MAX_ISOLATE = 1 << 20        # and is smaller than this
FALLBACK_BEFORE, FALLBACK_AFTER = 64 << 10, 16 << 10  # the part taken if no block is found
# What the Isolate points at is looked at this far: V8 keeps allocation areas at most
# ~1 KB into the object the Isolate points to (Node 16-26: 216 to 968 bytes).
POINTED_BYTES = 4096
RED_ZONE = 128               # the System V ABI lets a leaf function use this below rsp
MAX_STACK = 64 << 20         # of a thread's stack read (Linux's default limit is 8 MB)


@dataclass(frozen=True, eq=False)
class IsolateMemory:
    """The Isolate's malloc block ([start, end), None where it was not found) and its
    words (read once: the roots and the allocation areas' search both need them), and
    the part in use of each thread's stack ([start, end) per thread, None where not in
    the core)."""

    block: Optional[tuple[int, int]]
    words: np.ndarray
    stacks: tuple[Optional[tuple[int, int]], ...]

    def neighbourhood(self, memory: AddressSpace, pages: Sequence[HeapPage]) -> np.ndarray:
        """(vaddr, file offset, size) rows, in address order, of where V8 keeps its state:
        the Isolate, POINTED_BYTES of writable memory outside the heap pages at each
        address it holds, and the stacks in use."""
        ranges = [stack for stack in self.stacks if stack is not None]
        if self.block is not None:
            ranges.append(self.block)
            pointers = distinct(self.words)
            pointers = pointers[(pointers & np.uint64(7)) == 0]
            ranges += [(p, p + POINTED_BYTES) for p in _outside(memory, pages, pointers)]
        return _rows(memory, ranges)


def locate(memory: AddressSpace, pages: Sequence[HeapPage], threads: Sequence[Thread],
           warnings: Warnings) -> IsolateMemory:
    """The Isolate's block and the stacks in use (see IsolateMemory)."""
    block = isolate_block(memory, pages, warnings)
    words = np.zeros(0, np.uint64) if block is None else words_of(memory, *block)
    return IsolateMemory(block, words, tuple(stack_in_use(memory, thread) for thread in threads))


def isolate_block(memory: AddressSpace, pages: Sequence[HeapPage],
                  warnings: Warnings) -> Optional[tuple[int, int]]:
    """[start, end) of the Isolate: the malloc'ed block that holds the Heap the pages
    name."""
    heaps = Counter(page.heap for page in pages if page.heap)
    if not heaps:
        warnings.add("no heap page names its Heap, so V8's Isolate (its own roots) was "
                     "not found")
        return None
    heap = heaps.most_common(1)[0][0]
    block = malloc_block_around(memory, heap)
    if block is None:
        warnings.add("the Isolate's memory block was not found; its neighbourhood is "
                     "taken as its roots")
        block = (heap - FALLBACK_BEFORE, heap + FALLBACK_AFTER)
    return block


def malloc_block_around(memory: AddressSpace, address: int) -> Optional[tuple[int, int]]:
    """[start, end) of the glibc malloc block that holds `address`: the nearest size word
    before it whose block reaches past it and is followed by another chunk's size word."""
    lowest = address - ISOLATE_SEARCH
    seg = memory.segment_at(address)
    if seg is None:
        return None
    lowest = max(lowest, seg.vaddr) // 8 * 8
    words = words_of(memory, lowest, address // 8 * 8)
    for i in range(len(words) - 1, -1, -1):
        size = int(words[i]) & ~CHUNK_FLAGS
        start = lowest + 8 * i + 8
        if int(words[i]) & CHUNK_IS_MMAPPED or size % 16 or \
                not address - start < size - 8 < MAX_ISOLATE:
            continue
        after = memory.u64(start - 8 + size)
        if after is not None and after & 1 and 32 <= after & ~CHUNK_FLAGS < 1 << 40 \
                and (after & ~CHUNK_FLAGS) % 16 == 0:
            return start, start + size - 8
    return None


def stack_in_use(memory: AddressSpace, thread: Thread) -> Optional[tuple[int, int]]:
    """[start, end) of a thread's stack in use: from its red zone below the stack pointer
    to the end of the mapping it is in (at most MAX_STACK bytes); None if not in the
    core."""
    rsp = thread.stack_pointer
    seg = memory.segment_at(rsp)
    if seg is None:
        return None
    start = max(seg.vaddr, rsp - RED_ZONE) // 8 * 8
    return start, min(seg.end, start + MAX_STACK)


def words_of(memory: AddressSpace, start: int, end: int) -> np.ndarray:
    """The words of [start, end) that the core holds (none if any is missing)."""
    raw = memory.read(start, end - start) if end > start else None
    return np.zeros(0, np.uint64) if raw is None else np.frombuffer(raw, dtype="<u8").copy()


def _outside(memory: AddressSpace, pages: Sequence[HeapPage],
             addresses: np.ndarray) -> list[int]:
    """The `addresses` in writable memory the core holds, outside the heap pages."""
    spans = sorted((p.base, p.area_end) for p in pages)
    bases = [base for base, _ in spans]
    kept = []
    for address in addresses.tolist():
        i = bisect.bisect_right(bases, address) - 1
        seg = memory.segment_at(address)
        if seg is not None and seg.flags & PF_W and not (i >= 0 and address < spans[i][1]):
            kept.append(address)
    return kept


def _rows(memory: AddressSpace, ranges: list[tuple[int, int]]) -> np.ndarray:
    """[start, end) address ranges, each cut to the segment it starts in, overlaps merged,
    as (vaddr, file offset, size) rows in address order."""
    cut = []
    for lo, hi in ranges:
        seg = memory.segment_at(lo)
        if seg is not None:
            cut.append([lo, min(hi, seg.end), seg.offset - seg.vaddr])
    merged: list[list[int]] = []
    for lo, hi, delta in sorted(cut):
        if merged and lo < merged[-1][1]:  # (so within one segment: segments are disjoint)
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi, delta])
    return np.array([(lo, lo + delta, hi - lo) for lo, hi, delta in merged],
                    dtype=np.uint64).reshape(-1, 3)
