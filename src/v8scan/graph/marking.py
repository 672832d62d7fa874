"""The reachable objects of a heap: every object the walk finds, marked from the roots.

The object table lists every object of the scan plan's areas (address, map, extent); the
marking follows, breadth first, the strong tagged words of each object (the raw data of
strings, numbers and byte arrays aside; weak references and WeakMap entries whose key is
not reached aside) from the roots of roots.py, root group by root group. Both run in the
compiled scanner, on every core: the table in chunks, the marking in slices of its large
breadth-first levels. What is left unmarked is garbage V8 has not yet collected.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..arrays import distinct_counts
from ..core import AddressSpace, Thread
from ..errors import V8ScanError, Warnings
from ..scan import scanrules as rules
from ..scan.heapscan import WEIGHT_OBJECTS, HeapScan, ScanPlan, area_tasks
from ..scan.isolate import IsolateMemory
from ..scan.pages import HeapPage
from ..scan.sweep import Sweeper, scanner_module
from ..v8.heap import Heap
from ..v8.layout import Layout
from .roots import Roots, find_roots

WEIGHT_MARK = 6   # the marking: every word of every reached object, looked up
WEIGHT = 2 * WEIGHT_OBJECTS + WEIGHT_MARK  # per byte: count, list, mark
EXTENT_MASK = np.uint64(0xFFFFFFFF)
# A WeakMap's table is a HashTable: header, then number of elements, of deleted elements
# and capacity, then (key, value) entries (V8's ObjectHashTableShape has no prefix).
HASH_TABLE_PREFIX_WORDS = 3
PARALLEL_LEVEL = 1 << 16   # objects waiting, from which the marking shares them out
SLICE = 1 << 18            # objects traced in one slice at most


@dataclass
class ObjectGraph:
    """Every object the walk found, in address order, and which of them are reachable."""

    addresses: np.ndarray   # uint64
    info: np.ndarray        # uint64: map index << 32 | extent
    marks: np.ndarray       # uint8: 1 where reachable
    parents: Optional[np.ndarray]  # int32, if asked for: see _scan_py.mark_reachable
    roots: Roots
    map_flags: np.ndarray   # uint8 per map: MAP_EPHEMERON for WeakMap tables

    def extent(self, i: int) -> int:
        """Object i's size, or for one of unknown size, the bytes up to the next object."""
        return int(self.info[i] & EXTENT_MASK)

    def indexes(self, addresses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index, found) per untagged address: the object that starts there, where
        `found`; elsewhere the index is of no object in particular (but in range)."""
        n = len(self.addresses)
        at = np.minimum(np.searchsorted(self.addresses, addresses), max(n - 1, 0))
        return at, (self.addresses[at] == addresses if n else np.zeros(len(at), bool))

    def reachable(self, addresses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index, reachable) per untagged address: `indexes`, found and marked."""
        at, found = self.indexes(addresses)
        if len(self.addresses):
            found &= self.marks[at] == 1
        return at, found


def trace_rules(layout: Layout, plan: ScanPlan) -> np.ndarray:
    """Per map of the plan: the bytes of its objects that hold tagged words (the rest is
    raw data: characters, doubles, bytes)."""
    kinds, fixed, _, _ = plan.walk_rules
    trace_end = np.full(len(plan.maps), rules.TRACE_ALL, dtype=np.int64)
    only_map = np.isin(kinds, [rules.SIZE_ONE_BYTE, rules.SIZE_TWO_BYTE,
                               rules.SIZE_DOUBLE_ARRAY]) \
        | np.isin(plan.instance_types, [layout.heap_number_type, layout.bigint_type])
    trace_end[only_map] = layout.tagged_size
    byte_arrays = kinds == rules.SIZE_BYTE_ARRAY  # a header of its own is traced
    trace_end[byte_arrays] = np.maximum(fixed[byte_arrays], layout.fixed_array_header)
    return trace_end


