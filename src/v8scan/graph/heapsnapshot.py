"""A core's live object graph as a V8 heap snapshot (.heapsnapshot), for Chrome DevTools'
Memory tab and memlab.

The format is V8's own (HeapSnapshotJSONSerializer): `snapshot.meta` names the node and
edge fields, `nodes` and `edges` are flat arrays of integers (a node's edges follow those
of the node before it; an edge points at its target's offset in `nodes`), `strings` holds
every name once. Nodes are the live objects (graph/marking.py) under a synthetic root, as
V8 draws them: the root holds "(GC roots)", which holds one synthetic node per group of
roots, which hold the objects; the root also holds each global object (from V8 14: each
native context), DevTools' "user roots". Edges are the strong references the dominator
tree uses (dominators.strong_edges), named as V8HeapExplorer names them where the layout
says what a slot is: "map", "properties", "elements", a property's key, an element's
index, a context variable, "shared" and "context" of a closure; otherwise a hidden edge
numbered by the slot. A global object's properties point at the values its property
cells hold.
Node names are the census's (constructor names, function names), strings' their first
1,024 characters, as V8 cuts them.

Ids are odd and below 2**32 (DevTools keeps them in 32-bit arrays): an object's offset on
its page, and a 16-bit number per page drawn from the page's address (pages whose numbers
collide take the next free one in address order). The same address thus has the same id
in two cores of one process, where its page's number did not collide with a page only one
of them has.
"""

from __future__ import annotations

import ctypes
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Optional, Sequence

import numpy as np

from ..arrays import distinct, distinct_inverse, per_distinct
from ..errors import V8ScanError
from ..scan import scanrules as rules
from ..v8.facts import SNAPSHOT_EXTERNAL_STRING_PAYLOAD_SINCE, snapshot_meta, snapshot_user_roots
from .dominators import STRING_TABLES, rooted_objects, string_table_roots, strong_edges
from .marking import EXTENT_MASK

Progress = Callable[[int, int], None]
STRING_LIMIT = 1024        # characters of a string's name (V8's --heap-snapshot-string-limit)
PAGE_BITS = 16             # bits of an id that number the page
CHUNK = 1 << 16            # nodes or edges formatted at once
EDGE_CHUNK = 1 << 19       # edges named at once (bounds the naming's temporary arrays)
EPHEMERON = "part of key -> value pair in WeakMap"
# Edge types, as snapshot.meta lists them.
CONTEXT, ELEMENT, PROPERTY, INTERNAL, HIDDEN, SHORTCUT, WEAK = range(7)
LEFT_OUT = -1  # an edge not written from where it is (moved, or not drawn)
M_MMAP_THRESHOLD, MMAP_THRESHOLD = -3, 4 << 20  # glibc's mallopt parameter, and ours


@dataclass
class Export:
    """What an export wrote."""

    nodes: int
    edges: int
    bytes: int
    warnings: list[str] = field(default_factory=list)


