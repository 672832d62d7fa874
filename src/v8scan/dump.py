"""One core dump opened for analysis: core + node binary + layout + heap, and what they yield.

This is the public entry point behind `v8scan.open_dump`; the CLI and tests use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .binary import NodeBinary, read_node_binary
from .census import Histogram, aggregate
from .core import CoreFile
from .errors import BinaryError, BuildIdMismatch, Warnings
from .heap import Heap
from .layout import Layout, build_layout
from .naming import Namer
from .pages import find_pages, heap_areas
from .scan import HeapScan, collect_objects, scan_heap
from .sweep import Progress
from .values import DEFAULT_DEPTH, ValueReader


@dataclass(frozen=True, order=True)
class Instance:
    """One live object: where it is, its shallow size (0 if unknown) and its name."""

    address: int
    size: int
    kind: str
    name: str


@dataclass(frozen=True)
class DumpInfo:
    """What `v8scan info` reports."""

    core: str
    core_bytes: int
    process_name: str
    process_args: str
    node_binary: str
    build_id: Optional[str]
    build_id_matches: Optional[bool]
    node_version: str
    v8_version: str
    version_checked: bool
    segments: int
    memory_bytes: int
    heap_pages: int
    heap_bytes: int     # bytes of the object areas scanned as live
    young_bytes: int    # young-generation bytes not scanned: no allocation area was found


class Dump:
    """A Node.js core dump and the node binary it ran; close() it, or use `with`."""

    def __init__(self, core_path: str | os.PathLike[str], node: Optional[str] = None,
                 force: bool = False) -> None:
        self.core = CoreFile(core_path)
        try:
            self.warnings: Warnings = self.core.warnings
            recorded = self.core.executable_path()
            path = node or recorded
            if path is None:
                raise BinaryError(f"{self.core.path}: the core does not say which program it ran")
            if node is None and not os.path.exists(path):
                raise BinaryError(f"the core ran {path}, which is not on this machine")
            self.binary: NodeBinary = read_node_binary(path)
            self.core_build_id = self.core.build_id_of(recorded) if recorded else None
            self.build_id_matches = self._check_build_id(force)
            self.layout: Layout = build_layout(self.binary, self.warnings)
            self.heap = Heap(self.core.memory, self.layout)
            self.namer = Namer(self.heap)
        except BaseException:
            self.core.close()
            raise
        self._scans: dict[bool, HeapScan] = {}  # by `everything`

    def _check_build_id(self, force: bool) -> Optional[bool]:
        core_id, binary_id = self.core_build_id, self.binary.build_id
        if core_id is None or binary_id is None:
            self.warnings.add("cannot verify that the node binary matches the core (no build-id)")
            return None
        if core_id == binary_id:
            return True
        if not force:
            raise BuildIdMismatch(self.binary.path, binary_id, core_id)
        self.warnings.add(f"--force: {self.binary.path} does not match the core's build-id")
        return False

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
            len(pages), int(areas[:, 2].sum()), young)

    def scan(self, progress: Optional[Progress] = None, everything: bool = False,
             jobs: Optional[int] = None) -> HeapScan:
        """Scan the heap once per mode; later calls reuse the result.

        `everything` also counts what V8 has let go (free space, young-generation pages);
        `jobs` threads scan at once (default: every available core).
        """
        if everything not in self._scans:
            self._scans[everything] = scan_heap(
                self.core.memory, self.layout, self.warnings, progress,
                collect=self.namer.per_object_maps, everything=everything, jobs=jobs)
        return self._scans[everything]

    def histogram(self, progress: Optional[Progress] = None, shapes: bool = False,
                  everything: bool = False, jobs: Optional[int] = None) -> Histogram:
        """Count and shallow size of live V8 objects by kind and name.

        `shapes` splits JS objects by their own property names, as mdb_v8's
        ::findjsobjects does; `everything` counts dead objects too; `jobs` as in `scan`.
        """
        scan = self.scan(progress, everything, jobs)
        namer = self.namer
        entries = []
        for map_addr, t, count, size, known, per_object in zip(
                scan.maps.tolist(), scan.instance_types.tolist(), scan.counts.tolist(),
                scan.sizes.tolist(), scan.size_known.tolist(), scan.per_object.tolist()):
            if count and not per_object:
                kind, name = namer.label_map(map_addr, t)
                shape = namer.map_shape(map_addr) if shapes and namer.has_shape(t) else ()
                entries.append(((kind, name, shape, False), count, size, known))
        entries.extend(self._per_object_entries(scan, shapes))
        return Histogram(self.core.path, self.binary.node_version or "unknown",
                         self.binary.v8_version_string, aggregate(entries), list(self.warnings))

    def _per_object_entries(self, scan: HeapScan, shapes: bool):
        """Collected objects named one by one; functions once per SharedFunctionInfo."""
        if len(scan.collected) == 0:
            return []
        maps, types = self.maps_of(scan, scan.collected)
        sizes = scan.collected_sizes
        is_function = (types >= self.layout.js_function_type) & (
            types <= self.layout.last_js_function_type)
        entries = []
        # Functions: group by SharedFunctionInfo first, so each is named once.
        shared, _ = self.core.memory.u64_many(
            scan.collected[is_function] + np.uint64(self.layout.js_function_shared))
        unique, inverse = np.unique(shared, return_inverse=True)
        counts = np.bincount(inverse, minlength=len(unique))
        totals = np.bincount(inverse, weights=sizes[is_function], minlength=len(unique))
        for sfi, count, total in zip(unique.tolist(), counts.tolist(), totals.tolist()):
            name = self.namer.function_name(sfi - 1 if sfi & 3 == 1 else None)
            entries.append((("closure", name, (), False), count, int(total), True))
        for obj, map_addr, t, size in zip(scan.collected[~is_function].tolist(),
                                          maps[~is_function].tolist(),
                                          types[~is_function].tolist(),
                                          sizes[~is_function].tolist()):
            kind, name = self.namer.label_object(obj, map_addr, t)
            shape, dictionary = ((), False)
            if shapes and self.namer.has_shape(t):
                shape, dictionary = self.namer.object_shape(obj, map_addr)
            entries.append(((kind, name, shape, dictionary), 1, int(size), True))
        return entries

    def maps_of(self, scan: HeapScan, objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(map, instance type) of each object, all of whose maps the scan found."""
        maps = self.core.memory.u64_many(objects)[0] - np.uint64(1)
        return maps, scan.instance_types[np.searchsorted(scan.maps, maps)]

    def instances(self, name: str, shape: Optional[Sequence[str]] = None,
                  jobs: Optional[int] = None) -> list[Instance]:
        """Every live object named `name` (a constructor or function name as `histogram`
        shows it, or a kind such as "string"), in address order. With `shape`, only JS
        objects whose own property names are exactly these (in order; a dictionary-mode
        object's sorted)."""
        scan = self.scan(jobs=jobs)
        namer, wanted_shape = self.namer, tuple(shape) if shape is not None else None

        def matches(kind: str, label: str, t: int, shape_of) -> bool:
            if name not in (label, kind):
                return False
            return wanted_shape is None or (namer.has_shape(t) and shape_of() == wanted_shape)

        wanted = np.zeros(len(scan.maps), dtype=bool)
        for i, (map_addr, t, count, per_object) in enumerate(zip(
                scan.maps.tolist(), scan.instance_types.tolist(), scan.counts.tolist(),
                scan.per_object.tolist())):
            if count and not per_object:
                kind, label = namer.label_map(map_addr, t)
                wanted[i] = matches(kind, label, t, lambda: namer.map_shape(map_addr))
        found = []
        if wanted.any():
            addresses, sizes = collect_objects(self.core.memory, scan, wanted, jobs)
            maps, types = self.maps_of(scan, addresses)
            labels = {m: namer.label_map(m, t) for m, t in set(zip(maps.tolist(), types.tolist()))}
            found.extend(Instance(obj, size, *labels[map_addr]) for obj, map_addr, size
                         in zip(addresses.tolist(), maps.tolist(), sizes.tolist()))
        maps, types = self.maps_of(scan, scan.collected)
        for obj, map_addr, t, size in zip(scan.collected.tolist(), maps.tolist(),
                                          types.tolist(), scan.collected_sizes.tolist()):
            kind, label = namer.label_object(obj, map_addr, t)
            if matches(kind, label, t, lambda: namer.object_shape(obj, map_addr)[0]):
                found.append(Instance(obj, size, kind, label))
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


def open_dump(core_path: str | os.PathLike[str], node: Optional[str] = None,
              force: bool = False) -> Dump:
    """Open a core dump with the node binary it ran (found via NT_FILE unless `node` is given).

    Raises CoreFormatError, BinaryError, BuildIdMismatch or LayoutError on bad input.
    """
    return Dump(core_path, node=node, force=force)
