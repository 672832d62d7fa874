"""The Cython scanner against its plain-Python twin, on real bytes of a real core of every
supported Node version."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import v8scan
from v8scan.graph import marking
from v8scan.scan import _scan_py, scanrules, sweep
from v8scan.scan.heapscan import scan_params, size_rules

from .nodes import DEFAULT_VERSION

_scan = pytest.importorskip("v8scan.scan._scan", reason="the compiled scanner is not built")


@pytest.fixture(scope="module")
def prepared(version_cores):
    dump = v8scan.open_dump(version_cores.before)
    scan = dump.scan()
    memory, layout = dump.core.memory, dump.layout
    areas = scan.areas
    sizes = np.array([(memory.u8(int(m) + layout.map_instance_size_in_words) or 0) * 8
                      for m in scan.maps], dtype=np.int64)
    kinds, fixed, flags = size_rules(layout, scan.instance_types, sizes)
    flags[::3] |= scanrules.MAP_COLLECT
    yield (memory.as_array(), areas, scan.maps + np.uint64(1), kinds, fixed, flags,
           scan_params(layout), memory.segment_table(), layout)
    dump.close()


def test_count_objects_twins_agree_area_by_area(prepared, version_cores):
    """On every area of the default version's core; on every third of the others' (the
    plain-Python twin is slow, and the kinds of objects are the same)."""
    data, areas, keys, kinds, fixed, flags, params, _, _ = prepared
    step = 1 if version_cores.version == DEFAULT_VERSION else 3
    for i in range(0, len(areas), step):
        got = _scan.count_objects(data, areas, keys, kinds, fixed, flags, params, i, i + 1)
        want = _scan_py.count_objects(data, areas, keys, kinds, fixed, flags, params, i, i + 1)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_meta_map_twins_agree(prepared):
    data, _, _, _, _, _, _, segments, layout = prepared
    args = (data, segments, layout.map_type, layout.map_instance_type)
    np.testing.assert_array_equal(_scan.find_meta_maps(*args), _scan_py.find_meta_maps(*args))


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_any_window_of_a_real_area_agrees(prepared, data_strategy):
    """Arbitrary sub-windows (cut anywhere, on word boundaries) never make the twins differ
    nor read outside the window."""
    data, areas, keys, kinds, fixed, flags, params, _, _ = prepared
    row = areas[data_strategy.draw(st.integers(0, len(areas) - 1))]
    words = int(row[2]) // 8
    start = data_strategy.draw(st.integers(0, max(0, words - 1)))
    length = data_strategy.draw(st.integers(1, max(1, min(words - start, 4096))))
    window = np.array([[row[0] + 8 * start, row[1] + 8 * start, 8 * length]], dtype=np.uint64)
    got = _scan.count_objects(data, window, keys, kinds, fixed, flags, params)
    want = _scan_py.count_objects(data, window, keys, kinds, fixed, flags, params)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_allocation_area_twins_agree(prepared):
    data, areas, _, _, _, _, _, segments, _ = prepared
    args = (data, segments, int(areas[:, 0].min()), int((areas[:, 0] + areas[:, 2]).max()),
            1 << 18)
    got = _scan.find_allocation_areas(*args)
    np.testing.assert_array_equal(got, _scan_py.find_allocation_areas(*args))
    assert len(got) > 0  # every core has at least the young generation's allocation area


@pytest.fixture(scope="module")
def one_thread_scan():
    """The one-thread, default-chunk scan of a core, made once for the variants that are
    compared with it (pytest runs them one after the other for each version)."""
    last: dict = {}

    def scan(path: str):
        if path not in last:
            last.clear()
            with v8scan.open_dump(path) as dump:
                last[path] = dump.scan(jobs=1)
        return last[path]
    return scan


@pytest.mark.parametrize("jobs, chunk_bytes", [(2, 1 << 16), (2, 3 << 20), (1, 1 << 20)])
def test_threads_and_chunk_sizes_do_not_change_the_scan(version_cores, one_thread_scan,
                                                        monkeypatch, jobs, chunk_bytes):
    """Any number of threads and any chunk size give the one-thread, default-chunk scan."""
    want = one_thread_scan(version_cores.before)
    monkeypatch.setattr(sweep, "CHUNK_BYTES", chunk_bytes)
    seen = []
    with v8scan.open_dump(version_cores.before) as dump:
        got = dump.scan(progress=lambda done, total: seen.append((done, total)), jobs=jobs)
    for name in ("maps", "counts", "sizes", "meta_maps", "per_object", "collected"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert got.young_bytes == want.young_bytes
    # One progress count over every sweep: never goes back, ends full.
    assert len(seen) > 4
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1][0] == seen[-1][1] > 0


def test_split_rows_overlap_finds_every_allocation_area_once(prepared):
    """Allocation areas found in small overlapping pieces equal those found whole."""
    data, areas, _, _, _, _, _, segments, _ = prepared
    args = (int(areas[:, 0].min()), int((areas[:, 0] + areas[:, 2]).max()), 1 << 18)
    whole = _scan.find_allocation_areas(data, segments, *args)
    pieces = sweep.split_areas(segments, 4096 + 8, overlap=16)
    cut = np.concatenate([_scan.find_allocation_areas(data, pieces[i:i + 1], *args)
                          for i in range(len(pieces))])
    np.testing.assert_array_equal(cut, whole)


def test_reference_finding_twins_agree(prepared):
    """find_words, then containing_objects, give the same holders in both twins; and every
    object the walk counts is found holding its own map word."""
    data, areas, keys, kinds, fixed, flags, params, _, _ = prepared
    rows = areas[: min(len(areas), 40)]
    counted = _scan.count_objects(data, rows, keys, kinds, fixed,
                                  flags | scanrules.MAP_COLLECT, params)[2]
    map_words = np.array([int.from_bytes(data[o:o + 8].tobytes(), "little") for o in
                          _file_offsets(rows, counted[::50])], dtype=np.uint64)
    targets = np.unique(map_words)
    got = _scan.find_words(data, rows, targets)
    want = _scan_py.find_words(data, rows, targets)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    where = got[0]
    in_row = np.searchsorted(rows[:, 0], where, side="right").astype(np.int64) - 1
    holders = _scan.containing_objects(data, rows, keys, kinds, fixed, flags, params, where,
                                       in_row)
    np.testing.assert_array_equal(holders, _scan_py.containing_objects(
        data, rows, keys, kinds, fixed, flags, params, where, in_row))
    own = np.isin(where, counted)
    assert own.sum() >= len(counted[::50])
    np.testing.assert_array_equal(holders[own], where[own])


def test_range_finding_twins_agree_with_the_target_set(prepared):
    """find_words_in over ranges finds what find_words finds for every tagged address in
    them, in both twins; ranges out of order are refused."""
    data, areas, keys, kinds, fixed, flags, params, _, _ = prepared
    rows = areas[: min(len(areas), 40)]
    counted = _scan.count_objects(data, rows, keys, kinds, fixed,
                                  flags | scanrules.MAP_COLLECT, params)[2]
    starts = counted[::97]
    ranges = np.stack([starts, starts + np.uint64(256)], axis=1)
    ranges = ranges[np.concatenate([[True], ranges[1:, 0] >= ranges[:-1, 1]])]
    every = np.concatenate([np.arange(lo, hi, 8, dtype=np.uint64) for lo, hi in ranges])
    want = _scan.find_words(data, rows, every + np.uint64(1))
    assert len(want[0]) > len(ranges)  # the objects' own fields point into the ranges
    for twin in (_scan, _scan_py):
        got = twin.find_words_in(data, rows, ranges)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        with pytest.raises(ValueError):
            twin.find_words_in(data, rows, ranges[::-1].copy())
    empty = _scan.find_words_in(data, rows, np.zeros((0, 2), np.uint64))
    assert len(empty[0]) == len(empty[1]) == 0


def _file_offsets(rows: np.ndarray, addresses: np.ndarray) -> list[int]:
    i = np.searchsorted(rows[:, 0], addresses, side="right") - 1
    return (rows[i, 1] + addresses - rows[i, 0]).astype(np.int64).tolist()


def test_list_objects_twins_agree_and_list_what_count_objects_counts(prepared):
    data, areas, keys, kinds, fixed, flags, params, _, _ = prepared
    for i in range(0, len(areas), max(1, len(areas) // 20)):
        counts = _scan.count_objects(data, areas, keys, kinds, fixed, flags, params, i, i + 1)[0]
        n = int(counts.sum())
        got, want = (np.zeros((2, n + 3), np.uint64) for _ in range(2))
        assert _scan.list_objects(data, areas, keys, kinds, fixed, flags, params, i, i + 1,
                                  got[0], got[1], 3) == n
        assert _scan_py.list_objects(data, areas, keys, kinds, fixed, flags, params, i, i + 1,
                                     want[0], want[1], 3) == n
        np.testing.assert_array_equal(got, want)
        addresses, info = got[:, 3:]
        np.testing.assert_array_equal(
            np.bincount((info >> np.uint64(32)).astype(np.int64), minlength=len(keys)), counts)
        # Objects lie one after the other: each extent ends at or before the next start.
        ends = addresses + (info & np.uint64(0xFFFFFFFF))
        assert np.all(ends[:-1] <= addresses[1:])
        for impl in (_scan, _scan_py):  # no room for them all: refused, not overrun
            if n:
                with pytest.raises(ValueError):
                    impl.list_objects(data, areas, keys, kinds, fixed, flags, params, i, i + 1,
                                      got[0, :n + 2], got[1, :n + 2], 3)


@pytest.fixture(scope="module")
def small_graph(prepared):
    """The objects of the first 30 areas that hold any, as the marking sees them (which
    areas come first, and whether they are empty, differs from core to core)."""
    data, areas, keys, kinds, fixed, flags, params, _, layout = prepared
    held = [i for i in range(len(areas)) if _scan.count_objects(
        data, areas, keys, kinds, fixed, flags, params, i, i + 1)[0].sum() > 0]
    rows = np.ascontiguousarray(areas[held[:30]])
    n = int(_scan.count_objects(data, rows, keys, kinds, fixed, flags, params)[0].sum())
    addresses, info = np.zeros(n, np.uint64), np.zeros(n, np.uint64)
    _scan.list_objects(data, rows, keys, kinds, fixed, flags, params, 0, len(rows),
                       addresses, info, 0)
    trace_end = np.full(len(keys), scanrules.TRACE_ALL, dtype=np.int64)
    trace_end[kinds == scanrules.SIZE_ONE_BYTE] = 8
    ephemeral = np.zeros(len(keys), dtype=np.uint8)
    ephemeral[1::7] = scanrules.MAP_EPHEMERON  # any map will do: the twins must agree
    return data, rows, addresses, info, trace_end, ephemeral, layout


@pytest.mark.parametrize("want_parents", [False, True])
def test_marking_twins_agree(small_graph, want_parents):
    data, rows, addresses, info, trace_end, ephemeral, layout = small_graph
    roots = addresses[::97] + np.uint64(1)
    groups = np.sort(np.arange(len(roots)) % 3).astype(np.int32)
    args = (data, rows, addresses, info, trace_end, ephemeral, 40,
            layout.page_alignment.bit_length() - 1, roots, groups, want_parents)
    got, want = _scan.mark_reachable(*args), _scan_py.mark_reachable(*args)
    np.testing.assert_array_equal(got[0], want[0])
    if want_parents:
        np.testing.assert_array_equal(got[1], want[1])
        reached = got[0] == 1
        assert np.all((got[1] != -1) == reached)
        assert set(np.unique(got[1][got[1] < -1]).tolist()) <= {-2, -3, -4}
    assert 0 < got[0].sum() < len(addresses)


def test_marking_follows_every_strong_word_of_a_marked_object(small_graph):
    """Closure: no marked object holds a strong pointer to an unmarked object start."""
    data, rows, addresses, info, trace_end, _, layout = small_graph
    none = np.zeros(len(trace_end), dtype=np.uint8)
    marks, _ = _scan.mark_reachable(data, rows, addresses, info, trace_end, none, 40,
                                    layout.page_alignment.bit_length() - 1,
                                    addresses[::50] + np.uint64(1),
                                    np.zeros(len(addresses[::50]), np.int32))
    starts = set(addresses.tolist())
    unmarked = set(addresses[marks == 0].tolist())
    offsets = _file_offsets(rows, addresses[marks == 1])
    extents = (info[marks == 1] & np.uint64(0xFFFFFFFF)).astype(np.int64).tolist()
    maps = (info[marks == 1] >> np.uint64(32)).astype(np.int64).tolist()
    for at, extent, m in zip(offsets, extents, maps):
        words = data[at:at + min(extent, int(trace_end[m]))].view("<u8")
        pointed = {w - 1 for w in words[(words & np.uint64(7)) == 1].tolist()}
        assert not (pointed & starts) & unmarked


@pytest.mark.parametrize("damage", ["unordered", "outside", "no map", "groups",
                                    "group order"])
def test_marking_refuses_inconsistent_input(small_graph, damage):
    data, rows, addresses, info, trace_end, ephemeral, layout = small_graph
    roots, groups = addresses[:3] + np.uint64(1), np.zeros(3, np.int32)
    if damage == "unordered":
        addresses = addresses[::-1].copy()
    elif damage == "outside":
        addresses = addresses.copy()
        addresses[-1] = rows[-1, 0] + rows[-1, 2] + np.uint64(4096)
    elif damage == "no map":
        info = info.copy()
        info[0] |= np.uint64(len(trace_end) << 32)
    elif damage == "groups":
        groups = np.zeros(2, np.int32)
    else:
        groups = np.array([1, 0, 1], np.int32)
    for impl in (_scan, _scan_py):
        with pytest.raises(ValueError):
            impl.mark_reachable(data, rows, addresses, info, trace_end, ephemeral, 40, 18,
                                roots, groups)


def test_marking_in_parallel_slices_marks_what_one_thread_marks(small_graph, monkeypatch):
    """Levels shared out to threads (trace_slice, atomic marks) reach the same objects as
    the breadth-first marking on one thread, in both twins."""
    data, rows, addresses, info, trace_end, ephemeral, layout = small_graph
    roots = addresses[::97] + np.uint64(1)
    groups = np.sort(np.arange(len(roots)) % 3).astype(np.int32)
    shift = layout.page_alignment.bit_length() - 1
    want = _scan.mark_reachable(data, rows, addresses, info, trace_end, ephemeral, 40, shift,
                                roots, groups)[0]
    monkeypatch.setattr(marking, "PARALLEL_LEVEL", 4)
    for impl in (_scan, _scan_py):
        marker = impl.Marker(data, rows, addresses, info, trace_end, ephemeral, 40, shift)
        with sweep.Sweeper(2) as sweeper:
            for group in range(3):
                marker.add_roots(roots[groups == group], group)
                marking._trace(marker, sweeper, parallel=True)
        np.testing.assert_array_equal(marker.result()[0], want)


def test_count_marked_twins_agree(small_graph):
    data, rows, addresses, info, trace_end, ephemeral, layout = small_graph
    roots = addresses[::97] + np.uint64(1)
    marks, _ = _scan.mark_reachable(data, rows, addresses, info, trace_end, ephemeral, 40,
                                    layout.page_alignment.bit_length() - 1, roots,
                                    np.zeros(len(roots), np.int32))
    n_maps = len(trace_end)
    known = (np.arange(n_maps) % 5 != 0).astype(np.uint8)
    per_object = (np.arange(n_maps) % 3 == 0).astype(np.uint8)
    got = _scan.count_marked(addresses, info, marks, known, per_object)
    want = _scan_py.count_marked(addresses, info, marks, known, per_object)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert got[0].sum() == marks.sum() > 0


def test_edges_twins_agree(small_graph):
    """Marker.edges in both twins: the same edges, each between marked objects, on the
    marks a marking made (set_marks takes them); with the stores of objects of a
    MAP_JS_RECEIVER map (here: every fifth map's) held by those objects too."""
    data, rows, addresses, info, trace_end, _, layout = small_graph
    flags = np.zeros(len(trace_end), dtype=np.uint8)
    flags[::5] = scanrules.MAP_JS_RECEIVER
    shift = layout.page_alignment.bit_length() - 1
    marks = _scan.mark_reachable(data, rows, addresses, info, trace_end, flags, 40, shift,
                                 addresses[1::2] + np.uint64(1),
                                 np.zeros(len(addresses[1::2]), np.int32))[0]
    skip = (np.arange(len(addresses)) % 3 == 0).astype(np.uint8)
    found, slotted, cut = [], [], []
    for impl in (_scan, _scan_py):
        marker = impl.Marker(data, rows, addresses, info, trace_end, flags, 40, shift)
        marker.set_marks(marks)
        found.append(marker.edges(8, 16))
        slotted.append(marker.edges(8, 16, with_slots=True))
        cut.append(marker.edges(8, 16, True, skip, 40))
    (sources, targets), (twin_sources, twin_targets) = found
    np.testing.assert_array_equal(sources, twin_sources)
    np.testing.assert_array_equal(targets, twin_targets)
    assert marks.sum() > 0 and marks[sources].all() and marks[targets].all()
    for got, twin in zip(*slotted):
        np.testing.assert_array_equal(got, twin)
    np.testing.assert_array_equal(slotted[0][0], sources)
    # skip and store_header leave out edges to skipped objects and a store's first words.
    kinds = slotted[0][2] >> scanrules.SLOT_SHIFT
    header = np.isin(kinds, [scanrules.SLOT_ELEMENTS, scanrules.SLOT_PROPERTIES]) \
        & ((slotted[0][2] & scanrules.SLOT_OFFSET_MASK) < 40)
    drawn = (skip[targets] == 0) & ~header
    assert skip[targets].any() and drawn.any()  # (header words: on most versions' sample)
    for got, twin, whole in zip(*cut, slotted[0]):
        np.testing.assert_array_equal(got, twin)
        np.testing.assert_array_equal(got, whole[drawn])

    # Each slot names a word that points at the target: in the source itself, or in the
    # store at offset 8 (elements) or 16 (properties) of a source of a MAP_JS_RECEIVER map.
    def word(address: int) -> int:
        row = rows[np.searchsorted(rows[:, 0], np.uint64(address), side="right") - 1]
        at = int(row[1]) + address - int(row[0])
        return int.from_bytes(data[at:at + 8].tobytes(), "little")
    holder_at = {scanrules.SLOT_ELEMENTS: 8, scanrules.SLOT_PROPERTIES: 16}
    slots = slotted[0][2]
    assert len(slots) == len(sources)
    for source, target, slot in list(zip(sources.tolist(), targets.tolist(),
                                         slots.tolist()))[::7]:
        kind, offset = slot >> scanrules.SLOT_SHIFT, slot & scanrules.SLOT_OFFSET_MASK
        holder = int(addresses[source])
        if kind in holder_at:
            holder = word(holder + holder_at[kind]) - 1
        assert kind != scanrules.SLOT_EPHEMERON  # no WeakMap table here
        assert word(holder + offset) == int(addresses[target]) + 1


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(0, n - 1),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=4 * n),
    st.lists(st.integers(-1, 2), min_size=n, max_size=n))))