class _Strings:
    """The snapshot's string table, built without a Python object per heap string.

    Three parts, in this order in the file: names (constructor, property and edge
    names: few, kept in a dict), the numbers "0".."N" that name an array's slots, and the
    texts of the heap's strings (as many as the heap has strings: kept as UTF-8 in one
    buffer, each text once, found equal by hash and then compared). Until `finish`,
    numbers and texts are placeholders below zero: `resolve` turns them into indexes."""

    TEXTS = -1                # text k: TEXTS - k
    NUMBERS = -(1 << 30)      # number k: NUMBERS - k

    def __init__(self) -> None:
        self.items: list[str] = ["<dummy>", ""]
        self._index: dict[str, int] = {"<dummy>": 0, "": 1}
        self._numbers = 0                      # numbers 0..this-1 in use
        self._buffer = bytearray()             # the texts, UTF-8, one after another
        self._ends: list[np.ndarray] = []      # each text's end in the buffer
        self._hashes: list[np.ndarray] = []
        self._texts = 0
        self._spans = (np.zeros(0, np.int64),) * 2  # once finished: (starts, ends)
        self._text_index = np.zeros(0, np.int64)  # per text, once finished: its index
        self._unique_texts = np.zeros(0, np.int64)

    def add(self, text: str) -> int:
        found = self._index.get(text)
        if found is None:
            found = self._index[text] = len(self.items)
            self.items.append(text)
        return found

    def add_all(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.add(t) for t in texts], dtype=np.int32)

    def numbers(self, values: np.ndarray) -> np.ndarray:
        """Placeholders for the names "0", "1", ... of `values` (each below 2**30)."""
        values = np.asarray(values, np.int64)
        if len(values):
            self._numbers = max(self._numbers, int(values.max()) + 1)
        return (self.NUMBERS - values).astype(np.int32)

    def add_texts(self, texts: Sequence[Optional[str]]) -> np.ndarray:
        """Placeholders for the texts of heap strings (None: unreadable, named "")."""
        encoded = [(t or "")[:STRING_LIMIT].encode("utf-8") for t in texts]
        count = len(encoded)
        if self._texts + count > -self.NUMBERS:
            raise V8ScanError("the heap has too many strings for one snapshot")
        lengths = np.fromiter(map(len, encoded), np.int64, count)
        self._ends.append(len(self._buffer) + np.cumsum(lengths))
        self._hashes.append(np.fromiter(map(hash, encoded), np.int64, count))
        self._buffer += b"".join(encoded)
        first = self._texts
        self._texts += count
        return (self.TEXTS - np.arange(first, first + count)).astype(np.int32)

    def _text(self, k: int) -> bytes:
        starts, ends = self._spans
        return bytes(self._buffer[starts[k]:ends[k]])

    def finish(self) -> None:
        """Number the texts, each distinct one once, after the names and numbers."""
        ends = np.concatenate(self._ends) if self._ends else np.zeros(0, np.int64)
        hashes = np.concatenate(self._hashes) if self._hashes else np.zeros(0, np.int64)
        self._ends, self._hashes = [], []
        self._spans = (np.concatenate([[0], ends[:-1]]).astype(np.int64), ends)
        n = len(ends)
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        first_of_run = np.ones(n, bool)
        first_of_run[1:] = ordered[1:] != ordered[:-1]
        run_start = np.maximum.accumulate(np.where(first_of_run, np.arange(n), 0))
        same_as = order[run_start]  # the first text of the same hash: equal, but check
        del ordered, run_start
        for at in np.flatnonzero(~first_of_run).tolist():
            k, other = int(order[at]), int(same_as[at])
            if self._text(k) != self._text(other):
                same_as[at] = k  # a hash collision: a text of its own
        representative = np.empty(n, np.int64)
        representative[order] = same_as
        del order, same_as
        unique = representative == np.arange(n)
        rank = np.cumsum(unique) - 1
        self._unique_texts = np.flatnonzero(unique)
        self._text_index = len(self.items) + self._numbers + rank[representative]

    def resolve(self, values: np.ndarray) -> np.ndarray:
        """Indexes into the finished table for names, numbers' and texts' placeholders."""
        out = np.asarray(values, np.int64).copy()
        texts = (out < 0) & (out > self.NUMBERS)
        out[texts] = self._text_index[self.TEXTS - out[texts]]
        numbers = out <= self.NUMBERS
        out[numbers] = len(self.items) + (self.NUMBERS - out[numbers])
        return out

    def write(self, written: "_Writer") -> None:
        """The finished table as items of the array `written` has open, a chunk at a
        time."""
        for start in range(0, len(self.items), CHUNK):
            written.strings(self.items[start:start + CHUNK])
        for start in range(0, self._numbers, CHUNK):
            written.strings([str(i) for i in range(start, min(start + CHUNK, self._numbers))])
        for start in range(0, len(self._unique_texts), CHUNK):
            written.strings([self._text(k).decode("utf-8")
                             for k in self._unique_texts[start:start + CHUNK].tolist()])


