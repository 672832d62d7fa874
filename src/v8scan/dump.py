"""One core dump opened for analysis: core + node binary + layout + heap, and what they yield.

This is the public entry point behind `v8scan.open_dump`; the CLI and tests use it.
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

import numpy as np

from .binary import NodeBinary, node_of_core
from .census import aggregate
from .core import CoreFile
from .errors import NoV8HeapError, Warnings
from .heap import Heap
from .layout import Layout, build_layout
from .naming import Namer
from .pages import find_pages, heap_areas, missing_pages
from .results import DumpInfo, Histogram, Instance, RowKey
from .scan import HeapScan, collect_objects, scan_heap
from .sweep import Progress
from .values import DEFAULT_DEPTH, ValueReader


class Dump:
    """A Node.js core dump and the node binary it ran; close() it, or use `with`."""

    def __init__(self, core_path: str | os.PathLike[str], node: Optional[str] = None,
                 force: bool = False) -> None:
        self.core = CoreFile(core_path)
        try:
            self.warnings: Warnings = self.core.warnings
            self.binary: NodeBinary
            self.binary, self.build_id_matches = node_of_core(self.core, node, force,
                                                              self.warnings, check=build_layout)
            self.layout: Layout = build_layout(self.binary, self.warnings)
            self.heap = Heap(self.core.memory, self.layout)
            self.namer = Namer(self.heap)
            self.missing_heap_pages = self._note_truncation()
        except BaseException:
            self.core.close()
            raise
        self._scans: dict[bool, HeapScan] = {}  # by `everything`

    def _note_truncation(self) -> int:
        """One warning for a truncated core, with the V8 heap pages it lacks; their count."""
        cut = self.core.truncation
        if cut is None:
            return 0
        lost = missing_pages(self.core.memory, self.layout,
                             find_pages(self.core.memory, self.layout), cut.missing)
        notes = ", and so are its notes (process details)" if cut.notes_cut else ""
        self.warnings.add(
            f"the core is truncated: the file has {cut.file_size:,} of the "
            f"{cut.promised_size:,} bytes its headers describe, so {cut.missing_bytes:,} "
            f"bytes of memory are missing, {len(lost):,} V8 heap pages "
            f"({len(lost) * self.layout.page_alignment:,} bytes) among them as far as the "
            f"core shows{notes}; counts are lower bounds")
        return len(lost)

    @property
    def path(self) -> str:
        return self.core.path

    def info(self) -> DumpInfo:
        """Versions, binary, segments and sizes; cheap (no heap scan)."""
        memory = self.core.memory
        pages = find_pages(memory, self.layout)
        areas, young = heap_areas(memory, self.layout, pages)
        return DumpInfo(
            self.core.path, self.core.file_size, self.core.process_name, self.core.process_args,
            self.binary.path, self.binary.build_id, self.build_id_matches,
            self.binary.node_version or "unknown", self.binary.v8_version_string,
            self.layout.checked, len(memory.segments), memory.total_bytes,
            len(pages), int(areas[:, 2].sum()), young,
            self.core.truncation.missing_bytes if self.core.truncation else 0,
            self.missing_heap_pages)

    def scan(self, progress: Optional[Progress] = None, everything: bool = False,
             jobs: Optional[int] = None) -> HeapScan:
        """Scan the heap once per mode; later calls reuse the result.

        `everything` also counts what V8 has let go (free space, young-generation pages);
        `jobs` threads scan at once (default: every available core).
        """
        if everything not in self._scans:
            try:
                self._scans[everything] = scan_heap(
                    self.core.memory, self.layout, self.warnings, progress,
                    collect=self.namer.per_object_maps, everything=everything, jobs=jobs)
            except NoV8HeapError as exc:
                cut = self.core.truncation
                if cut is None:
                    raise
                raise NoV8HeapError(
                    f"{exc}: the core is truncated ({cut.missing_bytes:,} bytes of memory "
                    "are missing) and V8's heap is in the part that is missing",
                    hint="take the core again with room for all of it (ulimit -c unlimited)"
                ) from None
        return self._scans[everything]

    def histogram(self, progress: Optional[Progress] = None, shapes: bool = False,
                  everything: bool = False, jobs: Optional[int] = None) -> Histogram:
        """Count and shallow size of live V8 objects by kind and name.

        `shapes` splits JS objects by their own property names, as mdb_v8's
        ::findjsobjects does; `everything` counts dead objects too; `jobs` as in `scan`.
        """
        scan = self.scan(progress, everything, jobs)
        entries = [(key, count, size, known) for key, count, size, known in zip(
            self._map_keys(scan, shapes), scan.counts.tolist(), scan.sizes.tolist(),
            scan.size_known.tolist()) if key is not None]
        entries.extend((key, 1, size, True) for key, size in zip(
            self._collected_keys(scan, shapes), scan.collected_sizes.tolist()))
        return Histogram(self.core.path, self.binary.node_version or "unknown",
                         self.binary.v8_version_string, aggregate(entries), list(self.warnings))

    def _map_keys(self, scan: HeapScan, shapes: bool) -> list[Optional[RowKey]]:
        """The histogram row of each map's objects; None where it has no live objects or
        they are named one by one."""
        namer = self.namer
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

    def _collected_keys(self, scan: HeapScan, shapes: bool) -> list[RowKey]:
        """The histogram row of each object named one by one (scan.collected), in order.
        Functions are named through their SharedFunctionInfo, each once."""
        if len(scan.collected) == 0:
            return []
        L, namer = self.layout, self.namer
        maps, types = self.maps_of(scan, scan.collected)
        is_function = (types >= L.js_function_type) & (types <= L.last_js_function_type)
        keys: list = [None] * len(scan.collected)
        shared, _ = self.core.memory.u64_many(
            scan.collected[is_function] + np.uint64(L.js_function_shared))
        unique, inverse = np.unique(shared, return_inverse=True)
        named = [("closure", namer.function_name(sfi - 1 if sfi & 3 == 1 else None), (), False)
                 for sfi in unique.tolist()]
        for i, j in zip(np.flatnonzero(is_function).tolist(), inverse.tolist()):
            keys[i] = named[j]
        objects, maps, types = (a[~is_function].tolist() for a in (scan.collected, maps, types))
        for i, obj, map_addr, t in zip(np.flatnonzero(~is_function).tolist(), objects, maps,
                                       types):
            kind, name = namer.label_object(obj, map_addr, t)
            shape, dictionary = ((), False)
            if shapes and namer.has_shape(t):
                shape, dictionary = namer.object_shape(obj, map_addr)
            keys[i] = (kind, name, shape, dictionary)
        return keys

    def maps_of(self, scan: HeapScan, objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(map, instance type) of each object, all of whose maps the scan found."""
        maps = self.core.memory.u64_many(objects)[0] - np.uint64(1)
        return maps, scan.instance_types[np.searchsorted(scan.maps, maps)]

    def objects_by_row(self, select: Callable[[RowKey], bool], shapes: bool = False,
                       everything: bool = False, jobs: Optional[int] = None
                       ) -> dict[RowKey, tuple[np.ndarray, np.ndarray]]:
        """(addresses, sizes) of the objects of every histogram row `select` accepts (rows
        keyed as Row.key(), with `shapes` and `everything` as in `histogram`), in address
        order. One sweep over the heap for all rows."""
        scan = self.scan(everything=everything, jobs=jobs)
        map_keys = self._map_keys(scan, shapes)
        chosen = sorted({key for key in map_keys if key is not None and select(key)})
        index = {key: i for i, key in enumerate(chosen)}
        row_of_map = np.array([-1 if key is None else index.get(key, -1) for key in map_keys],
                              dtype=np.int64)
        parts: dict[RowKey, list[tuple[np.ndarray, np.ndarray]]] = {}
        if chosen:
            addresses, sizes = collect_objects(self.core.memory, scan, row_of_map >= 0, jobs)
            rows = row_of_map[np.searchsorted(scan.maps, self.maps_of(scan, addresses)[0])]
            order = np.argsort(rows, kind="stable")
            bounds = np.searchsorted(rows[order], np.arange(len(chosen) + 1))
            for i, key in enumerate(chosen):
                picked = order[bounds[i]:bounds[i + 1]]
                parts[key] = [(addresses[picked], sizes[picked])]
        accepted: dict[RowKey, bool] = {}
        by_key: dict[RowKey, list[int]] = {}
        for i, key in enumerate(self._collected_keys(scan, shapes)):
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

    def instances(self, name: str, shape: Optional[Sequence[str]] = None,
                  jobs: Optional[int] = None) -> list[Instance]:
        """Every live object named `name` (a constructor or function name as `histogram`
        shows it, or a kind such as "string"), in address order. With `shape`, only JS
        objects whose own property names are exactly these (in order; a dictionary-mode
        object's sorted)."""
        found = []
        for (kind, label, _, _), (addresses, sizes) in self.objects_by_row(
                rows_named(name, shape), shapes=shape is not None, jobs=jobs).items():
            found.extend(Instance(a, s, kind, label)
                         for a, s in zip(addresses.tolist(), sizes.tolist()))
        return sorted(found)

    def value(self, address: int, depth: int = DEFAULT_DEPTH) -> dict:
        """The object at `address` as a tree of plain values (see values.py), nested
        objects read `depth` levels deep as util.inspect does. Needs no heap scan.

        Raises NotAnObject if no V8 object starts at `address`."""
        return ValueReader(self.heap, self.namer, depth).read(address)

    def close(self) -> None:
        self.core.close()

    def __enter__(self) -> "Dump":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def rows_named(name: str, shape: Optional[Sequence[str]] = None) -> Callable[[RowKey], bool]:
    """Which histogram rows `name` means: those with that name (a constructor, function or
    V8 type) or kind; with `shape`, only those with exactly these own property names."""
    wanted_shape = None if shape is None else tuple(shape)

    def select(key: RowKey) -> bool:
        kind, label, properties, _ = key
        return name in (label, kind) and (wanted_shape is None or properties == wanted_shape)
    return select


