"""Sums per-map counts into histogram rows, and compares two histograms.

No V8 knowledge, no I/O; the result types are in results.py.
"""

from __future__ import annotations

from .results import Diff, DiffRow, Histogram, Row, RowKey


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
