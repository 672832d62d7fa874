"""Who holds the targets: references to them, named by holder and slot, up to a GC root.

Each hop is one sweep for every object of the current frontier at once (`find_holders`);
where an object has several holders, the sweep for the next hop comes first, so that a
holder nothing holds (a dead end such as an obsolete hash table) is passed over.
Internal containers (an array's elements, a property backing store, a property cell)
are looked through to the object that owns them, so a path reads the way JavaScript
does: `Array[...]`, `Object.pending`, `cache in the context of flush (db.js)`. A path
ends at a root: a closure's or module's context, or the global object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Optional

import numpy as np

from .census import objects_named
from .results import RetainerPath

if TYPE_CHECKING:
    from .scan.heapscan import HeapScan

DEFAULT_HOPS = 8


def retainer_paths(dump, targets: np.ndarray, hops: int = DEFAULT_HOPS,
                   jobs: Optional[int] = None) -> list[RetainerPath]:
    """Group `targets` (untagged addresses of live objects) by the path that holds them.

    Each target follows one holder at every hop, the lowest-addressed of those that are
    held themselves (or are roots), so every target is counted in exactly one path.
    Paths are sorted by count, then by their steps. Targets are tracked in arrays; only
    distinct (path, slot) pairs are named.
    """
    scan: HeapScan = dump.scan(jobs=jobs)
    namer = _SlotNamer(dump)
    targets = np.unique(np.asarray(targets, dtype=np.uint64))
    current = targets.copy()                        # the object each target's path is at
    ended = np.zeros(len(targets), dtype=bool)      # no further hop for this target
    rooted = np.zeros(len(targets), dtype=bool)
    paths = _PathTree(len(targets))

    def holders_of(objects: np.ndarray) -> tuple[np.ndarray, ...]:
        """(holder, slot address, held object, holder type) of every reference to
        `objects`, map words and byte bodies that only look like a pointer left out."""
        holders, where, what = dump.holders_of(scan, objects, jobs)
        _, types = dump.maps_of(scan, holders)
        keep = (where != holders) & ~namer.is_raw_data(types)
        return holders[keep], where[keep], what[keep], types[keep]

    edges = None
    for _ in range(hops):
        active = np.flatnonzero(~ended)
        if len(active) == 0:
            break
        if edges is None:
            edges = holders_of(np.unique(current[active]))
        holders, where, what, types = edges
        # Where an object has several holders, look one hop further first: a holder no one
        # holds (an obsolete hash table, say) is a dead end, so prefer one that is held.
        preferred = np.ones(len(holders), dtype=bool)
        edges = None
        if len(np.unique(what)) < len(what):
            edges = holders_of(np.unique(holders))
            preferred = np.isin(holders, edges[2]) | namer.is_root(types)
        order = np.lexsort((where, holders, ~preferred, what))  # each object's chosen holder
        held, first = np.unique(what[order], return_index=True)
        first = order[first]
        at = np.minimum(np.searchsorted(held, current[active]), max(len(held) - 1, 0))
        found = (held[at] == current[active]) if len(held) else np.zeros(len(active), bool)
        ended[active[~found]] = True
        active, first = active[found], first[at[found]]
        current[active] = holders[first]
        named = ~namer.looked_through(types[first])  # a container's owner names the slot
        active, first = active[named], first[named]
        is_root = paths.extend(active, holders[first], where[first], namer)
        ended[active] |= is_root
        rooted[active] |= is_root
    namer.name_contexts(scan, jobs)
    return paths.grouped(targets, rooted, namer)


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

    def extend(self, active: np.ndarray, holders: np.ndarray, slots: np.ndarray,
               namer: "_SlotNamer") -> np.ndarray:
        """Add the step (holder, slot) to the paths of `active` targets; whether each
        step ends at a root. Each distinct (path so far, slot) is named once."""
        parents = self.path[active]
        order = np.lexsort((parents, slots))
        distinct = np.ones(len(order), dtype=bool)
        distinct[1:] = (np.diff(slots[order]) != 0) | (np.diff(parents[order]) != 0)
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = np.cumsum(distinct) - 1
        picked = order[distinct]
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

    def grouped(self, targets: np.ndarray, rooted: np.ndarray,
                namer: "_SlotNamer") -> list[RetainerPath]:
        """Targets grouped by their named steps; paths through different contexts of one
        closure read the same once named, and are merged."""
        keys = self.path * 2 + rooted
        groups, counts = np.unique(keys, return_counts=True)
        by_group = np.argsort(np.searchsorted(groups, keys), kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        merged: dict[tuple[tuple[str, ...], bool], tuple[int, list[int]]] = {}
        for group, count, start in zip(groups.tolist(), counts.tolist(), starts.tolist()):
            steps, node = [], group // 2
            while node > 0:
                parent, step = self.nodes[node]
                steps.append(namer.finish(step))
                node = parent
            key = (tuple(reversed(steps)), bool(group % 2))
            total, samples = merged.get(key, (0, []))
            picked = by_group[start:start + min(count, 3)]  # of this group only
            merged[key] = (total + count, samples + targets[picked].tolist())
        return sorted((RetainerPath(count, steps, rooted, tuple(sorted(samples)[:3]))
                       for (steps, rooted), (count, samples) in merged.items()),
                      key=lambda p: (-p.count, p.steps))


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

    def is_root(self, types: np.ndarray) -> np.ndarray:
        """Per instance type: holders a path ends at."""
        return self._per_type(types, self._is_root_type)

    def _is_root_type(self, t: int) -> bool:
        """Contexts, the global object and its property cells (global variables)."""
        L = self.layout
        return L.is_context(t) or t in (L.js_global_object_type, L.property_cell_type)

    def is_raw_data(self, types: np.ndarray) -> np.ndarray:
        """Per instance type: objects whose body is bytes, not references."""
        L = self.layout
        return self._per_type(types, lambda t: L.is_string(t) or t in (
            L.heap_number_type, L.byte_array_type, L.fixed_double_array_type))

    def looked_through(self, types: np.ndarray) -> np.ndarray:
        """Per instance type: containers (elements, property stores, hash tables) whose
        owner names the slot."""
        L = self.layout
        return self._per_type(types, lambda t: not L.is_context(t) and (L.is_fixed_array(t) or t in (
            L.property_array_type, L.weak_array_list_type)))

    @staticmethod
    def _per_type(types: np.ndarray, rule) -> np.ndarray:
        unique, inverse = np.unique(types, return_inverse=True)
        return np.array([rule(t) for t in unique.tolist()], dtype=bool)[inverse] \
            if len(unique) else np.zeros(len(types), dtype=bool)

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
            self._contexts[context].add((self.namer.function_name(sfi) or "(anonymous)",
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
