"""Finds and counts every V8 heap object of a core: meta maps, then maps, then objects.

Sweeps over the heap's object areas, each split into chunks run on all cores by a
`Sweeper`: words that point to themselves (meta maps), words that point to a meta map
(maps), words that point into the rests of allocation areas (to tell stale areas), then an
object-by-object walk that counts objects and bytes per map. Knows the layout, never names
anything: naming happens once per map afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ..arrays import distinct, distinct_counts, member, union
from ..core import AddressSpace
from ..errors import NoV8HeapError, Warnings
from ..v8.layout import Layout
from . import scanrules as rules
from .isolate import IsolateMemory
from .pages import AllocationArea, HeapPage, find_allocation_areas, heap_areas, outside_pages
from .sweep import Progress, Sweeper, area_groups, scanner_module

# Rough cost per byte of each sweep, so that a progress bar moves evenly through them.
WEIGHT_WORDS = 1    # meta maps, allocation areas: one compare per word
WEIGHT_MAPS = 2     # maps: compare each word with the meta maps
WEIGHT_OBJECTS = 8  # the walk: a map lookup and checks per object
MAX_CHECKED_RESTS = 64 << 20  # bytes of allocation-area rests checked; real cores have ~1 MB


@dataclass
class ScanPlan:
    """What the object walk goes over and with which maps: the heap's object areas, minus
    what V8 has let go (pages.heap_areas), and the maps found in them."""

    areas: np.ndarray           # (vaddr, file offset, size) rows in address order
    young_bytes: int            # young-generation bytes left out, liveness unknown
    meta_maps: np.ndarray       # untagged
    maps: np.ndarray            # untagged, sorted
    instance_types: np.ndarray  # per map
    walk_rules: tuple           # (size kinds, fixed sizes, flags, params) per map


@dataclass
class HeapScan:
    """Objects found per map by the walk `plan` describes. Arrays are parallel to the
    plan's maps, ordered by map address."""

    plan: ScanPlan
    counts: np.ndarray          # objects per map
    sizes: np.ndarray           # bytes per map
    per_object: np.ndarray      # per map: its objects are in `collected`, named one by one
    collected: np.ndarray       # objects named one by one: functions, prototypes, ...
    collected_sizes: np.ndarray  # their sizes (0 where not known)
    graph: Any = None           # the object graph, where the census counts reachable objects

    @property
    def maps(self) -> np.ndarray:
        return self.plan.maps

    @property
    def instance_types(self) -> np.ndarray:
        return self.plan.instance_types

    @property
    def meta_maps(self) -> np.ndarray:
        return self.plan.meta_maps

    @property
    def areas(self) -> np.ndarray:
        return self.plan.areas

    @property
    def young_bytes(self) -> int:
        return self.plan.young_bytes

    @property
    def walk_rules(self) -> tuple:
        return self.plan.walk_rules

    @property
    def size_known(self) -> np.ndarray:
        """Per map: False where the object size could not be computed."""
        return self.plan.walk_rules[0] != rules.SIZE_UNKNOWN


