"""Rows of a heap histogram, and the diff of two histograms.

Pure data: no V8 knowledge, no I/O. Every sort is fully tie-broken so output is stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    """Objects of one kind and name: how many and how many bytes (shallow)."""

    kind: str
    name: str
    count: int
    size: int
    size_known: bool = True


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
        """Rows biggest first by `by` ('size' or 'count'), ties broken by the other, kind, name."""
        if by == "count":
            return sorted(self.rows, key=lambda r: (-r.count, -r.size, r.kind, r.name))
        return sorted(self.rows, key=lambda r: (-r.size, -r.count, r.kind, r.name))


@dataclass(frozen=True)
class DiffRow:
    kind: str
    name: str
    count_before: int
    count_after: int
    size_before: int
    size_after: int

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

    def sorted(self, by: str = "count") -> list[DiffRow]:
        if by == "size":
            return sorted(self.rows, key=lambda r: (-r.size_delta, -r.count_delta, r.kind, r.name))
        return sorted(self.rows, key=lambda r: (-r.count_delta, -r.size_delta, r.kind, r.name))


def aggregate(labelled: list[tuple[str, str, int, int, bool]]) -> list[Row]:
    """Sum (kind, name, count, size, size_known) entries into one Row per kind and name."""
    totals: dict[tuple[str, str], list] = {}
    for kind, name, count, size, known in labelled:
        if count == 0:
            continue
        entry = totals.setdefault((kind, name), [0, 0, True])
        entry[0] += count
        entry[1] += size
        entry[2] = entry[2] and known
    return [Row(k, n, c, s, known) for (k, n), (c, s, known) in totals.items()]


def diff(before: Histogram, after: Histogram) -> Diff:
    """Rows of both histograms side by side, unchanged rows left out."""
    old = {(r.kind, r.name): r for r in before.rows}
    new = {(r.kind, r.name): r for r in after.rows}
    rows = []
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        row = DiffRow(key[0], key[1], a.count if a else 0, b.count if b else 0,
                      a.size if a else 0, b.size if b else 0)
        if row.count_delta or row.size_delta:
            rows.append(row)
    return Diff(before.core, after.core, rows, before.warnings + [
        w for w in after.warnings if w not in before.warnings])