def write_heap_snapshot(dump, out: BinaryIO, progress: Optional[Progress] = None,
                        jobs: Optional[int] = None) -> Export:
    """Write the live objects of `dump` to `out` as a V8 heap snapshot. Held at once:
    the object graph and its edges (their slots turned into the edges' names), a type
    and a name per node and a type per edge, the heap's strings' texts; what is written
    is formatted a chunk at a time."""
    scan = dump.scan(jobs=jobs)
    graph = dump.graph_of(scan, jobs)
    layout, plan = dump.layout, scan.plan
    marked = graph.marks == 1
    strings = _Strings()
    version = tuple(dump.binary.v8_version[:2]) if dump.binary.v8_version else (99, 0)
    meta = snapshot_meta(version)
    type_index = {name: i for i, name in enumerate(meta["node_types"][0])}
    # Synthetic nodes first: the root, "(GC roots)", then one per group of roots.
    rooted, group_of = rooted_objects(graph)
    tables = string_table_roots(layout, plan, graph, graph.marks)
    group_names = list(graph.roots.groups) + list(STRING_TABLES)
    rooted = np.concatenate([rooted, *tables])
    group_of = np.concatenate([group_of] + [
        np.full(len(held), len(graph.roots.groups) + i, np.int32) for i, held in enumerate(tables)])
    used_groups = distinct(group_of).tolist()
    synthetic = 2 + len(used_groups)
    node_of = np.full(len(graph.addresses), -1, np.int32)  # object index -> node index
    node_of[marked] = synthetic + np.arange(np.count_nonzero(marked), dtype=np.int32)

    # What is per node, and the __proto__ edges, before the edges take their room.
    left_out = _non_essential(dump, scan, graph)
    live = np.flatnonzero(marked)
    live_maps = (graph.info[live] >> np.uint64(32)).astype(np.int32)  # map index of each
    live_types = scan.instance_types[live_maps].astype(np.int32)
    node_type, node_name = _labels(dump, scan, graph, live, live_maps, strings, type_index)
    ids = _Ids(graph.addresses[live], layout.page_alignment)
    holders, prototypes = _prototype_edges(dump, scan, graph, live, live_maps, live_types,
                                           left_out)
    user_roots = live[live_types == (layout.js_global_object_type if snapshot_user_roots(
        version) == "global object" else layout.native_context_type)]
    payloads = _external_payloads(dump, graph, live, live_types) \
        if version >= SNAPSHOT_EXTERNAL_STRING_PAYLOAD_SINCE else (np.zeros(0, np.int64),) * 2
    del live, live_maps, live_types
    sources, targets, slots = strong_edges(dump.core.memory, layout, plan, graph,
                                           with_slots=True, skip=left_out,
                                           store_header=layout.fixed_array_header)
    edge_type, edge_name = _edge_names(dump, scan, graph, sources, targets, slots, strings,
                                       left_out)
    del slots, left_out  # edge_name took the slots' place
    _name_stores(targets, edge_type, edge_name, node_type, node_name, node_of - synthetic,
                 strings, type_index["array"])
    edges, extra = _in_source_order(sources, targets, edge_type, edge_name, holders,
                                    prototypes, strings)
    del holders, prototypes
    synthetic_names = [strings.add(""), strings.add("(GC roots)")] + [
        strings.add(group_names[g]) for g in used_groups]
    synthetic_edges, synthetic_counts = _synthetic_edges(rooted, group_of, used_groups,
                                                         node_of[user_roots], node_of, strings)

    strings.finish()
    fields = meta["node_fields"]
    field_count = len(fields)
    n_nodes = synthetic + len(node_type)
    n_edges = len(synthetic_edges[0]) + int(np.count_nonzero(edge_type != LEFT_OUT)) \
        + len(extra[0])
    header = {"meta": meta, "node_count": n_nodes, "edge_count": n_edges,
              "trace_function_count": 0}
    written = _Writer(out, progress, n_nodes + n_edges)
    written.array('{"snapshot":' + json.dumps(header, separators=(",", ":")) + ',\n"nodes":[')

    def node_rows(types, names, node_ids, sizes, counts) -> list[np.ndarray]:
        by_field = {"type": types, "name": strings.resolve(names), "id": node_ids,
                    "self_size": sizes, "edge_count": counts}
        return [by_field.get(f, np.zeros(len(types), np.int64)) for f in fields]
    written.rows(node_rows(np.full(synthetic, type_index["synthetic"]), synthetic_names,
                           1 + 2 * np.arange(synthetic), np.zeros(synthetic, np.int64),
                           synthetic_counts))
    for objects, rows in _by_object(marked, edges, extra):
        nodes = node_of[objects] - synthetic
        counts = np.bincount(rows[0] - objects[0], minlength=objects[-1] - objects[0] + 1)
        sizes = (graph.info[objects] & EXTENT_MASK).astype(np.int64)
        strings_here = np.searchsorted(objects, payloads[0])
        inside = strings_here < len(objects)
        inside[inside] &= objects[strings_here[inside]] == payloads[0][inside]
        sizes[strings_here[inside]] += payloads[1][inside]
        written.rows(node_rows(node_type[nodes], node_name[nodes],
                               ids.of(graph.addresses[objects]), sizes,
                               counts[objects - objects[0]]))
    del node_type, node_name
    written.array('],\n"edges":[')
    written.rows((synthetic_edges[0], synthetic_edges[1], synthetic_edges[2] * field_count))
    for objects, (_, to, kinds, names) in _by_object(marked, edges, extra):
        written.rows((kinds, strings.resolve(names), node_of[to].astype(np.int64) * field_count))
    written.array('],\n"trace_function_infos":[],\n"trace_tree":[],\n"samples":[],\n'
                  '"locations":[],\n"strings":[')
    strings.write(written)
    written.text("]}\n")
    return Export(n_nodes, n_edges, written.bytes, list(dump.warnings))


