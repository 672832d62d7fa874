"""Who retains what: the dominator tree of the reachable objects, and retained sizes.

An object D dominates an object O when every path from the roots to O passes through D;
O's retained size is its own size plus the sizes of all it dominates: the bytes that
would be freed if D were. Computed as V8's heap snapshot, Chrome DevTools and memlab do:
from one synthetic root over every GC root, along strong references only (a weak
reference retains nothing; a WeakMap's value is held through its key, the edge V8's
snapshot draws). The edges are those the marking follows (Marker.edges), the tree comes
from Lengauer and Tarjan's algorithm in the compiled scanner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..arrays import distinct
from ..core import AddressSpace
from ..scan import scanrules as rules
from ..scan.heapscan import ScanPlan
from ..scan.sweep import Sweeper, scanner_module
from ..v8.layout import Layout
from .marking import EXTENT_MASK, ObjectGraph, ephemeron_start, trace_rules

WEIGHT = 4  # per byte of the heap, in progress: the edges, then the tree


@dataclass
class Dominators:
    """The dominator tree of an ObjectGraph's objects, by object index; the synthetic root
    is index `root` (one past the last object)."""

    idom: np.ndarray      # int32 per object and the root: its immediate dominator; -1 for
    #                       the root and for objects not reached
    retained: np.ndarray  # int64 per object and the root: retained size in bytes
    preorder: np.ndarray  # int32: the reached, each after its dominators

    @property
    def root(self) -> int:
        return len(self.idom) - 1

    def children(self) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, children): who each node immediately dominates, as `adjacency`."""
        reached = self.idom >= 0
        return scanner_module().adjacency(len(self.idom), self.idom[reached],
                                          np.flatnonzero(reached).astype(np.int32))

    def outermost(self, group: np.ndarray, n_groups: int) -> np.ndarray:
        """Per object (not the root): whether no object that dominates it is of its own
        group (`group` per object, -1: none). Summing the retained sizes of a group's
        outermost objects counts each byte once, as DevTools sums a constructor's row."""
        offsets, children = self.children()
        with_root = np.append(np.asarray(group, np.int32), np.int32(-1))
        return scanner_module().outermost_of_group(self.root, offsets, children, with_root,
                                                   n_groups)[:-1].astype(bool)


def dominator_tree(memory: AddressSpace, layout: Layout, plan: ScanPlan, graph: ObjectGraph,
                   sweeper: Sweeper) -> Dominators:
    """The dominator tree of `graph`'s reachable objects, and their retained sizes (an
    object's own size is its extent: its size, or for a type of unknown size the bytes up
    to the next object)."""
    impl = scanner_module()
    n = len(graph.addresses)
    marks = graph.marks
    sources, targets = strong_edges(memory, layout, plan, graph)
    sweeper.advance(int(plan.areas[:, 2].sum()) * WEIGHT // 2)
    # V8's snapshot also takes its (weak) string tables as roots: "(Internalized strings)"
    # and "(External strings)".
    rooted = distinct(np.concatenate([rooted_objects(graph)[0], *string_table_roots(
        layout, plan, graph, marks)])).astype(np.int32)
    sources = np.concatenate([sources, np.full(len(rooted), n, np.int32)])
    targets = np.concatenate([targets, rooted])
    succ_at, succ = impl.adjacency(n + 1, sources, targets)
    pred_at, pred = impl.adjacency(n + 1, targets, sources)
    del sources, targets
    idom, preorder = impl.immediate_dominators(n, succ_at, succ, pred_at, pred)
    sizes = np.zeros(n + 1, np.int64)
    sizes[:n] = (graph.info & EXTENT_MASK).astype(np.int64)
    retained = impl.retained_sizes(idom, preorder, sizes)
    sweeper.advance(int(plan.areas[:, 2].sum()) * (WEIGHT - WEIGHT // 2))
    return Dominators(idom, retained, preorder)


def strong_edges(memory: AddressSpace, layout: Layout, plan: ScanPlan, graph: ObjectGraph,
                 with_slots: bool = False, skip: Optional[np.ndarray] = None,
                 store_header: int = 0) -> tuple[np.ndarray, ...]:
    """(sources, targets[, slots]) by object index: every strong reference between live
    objects (Marker.edges). A JS object refers to all its elements' and properties' stores
    refer to, as V8's heap snapshot draws it (V8HeapExplorer's ExtractElementReferences and
    ExtractPropertyReferences): the object retains them, its stores only themselves. Left
    out: references to the objects `skip` flags, a store's first `store_header` bytes."""
    owners = (plan.instance_types >= layout.first_js_receiver_type) \
        & (plan.instance_types != layout.js_proxy_type)
    flags = graph.map_flags | np.where(owners, rules.MAP_JS_RECEIVER, 0).astype(np.uint8)
    marker = scanner_module().Marker(
        memory.reading(plan.areas), plan.areas, graph.addresses, graph.info,
        trace_rules(layout, plan), flags, ephemeron_start(layout),
        layout.page_alignment.bit_length() - 1)
    marker.set_marks(graph.marks)
    return marker.edges(layout.js_elements, layout.js_properties, with_slots,
                        None if skip is None else np.asarray(skip, np.uint8), store_header)


def rooted_objects(graph: ObjectGraph) -> tuple[np.ndarray, np.ndarray]:
    """(object indexes, root groups): what the root words point at, by the marking's own
    rule (a strong tagged pointer to a live object's start), once per group and object."""
    roots = graph.roots
    tagged = (roots.words & np.uint64(7)) == 1
    words, groups = roots.words[tagged] - np.uint64(1), roots.group_of[tagged]
    at, held = graph.reachable(words)
    pairs = distinct(groups[held].astype(np.int64) << np.int64(32) | at[held].astype(np.int64))
    return (pairs & 0xFFFFFFFF).astype(np.int64), (pairs >> 32).astype(np.int32)


STRING_TABLES = ("(Internalized strings)", "(External strings)")


def string_table_roots(layout: Layout, plan: ScanPlan, graph: ObjectGraph,
                       marks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The indexes of the marked internalized strings (property names, literals) and of
    the marked external strings (characters outside the heap: Node's built-in modules'
    sources): V8's heap snapshot holds each kind from a GC root, STRING_TABLES (its
    string table and external string table, which the garbage collector treats as weak),
    and DevTools and memlab compute retained sizes from that."""
    internalized = [t for t, name in layout.type_names.items() if "INTERNALIZED_STRING" in name]
    external = [t for t in plan.instance_types.tolist() if 0 <= t < layout.first_nonstring_type
                and layout.string_representation(t) == layout.external_string_tag]
    types = plan.instance_types[(graph.info >> np.uint64(32)).astype(np.int64)]
    marked = marks == 1
    return (np.flatnonzero(marked & np.isin(types, np.array(internalized, np.int64))),
            np.flatnonzero(marked & np.isin(types, np.array(external, np.int64))))
