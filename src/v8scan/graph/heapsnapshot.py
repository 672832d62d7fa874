"""A core's live object graph as a V8 heap snapshot (.heapsnapshot), for Chrome DevTools'
Memory tab and memlab.

The format is V8's own (HeapSnapshotJSONSerializer): `snapshot.meta` names the node and
edge fields, `nodes` and `edges` are flat arrays of integers (a node's edges follow those
of the node before it; an edge points at its target's offset in `nodes`), `strings` holds
every name once. Nodes are the live objects (graph/marking.py) under a synthetic root, as
V8 draws them: the root holds "(GC roots)", which holds one synthetic node per group of
roots, which hold the objects. Edges are the strong references the dominator tree uses
(dominators.strong_edges), named as V8HeapExplorer names them where the layout says what
a slot is: "map", "properties", "elements", a property's key, an element's index, a
context variable, "shared" and "context" of a closure; otherwise a hidden edge numbered
by the slot. Node names are the census's (constructor names, function names), strings'
their first 1,024 characters, as V8 cuts them.

Ids are odd and below 2**32 (DevTools keeps them in 32-bit arrays): an object's offset on
its page, and a 16-bit number per page drawn from the page's address (pages whose numbers
collide take the next free one in address order). The same address thus has the same id
in two cores of one process, where its page's number did not collide with a page only one
of them has.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Optional, Sequence

import numpy as np

from ..arrays import distinct, distinct_inverse, per_distinct
from ..errors import V8ScanError
from ..scan import scanrules as rules
from ..v8.facts import snapshot_meta
from .dominators import internalized_strings, rooted_objects, strong_edges
from .marking import EXTENT_MASK

Progress = Callable[[int, int], None]
STRING_LIMIT = 1024        # characters of a string's name (V8's --heap-snapshot-string-limit)
PAGE_BITS = 16             # bits of an id that number the page
CHUNK = 1 << 16            # nodes or edges formatted at once
INTERNALIZED = "(Internalized strings)"
# Edge types, as snapshot.meta lists them.
CONTEXT, ELEMENT, PROPERTY, INTERNAL, HIDDEN, SHORTCUT, WEAK = range(7)


@dataclass
class Export:
    """What an export wrote."""

    nodes: int
    edges: int
    bytes: int
    warnings: list[str] = field(default_factory=list)


class _Strings:
    """The snapshot's string table: each name once, by index."""

    def __init__(self) -> None:
        self.items: list[str] = ["<dummy>", ""]
        self._index: dict[str, int] = {"<dummy>": 0, "": 1}

    def add(self, text: str) -> int:
        found = self._index.get(text)
        if found is None:
            found = self._index[text] = len(self.items)
            self.items.append(text)
        return found

    def add_all(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.add(t) for t in texts], dtype=np.int64)