def _in_source_order(sources, targets, edge_type, edge_name, holders, prototypes,
                     strings: _Strings) -> tuple[tuple[np.ndarray, ...], list[np.ndarray]]:
    """(edges, extra): columns (source, target, type, name) of two lists of edges, each
    in source order. The marking gives each object's edges together, in object order,
    but for a WeakMap's entries (drawn from their keys): those, and the __proto__ edges
    (`holders` to `prototypes`), go to `extra`; in `edges` (the arrays given, changed in
    place) they stay as LEFT_OUT."""
    moved = np.flatnonzero((edge_type == INTERNAL) & (edge_name == strings.add(EPHEMERON)))
    extra = [np.concatenate(parts) for parts in (
        (sources[moved], holders), (targets[moved], prototypes),
        (edge_type[moved], np.full(len(holders), PROPERTY, np.int8)),
        (edge_name[moved], np.full(len(holders), strings.add("__proto__"), np.int32)))]
    order = np.argsort(extra[0], kind="stable")
    edge_type[moved] = LEFT_OUT
    sources[moved] = np.iinfo(sources.dtype).min  # their places take the source before
    np.maximum.accumulate(sources, out=sources)   # theirs: all in order again
    return (sources, targets, edge_type, edge_name), [column[order] for column in extra]


