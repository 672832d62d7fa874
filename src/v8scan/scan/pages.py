"""Where the live V8 heap objects are: heap pages, allocation areas, and the areas to scan.

Reads page headers (MemoryChunk and, from V8 12, its metadata) and finds the linear
allocation areas V8 bumps objects into, to hand the scanner only the parts of the heap
that hold live objects. Knows the layout of pages, not of objects.
"""

from __future__ import annotations

import bisect
from collections import Counter
from typing import NamedTuple, Optional, Sequence

import numpy as np

from ..arrays import distinct, member
from ..core import AddressSpace, Segment
from ..v8.layout import Layout
from .sweep import Sweeper, scanner_module, split_areas

PF_X, PF_W = 1, 2  # ELF program header flags: executable, writable
MAX_CHUNK = 1 << 32  # no V8 chunk, not even a large object's, is bigger
MAX_MERGED_PAGES = 4  # adjacent pages the kernel merged into one mapping, at most


class HeapPage(NamedTuple):
    """One V8 heap page (chunk): its object area and what its header says about it. (A
    tuple: a 20 GB core has some 80,000 pages.)"""

    base: int
    metadata: int       # where size, area and list links are kept (the page itself up to V8 11)
    area_start: int
    area_end: int       # cut to what the core holds
    flags: int
    heap: int           # the owning Heap*; 0 on read-only pages
    size: int           # of the chunk: the page size, except for a large object's own page

    def is_young(self, layout: Layout) -> bool:
        return bool(self.flags & layout.young_generation_mask)

    def is_large(self, layout: Layout) -> bool:
        """Whether the page holds one large object. (Its flag bit moves between V8
        versions; its size tells: regular pages are exactly the page alignment.)"""
        return self.size != layout.page_alignment


def find_pages(memory: AddressSpace, layout: Layout) -> list[HeapPage]:
    """Every V8 heap page in the core, in address order.

    A page is a chunk aligned to the page alignment whose header (or, from V8 12, the
    metadata its header points to) holds its own size (a multiple of 4 KB; read-only pages
    are smaller than a regular page) and an [area_start, area_end) inside it. All pages of
    one isolate name the same Heap, so a look-alike in a malloc arena that names another
    is dropped.

    V8 maps each page on its own, so a page starts a segment of the core, unless it is in
    a range V8 reserved whole (the code range: executable) or the kernel merged it with
    the page before it. Only those places are looked at, and the pages each found page's
    list links name, until no new one turns up: a few pages of the core are read, not one
    per page alignment of every segment (a 4 KB read each, 1.6% of a core).
    """
    align = layout.page_alignment
    found: dict[int, HeapPage] = {}
    expanded = {seg.vaddr for seg in memory.segments if seg.flags & PF_X}
    candidates = np.concatenate(
        [np.array([seg.vaddr for seg in memory.segments if seg.vaddr % align == 0],
                  dtype=np.uint64)]
        + [_aligned_in(seg, align) for seg in memory.segments if seg.vaddr in expanded])
    while len(candidates):
        new = [page for page in _pages_at(memory, layout, distinct(candidates))
               if page.base not in found]
        found.update((page.base, page) for page in new)
        more = [_link_targets(memory, layout, new)]
        for page in new:
            seg = memory.segment_at(page.base)
            if seg is not None and seg.vaddr not in expanded and seg.end > page.base + align:
                expanded.add(seg.vaddr)  # the kernel merged pages into one mapping
                more.append(_aligned_in(seg, align))
        candidates = np.concatenate(more)
        candidates = candidates[~member(candidates, np.array(list(found), dtype=np.uint64))]
    pages = []
    bases = sorted(found) + [1 << 64]
    for page, next_base in zip((found[base] for base in bases[:-1]), bases[1:]):
        # A damaged header can claim the next page's area.
        if page.area_start < min(page.area_end, next_base):
            pages.append(page._replace(area_end=min(page.area_end, next_base)))
    heaps = Counter(page.heap for page in pages if page.heap)
    if heaps:
        isolate_heap = heaps.most_common(1)[0][0]
        pages = [page for page in pages if page.heap in (0, isolate_heap)]
    return pages


