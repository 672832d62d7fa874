"""One core dump opened for analysis: the session every analysis goes through.

A Dump opens the core, finds and checks its node binary (v8/binary.py), builds the layout,
and keeps the heap scan once made (by default the census of what V8's roots reach, from
the object graph of graph/); it answers the heap-level questions analyses ask (the scan,
the object graph, the maps of objects, the readers). The analyses live beside their
data: the census (histogram, instances, new objects) in census.py, values in
v8/values.py, paths in retainers.py; `histogram`, `instances` and `value` here only hand
over to them. This is the public entry point behind `v8scan.open_dump`.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Optional, Sequence

import numpy as np

from . import census
from .core import CoreFile
from .errors import NoV8HeapError, Warnings
from .graph import marking
from .graph.dominators import WEIGHT as DOMINATORS_WEIGHT
from .graph.dominators import Dominators, dominator_tree
from .results import DumpInfo, Histogram, Instances
from .scan.heapscan import (
    HeapScan,
    ScanPlan,
    collect_objects,
    count_all,
    find_holders,
    plan_scan,
    scan_heap,
)
from .scan import isolate as isolate_module
from .scan.isolate import IsolateMemory
from .scan.pages import HeapPage, find_pages, heap_areas, missing_pages
from .scan.sweep import Progress, Sweeper
from .v8.binary import NodeBinary, node_of_core
from .v8.heap import Heap
from .v8.layout import Layout, build_layout
from .v8.naming import Namer
from .v8.values import DEFAULT_DEPTH, ValueReader


class Dump:
    """A Node.js core dump and the node binary it ran; close() it, or use `with`."""

    def __init__(self, core_path: str | os.PathLike[str], node: Optional[str] = None,
                 force: bool = False) -> None:
        self.core = CoreFile(core_path)
        try:
            self.warnings: Warnings = self.core.warnings
            self.binary: NodeBinary
            # A cached binary is checked by building its layout, which is then kept.
            checked: list[Layout] = []
            self.binary, self.build_id_matches = node_of_core(
                self.core, node, force, self.warnings,
                check=lambda binary: checked.append(build_layout(binary, self.warnings)))
            self.layout: Layout = (checked[-1] if checked
                                   else build_layout(self.binary, self.warnings))
            self.heap = Heap(self.core.memory, self.layout)
            self.namer = Namer(self.heap)
            self.missing_heap_pages = self._note_truncation()
        except BaseException:
            self.core.close()
            raise
        self._scans: dict[bool, HeapScan] = {}  # by `include_dead`
        self._graph: Optional[marking.ObjectGraph] = None
        self._dominators: Optional[Dominators] = None

    def _note_truncation(self) -> int:
        """One warning for a truncated core, with the V8 heap pages it lacks; their count."""
        cut = self.core.truncation
        if cut is None:
            return 0
        lost = missing_pages(self.core.memory, self.layout, self.pages, cut.missing)
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

    @cached_property
    def pages(self) -> list[HeapPage]:
        """The V8 heap pages in the core, found once."""
        return find_pages(self.core.memory, self.layout)

    @cached_property
    def isolate(self) -> IsolateMemory:
        """Where V8 keeps what the heap pages do not say (its Isolate, the stacks), found
        once."""
        return isolate_module.locate(self.core.memory, self.pages, self.core.threads,
                                     self.warnings)

    def read_ahead(self) -> None:
        """Ask the kernel to read the heap pages now, without waiting for them: a scan
        reads them all, and a cold core's reading then overlaps other work (the other
        core of a diff)."""
        self.core.memory.reading(heap_areas(self.core.memory, self.layout, self.pages, None)[0])

    def bytes_read(self) -> int:
        """Bytes of the core read so far (in whole pages: what the kernel reads at
        least)."""
        return self.core.memory.touched_bytes()

    def heap_page_bytes(self) -> int:
        """Bytes of the core that hold V8's heap pages' object areas."""
        return sum(page.area_end - page.area_start for page in self.pages)

    def info(self) -> DumpInfo:
        """Versions, binary, segments and sizes; the areas a heap scan walks, without the
        walk (or the scan's, if one was made)."""
        memory, pages = self.core.memory, self.pages
        if False in self._scans:
            plan = self._scans[False].plan
        else:
            with Sweeper() as sweeper:
                plan = plan_scan(memory, self.layout, pages, self.isolate, self.warnings,
                                 sweeper, whole_young=True)
        areas, young = plan.areas, plan.young_bytes
        return DumpInfo(
            self.core.path, self.core.file_size, self.core.process_name, self.core.process_args,
            self.binary.path, self.binary.build_id, self.build_id_matches,
            self.binary.node_version or "unknown", self.binary.v8_version_string,
            self.layout.checked, len(memory.segments), memory.total_bytes,
            len(pages), int(areas[:, 2].sum()), young,
            self.core.truncation.missing_bytes if self.core.truncation else 0,
            self.missing_heap_pages)

    def scan(self, progress: Optional[Progress] = None, include_dead: bool = False,
             jobs: Optional[int] = None) -> HeapScan:
        """Scan the heap once per mode; later calls reuse the result.

        `include_dead` also counts what V8 has let go (free space, young-generation pages);
        `jobs` threads scan at once (default: every available core).
        """
        if include_dead not in self._scans:
            try:
                self._scans[include_dead] = scan_heap(
                    self.core.memory, self.layout, self.pages, self.isolate, self.warnings,
                    progress,
                    collect=self.namer.per_object_maps, include_dead=include_dead, jobs=jobs,
                    **({} if include_dead else {"census": self._reachable_census,
                                                "census_weight": marking.WEIGHT,
                                                "whole_young": True}))
            except NoV8HeapError as exc:
                cut = self.core.truncation
                if cut is None:
                    raise
                raise NoV8HeapError(
                    f"{exc}: the core is truncated ({cut.missing_bytes:,} bytes of memory "
                    "are missing) and V8's heap is in the part that is missing",
                    hint="take the core again with room for all of it (ulimit -c unlimited)"
                ) from None
        return self._scans[include_dead]

    def _reachable_census(self, plan: ScanPlan, per_object: np.ndarray,
                          sweeper: Sweeper) -> HeapScan:
        graph = marking.build_graph(self.core.memory, self.layout, self.pages, plan,
                                    self.core.threads, self.isolate, self.warnings, sweeper)
        if not graph.roots.have_isolate:
            self.warnings.add("V8's roots (its Isolate) are not in the core: every object "
                              "on the heap pages is counted, reachable or not")
            return count_all(self.core.memory, plan, per_object, sweeper)
        return marking.reachable_census(plan, graph, per_object)

    def object_graph(self, jobs: Optional[int] = None) -> marking.ObjectGraph:
        """Every object of the heap scan's areas, marked from the roots, each with the
        object it was first reached from (breadth first): built once, for paths. The
        census's object table and roots are marked again, with parents."""
        if self._graph is None:
            scan = self.scan(jobs=jobs)
            with Sweeper(jobs) as sweeper:
                if scan.graph is not None:
                    self._graph = marking.mark_graph(self.core.memory, self.layout,
                                                     scan.plan, scan.graph, sweeper,
                                                     want_parents=True)
                else:  # the census counted everything: it has no graph
                    self._graph = marking.build_graph(
                        self.core.memory, self.layout, self.pages, scan.plan,
                        self.core.threads, self.isolate, self.warnings, sweeper,
                        want_parents=True)
            if not self._graph.roots.have_isolate:
                self.warnings.add("V8's roots (its Isolate) are not in the core: paths start "
                                  "only at handles and stacks, and an object they do not "
                                  "reach is not necessarily garbage")
        return self._graph

    def dominators(self, progress: Optional[Progress] = None,
                   jobs: Optional[int] = None) -> Dominators:
        """The dominator tree of the live objects, with their retained sizes, by index in
        the scan's object graph (graph/dominators.py); built once."""
        if self._dominators is None:
            scan = self.scan(jobs=jobs)
            graph = self.graph_of(scan, jobs)
            with Sweeper(jobs, progress, self.heap_page_bytes() * DOMINATORS_WEIGHT) as sweeper:
                self._dominators = dominator_tree(self.core.memory, self.layout, scan.plan,
                                                  graph, sweeper)
                sweeper.finish()
        return self._dominators

    def graph_of(self, scan: HeapScan, jobs: Optional[int] = None) -> marking.ObjectGraph:
        """The object graph the scan's census marked (or, where it counted every object,
        the object graph): the one `dominators` indexes."""
        return scan.graph if scan.graph is not None else self.object_graph(jobs)

    def histogram(self, progress: Optional[Progress] = None, shapes: bool = False,
                  include_dead: bool = False, jobs: Optional[int] = None,
                  retained: bool = False) -> Histogram:
        """Count and shallow size of live V8 objects by kind and name, and with `retained`
        the bytes each row retains (census.histogram)."""
        return census.histogram(self, progress, shapes, include_dead, jobs, retained)

    def instances(self, name: str, shape: Optional[Sequence[str]] = None,
                  jobs: Optional[int] = None, kind: Optional[str] = None) -> Instances:
        """Every live object named `name`, of one kind, in address order
        (census.instances)."""
        return census.instances(self, name, shape, jobs, kind)

    def words_at(self, addresses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The 64-bit words at `addresses`, and whether each is in the core."""
        return self.core.memory.u64_many(addresses)

    def objects_of(self, scan: HeapScan, wanted: np.ndarray,
                   jobs: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
        """(addresses, sizes) of every object the scan counted of the maps where `wanted`
        is True, in address order: from the object graph where the scan counted reachable
        objects, else by one more walk."""
        if scan.graph is None:
            return collect_objects(self.core.memory, scan, wanted, jobs)
        return marking.reachable_objects(scan.plan, scan.graph, wanted)

    def holders_of(self, scan: HeapScan, targets: np.ndarray, jobs: Optional[int] = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every live reference to the objects at `targets`: (holder object, address of the
        referencing word, target), in address order."""
        return find_holders(self.core.memory, scan, targets, jobs)

    def maps_of(self, scan: HeapScan, objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(map, instance type) of each object, all of whose maps the scan found."""
        maps = self.core.memory.u64_many(objects)[0] - np.uint64(1)
        return maps, scan.instance_types[np.searchsorted(scan.maps, maps)]

    def value(self, address: int, depth: int = DEFAULT_DEPTH) -> dict:
        """The object at `address` as a tree of plain values (see v8/values.py), nested
        objects read `depth` levels deep as util.inspect does. Needs no heap scan.

        Raises NotAnObject if no V8 object starts at `address`."""
        return ValueReader(self.heap, self.namer, depth).read(address)

    def close(self) -> None:
        self.core.close()

    def __enter__(self) -> "Dump":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def pair_warnings(before: Dump, after: Dump) -> list[str]:
    """Warnings that two dumps are not two moments of one process, in order: different
    node builds (their rows, V8's internal types above all, do not compare), different
    processes, or AFTER older than BEFORE (by the threads' CPU time where the cores
    record it, else by the files' modification times)."""
    a, b = before.binary, after.binary
    warnings = []
    if (a.build_id, a.node_version) != (b.build_id, b.node_version):
        warnings.append(
            f"the two cores ran different node builds (Node {a.node_version or '?'} and "
            f"{b.node_version or '?'}): they are not two moments of one process, and rows "
            "may differ for that reason alone")
    elif None not in (before.core.pid, after.core.pid) and before.core.pid != after.core.pid:
        warnings.append(
            f"the two cores are of different processes (pid {before.core.pid} and "
            f"{after.core.pid}): what differs is not necessarily growth")
    cpu = [sum(t.cpu_seconds for t in d.core.threads) for d in (before, after)]
    if all(cpu) and cpu[1] < cpu[0]:
        warnings.append(f"{after.path} was taken before {before.path} (its process had used "
                        f"{cpu[1]:.1f} s of CPU, against {cpu[0]:.1f} s): the diff reads "
                        "backwards; give the older core first")
    elif not all(cpu) and os.path.getmtime(after.path) + 1 < os.path.getmtime(before.path):
        warnings.append(f"{after.path} is older than {before.path} (by the files' times): "
                        "if it was taken first, the diff reads backwards; give the older "
                        "core first")
    return warnings


def open_dump(core_path: str | os.PathLike[str], node: Optional[str] = None,
              force: bool = False) -> Dump:
    """Open a core dump with the node binary it ran (found via NT_FILE unless `node` is given).

    Raises CoreFormatError, BinaryError, BuildIdMismatch or LayoutError on bad input.
    """
    return Dump(core_path, node=node, force=force)