def build_mismatch(before: Dump, after: Dump) -> list[str]:
    """A warning if the two dumps ran different node builds: their rows, V8's internal
    types above all, do not compare."""
    a, b = before.binary, after.binary
    if (a.build_id, a.node_version) == (b.build_id, b.node_version):
        return []
    return [f"the two cores ran different node builds (Node {a.node_version or '?'} and "
            f"{b.node_version or '?'}): they are not two moments of one process, and rows "
            "may differ for that reason alone"]


def growth_samples(before: Dump, after: Dump, keys: Sequence[RowKey], per_row: int,
                   shapes: bool = False, everything: bool = False,
                   jobs: Optional[int] = None) -> dict[RowKey, list[int]]:
    """Up to `per_row` addresses, in `after`, of objects of each row (keys as Row.key()) at
    addresses that held no object of that row in `before`, spread evenly over them.

    Both cores must come from one process. An object the GC moved between the two counts
    as new; an object new at the address of one that died does not."""
    wanted = set(keys)
    old = before.objects_by_row(wanted.__contains__, shapes, everything, jobs)
    new = after.objects_by_row(wanted.__contains__, shapes, everything, jobs)
    none = (np.zeros(0, dtype=np.uint64),)
    return {key: sample_new(old.get(key, none)[0], new.get(key, none)[0], per_row)
            for key in keys}


def sample_new(old: np.ndarray, new: np.ndarray, count: int) -> list[int]:
    """Up to `count` of the sorted addresses `new` that are not in `old`, spread evenly."""
    fresh = np.setdiff1d(new, old, assume_unique=True)
    if len(fresh) > count:
        fresh = fresh[np.unique(np.linspace(0, len(fresh) - 1, count).round().astype(np.int64))]
    return fresh.tolist()


def open_dump(core_path: str | os.PathLike[str], node: Optional[str] = None,
              force: bool = False) -> Dump:
    """Open a core dump with the node binary it ran (found via NT_FILE unless `node` is given).

    Raises CoreFormatError, BinaryError, BuildIdMismatch or LayoutError on bad input.
    """
    return Dump(core_path, node=node, force=force)
