"""The census of a dump: histogram rows from the scan's per-map counts (each map named
once), the objects of chosen rows, the diff of two histograms and new objects between two
dumps. Goes down to the heap only through the Dump session; results are results.py's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import numpy as np

from .arrays import distinct
from .errors import V8ScanError
from .results import Diff, DiffRow, Histogram, Instances, Row, RowKey
from .scan.sweep import Progress

if TYPE_CHECKING:
    from .dump import Dump
    from .scan.heapscan import HeapScan


def aggregate(entries: list[tuple[RowKey, int, int, bool]]) -> list[Row]:
    """Sum (key, count, size, size_known) entries into one Row per key."""
    totals: dict[RowKey, list] = {}
    for key, count, size, known in entries:
        if count == 0:
            continue
        entry = totals.setdefault(key, [0, 0, True])
        entry[0] += count
        entry[1] += size
        entry[2] = entry[2] and known
    return [Row(kind, name, c, s, known, props, dictionary)
            for (kind, name, props, dictionary), (c, s, known) in totals.items()]


def diff(before: Histogram, after: Histogram) -> Diff:
    """Rows of both histograms side by side, unchanged rows left out. Retained bytes are
    compared where both histograms have them."""
    old = {r.key: r for r in before.rows}
    new = {r.key: r for r in after.rows}
    retained = before.has_retained and after.has_retained
    rows = []
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        row = DiffRow(key[0], key[1], a.count if a else 0, b.count if b else 0,
                      a.size if a else 0, b.size if b else 0, key[2], key[3],
                      ((a.retained or 0) if a else 0) if retained else None,
                      ((b.retained or 0) if b else 0) if retained else None)
        if row.count_delta or row.size_delta or row.retained_delta:
            rows.append(row)
    return Diff(before.core, after.core, rows, before.warnings + [
        w for w in after.warnings if w not in before.warnings])


def histogram(dump: Dump, progress: Optional[Progress] = None, shapes: bool = False,
              include_dead: bool = False, jobs: Optional[int] = None,
              retained: bool = False) -> Histogram:
    """Count and shallow size of the live V8 objects of `dump` by kind and name.

    `shapes` splits JS objects by their own property names, as mdb_v8's
    ::findjsobjects does; `include_dead` counts dead objects too; `jobs` as in `scan`.
    `retained` adds each row's retained bytes (`retained_by_row`).
    """
    if retained and include_dead:
        raise V8ScanError("retained sizes are what live objects hold: they cannot be "
                          "counted with dead objects (--all)")
    scan = dump.scan(progress, include_dead, jobs)
    map_keys = _map_keys(dump, scan, shapes)
    collected_keys = _collected_keys(dump, scan, shapes)
    entries = [(key, count, size, known) for key, count, size, known in zip(
        map_keys, scan.counts.tolist(), scan.sizes.tolist(),
        scan.size_known.tolist()) if key is not None]
    entries.extend((key, 1, size, True) for key, size in zip(
        collected_keys, scan.collected_sizes.tolist()))
    rows = aggregate(entries)
    if retained:
        held = retained_by_row(dump, scan, map_keys, collected_keys, progress, jobs)
        rows = [replace(row, retained=held.get(row.key, 0)) for row in rows]
    return Histogram(dump.path, dump.binary.node_version or "unknown",
                     dump.binary.v8_version_string, rows, list(dump.warnings))


def retained_by_row(dump: Dump, scan: HeapScan, map_keys: list[Optional[RowKey]],
                    collected_keys: list[RowKey], progress: Optional[Progress] = None,
                    jobs: Optional[int] = None) -> dict[RowKey, int]:
    """The bytes the objects of each row retain, as DevTools sums a constructor's row: the
    retained sizes of the row's objects that no other object of the row dominates (an
    object inside another of its row is already in that one's retained size)."""
    graph, tree = dump.graph_of(scan, jobs), dump.dominators(progress, jobs)
    keys = sorted({key for key in map_keys if key is not None} | set(collected_keys))
    index = {key: i for i, key in enumerate(keys)}
    group_of_map = np.array([-1 if key is None else index[key] for key in map_keys]
                            + [-1], dtype=np.int32)  # one more: an empty scan has no maps
    group = group_of_map[(graph.info >> np.uint64(32)).astype(np.int64)]
    if len(scan.collected):
        at = np.searchsorted(graph.addresses, scan.collected)
        group[at] = [index[key] for key in collected_keys]
    group[graph.marks == 0] = -1
    outermost = tree.outermost(group, len(keys))
    totals = np.bincount(group[outermost], weights=tree.retained[:-1][outermost],
                         minlength=len(keys))
    return {key: int(totals[i]) for key, i in index.items()}