def weak_collection_types(layout: Layout) -> list[int]:
    return [t for t, name in layout.type_names.items()
            if name in ("JS_WEAK_MAP_TYPE", "JS_WEAK_SET_TYPE")]


def ephemeron_maps(memory: AddressSpace, layout: Layout, plan: ScanPlan,
                   collections: np.ndarray) -> np.ndarray:
    """Per map of the plan: whether its objects are WeakMap and WeakSet tables
    (EphemeronHashTable, a type the metadata does not name): the type of the tables the
    heap's JSWeakMaps and JSWeakSets (`collections`) hold."""
    tables, ok = memory.u64_many(collections + np.uint64(layout.js_collection_table))
    tables = tables[ok & (tables & np.uint64(3) == 1)] - np.uint64(1)
    table_maps, ok = memory.u64_many(tables)
    table_maps = table_maps[ok] - np.uint64(1)
    at = np.minimum(np.searchsorted(plan.maps, table_maps), max(len(plan.maps) - 1, 0))
    found = plan.maps[at] == table_maps if len(plan.maps) else np.zeros(0, bool)
    types = plan.instance_types[at[found]]
    if len(types) == 0:
        return np.zeros(len(plan.maps), dtype=bool)
    values, counts = distinct_counts(types)
    return plan.instance_types == values[np.argmax(counts)]


def ephemeron_start(layout: Layout) -> int:
    """Where the (key, value) entries of a WeakMap's table begin, in bytes."""
    return layout.fixed_array_header + HASH_TABLE_PREFIX_WORDS * layout.tagged_size


def list_objects(memory: AddressSpace, plan: ScanPlan, weak_collections: np.ndarray,
                 sweeper: Sweeper) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(addresses, info) of every object the walk of the plan counts, in address order,
    and the addresses of the objects of the `weak_collections` maps. Two walks: one counts
    the objects of each chunk, the other writes them where the counts say, into arrays
    allocated once (growing ones would take twice the memory and time)."""
    impl = scanner_module()
    kinds, fixed, flags, params = plan.walk_rules
    args = (memory.reading(plan.areas), plan.areas, plan.maps + np.uint64(1), kinds, fixed, flags,
            params)
    tasks = area_tasks(plan.areas)
    collect = flags | np.where(weak_collections, rules.MAP_COLLECT, 0).astype(np.uint8)

    def count(*task_args) -> tuple[int, np.ndarray]:
        """A chunk's objects, and its weak collections (not its per-map arrays: with a
        chunk per 8 MB, a large heap's would add up)."""
        counts, _, collected, _ = impl.count_objects(*task_args)
        return int(counts.sum()), collected
    counted = sweeper.run(count, [(args[:5] + (collect, params, a, b), n)
                                  for a, b, n in tasks], WEIGHT_OBJECTS)
    starts = np.concatenate([[0], np.cumsum([c[0] for c in counted])])
    addresses, info = _anonymous(int(starts[-1])), _anonymous(int(starts[-1]))
    written = sweeper.run(impl.list_objects, [
        (args + (a, b, addresses, info, int(at)), n)
        for (a, b, n), at in zip(tasks, starts.tolist())], WEIGHT_OBJECTS)
    if written != np.diff(starts).tolist():  # the walks are the same: this is a bug
        raise ValueError("the walk listed other objects than it counted")
    return addresses, info, _concatenate([c[1] for c in counted])


