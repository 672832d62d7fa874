"""What every command produces, as plain data: histogram rows and diffs, instances,
dump info and retainer paths. No V8 knowledge, no I/O: analyses build these, render.py
formats them (the JSON contract lives there) and imports nothing else of v8scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# What a row groups by: kind, name, and with --shapes the own property names and whether
# they come from a dictionary-mode object.
RowKey = tuple[str, str, tuple[str, ...], bool]


@dataclass(frozen=True)
class Row:
    """Objects of one kind and name (and shape): how many and how many bytes (shallow)."""

    kind: str
    name: str
    count: int
    size: int
    size_known: bool = True
    properties: tuple[str, ...] = ()  # own property names, with --shapes
    dictionary: bool = False          # properties read from a dictionary-mode object

    @property
    def key(self) -> RowKey:
        return (self.kind, self.name, self.properties, self.dictionary)


@dataclass
class Histogram:
    """What is on the V8 heap of one core."""

    core: str
    node_version: str
    v8_version: str
    rows: list[Row]
    warnings: list[str] = field(default_factory=list)

    @property
    def total_count(self) -> int:
        return sum(r.count for r in self.rows)

    @property
    def total_size(self) -> int:
        return sum(r.size for r in self.rows)

    def sorted(self, by: str = "size") -> list[Row]:
        """Rows biggest first by `by` ('size' or 'count'), ties broken by the other, then key."""
        if by == "count":
            return sorted(self.rows, key=lambda r: (-r.count, -r.size, r.key))
        return sorted(self.rows, key=lambda r: (-r.size, -r.count, r.key))


@dataclass(frozen=True)
class DiffRow:
    kind: str
    name: str
    count_before: int
    count_after: int
    size_before: int
    size_after: int
    properties: tuple[str, ...] = ()
    dictionary: bool = False

    @property
    def key(self) -> RowKey:
        return (self.kind, self.name, self.properties, self.dictionary)

    @property
    def count_delta(self) -> int:
        return self.count_after - self.count_before

    @property
    def size_delta(self) -> int:
        return self.size_after - self.size_before


@dataclass
class Diff:
    """What changed between two histograms; rows sorted by growth, biggest first."""

    before: str
    after: str
    rows: list[DiffRow]
    warnings: list[str] = field(default_factory=list)
    # With --samples: addresses in `after` of some of a row's new objects, by row key.
    samples: dict[RowKey, list[int]] = field(default_factory=dict)

    def sorted(self, by: str = "count") -> list[DiffRow]:
        """Rows by growth in count (or in bytes), biggest first, fully tie-broken."""
        if by == "size":
            return sorted(self.rows, key=lambda r: (-r.size_delta, -r.count_delta, r.key))
        return sorted(self.rows, key=lambda r: (-r.count_delta, -r.size_delta, r.key))


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
    missing_bytes: int  # memory the core's headers describe but its file does not hold
    missing_heap_pages: int  # V8 heap pages among them, as far as the core shows


UNREACHABLE = "unreachable: garbage not yet collected"


@dataclass(frozen=True)
class RetainerPath:
    """How `count` of the targets are held: steps from the nearest holder to a root."""

    count: int
    steps: tuple[str, ...]
    rooted: bool          # ends at a context, the global object or a GC root (else: the
    #                       hops ran out, or the targets are unreachable)
    samples: tuple[int, ...]  # a few target addresses that follow this path

    @property
    def unreachable(self) -> bool:
        """Whether these targets are garbage: no root reaches them."""
        return self.steps == (UNREACHABLE,)
