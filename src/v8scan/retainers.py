"""Who holds the targets: the path from a GC root to each, named by holder and slot.

The object graph (graph/marking.py) is marked breadth first from V8's roots, each object
keeping the object it was first reached from: following those links up from a target
gives a shortest path from a root, never through garbage (an abandoned hash table) nor
round a cycle (the target's own closures). Internal containers (an array's elements, a
property backing store, a hash table) are looked through to the object that owns them,
so a path reads the way JavaScript does: `Array[...]`, `Object.pending`, `cache in the
context of flush (db.js)`. A path ends at the first JavaScript root on it, a closure's or
module's context or the global object, or else at the GC root itself: `(Handle scope)`,
`(Global handles)`, the stack of a thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Optional

import numpy as np

from .arrays import distinct, distinct_counts, distinct_first, per_distinct
from .census import object_labels, objects_named
from .results import UNREACHABLE, Dominator, RetainerPath

if TYPE_CHECKING:
    from .graph.marking import ObjectGraph
    from .scan.heapscan import HeapScan

DEFAULT_HOPS = 16
NOT_WALKED = "not an object of the heap walk: dead, in free space or on no heap page"


def retainer_paths(dump, targets: np.ndarray, hops: int = DEFAULT_HOPS,
                   jobs: Optional[int] = None, retained: bool = True) -> list[RetainerPath]:
    """Group `targets` (untagged object addresses) by the path that holds them.

    Each target follows its links in the object graph towards the root it was reached
    from, at most `hops` links. Paths are sorted by count, then by their steps. Targets
    are tracked in arrays; only distinct (path, slot) pairs are named. With `retained`,
    each path says how many bytes its targets retain (the dominator tree is built).
    """
    graph: ObjectGraph = dump.object_graph(jobs)
    scan: HeapScan = dump.scan(jobs=jobs)
    namer = _SlotNamer(dump)
    targets = distinct(np.asarray(targets, dtype=np.uint64))
    at, found = graph.indexes(targets)
    current = at.astype(np.int64)                    # the object each target's path is at
    reached = found & (graph.marks[at] == 1)
    ended = ~reached                                 # no further link for this target
    rooted = np.zeros(len(targets), dtype=bool)
    paths = _PathTree(len(targets))
    paths.end(np.flatnonzero(~found), Step(NOT_WALKED))
    paths.end(np.flatnonzero(found & ~reached), Step(UNREACHABLE))
    slots = _Slots(dump, graph)
    for _ in range(hops):
        active = np.flatnonzero(~ended)
        if len(active) == 0:
            break
        parents = graph.parents[current[active]].astype(np.int64)
        from_root = parents < -1
        for group in distinct(parents[from_root]).tolist():
            picked = active[parents == group]
            paths.end(picked, Step(graph.roots.groups[-2 - group]))
            ended[picked] = rooted[picked] = True
        active, parents = active[~from_root], parents[~from_root]
        holders = graph.addresses[parents]
        where = slots.of(parents, current[active])
        current[active] = parents
        each = distinct(parents)  # many targets share a holder: read each once
        types = dump.maps_of(scan, graph.addresses[each])[1][np.searchsorted(each, parents)]
        named = ~namer.looked_through(types)  # a container's owner names the slot
        active, holders, where = active[named], holders[named], where[named]
        is_root = paths.extend(active, holders, where, namer)
        ended[active] |= is_root
        rooted[active] |= is_root
    namer.name_contexts(scan, jobs)
    held = _retained_by_target(dump, graph, at[found], found, jobs) if retained else None
    return paths.grouped(targets, rooted, namer, held)


def _retained_by_target(dump, graph: ObjectGraph, at: np.ndarray, found: np.ndarray,
                        jobs: Optional[int]) -> np.ndarray:
    """Per target: its retained size if no other target dominates it, else 0 (its bytes
    are in that one's), so that sums over targets count each byte once."""
    tree = dump.dominators(jobs=jobs)
    group = np.full(len(graph.addresses), -1, np.int32)
    group[at] = 0
    outermost = tree.outermost(group, 1)
    held = np.zeros(len(found), np.int64)
    held[found] = np.where(outermost[at], tree.retained[at], 0)
    return held


class _Slots:
    """The address of the word by which a holder refers to an object it holds (its first
    such word)."""

    def __init__(self, dump, graph: ObjectGraph) -> None:
        self.memory, self.graph = dump.core.memory, graph

    def of(self, holders: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Per (holder index, held index) pair: the slot's address (0 if not found). Each
        holder's words are read once, for all it holds (an array of a million elements
        holds a million targets)."""
        out = np.zeros(len(holders), dtype=np.uint64)
        graph = self.graph
        order = np.argsort(holders, kind="stable")
        bounds = np.flatnonzero(np.diff(holders[order])) + 1
        for group in np.split(order, bounds) if len(order) else []:
            h = int(holders[group[0]])
            address = int(graph.addresses[h])
            raw = self.memory.read(address, graph.extent(h))
            if raw is None:
                continue
            values, first = distinct_first(np.frombuffer(raw, dtype="<u8"))
            wanted = graph.addresses[held[group]] + np.uint64(1)
            at = np.minimum(np.searchsorted(values, wanted), len(values) - 1)
            hit = values[at] == wanted
            out[group[hit]] = np.uint64(address) + first[at[hit]].astype(np.uint64) * np.uint64(8)
        return out


class Step(NamedTuple):
    """One step of a path: its text, and for a context variable the context (named by
    the closures that use it once all paths are known)."""

    text: str
    context: int = 0


class _PathTree:
    """The steps each target's path has taken, as a tree shared by all targets: path id
    -> (parent path id, step), 0 being the empty path."""

    def __init__(self, targets: int) -> None:
        self.path = np.zeros(targets, dtype=np.int64)
        self.nodes: list[tuple[int, Step]] = [(-1, Step(""))]
        self._child: dict[tuple[int, Step], int] = {}

    def end(self, active: np.ndarray, step: Step) -> None:
        """Add one last step, named already, to the paths of `active` targets."""
        for parent in distinct(self.path[active]).tolist():
            node = self._child.setdefault((parent, step), len(self.nodes))
            if node == len(self.nodes):
                self.nodes.append((parent, step))
            picked = active[self.path[active] == parent]
            self.path[picked] = node

    def extend(self, active: np.ndarray, holders: np.ndarray, slots: np.ndarray,
               namer: "_SlotNamer") -> np.ndarray:
        """Add the step (holder, slot) to the paths of `active` targets; whether each
        step ends at a root. Each distinct (path so far, slot) is named once."""
        parents = self.path[active]
        order = np.lexsort((parents, slots))
        first = np.ones(len(order), dtype=bool)  # the first of each (slot, parent) pair
        first[1:] = (np.diff(slots[order]) != 0) | (np.diff(parents[order]) != 0)
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = np.cumsum(first) - 1
        picked = order[first]
        next_path = np.zeros(len(picked), dtype=np.int64)
        is_root = np.zeros(len(picked), dtype=bool)
        for i, (parent, holder, slot) in enumerate(zip(
                parents[picked].tolist(), holders[picked].tolist(), slots[picked].tolist())):
            step, is_root[i] = namer.describe(holder, slot)
            next_path[i] = self._child.setdefault((parent, step), len(self.nodes))
            if next_path[i] == len(self.nodes):
                self.nodes.append((parent, step))
        self.path[active] = next_path[inverse]
        return is_root[inverse]

    def grouped(self, targets: np.ndarray, rooted: np.ndarray, namer: "_SlotNamer",
                retained: Optional[np.ndarray] = None) -> list[RetainerPath]:
        """Targets grouped by their named steps; paths through different contexts of one
        closure read the same once named, and are merged. `retained`: bytes per target,
        summed per path."""
        keys = self.path * 2 + rooted
        groups, counts = distinct_counts(keys)
        group_of = np.searchsorted(groups, keys)
        by_group = np.argsort(group_of, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        held = np.zeros(len(groups), np.int64) if retained is None else np.bincount(
            group_of, weights=retained, minlength=len(groups))
        merged: dict[tuple[tuple[str, ...], bool], tuple[int, list[int], int]] = {}
        for group, count, start, bytes_held in zip(groups.tolist(), counts.tolist(),
                                                   starts.tolist(), held.tolist()):
            steps, node = [], group // 2
            while node > 0:
                parent, step = self.nodes[node]
                steps.append(namer.finish(step))
                node = parent
            key = (tuple(reversed(steps)), bool(group % 2))
            total, samples, total_held = merged.get(key, (0, [], 0))
            picked = by_group[start:start + min(count, 3)]  # of this group only
            merged[key] = (total + count, samples + targets[picked].tolist(),
                           total_held + int(bytes_held))
        return sorted((RetainerPath(count, steps, rooted, tuple(sorted(samples)[:3]),
                                    None if retained is None else total_held)
                       for (steps, rooted), (count, samples, total_held) in merged.items()),
                      key=lambda p: (-p.count, p.steps))


def top_dominators(dump, count: int, hops: int = DEFAULT_HOPS,
                   jobs: Optional[int] = None) -> list[Dominator]:
    """The `count` objects that retain the most bytes, most first, each with a path that
    holds it."""
    tree = dump.dominators(jobs=jobs)
    scan = dump.scan(jobs=jobs)
    graph = dump.graph_of(scan, jobs)
    retained = tree.retained[:-1]
    chosen = np.argsort(-retained, kind="stable")[:count]
    chosen = chosen[retained[chosen] > 0]
    addresses = graph.addresses[chosen]
    found = []
    for i, address, (kind, name) in zip(chosen.tolist(), addresses.tolist(),
                                        object_labels(dump, scan, addresses)):
        paths = retainer_paths(dump, np.array([address], np.uint64), hops, jobs,
                               retained=False)
        found.append(Dominator(address, kind, name, graph.extent(i), int(retained[i]),
                               paths[0].steps if paths else ()))
    return found


def target_at(dump, address: int) -> np.ndarray:
    """The object at `address` (tagged or not) as a target. Raises NotAnObject if no
    object starts there."""
    return np.array([dump.heap.object_start(address)], dtype=np.uint64)


def targets_named(dump, name: str, jobs: Optional[int] = None,
                  kind: Optional[str] = None) -> np.ndarray:
    """Addresses of the live objects called `name`, as `Dump.instances` finds them (one
    kind: "Job" means the Job objects, not also the class Job)."""
    rows = objects_named(dump, name, kind=kind, jobs=jobs)
    return np.sort(np.concatenate([a for a, _ in rows.values()]
                                  or [np.zeros(0, dtype=np.uint64)]))


class _SlotNamer:
    """Names a holder and the slot that holds a reference, as JavaScript would."""

    def __init__(self, dump) -> None:
        self.dump = dump
        self.heap, self.layout, self.namer = dump.heap, dump.layout, dump.namer
        self._contexts: dict[int, set[tuple[str, str]]] = {}  # context -> its closures
        L = self.layout
        self._collection_types = {L.js_map_type, L.js_set_type, L.js_weak_map_type}

    def _type(self, obj: int) -> int:
        return self.heap.instance_type(obj) or -1

    def _is_root_type(self, t: int) -> bool:
        """Contexts, the global object and its property cells (global variables)."""
        L = self.layout
        return L.is_context(t) or t in (L.js_global_object_type, L.property_cell_type)

    def looked_through(self, types: np.ndarray) -> np.ndarray:
        """Per instance type: containers (elements, property stores, hash tables) whose
        owner names the slot."""
        L = self.layout
        return per_distinct(types, lambda t: not L.is_context(t) and (L.is_fixed_array(t) or t in (
            L.property_array_type, L.weak_array_list_type)))

    def describe(self, holder: int, at: int) -> tuple[Step, bool]:
        """(the step, whether the path ends at this holder, a root). A context variable's
        step names its context, for `finish` to name by the closures that use it."""
        L = self.layout
        t = self._type(holder)
        if L.is_context(t):
            self._contexts.setdefault(holder, set())
            index = (at - holder - L.fixed_array_header) // L.tagged_size
            return Step(self._context_variable(holder, index), holder), True
        return Step(self._step(holder, at, t)), self._is_root_type(t)

    def _step(self, holder: int, at: int, t: int) -> str:
        L, heap = self.layout, self.heap
        offset = at - holder
        if t == L.js_global_object_type:
            return "global"
        if t == L.property_cell_type:  # the value of a global variable
            name = heap.pointer(holder, L.property_cell_name)
            return f"global.{self.namer.property_name(name) if name else '?'}"
        if L.is_js_receiver(t):
            map_addr = heap.map_of(holder)
            label = self._label(holder)
            if offset == L.js_elements:
                return f"{label}[...]"
            if offset == L.js_properties:
                return f"{label}.(properties)"
            if t in self._collection_types and offset == L.js_collection_table:
                return f"{label} entries"
            name = self._field_name(map_addr, offset // L.tagged_size
                                    - (heap.memory.u8(map_addr + L.map_inobject_properties_start)
                                       or 0)) if map_addr else None
            return f"{label}.{name or f'<slot {offset // L.tagged_size}>'}"
        return f"({self.namer.label_map(heap.map_of(holder) or 0, t)[1]})"

    def _label(self, obj: int) -> str:
        map_addr = self.heap.map_of(obj) or 0
        return self.namer.label_object(obj, map_addr, self._type(obj))[1] or "Function"

    def _field_name(self, map_addr: int, field_index: int) -> Optional[str]:
        """The own property kept in field `field_index` (in-object fields first)."""
        if self.heap.is_dictionary_map(map_addr):
            return None
        key = self.heap.field_key(map_addr, field_index)
        return None if key is None else self.namer.property_name(key)

    def _context_variable(self, context: int, slot: int) -> str:
        """The name of context slot `slot` from the context's ScopeInfo (slot 0; context
        locals follow the two header slots), or `<slot N>`."""
        L = self.layout
        scope_info = self.heap.pointer(context, L.fixed_array_header)
        name = None if scope_info is None else self.heap.context_local_name(scope_info, slot - 2)
        return name or f"<slot {slot}>"

    def name_contexts(self, scan: HeapScan, jobs: Optional[int]) -> None:
        """Name each context reached by a closure that uses it: one more sweep for all."""
        if not self._contexts:
            return
        L, heap = self.layout, self.heap
        contexts = np.array(sorted(self._contexts), dtype=np.uint64)
        holders, where, what = self.dump.holders_of(scan, contexts, jobs)
        for holder, at, context in zip(holders.tolist(), where.tolist(), what.tolist()):
            if at - holder != L.js_function_context or not L.is_js_function(self._type(holder)):
                continue
            sfi = heap.pointer(holder, L.js_function_shared)
            self._contexts[context].add((self.namer.closure_name(sfi),
                                         self._script_name(sfi) or ""))

    def _script_name(self, sfi: Optional[int]) -> Optional[str]:
        script = self.heap.script_of(sfi)
        return None if script is None else self.heap.script_name(script)

    def finish(self, step: Step) -> str:
        """The step's text; a context variable's with the closures that name its context,
        once `name_contexts` has run."""
        variable, context = step
        if not context:
            return variable
        closures = sorted(self._contexts.get(context, ()))
        if not closures:
            return f"{variable} in a context no closure uses"
        names = ", ".join(name for name, _ in closures[:5]) + (", ..." if len(closures) > 5 else "")
        scripts = sorted({script for _, script in closures if script})
        where = f" ({', '.join(scripts)})" if scripts else ""
        return f"{variable} in the context of {names}{where}"
