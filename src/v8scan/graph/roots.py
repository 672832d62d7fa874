"""What V8 marks from: the roots of the object graph, found in a core without symbols.

V8's postmortem metadata says nothing of where the isolate keeps its roots, so they are
found by what they look like, the way the rest of v8scan finds heap objects:

- the Isolate: the malloc'ed block that holds the Heap every heap page names (its roots
  table, builtins table, the running context, pending exception and the other fields V8
  visits), taken whole;
- handle scopes: the handles in use in the isolate's handle blocks;
- global handles: V8 allocates them in blocks of 256 nodes of 32 bytes, each node holding
  its own index (0 to 255) at byte 10 and its state in the low bits of byte 11; a node in
  the NORMAL state is a strong root (v8::Global, v8::Persistent), a WEAK one is not;
- every thread's registers and stack, from below its stack pointer (the red zone) up to
  the end of the stack's mapping, taken conservatively as V8's own stack scan can be.

A root here is any word of those places; the marking keeps the ones that point at an
object's start. Knows where roots are kept, not what the objects are.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..core import AddressSpace, Thread
from ..errors import Warnings
from ..scan.pages import HeapPage, outside_pages

# glibc malloc: a chunk's size word sits just before the block, its low bits are flags.
CHUNK_FLAGS = 7
CHUNK_IS_MMAPPED = 2
ISOLATE_SEARCH = 256 << 10   # the Isolate starts at most this far before its Heap
MAX_ISOLATE = 1 << 20        # and is smaller than this
FALLBACK_BEFORE, FALLBACK_AFTER = 64 << 10, 16 << 10  # the part taken if no block is found

HANDLE_BLOCK_BYTES = 1022 * 8   # V8's kHandleBlockSize words (KB - 2: a block fits a page)
HANDLE_BLOCK_CHUNK = 1024 * 8   # and the malloc chunk that holds it
MAX_HANDLE_BLOCKS = 1 << 16     # 512 MB of handles: no real process comes near

NODE_SIZE = 32               # a global handle: object, class id, index, flags, data, callback
NODES_PER_BLOCK = 256
NODE_INDEX, NODE_FLAGS = 10, 11
NODE_STATE_MASK, NODE_NORMAL = 7, 1
ISOLATE = "(Isolate)"
RED_ZONE = 128               # the System V ABI lets a leaf function use this below rsp
MAX_STACK = 64 << 20         # of a thread's stack read (Linux's default limit is 8 MB)


@dataclass
class Roots:
    """Root words, each with the group it was found in (an index into `groups`), group by
    group in the order paths prefer them: V8's own roots, then handles, then stacks."""

    words: np.ndarray        # uint64, as found: the marking keeps pointers to objects
    group_of: np.ndarray     # int32, per word
    groups: list[str]        # names, as the heap snapshot's (GC roots) children read

    @classmethod
    def of(cls, parts: list[tuple[str, np.ndarray]]) -> "Roots":
        groups = [name for name, _ in parts]
        words = np.concatenate([w for _, w in parts] or [np.zeros(0, np.uint64)])
        group_of = np.concatenate([np.full(len(w), g, np.int32) for g, (_, w) in
                                   enumerate(parts)] or [np.zeros(0, np.int32)])
        return cls(words.astype(np.uint64), group_of, groups)

    @property
    def have_isolate(self) -> bool:
        """Whether V8's own roots (the Isolate's words) were found: without them, what
        handles and stacks reach is a small part of what is live."""
        return ISOLATE in self.groups and \
            bool(np.any(self.group_of == self.groups.index(ISOLATE)))


def find_roots(memory: AddressSpace, pages: list[HeapPage], threads: list[Thread],
               page_size: int, warnings: Warnings) -> Roots:
    """The roots of the heap on `pages` (see the module's docstring)."""
    parts: list[tuple[str, np.ndarray]] = []
    isolate = isolate_block(memory, pages, warnings)
    if isolate is not None:
        words = _words(memory, *isolate)
        parts.append((ISOLATE, words))
    parts.append(("(Global handles)", strong_global_handles(memory, pages, page_size)))
    if isolate is not None:
        parts.append(("(Handle scope)", handle_scope_words(memory, isolate[0], words)))
    for number, thread in enumerate(threads, 1):
        parts.append((f"(Stack of thread {number})", np.concatenate([
            np.array(thread.registers, dtype=np.uint64), stack_words(memory, thread)])))
    if not threads:
        warnings.add("the core has no thread notes: objects held only by a running "
                     "function are not seen as reachable")
    return Roots.of(parts)


def _words(memory: AddressSpace, start: int, end: int) -> np.ndarray:
    """The words of [start, end) that the core holds (none if any is missing)."""
    raw = memory.read(start, end - start) if end > start else None
    return np.zeros(0, np.uint64) if raw is None else np.frombuffer(raw, dtype="<u8").copy()