def _aligned_in(seg: Segment, align: int) -> np.ndarray:
    """The addresses in `seg` at multiples of `align`."""
    return np.arange((seg.vaddr + align - 1) // align * align, seg.end, align, dtype=np.uint64)


def _link_targets(memory: AddressSpace, layout: Layout, pages: list[HeapPage]) -> np.ndarray:
    """Bases of the chunks the `pages`' list links (list_node_: next_, then prev_) name.
    A link points to a chunk's metadata, whose area start is inside the chunk."""
    if not pages:
        return np.zeros(0, np.uint64)
    metadata = np.array([page.metadata for page in pages], dtype=np.uint64)
    links = np.concatenate([memory.u64_many(metadata + np.uint64(layout.chunk_list_prev + k))[0]
                            for k in (-8, 0)])
    links = links[(links != 0) & (links & np.uint64(7) == 0)]
    area_start, ok = memory.u64_many(links + np.uint64(layout.chunk_area_start))
    return area_start[ok] // np.uint64(layout.page_alignment) * np.uint64(layout.page_alignment)


def _pages_at(memory: AddressSpace, layout: Layout, bases: np.ndarray) -> list[HeapPage]:
    """The V8 heap pages among chunk `bases` (ascending), read in bulk."""
    if layout.chunk_metadata < 0:
        meta = bases
    else:
        meta, found = memory.u64_many(bases + np.uint64(layout.chunk_metadata))
        _, readable = memory.u64_many(meta)
        keep = found & readable & (meta & np.uint64(7) == 0)
        bases, meta = bases[keep], meta[keep]
    size, ok_size = memory.u64_many(meta + np.uint64(layout.chunk_size))
    start, ok_start = memory.u64_many(meta + np.uint64(layout.chunk_area_start))
    end, ok_end = memory.u64_many(meta + np.uint64(layout.chunk_area_end))
    keep = (ok_size & ok_start & ok_end & (size != 0) & (size % np.uint64(4096) == 0)
            & (size <= np.uint64(MAX_CHUNK)) & (bases < start) & (start < end)
            & (end - bases <= size) & (start & np.uint64(7) == 0))
    bases, meta, start, end, size = bases[keep], meta[keep], start[keep], end[keep], size[keep]
    flags, _ = memory.u64_many(bases + np.uint64(layout.chunk_flags))
    heap, _ = memory.u64_many(meta + np.uint64(layout.chunk_heap))
    pages = []
    for row in zip(bases.tolist(), meta.tolist(), start.tolist(), end.tolist(),
                   flags.tolist(), heap.tolist(), size.tolist()):
        base, meta_at, area_start, area_end, page_flags, page_heap, page_size = row
        area_end = min(area_end, memory.segment_at(base).end)  # it can run past the core
        if area_start < area_end:
            pages.append(HeapPage(base, meta_at, area_start, area_end, page_flags, page_heap,
                                  page_size))
    return pages


class AllocationArea(NamedTuple):
    """A linear allocation area (LinearAllocationArea: start_, top_, limit_) found in the
    core: V8 has allocated objects in [start, top) of `page`; [top, limit) is not yet
    handed out and still holds whatever died there before."""

    page: HeapPage
    start: int
    top: int
    limit: int


def find_allocation_areas(memory: AddressSpace, layout: Layout, pages: list[HeapPage],
                          where: np.ndarray,
                          sweeper: Optional[Sweeper] = None) -> list[AllocationArea]:
    """Linear allocation areas of the heap, found as V8 keeps them: three consecutive
    untagged words start <= top < limit inside one page's area, in the (vaddr, file
    offset, size) rows `where` (the Isolate and what it points at, the stacks:
    isolate.IsolateMemory.neighbourhood; or all writable memory outside the heap pages,
    `outside_pages`)."""
    if not pages or len(where) == 0:
        return []
    page_size = layout.page_alignment
    impl = scanner_module()
    starts = np.array([p.area_start for p in pages], dtype=np.uint64)
    pieces = split_areas(where, overlap=16)
    args = (int(starts[0]), max(p.area_end for p in pages), page_size)
    data = memory.reading(pieces)
    tasks = [((data, pieces[i:i + 1]) + args, int(pieces[i, 2]))
             for i in range(len(pieces))]
    if sweeper is None:
        with Sweeper(1) as own:
            candidates = own.run(impl.find_allocation_areas, tasks)
    else:
        candidates = sweeper.run(impl.find_allocation_areas, tasks)
    found: dict[tuple[int, int, int], AllocationArea] = {}
    for where in np.concatenate(candidates or [np.zeros(0, np.uint64)]).tolist():
        start, top, limit = (memory.u64(where + 8 * k) for k in range(3))
        i = int(np.searchsorted(starts, np.uint64(start), side="right")) - 1
        if i < 0:
            continue
        page = pages[i]
        if page.area_start <= start and top <= page.area_end and limit <= page.base + page_size \
                and not stale_whole_page_area(memory, layout, page, start, top):
            found.setdefault((start, top, limit), AllocationArea(page, start, top, limit))
    return list(found.values())


def stale_whole_page_area(memory: AddressSpace, layout: Layout, page: HeapPage, start: int,
                           top: int) -> bool:
    """Whether an old-generation area that would span its page from the area start, with
    nothing allocated yet, is a stale copy (e.g. in a freed compaction space's memory). V8
    opens such an area only on a fresh page, whose first word is zero; an object there
    means the page was filled later, and cutting the area would drop a page of live
    objects. (Young pages are reused as they are, so there it proves nothing.)"""
    if page.is_young(layout) or not start == top == page.area_start:
        return False
    word = memory.u64(top)
    if word is None or word & 3 != 1:
        return False
    meta_map = memory.u64(word - 1)  # an object's map's map is the meta map, its own map
    return meta_map is not None and meta_map & 3 == 1 and memory.u64(meta_map - 1) == meta_map


def outside_pages(memory: AddressSpace, pages: list[HeapPage], page_size: int) -> np.ndarray:
    """Writable memory not inside a heap page, as (vaddr, file offset, size) rows."""
    spans = sorted((p.base, max(p.area_end, p.base + page_size)) for p in pages)
    rows = []
    k = 0
    for seg in memory.segments:
        if not seg.flags & PF_W:
            continue
        at = seg.vaddr
        while k < len(spans) and spans[k][1] <= at:
            k += 1
        j = k
        while at < seg.end:
            hole_start, hole_end = spans[j] if j < len(spans) else (seg.end, seg.end)
            if hole_start > at:
                stop = min(hole_start, seg.end)
                rows.append((at, seg.offset + at - seg.vaddr, stop - at))
            at = max(at, hole_end)
            j += 1
    return np.array(rows, dtype=np.uint64).reshape(-1, 3)


def heap_areas(memory: AddressSpace, layout: Layout, pages: list[HeapPage],
               allocation_areas: Optional[Sequence[AllocationArea]],
               whole_young: bool = False) -> tuple[np.ndarray, int]:
    """Object areas to scan, as (vaddr, file offset, size) rows in address order, and the
    bytes of young-generation pages left out because their allocation area was not found
    (live objects may be among them).

    Scanning only page areas keeps malloc arenas, stacks and the binary's data, where stray
    words can look like objects, out of the census. With `allocation_areas` (None: all of
    every page, for --all), what V8 has let go is left out too: the unallocated rest
    [top, limit) of each of them, which still holds what died there before; and the young
    generation, except its large objects, the to-space pages up to the one holding its
    allocation area, and that one up to the allocation top (the rest, and the pages a
    scavenge flipped away from, hold dead copies). With `whole_young`, for a census that
    judges liveness itself (the object graph), young pages are walked whole: the young
    allocation area V8 keeps is not always the one found (V8 14 leaves stale copies),
    and cutting by a stale one would drop live objects.
    """
    include_dead = allocation_areas is None
    unallocated: dict[int, list[tuple[int, int]]] = {}
    young_live: dict[int, int] = {}  # young page base -> end of its live objects
    for area in allocation_areas or ():
        if whole_young and area.page.is_young(layout):
            continue
        unallocated.setdefault(area.page.base, []).append((area.top, area.limit))
        if area.page.is_young(layout) and area.page.flags & layout.to_page_flag:
            young_live[area.page.base] = max(young_live.get(area.page.base, 0), area.top)
            for earlier in _earlier_pages(memory, layout, pages, area.page):
                young_live[earlier.base] = earlier.area_end
    rows = []
    unknown_young = 0
    for page in pages:
        start, end = page.area_start, page.area_end
        # A young large object has a page of its own, freed when a scavenge finds it dead.
        if page.is_young(layout) and not page.is_large(layout) and not include_dead \
                and not whole_young:
            if not young_live:
                unknown_young += end - start
            end = min(end, young_live.get(page.base, start))
        for lo, hi in _cut(start, end, unallocated.get(page.base, [])):
            seg = memory.segment_at(lo)
            assert seg is not None
            rows.append((lo, seg.offset + lo - seg.vaddr, hi - lo))
    return np.array(rows, dtype=np.uint64).reshape(-1, 3), unknown_young


def _earlier_pages(memory: AddressSpace, layout: Layout, pages: list[HeapPage],
                   page: HeapPage) -> list[HeapPage]:
    """The pages before `page` in its space's page list, following list_node_.prev_. In
    the young generation's to-space these are full of objects allocated (or copied by the
    scavenge) before the page the allocation area is on."""
    by_metadata = {p.metadata: p for p in pages}
    earlier = []
    prev = memory.u64(page.metadata + layout.chunk_list_prev)
    while prev in by_metadata and len(earlier) < len(pages):
        earlier.append(by_metadata[prev])
        prev = memory.u64(by_metadata[prev].metadata + layout.chunk_list_prev)
    return earlier


def _cut(start: int, end: int, holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) without the holes, as ordered non-empty ranges."""
    ranges = []
    for lo, hi in sorted(holes):
        if lo > start:
            ranges.append((start, min(lo, end)))
        start = max(start, hi)
    ranges.append((start, end))
    return [(lo, hi) for lo, hi in ranges if lo < hi]


def missing_pages(memory: AddressSpace, layout: Layout, pages: list[HeapPage],
                  missing: Sequence[tuple[int, int]]) -> list[int]:
    """Bases of the V8 heap pages in `missing` (vaddr, size) memory of a truncated core,
    as far as the core shows them: chunks that a present page's list links name, and
    missing segments that start chunk-aligned below V8's random mapping hints' limit and
    span at most MAX_MERGED_PAGES chunks (V8 maps each page on its own there; the kernel
    puts stacks, malloc arenas and libraries higher up). Large objects' pages beyond that
    size are missed."""
    align = layout.page_alignment
    ranges = sorted(missing)
    starts = [lo for lo, _ in ranges]

    def is_missing(address: int) -> bool:
        i = bisect.bisect_right(starts, address) - 1
        return i >= 0 and address < ranges[i][0] + ranges[i][1]

    found = set()
    for lo, size in ranges:
        if lo % align == 0 and size <= MAX_MERGED_PAGES * align \
                and lo < layout.random_address_max:
            # whole pages the kernel merged; else one smaller (read-only) or larger page
            found.update(range(lo, lo + size, align) if size % align == 0 else (lo,))
    links = [memory.u64(page.metadata + layout.chunk_list_prev + k)
             for page in pages for k in (-8, 0)]  # list_node_: next_, then prev_
    for link in links:
        if link and link % align == 0 and is_missing(link):
            found.add(link)
    return sorted(found)
