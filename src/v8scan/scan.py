"""Drives the scanner over a core: meta maps, then maps, then every object per map.

Picks the compiled `_scan` extension, or its plain-Python twin `_scan_py` when
V8SCAN_PUREPYTHON=1 is set or no compiled extension is installed. Knows the layout, never
names anything: naming happens once per map afterwards.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import _scan_py
from .core import AddressSpace
from .errors import NoV8HeapError, Warnings
from .layout import Layout

Progress = Callable[[int, int], None]  # (bytes done, bytes total)
PF_W = 2  # ELF program header flag: writable


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


@dataclass
class HeapScan:
    """Objects found per map. Arrays are parallel and ordered by map address."""

    maps: np.ndarray            # untagged map addresses, sorted
    instance_types: np.ndarray  # per map
    size_known: np.ndarray      # per map: False where the object size could not be computed
    counts: np.ndarray          # objects per map
    sizes: np.ndarray           # bytes per map
    meta_maps: np.ndarray
    per_object: np.ndarray      # per map: its objects are in `collected`, named one by one
    collected: np.ndarray       # objects named one by one: functions, prototypes, ...
    bytes_scanned: int
    young_bytes: int            # young-generation bytes not scanned, liveness unknown


def scan_heap(memory: AddressSpace, layout: Layout, warnings: Warnings,
              progress: Optional[Progress] = None,
              collect: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None,
              everything: bool = False) -> HeapScan:
    """Find every live V8 heap object in `memory` and count objects and bytes per map.

    `collect(maps, instance_types)` returns a boolean mask of the maps whose objects'
    addresses are wanted (HeapScan.collected), for naming them one by one. `everything`
    also counts what V8 has let go: objects in young-generation pages and inside free
    space, for forensic use.
    """
    impl = scanner_module(warnings)
    data = memory.as_array()
    segments, young_bytes = heap_areas(memory, layout, everything=everything)
    if everything:
        warnings.add("--all: counting every object found, including dead ones V8 has freed "
                     "(free space and young-generation pages are scanned too)")
    elif young_bytes:
        warnings.add(f"{young_bytes:,} bytes of young-generation pages were not scanned (their "
                     "allocation area was not found): objects allocated since the last "
                     "garbage collection are not counted")
    if len(segments) == 0:
        raise NoV8HeapError("no V8 heap pages found in the core",
                            hint="is this a core of a node process?")
    meta = impl.find_meta_maps(data, segments, layout.map_type, layout.map_instance_type)
    if len(meta) == 0:
        raise NoV8HeapError("no V8 heap found in the core (no meta map)",
                            hint="is this a core of a node process?")
    map_size = memory.u8(int(meta[0]) + layout.map_instance_size_in_words) * layout.tagged_size
    candidates = impl.find_maps(data, segments, np.asarray(meta, dtype=np.uint64), map_size)
    maps, types, sizes = _valid_maps(memory, layout, np.union1d(candidates, meta))
    kinds, fixed, flags = _size_rules(layout, types, sizes)
    if everything:  # step into free space instead of over it
        kinds[(flags & _scan_py.MAP_FILLER) != 0] = _scan_py.SIZE_UNKNOWN
    per_object = np.zeros(len(maps), dtype=bool) if collect is None else collect(maps, types)
    flags[per_object] |= _scan_py.MAP_COLLECT
    params = _scan_params(layout)
    keys = maps + np.uint64(1)
    counts = np.zeros(len(maps), dtype=np.int64)
    total_sizes = np.zeros(len(maps), dtype=np.int64)
    total = int(segments[:, 2].sum())
    done = 0
    collected = []
    for i, area_bytes in enumerate(segments[:, 2].tolist()):
        c, s, f = impl.count_objects(data, segments, keys, kinds, fixed, flags, params, i, i + 1)
        counts += c
        total_sizes += s
        collected.append(f)
        done += area_bytes
        if progress is not None:
            progress(done, total)
    return HeapScan(maps, types, kinds != _scan_py.SIZE_UNKNOWN, counts, total_sizes,
                    np.asarray(meta, dtype=np.uint64), per_object, np.concatenate(collected),
                    total, young_bytes)


@dataclass(frozen=True)
class HeapPage:
    """One V8 heap page (chunk): its object area and what its header says about it."""

    base: int
    metadata: int       # where size, area and list links are kept (the page itself up to V8 11)
    area_start: int
    area_end: int       # cut to what the core holds
    flags: int
    heap: int           # the owning Heap*; 0 on read-only pages

    def is_young(self, layout: Layout) -> bool:
        return bool(self.flags & layout.young_generation_mask)


def find_pages(memory: AddressSpace, layout: Layout) -> list[HeapPage]:
    """Every V8 heap page in the core, in address order.

    A page is a chunk aligned to the page alignment whose header (or, from V8 12, the
    metadata its header points to) holds its own size (a multiple of 4 KB; read-only pages
    are smaller than a regular page) and an [area_start, area_end) inside it. All pages of
    one isolate name the same Heap, so a look-alike in a malloc arena that names another
    is dropped.
    """
    align = layout.page_alignment
    pages = []
    for seg in memory.segments:
        first = (seg.vaddr + align - 1) // align * align
        for base in range(first, seg.end, align):
            meta = _page_metadata(memory, layout, base)
            if meta is None:
                continue
            size = memory.u64(meta + layout.chunk_size)
            start = memory.u64(meta + layout.chunk_area_start)
            end = memory.u64(meta + layout.chunk_area_end)
            if None in (size, start, end) or size == 0 or size % 4096:
                continue
            if not base < start < end <= base + size or start & 7:
                continue
            end = min(end, seg.end)  # a page can run past what the core holds
            if start < end:
                pages.append(HeapPage(base, meta, start, end,
                                      memory.u64(base + layout.chunk_flags) or 0,
                                      memory.u64(meta + layout.chunk_heap) or 0))
    heaps = Counter(page.heap for page in pages if page.heap)
    if heaps:
        isolate_heap = heaps.most_common(1)[0][0]
        pages = [page for page in pages if page.heap in (0, isolate_heap)]
    return pages


@dataclass(frozen=True)
class AllocationArea:
    """A linear allocation area (LinearAllocationArea: start_, top_, limit_) found in the
    core: V8 has allocated objects in [start, top) of `page`; [top, limit) is not yet
    handed out and still holds whatever died there before."""

    page: HeapPage
    start: int
    top: int
    limit: int


def find_allocation_areas(memory: AddressSpace, pages: list[HeapPage],
                          page_size: int) -> list[AllocationArea]:
    """Linear allocation areas of the heap, found as V8 keeps them: three consecutive
    untagged words start <= top < limit inside one page's area, in writable memory outside
    the heap pages (the Heap's spaces and allocators are malloc'ed)."""
    if not pages:
        return []
    impl = scanner_module()
    starts = np.array([p.area_start for p in pages], dtype=np.uint64)
    page_bases = np.array([p.base for p in pages], dtype=np.uint64)
    writable = memory.segment_table()[[bool(seg.flags & PF_W) for seg in memory.segments]]
    candidates = impl.find_allocation_areas(
        memory.as_array(), writable, min(p.area_start for p in pages),
        max(p.area_end for p in pages), page_size)
    found: dict[tuple[int, int, int], AllocationArea] = {}
    for where in candidates.tolist():
        if _in_any_page(where, page_bases, page_size):
            continue
        start, top, limit = (memory.u64(where + 8 * k) for k in range(3))
        i = int(np.searchsorted(starts, np.uint64(start), side="right")) - 1
        if i < 0:
            continue
        page = pages[i]
        if page.area_start <= start and top <= page.area_end and limit <= page.base + page_size:
            found.setdefault((start, top, limit), AllocationArea(page, start, top, limit))
    return list(found.values())


def _in_any_page(address: int, page_bases: np.ndarray, page_size: int) -> bool:
    i = int(np.searchsorted(page_bases, np.uint64(address), side="right")) - 1
    return i >= 0 and address < int(page_bases[i]) + page_size


def heap_areas(memory: AddressSpace, layout: Layout, pages: Optional[list[HeapPage]] = None,
               everything: bool = False) -> tuple[np.ndarray, int]:
    """Object areas to scan, as (vaddr, file offset, size) rows in address order, and the
    bytes of young-generation pages left out because their allocation area was not found
    (live objects may be among them).

    Scanning only page areas keeps malloc arenas, stacks and the binary's data, where stray
    words can look like objects, out of the census. Unless `everything` is asked for, what
    V8 has let go is left out too: the unallocated rest [top, limit) of each linear
    allocation area, which still holds what died there before; and the young generation,
    except the to-space pages up to the one holding its allocation area, and that one up
    to the allocation top (the rest, and the pages a scavenge flipped away from, hold dead
    copies).
    """
    if pages is None:
        pages = find_pages(memory, layout)
    unallocated: dict[int, list[tuple[int, int]]] = {}
    young_live: dict[int, int] = {}  # young page base -> end of its live objects
    if not everything:
        for area in find_allocation_areas(memory, pages, layout.page_alignment):
            unallocated.setdefault(area.page.base, []).append((area.top, area.limit))
            if area.page.is_young(layout) and area.page.flags & layout.to_page_flag:
                young_live[area.page.base] = max(young_live.get(area.page.base, 0), area.top)
                for earlier in _earlier_pages(memory, layout, pages, area.page):
                    young_live[earlier.base] = earlier.area_end
    rows = []
    unknown_young = 0
    for page in pages:
        start, end = page.area_start, page.area_end
        if page.is_young(layout) and not everything:
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


def _page_metadata(memory: AddressSpace, layout: Layout, base: int) -> Optional[int]:
    """Where the page at `base` keeps its size and area: the header itself up to V8 11,
    else the MemoryChunkMetadata its header points to."""
    if layout.chunk_metadata < 0:
        return base
    meta = memory.u64(base + layout.chunk_metadata)
    if meta is None or meta & 7 or memory.u64(meta) is None:
        return None
    return meta


def _valid_maps(memory: AddressSpace, layout: Layout, candidates: np.ndarray):
    """Keep candidates that look like real maps: a known instance type and descriptors."""
    max_type = max(layout.type_names)
    keep, types, sizes = [], [], []
    for address in candidates.tolist():
        t = memory.u16(address + layout.map_instance_type)
        words = memory.u8(address + layout.map_instance_size_in_words)
        descriptors = memory.u64(address + layout.map_instance_descriptors)
        prototype = memory.u64(address + layout.map_prototype)
        if t is None or t > max_type or words is None or descriptors is None or prototype is None:
            continue
        # instance_descriptors and prototype are always heap objects (or null, itself one).
        if descriptors & 3 != 1 or prototype & 3 != 1:
            continue
        keep.append(address)
        types.append(t)
        sizes.append(words * layout.tagged_size)
    return (np.array(keep, dtype=np.uint64), np.array(types, dtype=np.int64),
            np.array(sizes, dtype=np.int64))


def _size_rules(layout: Layout, types: np.ndarray, instance_sizes: np.ndarray):
    """Per map: how to size its objects, the fixed size, and scanner flags."""
    n = len(types)
    kinds = np.full(n, _scan_py.SIZE_UNKNOWN, dtype=np.uint8)
    flags = np.zeros(n, dtype=np.uint8)
    for i, (t, size) in enumerate(zip(types.tolist(), instance_sizes.tolist())):
        kinds[i] = _size_kind(layout, t, size)
        if layout.is_js_receiver(t):
            flags[i] |= _scan_py.MAP_JS_RECEIVER
        if t in (layout.free_space_type, layout.filler_type):
            flags[i] |= _scan_py.MAP_FILLER
    return kinds, instance_sizes.astype(np.int64), flags


def _size_kind(layout: Layout, t: int, instance_size: int) -> int:
    if layout.is_string(t) and layout.string_representation(t) == layout.seq_string_tag:
        return _scan_py.SIZE_ONE_BYTE if layout.is_one_byte_string(t) else _scan_py.SIZE_TWO_BYTE
    if instance_size > 0:
        return _scan_py.SIZE_FIXED
    if layout.is_fixed_array(t) or layout.is_context(t):
        return _scan_py.SIZE_FIXED_ARRAY
    if layout.weak_fixed_array_type <= t <= layout.last_weak_fixed_array_type:
        return _scan_py.SIZE_FIXED_ARRAY
    rules = {
        layout.byte_array_type: _scan_py.SIZE_BYTE_ARRAY,
        layout.fixed_double_array_type: _scan_py.SIZE_DOUBLE_ARRAY,
        layout.free_space_type: _scan_py.SIZE_FREE_SPACE,
        layout.property_array_type: _scan_py.SIZE_PROPERTY_ARRAY,
        layout.descriptor_array_type: _scan_py.SIZE_DESCRIPTORS,
        layout.descriptor_array_type + 1: _scan_py.SIZE_DESCRIPTORS,  # StrongDescriptorArray
        layout.weak_array_list_type: _scan_py.SIZE_WEAK_ARRAY_LIST,
    }
    return rules.get(t, _scan_py.SIZE_UNKNOWN)


def _scan_params(layout: Layout) -> np.ndarray:
    p = np.zeros(_scan_py.P_COUNT, dtype=np.int64)
    p[_scan_py.P_TAGGED_SIZE] = layout.tagged_size
    p[_scan_py.P_HEADER_SIZE] = layout.fixed_array_header
    p[_scan_py.P_LENGTH_OFFSET] = layout.fixed_array_length
    p[_scan_py.P_STRING_LENGTH_OFFSET] = layout.string_length
    p[_scan_py.P_STRING_CHARS_OFFSET] = layout.seq_one_byte_chars
    p[_scan_py.P_PROPERTIES_OFFSET] = layout.js_properties
    p[_scan_py.P_ELEMENTS_OFFSET] = layout.js_elements
    p[_scan_py.P_DESCRIPTORS_HEADER] = layout.descriptor_array_header
    p[_scan_py.P_DESCRIPTOR_ENTRY] = layout.descriptor_size * layout.tagged_size
    p[_scan_py.P_DESCRIPTORS_COUNT_OFFSET] = layout.descriptor_count
    p[_scan_py.P_PROPERTY_ARRAY_MASK] = layout.property_array_length_mask
    p[_scan_py.P_WEAK_LIST_HEADER] = layout.weak_array_list_header
    p[_scan_py.P_FREE_SPACE_UNIT] = layout.free_space_size_unit
    return p