def plan_scan(memory: AddressSpace, layout: Layout, pages: list[HeapPage],
              isolate: IsolateMemory, warnings: Warnings, sweeper: Sweeper,
              include_dead: bool = False, whole_young: bool = False) -> ScanPlan:
    """The areas to walk and the maps in them: two sweeps (meta maps, then maps), and one
    more over the words of the heap to leave stale allocation areas uncut
    (`stale_allocation_areas`). `whole_young` walks young pages whole, for a census that
    judges liveness itself (pages.heap_areas). Raises NoV8HeapError when there is no heap
    to walk."""
    impl = scanner_module(warnings)
    allocation_areas = None if include_dead else locate_allocation_areas(
        memory, layout, pages, isolate, warnings, sweeper)
    areas, young_bytes = heap_areas(memory, layout, pages, allocation_areas, whole_young)
    if len(areas) == 0:
        raise NoV8HeapError("no V8 heap pages found in the core",
                            hint="is this a core of a node process?")
    data = memory.reading(areas)
    meta = np.concatenate(sweeper.run(impl.find_meta_maps, [
        ((data, areas[a:b], layout.map_type, layout.map_instance_type), n)
        for a, b, n in area_tasks(areas)], WEIGHT_WORDS))
    if len(meta) == 0:
        meta = _meta_map_by_use(memory, layout, areas)
        if len(meta) == 0:
            raise NoV8HeapError("no V8 heap found in the core (no meta map)",
                                hint="is this a core of a node process?")
        warnings.add("V8's meta map is not in the core (the page that holds it is "
                     "missing or damaged): maps were found by the pointers to it, and "
                     "are not counted themselves")
    words = memory.u8(int(meta[0]) + layout.map_instance_size_in_words)
    map_size = (words or 0) * layout.tagged_size or _smallest_map(layout)

    def maps_in(where: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
        """The maps `known` and those found in `where`: maps, types, walk rules."""
        candidates = np.concatenate([known] + sweeper.run(impl.find_maps, [
            ((data, where[a:b], meta, map_size), n) for a, b, n in area_tasks(where)],
            WEIGHT_MAPS))
        maps, types, sizes = _valid_maps(memory, layout, union(candidates, meta))
        kinds, fixed, flags = size_rules(layout, types, sizes)
        if include_dead:  # step into free space instead of over it
            kinds[(flags & rules.MAP_FILLER) != 0] = rules.SIZE_UNKNOWN
        return maps, types, (kinds, fixed, flags, scan_params(layout))

    maps, types, walk_rules = maps_in(areas, np.zeros(0, np.uint64))
    stale = stale_allocation_areas(memory, areas, maps, walk_rules, allocation_areas or [],
                                   sweeper)
    if stale:
        stale_set = set(stale)
        kept = [a for a in allocation_areas or [] if a not in stale_set]
        areas, young_bytes = heap_areas(memory, layout, pages, kept, whole_young)
        # The rests given back to the walk may hold maps too.
        maps, types, walk_rules = maps_in(_clip(areas, [(a.top, a.limit) for a in stale]), maps)
    return ScanPlan(areas, young_bytes, meta, maps, types, walk_rules)


def locate_allocation_areas(memory: AddressSpace, layout: Layout, pages: list[HeapPage],
                            isolate: IsolateMemory, warnings: Warnings,
                            sweeper: Sweeper) -> list[AllocationArea]:
    """The allocation areas, looked for where V8 keeps them (in and next to its Isolate,
    on the stacks); without the Isolate, or where none is there, in all writable memory,
    with a warning."""
    if isolate.block is not None:
        found = find_allocation_areas(memory, layout, pages,
                                      isolate.neighbourhood(memory, pages), sweeper)
        if found:
            return found
    warnings.add("V8's allocation areas were not found next to its Isolate: all writable "
                 "memory was searched for them (this reads much more of the core)")
    return find_allocation_areas(memory, layout, pages,
                                 outside_pages(memory, pages, layout.page_alignment), sweeper)


def stale_allocation_areas(memory: AddressSpace, areas: np.ndarray, maps: np.ndarray,
                           walk_rules: tuple, allocation_areas: list[AllocationArea],
                           sweeper: Sweeper) -> list[AllocationArea]:
    """The allocation areas whose unallocated rest [top, limit) an object walked in `areas`
    refers into. Such a rest has been handed out again: the area is a stale copy, left in
    freed memory (an earlier GC's evacuator) or on an idle thread's stack, of one V8 has
    closed since, and cutting its rest would drop live objects. (A true rest holds only
    what died there before.) Beyond MAX_CHECKED_RESTS bytes of rests (a crafted core),
    areas are taken as stale unchecked: the walk then counts dead objects, never drops
    live ones."""
    checked, unchecked, budget = [], [], MAX_CHECKED_RESTS
    for area in sorted((a for a in allocation_areas if a.top < a.limit),
                       key=lambda a: a.limit - a.top):
        budget -= area.limit - area.top
        (checked if budget >= 0 else unchecked).append(area)
    if not checked:
        return unchecked
    rests = _merged_ranges([(a.top, a.limit) for a in checked])
    referenced = distinct(_references(memory, areas, maps, walk_rules, sweeper,
                                      ranges=rests)[2])
    stale = [a for a in checked if np.any((referenced >= np.uint64(a.top))
                                          & (referenced < np.uint64(a.limit)))]
    return stale + unchecked


def _merged_ranges(ranges: list[tuple[int, int]]) -> np.ndarray:
    """The address `ranges` ([start, end)) in order, those that touch or overlap merged,
    as (n, 2) rows."""
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return np.array(merged, dtype=np.uint64).reshape(-1, 2)


def _clip(areas: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
    """The parts of the `areas` rows (ordered, disjoint) inside the address `ranges`, as
    rows in address order."""
    starts = areas[:, 0]
    ends = starts + areas[:, 2]
    rows = []
    for lo, hi in _merged_ranges(ranges).tolist():
        first = int(np.searchsorted(ends, np.uint64(lo), side="right"))
        last = int(np.searchsorted(starts, np.uint64(hi), side="left"))
        for vaddr, offset, size in areas[first:last].tolist():
            start, end = max(vaddr, lo), min(vaddr + size, hi)
            if start < end:
                rows.append((start, offset + start - vaddr, end - start))
    return np.array(rows, dtype=np.uint64).reshape(-1, 3)


Census = Callable[[ScanPlan, np.ndarray, Sweeper], HeapScan]


def scan_heap(memory: AddressSpace, layout: Layout, pages: list[HeapPage],
              isolate: IsolateMemory, warnings: Warnings, progress: Optional[Progress] = None,
              collect: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None,
              include_dead: bool = False, jobs: Optional[int] = None,
              census: Optional[Census] = None, census_weight: int = WEIGHT_OBJECTS,
              whole_young: bool = False) -> HeapScan:
    """Find every live V8 heap object on the heap `pages` and count objects and bytes per
    map.

    `collect(maps, instance_types)` returns a boolean mask of the maps whose objects'
    addresses are wanted (HeapScan.collected), for naming them one by one. `include_dead`
    also counts what V8 has let go: objects in young-generation pages and inside free
    space, for forensic use. `jobs` threads scan at once (default: every available core).
    `census(plan, per_object, sweeper)` counts instead of the walk (`count_all`): the
    object graph counts reachable objects; `census_weight` is its cost per byte, and
    `whole_young` as in `plan_scan`.
    """
    page_bytes = sum(p.area_end - p.area_start for p in pages)
    estimate = page_bytes * (2 * WEIGHT_WORDS + WEIGHT_MAPS + census_weight)
    with Sweeper(jobs, progress, estimate) as sweeper:
        plan = plan_scan(memory, layout, pages, isolate, warnings, sweeper, include_dead,
                         whole_young)
        if include_dead:
            warnings.add("--all: counting every object found, including dead ones V8 has "
                         "freed (free space and young-generation pages are scanned too)")
        elif plan.young_bytes:
            warnings.add(f"{plan.young_bytes:,} bytes of young-generation pages were not "
                         "scanned (their allocation area was not found): objects allocated "
                         "since the last garbage collection are not counted")
        per_object = (np.zeros(len(plan.maps), dtype=bool) if collect is None
                      else collect(plan.maps, plan.instance_types))
        if census is None:
            scan = count_all(memory, plan, per_object, sweeper)
        else:
            scan = census(plan, per_object, sweeper)
        sweeper.finish()
    return scan


def count_all(memory: AddressSpace, plan: ScanPlan, per_object: np.ndarray,
              sweeper: Sweeper) -> HeapScan:
    """The census of every object the walk of the plan finds, live or not."""
    impl = scanner_module()
    kinds, fixed, flags, params = plan.walk_rules
    flags = flags | np.where(per_object, rules.MAP_COLLECT, 0).astype(np.uint8)
    fixed_args = (memory.reading(plan.areas), plan.areas, plan.maps + np.uint64(1), kinds, fixed,
                  flags, params)
    counts = np.zeros(len(plan.maps), dtype=np.int64)
    total_sizes = np.zeros(len(plan.maps), dtype=np.int64)
    collected: list[tuple[np.ndarray, np.ndarray]] = []

    def add(result) -> None:
        np.add(counts, result[0], out=counts)
        np.add(total_sizes, result[1], out=total_sizes)
        collected.append((result[2], result[3]))
    sweeper.run(impl.count_objects, [(fixed_args + (a, b), n)
                                     for a, b, n in area_tasks(plan.areas)],
                WEIGHT_OBJECTS, fold=add)
    addresses, object_sizes = _in_address_order(collected)
    return HeapScan(plan, counts, total_sizes, per_object, addresses, object_sizes)


def area_tasks(areas: np.ndarray) -> list[tuple[int, int, int]]:
    """The sweeper's tasks over `areas`: (first row, end row, bytes)."""
    return [(start, stop, int(areas[start:stop, 2].sum())) for start, stop in area_groups(areas)]


def collect_objects(memory: AddressSpace, scan: HeapScan, wanted: np.ndarray,
                    jobs: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """(addresses, sizes) of every live object of the maps where `wanted` is True, in
    address order: the scan's walk again, recording those objects."""
    kinds, fixed, flags, params = scan.walk_rules
    flags = flags | np.where(wanted, rules.MAP_COLLECT, 0).astype(np.uint8)
    args = (memory.reading(scan.areas), scan.areas, scan.maps + np.uint64(1), kinds, fixed,
            flags, params)
    found: list[tuple[np.ndarray, np.ndarray]] = []
    with Sweeper(jobs) as sweeper:
        sweeper.run(scanner_module().count_objects,
                    [(args + (a, b), 0) for a, b in area_groups(scan.areas)],
                    fold=lambda result: found.append((result[2], result[3])))
    return _in_address_order(found)


def find_holders(memory: AddressSpace, scan: HeapScan, targets: np.ndarray,
                 jobs: Optional[int] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every live reference to the objects at `targets` (untagged addresses):
    (holder object, address of the referencing word, target), in address order."""
    with Sweeper(jobs) as sweeper:
        return _references(memory, scan.areas, scan.maps, scan.walk_rules, sweeper, targets)


def _references(memory: AddressSpace, areas: np.ndarray, maps: np.ndarray, walk_rules: tuple,
                sweeper: Sweeper, targets: Optional[np.ndarray] = None,
                ranges: Optional[np.ndarray] = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(holder, referencing word, target) of every reference from an object walked in
    `areas` to one of `targets` (untagged addresses), or into one of `ranges` ((start,
    end) rows in order, apart). One sweep looks for all at once (a hash set of the
    targets' tagged pointers, or a search of the ranges); the objects holding the words
    found are then found by walking only the areas they are in."""
    impl = scanner_module()
    data = memory.reading(areas)
    if ranges is not None:
        find, wanted = impl.find_words_in, ranges
    else:
        find, wanted = impl.find_words, distinct(np.asarray(targets, np.uint64)) + np.uint64(1)
    found: list[tuple[np.ndarray, np.ndarray]] = []
    sweeper.run(find, [((data, areas[a:b], wanted), n) for a, b, n in area_tasks(areas)],
                WEIGHT_WORDS, fold=found.append)
    where = np.concatenate([f[0] for f in found] or [np.zeros(0, np.uint64)])
    what = np.concatenate([f[1] for f in found] or [np.zeros(0, np.uint64)])
    order = np.argsort(where)
    where, what = where[order], what[order]
    area_of = np.searchsorted(areas[:, 0], where, side="right").astype(np.int64) - 1
    kinds, fixed, flags, params = walk_rules
    holders = impl.containing_objects(data, areas, maps + np.uint64(1), kinds, fixed, flags,
                                      params, where, area_of)
    real = (holders != 0) & (holders != what - np.uint64(1))  # not free space, not itself
    return holders[real], where[real], what[real] - np.uint64(1)


def _in_address_order(parts: list[tuple[np.ndarray, np.ndarray]]):
    addresses = np.concatenate([p[0] for p in parts] or [np.zeros(0, np.uint64)])
    sizes = np.concatenate([p[1] for p in parts] or [np.zeros(0, np.int64)])
    order = np.argsort(addresses, kind="stable")
    return addresses[order], sizes[order]


META_MAP_SAMPLE = 64 << 20  # bytes of heap areas looked at to find a missing meta map
META_MAP_CANDIDATES = 32    # most common pointers tried


def _meta_map_by_use(memory: AddressSpace, layout: Layout, areas: np.ndarray) -> np.ndarray:
    """The meta map's address when the meta map itself is not in the core (its read-only
    page cut off, say): the pointer that the most words point with, where those words
    start objects that look like maps (a known instance type, a nonzero instance size or
    a variable-sized type, descriptors and a prototype that are heap objects)."""
    sample = areas[:int(np.searchsorted(np.cumsum(areas[:, 2]), META_MAP_SAMPLE)) + 1]
    data, parts, held = memory.reading(sample), [], 0
    for vaddr, offset, size in sample.tolist():
        parts.append((vaddr, data[offset:offset + size // 8 * 8].view("<u8")))
        held += size
        if held >= META_MAP_SAMPLE:
            break
    words = np.concatenate([w for _, w in parts] or [np.zeros(0, np.uint64)])
    values, counts = distinct_counts(words[(words & np.uint64(7)) == 1])
    known = np.array(sorted(layout.type_names), dtype=np.uint64)
    best, best_score = None, 0.5
    for value in values[np.argsort(-counts)[:META_MAP_CANDIDATES]].tolist():
        at = np.concatenate([vaddr + 8 * np.flatnonzero(w == np.uint64(value)).astype(np.uint64)
                             for vaddr, w in parts])[:256]
        if len(at) < 16:
            continue
        types, ok_t = memory.u64_many(at + np.uint64(layout.map_instance_type))
        descriptors, ok_d = memory.u64_many(at + np.uint64(layout.map_instance_descriptors))
        prototype, ok_p = memory.u64_many(at + np.uint64(layout.map_prototype))
        looks = (ok_t & ok_d & ok_p & member(types & np.uint64(0xFFFF), known)
                 & (descriptors & np.uint64(3) == 1) & (prototype & np.uint64(3) == 1))
        if looks.mean() > best_score:
            best, best_score = value, looks.mean()
    return np.zeros(0, np.uint64) if best is None else np.array([best - 1], dtype=np.uint64)


def _smallest_map(layout: Layout) -> int:
    """A size no map is smaller than: past its last field the scanner reads."""
    return max(layout.map_instance_descriptors, layout.map_prototype,
               layout.map_bit_field3, layout.map_constructor_or_back_pointer) + layout.tagged_size


def _valid_maps(memory: AddressSpace, layout: Layout, candidates: np.ndarray):
    """Keep candidates that look like real maps: a known instance type, and descriptors
    and a prototype that are heap objects (null is one). Read in bulk."""
    def field(offset: int) -> tuple[np.ndarray, np.ndarray]:
        return memory.u64_many(candidates + np.uint64(offset))
    (types, ok_type), (words, ok_words) = (field(layout.map_instance_type),
                                           field(layout.map_instance_size_in_words))
    (descriptors, ok_descriptors), (prototype, ok_prototype) = (
        field(layout.map_instance_descriptors), field(layout.map_prototype))
    types, words = types & np.uint64(0xFFFF), words & np.uint64(0xFF)
    keep = (ok_type & ok_words & ok_descriptors & ok_prototype
            & (types <= np.uint64(max(layout.type_names)))
            & (descriptors & np.uint64(3) == 1) & (prototype & np.uint64(3) == 1))
    return (candidates[keep].astype(np.uint64), types[keep].astype(np.int64),
            words[keep].astype(np.int64) * layout.tagged_size)


def size_rules(layout: Layout, types: np.ndarray, instance_sizes: np.ndarray):
    """Per map: how to size its objects, the fixed size (for an array-like type with a
    header of its own, that header), and scanner flags."""
    n = len(types)
    kinds = np.full(n, rules.SIZE_UNKNOWN, dtype=np.uint8)
    fixed = instance_sizes.astype(np.int64)
    flags = np.zeros(n, dtype=np.uint8)
    for i, (t, size) in enumerate(zip(types.tolist(), instance_sizes.tolist())):
        if t in layout.array_bodies and size == 0:
            element, fixed[i] = layout.array_bodies[t]
            kinds[i] = rules.SIZE_BYTE_ARRAY if element == 1 else rules.SIZE_FIXED_ARRAY
        else:
            kinds[i] = _size_kind(layout, t, size)
        if layout.is_js_receiver(t):
            flags[i] |= rules.MAP_JS_RECEIVER
        if t in (layout.free_space_type, layout.filler_type):
            flags[i] |= rules.MAP_FILLER
    return kinds, fixed, flags


def _size_kind(layout: Layout, t: int, instance_size: int) -> int:
    if layout.is_string(t) and layout.string_representation(t) == layout.seq_string_tag:
        return rules.SIZE_ONE_BYTE if layout.is_one_byte_string(t) else rules.SIZE_TWO_BYTE
    if instance_size > 0:
        return rules.SIZE_FIXED
    if layout.is_fixed_array(t) or layout.is_context(t):
        return rules.SIZE_FIXED_ARRAY
    if layout.weak_fixed_array_type <= t <= layout.last_weak_fixed_array_type:
        return rules.SIZE_FIXED_ARRAY
    by_type = {
        layout.byte_array_type: rules.SIZE_BYTE_ARRAY,
        layout.fixed_double_array_type: rules.SIZE_DOUBLE_ARRAY,
        layout.free_space_type: rules.SIZE_FREE_SPACE,
        layout.property_array_type: rules.SIZE_PROPERTY_ARRAY,
        layout.descriptor_array_type: rules.SIZE_DESCRIPTORS,
        layout.descriptor_array_type + 1: rules.SIZE_DESCRIPTORS,  # StrongDescriptorArray
        layout.weak_array_list_type: rules.SIZE_WEAK_ARRAY_LIST,
    }
    return by_type.get(t, rules.SIZE_UNKNOWN)


def scan_params(layout: Layout) -> rules.ScanParams:
    """Where the walk finds what it reads, from the layout."""
    return rules.ScanParams(
        tagged_size=layout.tagged_size,
        header_size=layout.fixed_array_header,
        length_offset=layout.fixed_array_length,
        string_length_offset=layout.string_length,
        string_chars_offset=layout.seq_one_byte_chars,
        properties_offset=layout.js_properties,
        elements_offset=layout.js_elements,
        descriptors_header=layout.descriptor_array_header,
        descriptor_entry=layout.descriptor_size * layout.tagged_size,
        descriptors_count_offset=layout.descriptor_count,
        property_array_mask=layout.property_array_length_mask,
        weak_list_header=layout.weak_array_list_header,
        free_space_unit=layout.free_space_size_unit,
    )