def isolate_block(memory: AddressSpace, pages: list[HeapPage],
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


def handle_scope_words(memory: AddressSpace, isolate: int, words: np.ndarray) -> np.ndarray:
    """The handles of the open HandleScopes: the isolate's handle_scope_data_ (next, limit)
    ends the current block of kHandleBlockSize words at `limit`, in use up to `next`; the
    earlier blocks are those before it in the blocks_ vector of the HandleScopeImplementer
    (a malloc'ed object whose first field is the isolate, found through the isolate's
    pointer to it)."""
    found = []
    for i in range(len(words) - 1):
        next_, limit = int(words[i]), int(words[i + 1])
        block = limit - HANDLE_BLOCK_BYTES
        if not (0 < block <= next_ <= limit) or (next_ | limit) & 7 or \
                (memory.u64(block - 8) or 0) & ~CHUNK_FLAGS != HANDLE_BLOCK_CHUNK:
            continue
        found.append(_words(memory, block, next_))
        for earlier in _earlier_handle_blocks(memory, isolate, words, block):
            found.append(_words(memory, earlier, earlier + HANDLE_BLOCK_BYTES))
        break
    return np.concatenate(found or [np.zeros(0, np.uint64)])


def _earlier_handle_blocks(memory: AddressSpace, isolate: int, words: np.ndarray,
                           current: int) -> list[int]:
    """The handle blocks before `current` in HandleScopeImplementer::blocks_ (a
    DetachableVector: data_, capacity_, size_, right after the implementer's isolate_)."""
    for pointer in np.unique(words[(words & np.uint64(7)) == 0]).tolist():
        if memory.u64(pointer) != isolate:
            continue
        data, capacity, size = (memory.u64(pointer + 8 * k) for k in (1, 2, 3))
        if data is None or capacity is None or size is None or \
                not 0 < size <= capacity <= MAX_HANDLE_BLOCKS:
            continue
        blocks = _words(memory, data, data + 8 * size)
        if len(blocks) == size and int(blocks[-1]) == current:
            # Each block once: a crafted vector naming one block a million times costs
            # no more than the core's bytes.
            return np.unique(blocks[:-1][blocks[:-1] != current]).tolist()
    return []


def malloc_block_around(memory: AddressSpace, address: int) -> Optional[tuple[int, int]]:
    """[start, end) of the glibc malloc block that holds `address`: the nearest size word
    before it whose block reaches past it and is followed by another chunk's size word."""
    lowest = address - ISOLATE_SEARCH
    seg = memory.segment_at(address)
    if seg is None:
        return None
    lowest = max(lowest, seg.vaddr) // 8 * 8
    words = _words(memory, lowest, address // 8 * 8)
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


def strong_global_handles(memory: AddressSpace, pages: list[HeapPage],
                          page_size: int) -> np.ndarray:
    """The objects of every NORMAL (strong) global handle, in blocks found outside the
    heap pages."""
    data = memory.as_array()
    found = []
    for vaddr, offset, size in outside_pages(memory, pages, page_size).tolist():
        span = NODES_PER_BLOCK * NODE_SIZE
        if size < span:
            continue
        raw = data[offset:offset + size]
        # Blocks are 8-aligned: nodes 0, 1 and 2 first, then all 256 of the candidates.
        at = np.flatnonzero(raw[NODE_INDEX:size - span + NODE_INDEX + 1:8] == 0) * 8
        for k in (1, 2, 255):
            at = at[raw[at + k * NODE_SIZE + NODE_INDEX] == k]
        nodes = np.arange(NODES_PER_BLOCK) * NODE_SIZE
        for start in at.tolist():
            if np.array_equal(raw[start + nodes + NODE_INDEX], np.arange(NODES_PER_BLOCK)):
                flags = raw[start + nodes + NODE_FLAGS]
                strong = nodes[(flags & NODE_STATE_MASK) == NODE_NORMAL]
                found.append(raw[start:start + span].view("<u8")[strong // 8].copy())
    return np.concatenate(found or [np.zeros(0, np.uint64)]).astype(np.uint64)


def stack_words(memory: AddressSpace, thread: Thread) -> np.ndarray:
    """The words of a thread's stack in use: from its red zone below the stack pointer to
    the end of the mapping it is in (at most MAX_STACK bytes)."""
    rsp = thread.stack_pointer
    seg = memory.segment_at(rsp)
    if seg is None:
        return np.zeros(0, np.uint64)
    start = max(seg.vaddr, rsp - RED_ZONE) // 8 * 8
    return _words(memory, start, min(seg.end, start + MAX_STACK))