def write_heap_snapshot(dump, out: BinaryIO, progress: Optional[Progress] = None,
                        jobs: Optional[int] = None) -> Export:
    """Write the live objects of `dump` to `out` as a V8 heap snapshot."""
    scan = dump.scan(jobs=jobs)
    graph = dump.graph_of(scan, jobs)
    layout, plan = dump.layout, scan.plan
    live = np.flatnonzero(graph.marks == 1)
    strings = _Strings()
    # Synthetic nodes first: the root, "(GC roots)", then one per group of roots.
    rooted, group_of = rooted_objects(graph)
    inner = internalized_strings(layout, plan, graph, graph.marks)
    group_names = list(graph.roots.groups) + [INTERNALIZED]
    rooted = np.concatenate([rooted, inner])
    group_of = np.concatenate([group_of, np.full(len(inner), len(group_names) - 1, np.int32)])
    used_groups = distinct(group_of).tolist()
    synthetic = 2 + len(used_groups)
    node_of = np.full(len(graph.addresses), -1, np.int64)  # object index -> node index
    node_of[live] = synthetic + np.arange(len(live))

    kinds, names = _labels(dump, scan, graph, live, strings)
    sources, targets, slots = strong_edges(dump.core.memory, layout, plan, graph,
                                           with_slots=True)
    left_out = _non_essential(dump, scan, graph)
    kept = _drawn(layout, targets, slots, left_out)
    sources, targets, slots = sources[kept], targets[kept], slots[kept]
    edge_type, edge_name = _edge_names(dump, scan, graph, sources, targets, slots, strings)
    _name_stores(targets, edge_type, edge_name, kinds, names, node_of - synthetic, strings)
    del slots, kept
    holders, prototypes = _prototype_edges(dump, scan, graph, live, left_out)
    sources = np.concatenate([sources, holders])
    targets = np.concatenate([targets, prototypes])
    edge_type = np.concatenate([edge_type, np.full(len(holders), PROPERTY, np.int8)])
    edge_name = np.concatenate([edge_name, np.full(len(holders), strings.add("__proto__"))])

    meta = snapshot_meta(tuple(dump.binary.v8_version[:2]) if dump.binary.v8_version
                         else (99, 0))
    node_types = meta["node_types"][0]
    fields = meta["node_fields"]
    type_index = {name: i for i, name in enumerate(node_types)}
    hidden = type_index["hidden"]

    # Edges in node order: the root's, (GC roots)', each group's, then the objects'.
    group_rank = {g: i for i, g in enumerate(used_groups)}
    root_edges = [(ELEMENT, 1, 1)]
    gc_edges = [(ELEMENT, i + 1, 2 + i) for i in range(len(used_groups))]
    order = np.lexsort((rooted, group_of))
    rooted, group_of = rooted[order], group_of[order]
    group_nodes = np.array([2 + group_rank[g] for g in group_of.tolist()], np.int64)
    first_in_group = np.searchsorted(group_of, group_of)
    group_edges = (np.full(len(rooted), ELEMENT, np.int64),
                   np.arange(len(rooted)) - first_in_group + 1, node_of[rooted])
    order = np.argsort(node_of[sources], kind="stable")
    obj_edges = (edge_type[order].astype(np.int64), edge_name[order],
                 node_of[targets[order]])
    obj_sources = node_of[sources[order]]
    del order, edge_type, edge_name

    n_nodes = synthetic + len(live)
    edge_count = np.zeros(n_nodes, np.int64)
    edge_count[0], edge_count[1] = len(root_edges), len(gc_edges)
    edge_count[2:synthetic] = np.bincount(group_nodes - 2, minlength=len(used_groups))
    edge_count += np.bincount(obj_sources, minlength=n_nodes)
    del obj_sources

    nodes = np.zeros((n_nodes, len(fields)), np.int64)
    nodes[:, fields.index("type")] = np.concatenate([
        np.full(synthetic, type_index["synthetic"]),
        np.array([type_index.get(k, hidden) for k in kinds], np.int64)])
    nodes[:, fields.index("name")] = np.concatenate([
        [strings.add(""), strings.add("(GC roots)")],
        [strings.add(group_names[g]) for g in used_groups], names])
    nodes[:, fields.index("id")] = np.concatenate([
        1 + 2 * np.arange(synthetic), _ids(graph.addresses[live], layout.page_alignment)])
    nodes[synthetic:, fields.index("self_size")] = (graph.info[live] & EXTENT_MASK).astype(
        np.int64)
    nodes[:, fields.index("edge_count")] = edge_count

    n_edges = int(edge_count.sum())
    header = {"meta": meta, "node_count": n_nodes, "edge_count": n_edges,
              "trace_function_count": 0}
    written = _Writer(out, progress, n_nodes + n_edges)
    written.text('{"snapshot":' + json.dumps(header, separators=(",", ":")) + ',\n"nodes":[')
    written.rows(nodes.T, first=True)
    del nodes
    written.text('],\n"edges":[')
    fixed = np.array(root_edges + gc_edges, np.int64).reshape(-1, 3)
    field_count = len(fields)
    first = True
    for kind, name, to in ((fixed[:, 0], fixed[:, 1], fixed[:, 2]), group_edges, obj_edges):
        written.rows((kind, name, to * field_count), first)
        first = first and not len(kind)
    written.text('],\n"trace_function_infos":[],\n"trace_tree":[],\n"samples":[],\n'
                 '"locations":[],\n"strings":[')
    for start in range(0, len(strings.items), CHUNK):
        part = json.dumps(strings.items[start:start + CHUNK], ensure_ascii=False)[1:-1]
        written.text(("," if start else "") + part + "\n")
    written.text("]}\n")
    return Export(n_nodes, n_edges, written.bytes, list(dump.warnings))


