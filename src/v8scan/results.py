"""What every command produces, as plain data: histogram rows and diffs, instances,
dump info and retainer paths. No V8 knowledge, no I/O: analyses build these, render.py
formats them (the JSON contract lives there) and imports nothing else of v8scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union, overload

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
    retained: Optional[int] = None    # with --retained: the bytes its objects retain,
    #                                   each byte once (dominators.Dominators.outermost)

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

    @property
    def has_retained(self) -> bool:
        return any(r.retained is not None for r in self.rows)

    def sorted(self, by: str = "size") -> list[Row]:
        """Rows biggest first by `by` ('size', 'count' or 'retained'), ties broken by
        size and count, then key."""
        if by == "count":
            return sorted(self.rows, key=lambda r: (-r.count, -r.size, r.key))
        if by == "retained":
            return sorted(self.rows, key=lambda r: (-(r.retained or 0), -r.size, -r.count,
                                                    r.key))
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
    retained_before: Optional[int] = None  # with --retained, as Row.retained
    retained_after: Optional[int] = None

    @property
    def key(self) -> RowKey:
        return (self.kind, self.name, self.properties, self.dictionary)

    @property
    def count_delta(self) -> int:
        return self.count_after - self.count_before

    @property
    def size_delta(self) -> int:
        return self.size_after - self.size_before

    @property
    def retained_delta(self) -> int:
        return (self.retained_after or 0) - (self.retained_before or 0)


@dataclass
class Diff:
    """What changed between two histograms; rows sorted by growth, biggest first."""

    before: str
    after: str
    rows: list[DiffRow]
    warnings: list[str] = field(default_factory=list)
    # With --samples: addresses in `after` of some of a row's new objects, by row key.
    samples: dict[RowKey, list[int]] = field(default_factory=dict)

    @property
    def has_retained(self) -> bool:
        return any(r.retained_after is not None for r in self.rows)

    def sorted(self, by: str = "count") -> list[DiffRow]:
        """Rows by growth in count (or in bytes, or in retained bytes), biggest first,
        fully tie-broken."""
        if by == "size":
            return sorted(self.rows, key=lambda r: (-r.size_delta, -r.count_delta, r.key))
        if by == "retained":
            return sorted(self.rows, key=lambda r: (-r.retained_delta, -r.size_delta,
                                                    -r.count_delta, r.key))
        return sorted(self.rows, key=lambda r: (-r.count_delta, -r.size_delta, r.key))


@dataclass(frozen=True, order=True)
class Instance:
    """One live object: where it is, its shallow size (0 if unknown) and its name."""

    address: int
    size: int
    kind: str
    name: str


class Instances(Sequence[Instance]):
    """Objects of one or more histogram rows, in address order, each made an Instance
    only when looked at: a row can hold millions, and a listing shows a few.

    `addresses`, `sizes` and `rows` are equally long arrays (numpy's or lists); `rows`
    index `labels`, the (kind, name) of each row."""

    def __init__(self, addresses: Any, sizes: Any, rows: Any,
                 labels: Sequence[tuple[str, str]]) -> None:
        self._addresses, self._sizes, self._rows = addresses, sizes, rows
        self._labels = list(labels)

    def __len__(self) -> int:
        return len(self._addresses)

    @overload
    def __getitem__(self, index: int) -> Instance: ...

    @overload
    def __getitem__(self, index: slice) -> list[Instance]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[Instance, list[Instance]]:
        if isinstance(index, slice):
            return list(self._made(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("instance index out of range")
        return next(self._made(index, index + 1, 1))

    def __iter__(self) -> Iterator[Instance]:
        return self._made(0, len(self), 1)

    def _made(self, start: int, stop: int, step: int) -> Iterator[Instance]:
        part = slice(start, stop, step)
        for address, size, row in zip(list(self._addresses[part]), list(self._sizes[part]),
                                      list(self._rows[part])):
            kind, name = self._labels[int(row)]
            yield Instance(int(address), int(size), kind, name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which have none

    def __repr__(self) -> str:
        return f"Instances({len(self):,} objects)"


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
class Dominator:
    """An object that retains much: what it is, its own and its retained size, and a path
    that holds it (as `retainers` reads one)."""

    address: int
    kind: str
    name: str
    size: int
    retained: int
    path: tuple[str, ...]  # from the object's nearest holder up to a root


@dataclass(frozen=True)
class RetainerPath:
    """How `count` of the targets are held: steps from the nearest holder to a root."""

    count: int
    steps: tuple[str, ...]
    rooted: bool          # ends at a context, the global object or a GC root (else: the
    #                       hops ran out, or the targets are unreachable)
    samples: tuple[int, ...]  # a few target addresses that follow this path
    retained: Optional[int] = None  # the bytes these targets retain, each byte once (of
    #                                 targets inside other targets, only the outermost count)

    @property
    def unreachable(self) -> bool:
        """Whether these targets are garbage: no root reaches them."""
        return self.steps == (UNREACHABLE,)
