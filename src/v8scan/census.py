"""Rows of a heap histogram, and the diff of two histograms.

Pure data: no V8 knowledge, no I/O. Every sort is fully tie-broken so output is stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    """Rows of both histograms side by side, unchanged rows left out."""
    old = {r.key: r for r in before.rows}
    new = {r.key: r for r in after.rows}
    rows = []
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        row = DiffRow(key[0], key[1], a.count if a else 0, b.count if b else 0,
                      a.size if a else 0, b.size if b else 0, key[2], key[3])
        if row.count_delta or row.size_delta:
            rows.append(row)
    return Diff(before.core, after.core, rows, before.warnings + [
        w for w in after.warnings if w not in before.warnings])