def _map_keys(dump: Dump, scan: HeapScan, shapes: bool) -> list[Optional[RowKey]]:
    """The histogram row of each map's objects; None where it has no live objects or
    they are named one by one."""
    namer = dump.namer
    receivers = np.array([dump.layout.is_js_receiver(t) for t in scan.instance_types.tolist()],
                         dtype=bool)
    namer.read_ahead(scan.maps[receivers & ((scan.counts > 0) | scan.per_object)])
    keys: list[Optional[RowKey]] = []
    for map_addr, t, count, per_object in zip(
            scan.maps.tolist(), scan.instance_types.tolist(), scan.counts.tolist(),
            scan.per_object.tolist()):
        if not count or per_object:
            keys.append(None)
            continue
        kind, name = namer.label_map(map_addr, t)
        shape = namer.map_shape(map_addr) if shapes and namer.has_shape(t) else ()
        keys.append((kind, name, shape, False))
    return keys


def _collected_keys(dump: Dump, scan: HeapScan, shapes: bool) -> list[RowKey]:
    """The histogram row of each object named one by one (scan.collected), in order.
    Functions are named through their SharedFunctionInfo, each once."""
    if len(scan.collected) == 0:
        return []
    L, namer = dump.layout, dump.namer
    maps, types = dump.maps_of(scan, scan.collected)
    is_function = (types >= L.js_function_type) & (types <= L.last_js_function_type)
    keys: list = [None] * len(scan.collected)
    shared = dump.heap.pointers(scan.collected[is_function] + np.uint64(L.js_function_shared))
    for i, name in zip(np.flatnonzero(is_function).tolist(), namer.closure_names(shared)):
        keys[i] = ("closure", name, (), False)
    objects, maps, types = (a[~is_function] for a in (scan.collected, maps, types))
    labels = namer.label_objects(objects, maps, types)
    for i, obj, map_addr, t, (kind, name) in zip(np.flatnonzero(~is_function).tolist(),
                                                objects.tolist(), maps.tolist(),
                                                types.tolist(), labels):
        shape, dictionary = ((), False)
        if shapes and namer.has_shape(t):
            shape, dictionary = namer.object_shape(obj, map_addr)
        keys[i] = (kind, name, shape, dictionary)
    return keys


def object_labels(dump: Dump, scan: HeapScan, addresses: np.ndarray) -> list[tuple[str, str]]:
    """(kind, name) of each object at `addresses` (objects the scan counted), as its
    histogram row names it."""
    addresses = np.asarray(addresses, np.uint64)
    maps, types = dump.maps_of(scan, addresses)
    per_object = scan.per_object[np.searchsorted(scan.maps, maps)]
    labels: list[tuple[str, str]] = [("", "")] * len(addresses)
    one_by_one = np.flatnonzero(per_object)
    for i, label in zip(one_by_one.tolist(), dump.namer.label_objects(
            addresses[one_by_one], maps[one_by_one], types[one_by_one])):
        labels[i] = label
    dump.namer.read_ahead(maps[~per_object])
    for i in np.flatnonzero(~per_object).tolist():
        labels[i] = dump.namer.label_map(int(maps[i]), int(types[i]))
    return labels


def objects_by_row(dump: Dump, select: Callable[[RowKey], bool], shapes: bool = False,
                   include_dead: bool = False, jobs: Optional[int] = None
                   ) -> dict[RowKey, tuple[np.ndarray, np.ndarray]]:
    """(addresses, sizes) of the objects of every histogram row `select` accepts (rows
    keyed as Row.key, with `shapes` and `include_dead` as in `histogram`), in address
    order. One sweep over the heap for all rows."""
    scan = dump.scan(include_dead=include_dead, jobs=jobs)
    map_keys = _map_keys(dump, scan, shapes)
    chosen = sorted({key for key in map_keys if key is not None and select(key)})
    index = {key: i for i, key in enumerate(chosen)}
    row_of_map = np.array([-1 if key is None else index.get(key, -1) for key in map_keys],
                          dtype=np.int64)
    parts: dict[RowKey, list[tuple[np.ndarray, np.ndarray]]] = {}
    if chosen:
        addresses, sizes = dump.objects_of(scan, row_of_map >= 0, jobs)
        rows = row_of_map[np.searchsorted(scan.maps, dump.maps_of(scan, addresses)[0])]
        order = np.argsort(rows, kind="stable")
        bounds = np.searchsorted(rows[order], np.arange(len(chosen) + 1))
        for i, key in enumerate(chosen):
            picked = order[bounds[i]:bounds[i + 1]]
            parts[key] = [(addresses[picked], sizes[picked])]
    accepted: dict[RowKey, bool] = {}
    by_key: dict[RowKey, list[int]] = {}
    for i, key in enumerate(_collected_keys(dump, scan, shapes)):
        if key not in accepted:
            accepted[key] = select(key)
        if accepted[key]:
            by_key.setdefault(key, []).append(i)
    for key, picked in by_key.items():
        parts.setdefault(key, []).append((scan.collected[picked],
                                          scan.collected_sizes[picked]))
    result = {}
    for key, pieces in parts.items():
        addresses = np.concatenate([a for a, _ in pieces])
        sizes = np.concatenate([s for _, s in pieces])
        order = np.argsort(addresses, kind="stable")
        result[key] = (addresses[order], sizes[order])
    return result


