"""What V8 marks from: the roots of the object graph, found in a core without symbols.

V8's postmortem metadata says nothing of where the isolate keeps its roots, so they are
found by what they look like, the way the rest of v8scan finds heap objects:

- the Isolate: the malloc'ed block that holds the Heap every heap page names (its roots
  table, builtins table, the running context, pending exception and the other fields V8
  visits), taken whole;
- the startup and shareable object caches: vectors of the Isolate (begin, end, capacity)
  of tagged words that end with an Oddball (undefined: V8's end mark of both caches, as
  SerializerDeserializer::IterateStartupObjectCache reads it), in the order the Isolate
  declares them; Node's built-in modules come from its startup snapshot, and the cache
  holds their functions' code and scopes;
- handle scopes: the handles in use in the isolate's handle blocks;
- global handles: V8 allocates them in blocks of 256 nodes of 32 bytes, each node holding
  its own index (0 to 255) at byte 10 and its state in the low bits of byte 11; a node in
  the NORMAL state is a strong root (v8::Global, v8::Persistent), a WEAK one is not. The
  blocks are found by their links from the Isolate (global_handle_blocks), or where that
  fails by their look in all writable memory;
- every thread's registers and stack, from below its stack pointer (the red zone) up to
  the end of the stack's mapping, taken conservatively as V8's own stack scan can be.

A root here is any word of those places; the marking keeps the ones that point at an
object's start. Knows where roots are kept, not what the objects are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..arrays import distinct
from ..core import AddressSpace, Thread
from ..errors import Warnings
from ..scan.isolate import CHUNK_FLAGS, IsolateMemory, words_of
from ..scan.pages import HeapPage, outside_pages

HANDLE_BLOCK_BYTES = 1022 * 8   # V8's kHandleBlockSize words (KB - 2: a block fits a page)
HANDLE_BLOCK_CHUNK = 1024 * 8   # and the malloc chunk that holds it
MAX_HANDLE_BLOCKS = 1 << 16     # 512 MB of handles: no real process comes near
MAX_NODE_BLOCKS = 1 << 20       # 8 GB of global handles: as far as a chain is followed

NODE_SIZE = 32               # a global handle: object, class id, index, flags, data, callback
NODES_PER_BLOCK = 256
NODE_BLOCK_BYTES = NODE_SIZE * NODES_PER_BLOCK  # then the block's next_, global_handles_
NODE_INDEX, NODE_FLAGS = 10, 11
NODE_STATE_MASK, NODE_NORMAL = 7, 1
NODE_SPACE_WITHIN = 4        # GlobalHandles' regular_nodes_ is among its first words
ISOLATE = "(Isolate)"
OBJECT_CACHES = ("(Startup object cache)", "(Shareable object cache)")
MIN_CACHE_ENTRIES = 16          # a cache shorter than this is not told from chance
MAX_CACHE_BYTES = 1 << 28       # 32M entries: far beyond any snapshot's cache; also the
#                                 bytes all candidates together may cost to look at


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
               isolate: IsolateMemory, page_size: int, warnings: Warnings,
               is_oddball: Callable[[int], bool] = lambda address: False) -> Roots:
    """The roots of the heap on `pages` (see the module's docstring); `is_oddball` tells
    whether the object at an address is an Oddball (the object caches' end mark)."""
    parts: list[tuple[str, np.ndarray]] = []
    blocks = None
    if isolate.block is not None:
        parts.append((ISOLATE, isolate.words))
        parts += zip(OBJECT_CACHES, object_caches(memory, isolate.words, is_oddball))
        blocks = global_handle_blocks(memory, isolate.block[0], isolate.words)
    if blocks is None:
        warnings.add("V8's global handles were not found through its Isolate: all writable "
                     "memory was searched for them (this reads much more of the core)")
        blocks = _node_blocks_anywhere(memory, pages, page_size)
    parts.append(("(Global handles)", strong_global_handles(memory, blocks)))
    if isolate.block is not None:
        parts.append(("(Handle scope)", handle_scope_words(memory, isolate.block[0],
                                                           isolate.words)))
    for number, (thread, stack) in enumerate(zip(threads, isolate.stacks), 1):
        parts.append((f"(Stack of thread {number})", np.concatenate([
            np.array(thread.registers, dtype=np.uint64),
            np.zeros(0, np.uint64) if stack is None else words_of(memory, *stack)])))
    if not threads:
        warnings.add("the core has no thread notes: objects held only by a running "
                     "function are not seen as reachable")
    return Roots.of(parts)


def object_caches(memory: AddressSpace, words: np.ndarray,
                  is_oddball: Callable[[int], bool]) -> list[np.ndarray]:
    """The entries of the vectors among the Isolate's `words` that look like V8's object
    caches (see the module's docstring), in the Isolate's order."""
    found: list[np.ndarray] = []
    budget = MAX_CACHE_BYTES  # a crafted Isolate of many large "vectors" costs no more
    for i in range(len(words) - 2):
        begin, end, capacity = (int(w) for w in words[i:i + 3])
        if not (0 < begin < end <= capacity and not (begin | end | capacity) & 7 and
                end - begin >= 8 * MIN_CACHE_ENTRIES and capacity - begin <= MAX_CACHE_BYTES):
            continue
        last = memory.u64(end - 8)  # the end mark first: most candidates fail there
        if last is None or last & 3 != 1 or not is_oddball(last - 1):
            continue
        budget -= end - begin
        if budget < 0 or len(found) == len(OBJECT_CACHES):
            break
        entries = words_of(memory, begin, end)
        tagged = (entries & np.uint64(3)) == 1
        smi = (entries & np.uint64(0xFFFFFFFF)) == 0
        if len(entries) * 8 == end - begin and np.all(tagged | smi):
            found.append(entries)
    return found


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
        found.append(words_of(memory, block, next_))
        for earlier in _earlier_handle_blocks(memory, isolate, words, block):
            found.append(words_of(memory, earlier, earlier + HANDLE_BLOCK_BYTES))
        break
    return np.concatenate(found or [np.zeros(0, np.uint64)])


def _earlier_handle_blocks(memory: AddressSpace, isolate: int, words: np.ndarray,
                           current: int) -> list[int]:
    """The handle blocks before `current` in HandleScopeImplementer::blocks_ (a
    DetachableVector: data_, capacity_, size_, right after the implementer's isolate_)."""
    for pointer in distinct(words[(words & np.uint64(7)) == 0]).tolist():
        if memory.u64(pointer) != isolate:
            continue
        data, capacity, size = (memory.u64(pointer + 8 * k) for k in (1, 2, 3))
        if data is None or capacity is None or size is None or \
                not 0 < size <= capacity <= MAX_HANDLE_BLOCKS:
            continue
        blocks = words_of(memory, data, data + 8 * size)
        if len(blocks) == size and int(blocks[-1]) == current:
            # Each block once: a crafted vector naming one block a million times costs
            # no more than the core's bytes.
            return distinct(blocks[:-1][blocks[:-1] != current]).tolist()
    return []


def global_handle_blocks(memory: AddressSpace, isolate: int,
                         words: np.ndarray) -> Optional[list[int]]:
    """The blocks of global handle nodes, by their links, or None where they are not found:
    the Isolate (at `isolate`, its `words`) points to its GlobalHandles, whose first field
    is the Isolate; GlobalHandles::regular_nodes_, among its first words, points to a
    NodeSpace whose first field is the GlobalHandles and second first_block_; each block's
    nodes are followed by next_ and global_handles_ (which says it is one)."""
    for handles in distinct(words[(words & np.uint64(7)) == 0]).tolist():
        if not handles or memory.u64(handles) != isolate:
            continue
        for k in range(1, NODE_SPACE_WITHIN + 1):
            space = memory.u64(handles + 8 * k)
            if not space or memory.u64(space) != handles:
                continue
            blocks, block = [], memory.u64(space + 8)
            while block and memory.u64(block + NODE_BLOCK_BYTES + 8) == handles \
                    and len(blocks) < MAX_NODE_BLOCKS:
                blocks.append(block)
                block = memory.u64(block + NODE_BLOCK_BYTES)
            if blocks:
                return sorted(set(blocks))  # each once, though a crafted list loops
    return None


def strong_global_handles(memory: AddressSpace, blocks: list[int]) -> np.ndarray:
    """The objects of every NORMAL (strong) global handle of the node `blocks` that look
    like one (each node's index in its place)."""
    nodes = np.arange(NODES_PER_BLOCK) * NODE_SIZE
    found = []
    for block in blocks:
        view = memory.read(block, NODE_BLOCK_BYTES)
        if view is None:
            continue
        raw = np.frombuffer(view, dtype=np.uint8)
        if np.array_equal(raw[nodes + NODE_INDEX], np.arange(NODES_PER_BLOCK)):
            strong = nodes[(raw[nodes + NODE_FLAGS] & NODE_STATE_MASK) == NODE_NORMAL]
            found.append(raw.view("<u8")[strong // 8].copy())
    return np.concatenate(found or [np.zeros(0, np.uint64)]).astype(np.uint64)


def _node_blocks_anywhere(memory: AddressSpace, pages: list[HeapPage],
                          page_size: int) -> list[int]:
    """Addresses of whatever looks like a block of global handle nodes in writable memory
    outside the heap pages (nodes 0, 1, 2 and 255 holding their index first)."""
    rows = outside_pages(memory, pages, page_size)
    data = memory.reading(rows)
    found = []
    for vaddr, offset, size in rows.tolist():
        if size < NODE_BLOCK_BYTES:
            continue
        raw = data[offset:offset + size]
        # Blocks are 8-aligned: nodes 0, 1 and 2 first, then all 256 of the candidates.
        at = np.flatnonzero(raw[NODE_INDEX:size - NODE_BLOCK_BYTES + NODE_INDEX + 1:8] == 0) * 8
        for k in (1, 2, 255):
            at = at[raw[at + k * NODE_SIZE + NODE_INDEX] == k]
        found += (np.uint64(vaddr) + at.astype(np.uint64)).tolist()
    return found