def _synthetic_edges(rooted, group_of, used_groups: list[int], user_roots: np.ndarray,
                     node_of: np.ndarray, strings: _Strings
                     ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """(columns (type, name, node) of the synthetic nodes' edges, their counts per
    synthetic node): the root holds (GC roots) and, as V8's root does, the `user_roots`
    nodes (shortcuts: each global object, or each native context; DevTools' user roots);
    (GC roots) holds each group; each group its objects (`rooted`, in `group_of`)."""
    order = np.lexsort((rooted, group_of))
    rooted, group_of = rooted[order], group_of[order]
    group_rank = {g: i for i, g in enumerate(used_groups)}
    group_nodes = np.array([2 + group_rank[g] for g in group_of.tolist()], np.int64)
    first_in_group = np.searchsorted(group_of, group_of)
    fixed = np.array([(ELEMENT, 1, 1)] + [
        (SHORTCUT, strings.add(str(i + 2)), node) for i, node in enumerate(user_roots.tolist())
    ] + [(ELEMENT, i + 1, 2 + i) for i in range(len(used_groups))], np.int64).reshape(-1, 3)
    columns = (np.concatenate([fixed[:, 0], np.full(len(rooted), ELEMENT)]),
               np.concatenate([fixed[:, 1], np.arange(len(rooted)) - first_in_group + 1]),
               np.concatenate([fixed[:, 2], node_of[rooted]]))
    counts = np.concatenate([[1 + len(user_roots), len(used_groups)], np.bincount(
        group_nodes - 2, minlength=len(used_groups))]).astype(np.int64)
    return columns, counts


def _by_object(marked: np.ndarray, edges: Sequence[np.ndarray], extra: Sequence[np.ndarray]):
    """Per CHUNK objects: (the marked ones' indexes, their edges' columns in source
    order): `edges` and `extra` (each sorted by source, its first column) merged, edges
    of type LEFT_OUT left out."""
    for start in range(0, len(marked), CHUNK):
        objects = start + np.flatnonzero(marked[start:start + CHUNK])
        if not len(objects):
            continue
        merged = [np.concatenate(pair) for pair in zip(
            _rows_of(edges, objects[0], objects[-1]), _rows_of(extra, objects[0], objects[-1]))]
        kept = merged[2] != LEFT_OUT
        order = np.argsort(merged[0][kept], kind="stable")
        yield objects, [column[kept][order] for column in merged]


def _rows_of(columns: Sequence[np.ndarray], first: int, last: int) -> list[np.ndarray]:
    """The rows of `columns` (sorted by the first) whose first is in first..last."""
    # (keys of the column's own type: others would have numpy convert the whole column)
    start, stop = np.searchsorted(columns[0], np.array([first, last + 1], columns[0].dtype))
    return [column[start:stop] for column in columns]


class _Writer:
    """Text out as UTF-8, counting bytes, with progress by rows written."""

    def __init__(self, out: BinaryIO, progress: Optional[Progress], total: int) -> None:
        self.out, self.progress, self.total = out, progress, max(total, 1)
        self.bytes = self.done = self.in_array = 0

    def text(self, text: str) -> None:
        data = text.encode("utf-8")
        self.out.write(data)
        self.bytes += len(data)

    def array(self, text: str) -> None:
        """`text`, which opens a JSON array that rows then fill."""
        self.text(text)
        self.in_array = 0

    def strings(self, texts: Sequence[str]) -> None:
        """`texts` as JSON strings, items of the array open."""
        if texts:
            body = json.dumps(list(texts), ensure_ascii=False)[1:-1]
            self.text(("," if self.in_array else "") + body + "\n")
            self.in_array += len(texts)

    def rows(self, columns: Sequence[np.ndarray]) -> None:
        """The rows whose fields are `columns` (integers), as items of the array open,
        stacked a chunk at a time."""
        for start in range(0, len(columns[0]), CHUNK):
            part = np.column_stack([np.asarray(c[start:start + CHUNK], np.int64)
                                    for c in columns])
            body = ",".join(map(str, part.ravel().tolist()))
            self.text(("," if self.in_array else "") + body + "\n")
            self.in_array += len(part)
            self.done += len(part)
            if self.progress:
                self.progress(self.done, self.total)


def write_heap_snapshot_file(dump, path: str, progress: Optional[Progress] = None,
                             jobs: Optional[int] = None) -> Export:
    """write_heap_snapshot to `path`, through a temporary file in its directory renamed
    into place once complete: a failed export leaves no partial file behind. Large
    arrays are mapped one by one from here on (_map_large_arrays)."""
    _map_large_arrays()
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


def _map_large_arrays() -> None:
    """Have glibc map every allocation of MMAP_THRESHOLD bytes or more on its own, for the
    rest of the process (mallopt M_MMAP_THRESHOLD). By default it raises that threshold
    as large blocks are freed (up to 32 MiB); the export's many temporary arrays of a few
    MiB then fragment the C heap, and its peak grows by a fifth (benches/bench_export.py).
    Nothing happens where there is no glibc."""
    try:
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):
        pass