def instances(dump: Dump, name: str, shape: Optional[Sequence[str]] = None,
              jobs: Optional[int] = None, kind: Optional[str] = None) -> Instances:
    """Every live object named `name` (a constructor or function name as `histogram`
    shows it, or a kind such as "string") of one kind (`objects_named`), in address
    order: as many as the histogram's rows of that name and kind count. With `shape`, only
    JS objects whose own property names are exactly these (in order; a dictionary-mode
    object's sorted)."""
    return as_instances(objects_named(dump, name, shape, kind, jobs))


def as_instances(rows: dict[RowKey, tuple[np.ndarray, np.ndarray]]) -> Instances:
    """The objects of `rows` ((addresses, sizes) per row, as objects_by_row gives them), in
    address order."""
    if not rows:
        return Instances([], [], [], [])
    addresses = np.concatenate([a for a, _ in rows.values()])
    sizes = np.concatenate([s for _, s in rows.values()])
    row_of = np.repeat(np.arange(len(rows)), [len(a) for a, _ in rows.values()])
    order = np.argsort(addresses, kind="stable")
    return Instances(addresses[order], sizes[order], row_of[order],
                     [(key[0], key[1]) for key in rows])


def objects_by_kind(dump: Dump, name: str, shape: Optional[Sequence[str]] = None,
                    jobs: Optional[int] = None
                    ) -> dict[str, dict[RowKey, tuple[np.ndarray, np.ndarray]]]:
    """(addresses, sizes) of the objects of each row `name` means (`rows_named`), by kind:
    the kind with the most objects first; on a tie "object" first (a class with one
    instance means the instance), then by kind."""
    by_kind: dict[str, dict[RowKey, tuple[np.ndarray, np.ndarray]]] = {}
    for key, found in objects_by_row(dump, rows_named(name, shape), shapes=shape is not None,
                                     jobs=jobs).items():
        by_kind.setdefault(key[0], {})[key] = found
    return dict(sorted(by_kind.items(), key=lambda item: (-object_count(item[1]),
                                                          item[0] != "object", item[0])))


def object_count(rows: dict[RowKey, tuple[np.ndarray, np.ndarray]]) -> int:
    """How many objects `rows` ((addresses, sizes) per row) hold."""
    return sum(len(addresses) for addresses, _ in rows.values())


def objects_named(dump: Dump, name: str, shape: Optional[Sequence[str]] = None,
                  kind: Optional[str] = None, jobs: Optional[int] = None
                  ) -> dict[RowKey, tuple[np.ndarray, np.ndarray]]:
    """(addresses, sizes) of the objects of each row `name` means, of one kind: `kind`,
    else the most common kind among them ("Session" means the Session objects, not also
    the class Session, a closure)."""
    if kind is None:
        return next(iter(objects_by_kind(dump, name, shape, jobs).values()), {})
    select = rows_named(name, shape)
    return objects_by_row(dump, lambda key: key[0] == kind and select(key),
                          shapes=shape is not None, jobs=jobs)


def rows_named(name: str, shape: Optional[Sequence[str]] = None) -> Callable[[RowKey], bool]:
    """Which histogram rows `name` means: those with that name (a constructor, function or
    V8 type) or kind; with `shape`, only those with exactly these own property names."""
    wanted_shape = None if shape is None else tuple(shape)

    def select(key: RowKey) -> bool:
        kind, label, properties, _ = key
        return name in (label, kind) and (wanted_shape is None or properties == wanted_shape)
    return select


def growth_samples(before: Dump, after: Dump, keys: Sequence[RowKey], per_row: int,
                   shapes: bool = False, include_dead: bool = False,
                   jobs: Optional[int] = None) -> dict[RowKey, list[int]]:
    """Up to `per_row` addresses, in `after`, of objects of each row (keys as Row.key) at
    addresses that held no object of that row in `before`, spread evenly over them.

    Both cores must come from one process. An object the GC moved between the two counts
    as new; an object new at the address of one that died does not."""
    wanted = set(keys)
    old = objects_by_row(before, wanted.__contains__, shapes, include_dead, jobs)
    new = objects_by_row(after, wanted.__contains__, shapes, include_dead, jobs)
    none = (np.zeros(0, dtype=np.uint64),)
    return {key: sample_new(old.get(key, none)[0], new.get(key, none)[0], per_row)
            for key in keys}


def sample_new(old: np.ndarray, new: np.ndarray, count: int) -> list[int]:
    """Up to `count` of the sorted addresses `new` that are not in `old`, spread evenly."""
    fresh = np.setdiff1d(new, old, assume_unique=True)
    if len(fresh) > count:
        fresh = fresh[distinct(np.linspace(0, len(fresh) - 1, count).round().astype(np.int64))]
    return fresh.tolist()