def test_dominator_twins_agree(graph):
    """Lengauer-Tarjan (compiled) and Cooper-Harvey-Kennedy (the twin) find the same
    immediate dominators; retained sizes and each group's outermost nodes agree too."""
    n, root, edges, group = graph
    sources = np.array([a for a, _ in edges], np.int32)
    targets = np.array([b for _, b in edges], np.int32)
    succ = _scan.adjacency(n, sources, targets)
    pred = _scan.adjacency(n, targets, sources)
    for got, want in zip(succ, _scan_py.adjacency(n, sources, targets)):
        np.testing.assert_array_equal(got, want)
    idom, preorder = _scan.immediate_dominators(root, *succ, *pred)
    twin_idom, twin_preorder = _scan_py.immediate_dominators(root, *succ, *pred)
    np.testing.assert_array_equal(idom, twin_idom)
    np.testing.assert_array_equal(preorder, twin_preorder)
    sizes = np.arange(1, n + 1, dtype=np.int64)
    retained = _scan.retained_sizes(idom, preorder, sizes)
    np.testing.assert_array_equal(retained, _scan_py.retained_sizes(idom, preorder, sizes))
    assert retained[root] == sizes[preorder].sum()
    reached = idom >= 0
    children = _scan.adjacency(n, idom[reached], np.flatnonzero(reached).astype(np.int32))
    groups = np.array(group, np.int32)
    np.testing.assert_array_equal(
        _scan.outermost_of_group(root, *children, groups, 3),
        _scan_py.outermost_of_group(root, *children, groups, 3))


def test_dominators_refuse_what_is_not_a_graph():
    offsets, targets = np.array([0, 1, 1], np.int64), np.array([5], np.int32)
    for impl in (_scan, _scan_py):
        with pytest.raises(ValueError):
            impl.adjacency(2, np.array([0, 3], np.int32), np.array([1, 1], np.int32))
        with pytest.raises(ValueError):
            impl.immediate_dominators(0, offsets, targets, offsets, np.array([0], np.int32))
        with pytest.raises(ValueError):
            impl.immediate_dominators(2, offsets, np.array([1], np.int32), offsets,
                                      np.array([0], np.int32))