class _Writer:
    """Text out as UTF-8, counting bytes, with progress by rows written."""

    def __init__(self, out: BinaryIO, progress: Optional[Progress], total: int) -> None:
        self.out, self.progress, self.total = out, progress, max(total, 1)
        self.bytes = self.done = 0

    def text(self, text: str) -> None:
        data = text.encode("utf-8")
        self.out.write(data)
        self.bytes += len(data)

    def rows(self, columns: Sequence[np.ndarray], first: bool) -> None:
        """The rows whose fields are `columns`, stacked a chunk at a time (the edges'
        columns are long: a stack of all of them would double their memory)."""
        for start in range(0, len(columns[0]), CHUNK):
            part = np.column_stack([c[start:start + CHUNK] for c in columns])
            body = ",".join(map(str, part.ravel().tolist()))
            self.text(("" if first and start == 0 else ",") + body + "\n")
            self.done += len(part)
            if self.progress:
                self.progress(self.done, self.total)


def write_heap_snapshot_file(dump, path: str, progress: Optional[Progress] = None,
                             jobs: Optional[int] = None) -> Export:
    """write_heap_snapshot to `path`, through a temporary file in its directory renamed
    into place once complete: a failed export leaves no partial file behind."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, temporary = tempfile.mkstemp(prefix=".v8scan-", suffix=".heapsnapshot.part",
                                             dir=directory)
    except OSError as exc:
        raise V8ScanError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "wb", buffering=1 << 20) as out:
            try:
                result = write_heap_snapshot(dump, out, progress, jobs)
            except OSError as exc:  # the disk is full, say; not the core's fault
                raise V8ScanError(f"cannot write {path}: {exc.strerror or exc}") from exc
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return result


# --- nodes -------------------------------------------------------------------------
def _labels(dump, scan, graph, live: np.ndarray, strings: _Strings
            ) -> tuple[list[str], np.ndarray]:
    """(kind, name index) of each live object: the census's label per map; the objects
    named one by one (functions, prototypes) by label_objects; strings by their text."""
    namer = dump.namer
    map_index = (graph.info[live] >> np.uint64(32)).astype(np.int64)
    maps_used, inverse = distinct_inverse(map_index)
    namer.read_ahead(scan.maps[maps_used])
    per_map = [namer.label_map(int(scan.maps[m]), int(scan.instance_types[m]))
               for m in maps_used.tolist()]
    kinds_of_map = [kind for kind, _ in per_map]
    kinds = [kinds_of_map[i] for i in inverse.tolist()]
    # V8 names an array by what holds it ("(object elements)", _name_stores), else not.
    names = strings.add_all(["" if kind == "array" else name for kind, name in per_map]
                            )[inverse]
    types = scan.instance_types[map_index]
    addresses = graph.addresses[live]
    one_by_one = np.flatnonzero(scan.per_object[map_index])
    for i, (kind, name) in zip(one_by_one.tolist(), namer.label_objects(
            addresses[one_by_one], scan.maps[map_index[one_by_one]], types[one_by_one])):
        kinds[i] = kind
        names[i] = strings.add(name)
    text_kinds = np.array([k == "string" for k in kinds_of_map], bool)[inverse]
    texts = np.flatnonzero(text_kinds)
    for i, text in zip(texts.tolist(), dump.heap.strings(addresses[texts])):
        names[i] = strings.add((text or "")[:STRING_LIMIT])
    return kinds, names


def _name_stores(targets, edge_type, edge_name, kinds: list[str], names: np.ndarray,
                 live_rank: np.ndarray, strings: _Strings) -> None:
    """A JS object's elements and property stores, the targets of its "elements" and
    "properties" edges, are "(object elements)" and "(object properties)", as V8 tags
    them, where they are arrays. `live_rank`: each object's place among the live ones
    (kinds and names are in that order)."""
    for edge, label in (("elements", "(object elements)"),
                        ("properties", "(object properties)")):
        stores = distinct(targets[(edge_type == INTERNAL) & (edge_name == strings.add(edge))])
        index = strings.add(label)
        for node in live_rank[stores].tolist():
            if kinds[node] == "array":
                names[node] = index


def _ids(addresses: np.ndarray, page_size: int) -> np.ndarray:
    """Odd ids below 2**32: the object's word on its page under a 16-bit page number
    drawn from the page's address; see the module's docstring."""
    offset_bits = max(page_size.bit_length() - 1 - 3, 1)
    if offset_bits + PAGE_BITS > 31:
        offset_bits = 31 - PAGE_BITS
    pages = addresses >> np.uint64(offset_bits + 3)
    words = (addresses >> np.uint64(3)) & np.uint64((1 << offset_bits) - 1)
    distinct_pages, inverse = distinct_inverse(pages)
    buckets = 1 << PAGE_BITS
    wanted = ((distinct_pages * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - PAGE_BITS))
    taken = np.zeros(buckets, bool)
    taken[0] = True  # the synthetic nodes' ids
    number = np.zeros(len(distinct_pages), np.int64)
    for i, want in enumerate(wanted.tolist()):
        while taken[want]:
            want = (want + 1) % buckets
        taken[want] = True
        number[i] = want
        if i + 1 >= buckets - 1:
            number[i + 1:] = 0  # more pages than numbers: ids may repeat past here
            break
    return ((number[inverse] << offset_bits) | words.astype(np.int64)) * 2 + 1


# --- edges -------------------------------------------------------------------------
def _drawn(L, targets: np.ndarray, slots: np.ndarray, left_out: np.ndarray) -> np.ndarray:
    """Per edge: whether V8's snapshot draws it. Not a store's own map and length (the
    object holds what the store holds, not the store's header), and not an edge to an
    object V8 leaves out (`left_out`, per object: _non_essential)."""
    holder = slots >> np.uint32(rules.SLOT_SHIFT)
    offset = (slots & np.uint32(rules.SLOT_OFFSET_MASK)).astype(np.int64)
    header = ((holder == rules.SLOT_ELEMENTS) | (holder == rules.SLOT_PROPERTIES)) \
        & (offset < L.fixed_array_header)
    return ~header & ~left_out[targets]


def _non_essential(dump, scan, graph) -> np.ndarray:
    """Per object: whether V8's snapshot draws no edge to it (V8HeapExplorer::
    IsEssentialObject): oddballs and the hole, the canonical empty arrays, and the maps
    of arrays, property cells, shared function infos and free space."""
    L = dump.layout
    types = scan.instance_types[(graph.info >> np.uint64(32)).astype(np.int64)]
    extent = (graph.info & EXTENT_MASK).astype(np.int64)
    out = types == L.oddball_type
    if getattr(L, "hole_type", None) is not None and L.hole_type >= 0:
        out |= types == L.hole_type
    empty_arrays = (L.fixed_array_type, L.weak_fixed_array_type, L.byte_array_type)
    out |= np.isin(types, empty_arrays) & (extent <= L.fixed_array_header)
    out |= (types == L.descriptor_array_type) & (extent <= L.descriptor_array_header)
    maps = np.flatnonzero(types == L.map_type)
    described = _map_fields(dump.heap, graph.addresses[maps], L.map_instance_type, 16)
    out[maps] |= np.isin(described, (
        L.fixed_array_type, L.property_cell_type, L.shared_function_info_type,
        L.free_space_type, L.filler_type))
    return out


def _prototype_edges(dump, scan, graph, live: np.ndarray, left_out: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(holders, prototypes): each live JS object's __proto__, as V8's snapshot draws a
    property edge from every JS object to its prototype (when that is a live object)."""
    L = dump.layout
    map_index = (graph.info[live] >> np.uint64(32)).astype(np.int64)
    types = scan.instance_types[map_index]
    objects = live[(types >= L.first_js_receiver_type) & (types != L.js_proxy_type)]
    maps, inverse = distinct_inverse(scan.maps[(graph.info[objects] >> np.uint64(32))
                                               .astype(np.int64)])
    prototypes = dump.heap.pointers(maps + np.uint64(L.map_prototype))[inverse]
    n = len(graph.addresses)
    at = np.minimum(np.searchsorted(graph.addresses, prototypes), max(n - 1, 0))
    found = (graph.addresses[at] == prototypes) & (prototypes != 0) if n else \
        np.zeros(0, bool)
    found &= graph.marks[at] == 1
    found &= ~left_out[at]
    return objects[found].astype(np.int32), at[found].astype(np.int32)


