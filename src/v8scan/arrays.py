"""Distinct values of numpy arrays, by sorting.

numpy's own `np.unique` (and `union1d`, built on it) imports numpy's masked arrays the
first time it runs (12 ms in numpy 2.4: more than naming every map of a small heap), and
its hash table is slower than a sort on millions of values. These give the same results.
"""

from __future__ import annotations

import numpy as np


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted."""
    ordered = np.sort(np.asarray(values).ravel())
    return ordered[_starts_mask(ordered)]


def per_distinct(values: np.ndarray, rule) -> np.ndarray:
    """`rule(value)` (a bool) for each value, computed once per distinct value."""
    unique, inverse = distinct_inverse(values)
    return np.array([rule(v) for v in unique.tolist()], dtype=bool)[inverse] \
        if len(unique) else np.zeros(len(np.asarray(values).ravel()), dtype=bool)


def distinct_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct values sorted, how many times each occurs)."""
    ordered = np.sort(np.asarray(values).ravel())
    starts = np.flatnonzero(_starts_mask(ordered))
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def distinct_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct values sorted, the index into them of each value)."""
    values = np.asarray(values).ravel()
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    is_start = _starts_mask(ordered)
    inverse = np.empty(len(values), np.int64)
    inverse[order] = np.cumsum(is_start) - 1
    return ordered[is_start], inverse


def distinct_first(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct values sorted, the index of each one's first occurrence)."""
    values = np.asarray(values).ravel()
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    is_start = _starts_mask(ordered)
    return ordered[is_start], order[is_start]


def union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The distinct values of both, sorted."""
    return distinct(np.concatenate([np.asarray(a).ravel(), np.asarray(b).ravel()]))


def _starts_mask(ordered: np.ndarray) -> np.ndarray:
    """Where each run of equal values in the sorted `ordered` starts."""
    mask = np.ones(len(ordered), dtype=bool)
    mask[1:] = ordered[1:] != ordered[:-1]
    return mask


def member(values: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Whether each of `values` is among `of` (np.isin, which takes np.unique's path for
    a long `of`)."""
    values, table = np.asarray(values), distinct(of)
    if len(table) == 0:
        return np.zeros(values.shape, dtype=bool)
    at = np.minimum(np.searchsorted(table, values), len(table) - 1)
    return table[at] == values