def _anonymous(n: int) -> np.ndarray:
    """n uint64 in fresh anonymous memory. (numpy asks the kernel for huge pages for large
    arrays, and where the kernel compacts memory to find them, faulting them in took twice
    the time of the walk that fills them.)"""
    if n == 0:
        return np.zeros(0, np.uint64)
    private = mmap.mmap(-1, 8 * n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(private, dtype=np.uint64)


def _concatenate(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, np.uint64)


def build_graph(memory: AddressSpace, layout: Layout, pages: list[HeapPage], plan: ScanPlan,
                threads: list[Thread], isolate: IsolateMemory, warnings: Warnings,
                sweeper: Sweeper, want_parents: bool = False) -> ObjectGraph:
    """Every object of the plan's areas, marked from the roots of the core."""
    addresses, info, collections = list_objects(
        memory, plan, np.isin(plan.instance_types, weak_collection_types(layout)), sweeper)
    if len(addresses) > rules.MAX_OBJECTS:
        raise V8ScanError(f"{len(addresses):,} objects: more than the object graph can "
                          "number (2**31 - 1)", hint="--all counts without the graph")
    heap = Heap(memory, layout)
    roots = find_roots(memory, pages, threads, isolate, layout.page_alignment, warnings,
                       lambda address: heap.instance_type(address) == layout.oddball_type)
    flags = np.where(ephemeron_maps(memory, layout, plan, collections),
                     rules.MAP_EPHEMERON, 0).astype(np.uint8)
    unmarked = ObjectGraph(addresses, info, np.zeros(0, np.uint8), None, roots, flags)
    return mark_graph(memory, layout, plan, unmarked, sweeper, want_parents)


def mark_graph(memory: AddressSpace, layout: Layout, plan: ScanPlan, graph: ObjectGraph,
               sweeper: Sweeper, want_parents: bool) -> ObjectGraph:
    """`graph`'s objects marked from its roots (again): the same objects, roots and flags,
    new marks, and the parents if wanted. The object table is shared, not copied."""
    marker = scanner_module().Marker(
        memory.reading(plan.areas), plan.areas, graph.addresses, graph.info,
        trace_rules(layout, plan), graph.map_flags, ephemeron_start(layout),
        layout.page_alignment.bit_length() - 1, want_parents)
    roots = graph.roots
    for group in range(len(roots.groups)):
        marker.add_roots(roots.words[roots.group_of == group], group)
        _trace(marker, sweeper, parallel=not want_parents)
    marks, parents = marker.result()
    sweeper.advance(int(plan.areas[:, 2].sum()) * WEIGHT_MARK)
    return ObjectGraph(graph.addresses, graph.info, marks, parents, roots, graph.map_flags)


def _trace(marker, sweeper: Sweeper, parallel: bool) -> None:
    """Trace all that is queued, through the ephemerons' rounds: breadth-first levels of
    PARALLEL_LEVEL objects or more in slices on every thread (the marks come out the
    same; the order, which only the parents would show, does not)."""
    jobs = sweeper.jobs if parallel else 1
    while marker.run(PARALLEL_LEVEL if jobs > 1 else 0):
        lo, hi = marker.head, marker.tail
        marker.skip()
        # Slices of at most SLICE entries, each queued as soon as it is done: what the
        # slices in flight found is all that waits in memory.
        slices = max(4 * jobs, -(-(hi - lo) // SLICE))
        bounds = np.linspace(lo, hi, slices + 1).astype(np.int64).tolist()
        sweeper.run(marker.trace_slice, [((a, b), 0) for a, b in zip(bounds, bounds[1:])],
                    fold=lambda result: marker.take(*result))


def reachable_census(plan: ScanPlan, graph: ObjectGraph, per_object: np.ndarray) -> HeapScan:
    """The heap scan of the reachable objects: counts and bytes per map, and the objects of
    the `per_object` maps, as `scan_heap` gives them for every object."""
    counts, sizes, collected, collected_sizes = _count_marked(plan, graph, per_object)
    return HeapScan(plan, counts, sizes, per_object, collected, collected_sizes, graph)


def reachable_objects(plan: ScanPlan, graph: ObjectGraph,
                      wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(addresses, sizes; 0 where not known) of the reachable objects of the maps where
    `wanted` is True, in address order."""
    return _count_marked(plan, graph, wanted)[2:]


def _count_marked(plan: ScanPlan, graph: ObjectGraph, wanted: np.ndarray):
    known = (plan.walk_rules[0] != rules.SIZE_UNKNOWN).astype(np.uint8)
    return scanner_module().count_marked(graph.addresses, graph.info, graph.marks, known,
                                         np.asarray(wanted).astype(np.uint8))