# --- nodes -------------------------------------------------------------------------
def _labels(dump, scan, graph, live: np.ndarray, map_index: np.ndarray, strings: _Strings,
            type_index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(node type, name) of each live object (`map_index`: of each): the census's label
    per map; the objects named one by one (functions, prototypes) by label_objects;
    strings by their text."""
    namer = dump.namer
    hidden = type_index["hidden"]
    maps_used, inverse = distinct_inverse(map_index)
    namer.read_ahead(scan.maps[maps_used])
    per_map = [namer.label_map(int(scan.maps[m]), int(scan.instance_types[m]))
               for m in maps_used.tolist()]
    node_type = np.array([type_index.get(kind, hidden) for kind, _ in per_map],
                         np.int8)[inverse]
    # V8 names an array by what holds it ("(object elements)", _name_stores), else not.
    names = strings.add_all(["" if kind == "array" else name for kind, name in per_map]
                            )[inverse]
    texts = np.flatnonzero(np.array([kind == "string" for kind, _ in per_map],
                                    bool)[inverse])
    del inverse
    one_by_one = np.flatnonzero(scan.per_object[map_index])
    objects = live[one_by_one]
    for i, (kind, name) in zip(one_by_one.tolist(), namer.label_objects(
            graph.addresses[objects], scan.maps[map_index[one_by_one]],
            scan.instance_types[map_index[one_by_one]])):
        node_type[i] = type_index.get(kind, hidden)
        names[i] = strings.add(name)
    for start in range(0, len(texts), CHUNK):
        part = texts[start:start + CHUNK]
        names[part] = strings.add_texts(dump.heap.strings(graph.addresses[live[part]],
                                                          cache=False))
    return node_type, names


def _name_stores(targets, edge_type, edge_name, node_type: np.ndarray, names: np.ndarray,
                 live_rank: np.ndarray, strings: _Strings, array_type: int) -> None:
    """A JS object's elements and property stores, the targets of its "elements" and
    "properties" edges, are "(object elements)" and "(object properties)", as V8 tags
    them, where they are arrays. `live_rank`: each object's place among the live ones
    (node_type and names are in that order)."""
    for edge, label in (("elements", "(object elements)"),
                        ("properties", "(object properties)")):
        stores = live_rank[distinct(targets[(edge_type == INTERNAL)
                                            & (edge_name == strings.add(edge))])]
        names[stores[node_type[stores] == array_type]] = strings.add(label)


class _Ids:
    """Odd ids below 2**32: the object's word on its page under a 16-bit page number
    drawn from the page's address; see the module's docstring."""

    def __init__(self, addresses: np.ndarray, page_size: int) -> None:
        offset_bits = max(page_size.bit_length() - 1 - 3, 1)
        self.offset_bits = min(offset_bits, 31 - PAGE_BITS)
        self.pages = distinct(addresses >> np.uint64(self.offset_bits + 3))
        buckets = 1 << PAGE_BITS
        wanted = (self.pages * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - PAGE_BITS)
        taken = np.zeros(buckets, bool)
        taken[0] = True  # the synthetic nodes' ids
        self.numbers = np.zeros(len(self.pages), np.int64)
        for i, want in enumerate(wanted.tolist()):
            while taken[want]:
                want = (want + 1) % buckets
            taken[want] = True
            self.numbers[i] = want
            if i + 1 >= buckets - 1:
                self.numbers[i + 1:] = 0  # more pages than numbers: ids may repeat past here
                break

    def of(self, addresses: np.ndarray) -> np.ndarray:
        """The ids of objects at `addresses` (among those the ids were made for)."""
        pages = np.searchsorted(self.pages, addresses >> np.uint64(self.offset_bits + 3))
        words = (addresses >> np.uint64(3)) & np.uint64((1 << self.offset_bits) - 1)
        return ((self.numbers[pages] << self.offset_bits) | words.astype(np.int64)) * 2 + 1


# --- edges -------------------------------------------------------------------------
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


def _prototype_edges(dump, scan, graph, live: np.ndarray, map_index: np.ndarray,
                     types: np.ndarray, left_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(holders, prototypes): each live JS object's __proto__ (`map_index`, `types`: of
    each live object), as V8's snapshot draws a property edge from every JS object to its
    prototype (when that is a live object)."""
    L = dump.layout
    receivers = (types >= L.first_js_receiver_type) & (types != L.js_proxy_type)
    objects = live[receivers]
    maps, inverse = distinct_inverse(scan.maps[map_index[receivers]])
    prototypes = dump.heap.pointers(maps + np.uint64(L.map_prototype))[inverse]
    at, found = graph.reachable(prototypes)
    found &= prototypes != 0
    found &= ~left_out[at]
    return objects[found].astype(np.int32), at[found].astype(np.int32)


def _edge_names(dump, scan, graph, sources: np.ndarray, targets: np.ndarray,
                slots: np.ndarray, strings: _Strings, left_out: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """(type int8, name_or_index int32) per edge: a string (or placeholder, _Strings) for
    named edges, a number for elements and hidden edges, LEFT_OUT for edges V8 does not
    draw (`left_out`: per object, _non_essential); named EDGE_CHUNK at a time, the names
    in the slots' place (`slots` is spent). A global object's property edges are turned
    to the values (`targets` changes)."""
    edge_type = np.empty(len(sources), np.int8)
    edge_name = slots.view(np.int32)
    for start in range(0, len(sources), EDGE_CHUNK):
        part = slice(start, start + EDGE_CHUNK)
        edge_type[part], edge_name[part] = _name_edges(
            dump, scan, graph, sources[part], targets[part], slots[part], strings, left_out)
    return edge_type, edge_name


def _name_edges(dump, scan, graph, sources: np.ndarray, targets: np.ndarray,
                slots: np.ndarray, strings: _Strings, left_out: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
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
    edge_type[arrays] = INTERNAL
    name[arrays] = strings.numbers((offset[arrays] - L.fixed_array_header) // tagged)
    # In-object properties, named by their keys.
    fields = receiver & (offset >= L.js_elements + tagged)
    _properties(heap, namer, strings, edge_type, name, fields, maps,
                offset // tagged - _map_fields(heap, maps, L.map_inobject_properties_start), L)
    # Elements and out-of-object properties, held through the object's stores.
    elements = kind == rules.SLOT_ELEMENTS
    edge_type[elements] = ELEMENT
    name[elements] = (offset[elements] - L.fixed_array_header) // tagged
    _stored_properties(dump, strings, edge_type, name, kind == rules.SLOT_PROPERTIES,
                       addresses, maps, types, offset, targets, graph, left_out)
    ephemeron = kind == rules.SLOT_EPHEMERON
    internal(ephemeron, EPHEMERON)
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


def _external_payloads(dump, graph, live: np.ndarray, live_types: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(object indexes, bytes): the characters each live external string keeps outside
    the heap, which V8's snapshot adds to its self size (from V8 13)."""
    L = dump.layout
    external = (live_types < L.first_nonstring_type) & (
        (live_types & L.string_representation_mask) == L.external_string_tag)
    objects, types = live[external], live_types[external]
    words, found = dump.heap.memory.u64_many(graph.addresses[objects]
                                             + np.uint64(L.string_length))
    lengths = (words & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)
    one_byte = np.array([L.is_one_byte_string(int(t)) for t in types.tolist()], bool)
    payload = np.where(found & (lengths > 0), lengths.astype(np.int64), 0) \
        * np.where(one_byte, 1, 2)
    return objects, payload


def _through_cells(dump, graph, left_out: np.ndarray, edges: np.ndarray, targets: np.ndarray,
                   edge_type: np.ndarray) -> None:
    """A global object's property `edges`, which point at its PropertyCells, point at the
    values the cells hold instead, as V8's snapshot draws them (the cells stay held by the
    object's property dictionary): so the global retains what they hold. Edges whose value
    V8 draws no edge to (a Smi, undefined) are left out."""
    L = dump.layout
    cells = graph.addresses[targets[edges]]
    is_cell = dump.heap.instance_types(cells) == L.property_cell_type
    edges, cells = edges[is_cell], cells[is_cell]
    values, found = dump.heap.memory.u64_many(cells + np.uint64(L.property_cell_value))
    values = np.where(found & ((values & np.uint64(3)) == 1), values - np.uint64(1), 0)
    index, drawn = graph.reachable(values)
    drawn &= (values != 0) & ~left_out[index]
    targets[edges[drawn]] = index[drawn]
    edge_type[edges[~drawn]] = LEFT_OUT


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
                       addresses, maps, types, offset, targets, graph, left_out) -> None:
    """Property edges through a property store: a fast-mode object's field (after its
    in-object ones), a dictionary entry's value by its key, a global's property cell's
    value by the cell's name (_through_cells)."""
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
    _through_cells(dump, graph, left_out, cells[edge_type[cells] == PROPERTY], targets,
                   edge_type)
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