def _edge_names(dump, scan, graph, sources: np.ndarray, targets: np.ndarray,
                slots: np.ndarray, strings: _Strings) -> tuple[np.ndarray, np.ndarray]:
    """(type, name_or_index) per edge: a string index for named edges, a number for
    elements and hidden edges."""
    L, heap, namer = dump.layout, dump.heap, dump.namer
    tagged = L.tagged_size
    kind = (slots >> np.uint32(rules.SLOT_SHIFT)).astype(np.int64)
    offset = (slots & np.uint32(rules.SLOT_OFFSET_MASK)).astype(np.int64)
    map_index = (graph.info[sources] >> np.uint64(32)).astype(np.int64)
    types = scan.instance_types[map_index]
    maps = scan.maps[map_index]
    addresses = graph.addresses[sources]
    edge_type = np.full(len(sources), HIDDEN, np.int8)
    name = offset // tagged
    own = kind == rules.SLOT_OWN

    def internal(mask: np.ndarray, label: str) -> None:
        edge_type[mask] = INTERNAL
        name[mask] = strings.add(label)

    receiver = own & (types >= L.first_js_receiver_type)
    fixed_array = per_distinct(types, lambda t: L.is_fixed_array(t) and not L.is_context(t))
    # Plain arrays (a hash table, a list): internal edges named by index, as V8's
    # ExtractFixedArrayReferences draws them.
    arrays = own & fixed_array & (offset >= L.fixed_array_header)
    index = (offset[arrays] - L.fixed_array_header) // tagged
    edge_type[arrays] = INTERNAL
    name[arrays] = strings.add_all([str(i) for i in range(int(index.max(initial=-1)) + 1)]
                                   )[index] if len(index) else name[arrays]
    # In-object properties, named by their keys.
    fields = receiver & (offset >= L.js_elements + tagged)
    _properties(heap, namer, strings, edge_type, name, fields, maps,
                offset // tagged - _map_fields(heap, maps, L.map_inobject_properties_start), L)
    # Elements and out-of-object properties, held through the object's stores.
    elements = kind == rules.SLOT_ELEMENTS
    edge_type[elements] = ELEMENT
    name[elements] = (offset[elements] - L.fixed_array_header) // tagged
    _stored_properties(dump, strings, edge_type, name, kind == rules.SLOT_PROPERTIES,
                       addresses, maps, types, offset, targets, graph)
    ephemeron = kind == rules.SLOT_EPHEMERON
    internal(ephemeron, "part of key -> value pair in WeakMap")
    _contexts(heap, L, strings, edge_type, name, own & per_distinct(types, L.is_context),
              addresses, offset)
    functions = own & (types >= L.js_function_type) & (types <= L.last_js_function_type)
    internal(functions & (offset == L.js_function_shared), "shared")
    internal(functions & (offset == L.js_function_context), "context")
    collections = own & np.isin(types, [L.js_map_type, L.js_set_type, L.js_weak_map_type])
    internal(collections & (offset == L.js_collection_table), "table")
    strings_ = own & (types < L.first_nonstring_type) & (
        (types & L.string_representation_mask) == L.cons_string_tag)
    internal(strings_ & (offset == L.cons_first), "first")
    internal(strings_ & (offset == L.cons_second), "second")
    maps_ = own & (types == L.map_type)
    internal(maps_ & (offset == L.map_prototype), "prototype")
    internal(maps_ & (offset == L.map_constructor_or_back_pointer), "constructor_or_back_pointer")
    internal(maps_ & (offset == L.map_instance_descriptors), "descriptors")
    shared = own & (types == L.shared_function_info_type)
    internal(shared & (offset == L.sfi_name_or_scope_info), "name_or_scope_info")
    internal(shared & (offset == L.sfi_function_data), "function_data")
    internal(shared & (offset == L.sfi_script), "script")
    internal(receiver & (offset == L.js_properties), "properties")
    internal(receiver & (offset == L.js_elements), "elements")
    internal(own & (offset == 0), "map")
    return edge_type, name


def _map_fields(heap, maps: np.ndarray, offset: int, bits: int = 8) -> np.ndarray:
    """Per map: its `bits`-bit field at byte `offset`, read once per distinct map."""
    distinct_maps, inverse = distinct_inverse(np.asarray(maps, np.uint64))
    words, _ = heap.memory.u64_many(distinct_maps + np.uint64(offset))
    return (words & np.uint64((1 << bits) - 1)).astype(np.int64)[inverse]


def _properties(heap, namer, strings: _Strings, edge_type, name, mask: np.ndarray,
                maps: np.ndarray, field_index: np.ndarray, L) -> None:
    """Property edges of fast-mode objects, named by the descriptor of each field."""
    picked = np.flatnonzero(mask & (field_index >= 0))
    if not len(picked):
        return
    pairs = np.column_stack([maps[picked].astype(np.int64), field_index[picked]])
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    labels = np.full(len(unique), -1, np.int64)
    for i, (map_addr, index) in enumerate(unique.tolist()):
        if heap.is_dictionary_map(map_addr):
            continue
        key = heap.field_key(map_addr, index)
        if key is not None:
            labels[i] = strings.add(namer.property_name(key))
    got = labels[inverse.ravel()]
    named = picked[got >= 0]
    edge_type[named] = PROPERTY
    name[named] = got[got >= 0]


def _stored_properties(dump, strings: _Strings, edge_type, name, mask: np.ndarray,
                       addresses, maps, types, offset, targets, graph) -> None:
    """Property edges through a property store: a fast-mode object's field (after its
    in-object ones), a dictionary entry's value by its key, a global's property cell by
    its name."""
    L, heap, namer = dump.layout, dump.heap, dump.namer
    tagged = L.tagged_size
    picked = np.flatnonzero(mask)
    if not len(picked):
        return
    dictionary = per_distinct(maps[picked], lambda m: heap.is_dictionary_map(int(m)))
    fast = picked[~dictionary]
    if len(fast):
        inobject = _map_fields(heap, maps[fast], L.map_instance_size_in_words) \
            - _map_fields(heap, maps[fast], L.map_inobject_properties_start)
        index = np.maximum(inobject, 0) + (offset[fast] - L.fixed_array_header) // tagged
        sub = np.zeros(len(mask), bool)
        sub[fast] = True
        field_index = np.zeros(len(mask), np.int64)
        field_index[fast] = index
        _properties(heap, namer, strings, edge_type, name, sub, maps, field_index, L)
    slow = picked[dictionary]
    if not len(slow):
        return
    glob = types[slow] == L.js_global_object_type
    cells = slow[glob]  # a GlobalDictionary holds PropertyCells; each knows its name
    keys = heap.pointers(graph.addresses[targets[cells]] + np.uint64(L.property_cell_name))
    _name_by_keys(namer, strings, edge_type, name, cells, keys)
    entries = slow[~glob]
    width = L.name_dictionary_entry_size
    start = L.fixed_array_header + (L.name_dictionary_prefix_start
                                    + L.name_dictionary_prefix_size) * tagged
    position = ((offset[entries] - start) // tagged) % max(width, 1)
    values = entries[position == 1]  # key, value, details: the value names by its key
    stores = heap.pointers(addresses[values] + np.uint64(L.js_properties))
    keys = heap.pointers(np.where(stores != 0, stores + offset[values].astype(np.uint64)
                                  - np.uint64(tagged), 0))
    _name_by_keys(namer, strings, edge_type, name, values, keys)


def _name_by_keys(namer, strings: _Strings, edge_type, name, edges: np.ndarray,
                  keys: np.ndarray) -> None:
    unique, inverse = distinct_inverse(keys)
    labels = np.array([strings.add(namer.property_name(int(k))) if k else -1
                       for k in unique.tolist()], np.int64)
    got = labels[inverse] if len(unique) else np.zeros(0, np.int64)
    named = edges[got >= 0]
    edge_type[named] = PROPERTY
    name[named] = got[got >= 0]


def _contexts(heap, L, strings: _Strings, edge_type, name, mask: np.ndarray,
              addresses: np.ndarray, offset: np.ndarray) -> None:
    """A context's slots: its ScopeInfo, the context it extends, then its variables by
    name (context edges), as V8's ExtractContextReferences names them."""
    picked = np.flatnonzero(mask & (offset >= L.fixed_array_header))
    slot = (offset[picked] - L.fixed_array_header) // L.tagged_size
    for which, label in ((0, "scope_info"), (1, "previous")):
        edge_type[picked[slot == which]] = INTERNAL
        name[picked[slot == which]] = strings.add(label)
    variables = picked[slot >= 2]
    scope_infos = heap.pointers(addresses[variables] + np.uint64(L.fixed_array_header))
    pairs = np.column_stack([scope_infos.astype(np.int64), slot[slot >= 2]])
    if not len(pairs):
        return
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    labels = np.full(len(unique), -1, np.int64)
    for i, (scope_info, index) in enumerate(unique.tolist()):
        text = heap.context_local_name(scope_info, index - 2) if scope_info else None
        if text:
            labels[i] = strings.add(text)
    got = labels[inverse.ravel()]
    named = variables[got >= 0]
    edge_type[named] = CONTEXT
    name[named] = got[got >= 0]
