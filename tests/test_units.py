"""The fast tier: no node, no gdb, no cores. `python -m pytest -q -m "not slow"`."""

from __future__ import annotations

import numpy as np
import pytest

from v8scan import census
from v8scan.cli import parse_address
from v8scan.core import Segment, without_overlaps
from v8scan.errors import V8ScanError
from v8scan.render import diff_text, histogram_text, printable
from v8scan.results import Histogram, Row
from v8scan.scan import _scan_py, scanrules
from v8scan.v8 import facts
from v8scan.v8.layout import REQUIRED, implausible_values

try:
    from v8scan.scan import _scan
except ImportError:  # the compiled scanner is not built: the twin is compared with itself
    _scan = _scan_py


def test_printable_escapes_what_steers_a_terminal():
    assert printable("plain, ünïcode, 日本") == "plain, ünïcode, 日本"
    assert printable("a\x1b]0;x\x07b") == "a\\x1b]0;x\\x07b"
    assert printable("\x9b31m\u202eevil\u2028") == "\\x9b31m\\u202eevil\\u2028"
    assert printable("line\nbreak\tand\x7f") == "line\\x0abreak\\x09and\\x7f"


def test_addresses_parse_or_fail_in_one_way():
    assert parse_address("0x2f1e5a9c1e20") == 0x2F1E5A9C1E20
    assert parse_address(" 0XFF ") == 0xFF
    for bad in ("0x10000000000000000", "-0x10", "123", "0x", "0xgg", "Session"):
        with pytest.raises(V8ScanError):
            parse_address(bad)


def test_overlapping_segments_are_cut_not_duplicated():
    a = Segment(0x1000, 0x3000, 0, 0x3000, 6)
    b = Segment(0x2000, 0x3000, 0x3000, 0x3000, 6)   # starts inside a
    c = Segment(0x1800, 0x800, 0x6000, 0x800, 6)     # wholly inside a
    kept, cut = without_overlaps([b, c, a], "vaddr", "memsz")
    assert cut == 2
    assert kept == [a, Segment(0x4000, 0x1000, 0x5000, 0x1000, 6)]  # b from a's end on


def test_layout_bounds():
    good = {key: 1 for key in REQUIRED}
    good.update(tagged_size=8, smi_shift_size=31, page_alignment=1 << 18,
                random_address_max=1 << 46, double_hole_nan=0xFFF7FFFFFFF7FFFF)
    assert implausible_values(good) == []
    for key, value in (("map_instance_type", 4096), ("page_alignment", 8),
                       ("page_alignment", (1 << 18) + 1), ("tagged_size", 4),
                       ("js_function_type", 1 << 16), ("js_elements", -1)):
        assert implausible_values({**good, key: value}) == [key], (key, value)
    assert implausible_values({**good, "chunk_metadata": -1}) == []  # "no such thing" allowed


def test_facts_have_sources_and_one_value_per_version():
    versions = [(major, minor) for major in range(9, 16) for minor in range(10)]
    for fact in facts.FACTS:
        assert fact.source
        assert fact.until is None or fact.since < fact.until
    for name in {f.name for f in facts.FACTS}:
        for version in versions:
            holding = [f for f in facts.FACTS if f.name == name and f.holds_for(version)]
            assert len(holding) <= 1, (name, version)


def test_census_sums_rows_and_diffs_with_full_tie_breaks():
    key = ("object", "Session", (), False)
    rows = census.aggregate([(key, 2, 64, True), (key, 3, 96, False),
                             (("string", "s", (), False), 5, 160, True),
                             (("object", "Gone", (), False), 0, 0, True)])
    by_name = {r.name: r for r in rows}
    assert set(by_name) == {"Session", "s"}
    assert (by_name["Session"].count, by_name["Session"].size,
            by_name["Session"].size_known) == (5, 160, False)
    before = Histogram("a", "20", "11", [Row("object", "A", 1, 10), Row("object", "B", 5, 50)])
    after = Histogram("b", "20", "11", [Row("object", "A", 4, 40), Row("object", "C", 3, 40),
                                        Row("object", "B", 5, 50)])
    d = census.diff(before, after)
    # equal count growth: the larger byte growth first
    assert [(r.name, r.count_delta, r.size_delta) for r in d.sorted("count")] == \
        [("C", 3, 40), ("A", 3, 30)]
    assert [r.name for r in d.sorted("size")] == ["C", "A"]
    assert "B" not in {r.name for r in d.rows}  # unchanged rows are left out


def test_histogram_text_golden():
    h = Histogram("core", "20.20.2", "11.3.244.8", [
        Row("object", "Session", 5000, 240000),
        Row("object", "Object", 600, 14400, True, ("keepMe", "tag"), True),
        Row("closure", "", 12, 768),
        Row("code", "system / BytecodeArray", 3, 0, False),
    ])
    assert histogram_text(h, "size", 3) == "\n".join([
        "     Count           Bytes  Kind                  Name",
        "     5,000         240,000  object                Session",
        "       600          14,400  object                Object [dictionary]: keepMe, tag",
        "        12             768  closure               (anonymous)",
        "                                                  ... 1 more rows",
        "     5,615         255,168  total                 Node 20.20.2, V8 11.3.244.8",
    ])
    d = census.diff(Histogram("a", "20", "11", []), h)
    assert diff_text(d, "count", 1).splitlines()[1] == \
        "    +5,000        +240,000           0       5,000  object                Session"


def synthetic_heap():
    """Bytes laid out as a V8 page area would be: a map, then objects of it: a fixed-size
    one, a FixedArray-sized one, and one whose length word lies past the area's end."""
    vaddr = 0x10000
    words = np.zeros(64, dtype=np.uint64)
    fixed_map, array_map = vaddr + 8 * 2, vaddr + 8 * 4   # two "maps" (never walked)
    words[8] = fixed_map + 1        # a 24-byte object of the fixed map
    words[11] = array_map + 1       # a FixedArray of length 2: 16 + 2 * 8 bytes
    words[12] = 2 << 32
    words[63] = array_map + 1       # its length would be word 64, past the area
    data = words.view(np.uint8)
    keys = np.array([fixed_map + 1, array_map + 1], dtype=np.uint64)
    kinds = np.array([scanrules.SIZE_FIXED, scanrules.SIZE_FIXED_ARRAY], dtype=np.uint8)
    fixed = np.array([24, 0], dtype=np.int64)
    flags = np.array([scanrules.MAP_COLLECT, scanrules.MAP_COLLECT], dtype=np.uint8)
    params = scanrules.ScanParams(*[0] * len(scanrules.ScanParams._fields))._replace(
        tagged_size=8, header_size=16, length_offset=8)
    area = np.array([[vaddr + 8 * 6, 8 * 6, 8 * 58]], dtype=np.uint64)
    return data, area, keys, kinds, fixed, flags, params


@pytest.mark.parametrize("impl", [_scan_py, _scan], ids=["twin", "compiled"])
def test_walk_on_synthetic_bytes(impl):
    data, area, keys, kinds, fixed, flags, params = synthetic_heap()
    counts, sizes, collected, collected_sizes = impl.count_objects(data, area, keys, kinds,
                                                                   fixed, flags, params)
    assert counts.tolist() == [1, 1]   # the object cut by the area's end is not counted
    assert sizes.tolist() == [24, 32]
    assert collected.tolist() == [0x10000 + 8 * 8, 0x10000 + 8 * 11]


def test_the_compiled_scanner_refuses_areas_outside_its_buffer():
    if _scan is _scan_py:
        pytest.skip("the compiled scanner is not built")
    data, area, keys, kinds, fixed, flags, params = synthetic_heap()
    outside = area.copy()
    outside[0, 2] += 8  # one word past the buffer
    for call in (lambda: _scan.count_objects(data, outside, keys, kinds, fixed, flags, params),
                 lambda: _scan.find_words(data, outside, keys),
                 lambda: _scan.find_meta_maps(data, outside, 1, 12)):
        with pytest.raises(ValueError):
            call()
    bad = params._replace(length_offset=10**12)
    assert bad.implausible() == ["length_offset"]
    with pytest.raises(ValueError):
        _scan.count_objects(data, area, keys, kinds, fixed, flags, bad)


def test_layout_has_a_typed_field_for_every_required_value():
    from dataclasses import fields

    from v8scan.v8.layout import Layout
    typed = {f.name for f in fields(Layout) if f.type == "int"}
    assert set(REQUIRED) <= typed
    assert typed - set(REQUIRED) == {"first_js_receiver_type"}


def test_layout_bounds_offsets_as_the_scanner_does():
    from v8scan.v8 import layout
    assert layout.MAX_FIELD_OFFSET == scanrules.MAX_FIELD_OFFSET


@pytest.mark.parametrize("impl", [_scan_py, _scan], ids=["twin", "compiled"])
def test_marking_semantics_on_a_small_graph(impl):
    """What the marking follows: strong pointers to object starts, round a cycle once;
    not weak pointers (...011), not raw data past a map's traced bytes, and a WeakMap
    entry's value only once its key is reached."""
    vaddr = 0x40000
    words = np.zeros(40, dtype=np.uint64)
    at = {name: vaddr + 8 * i for name, i in
          [("A", 0), ("B", 4), ("C", 8), ("D", 12), ("E", 20), ("F", 24), ("G", 28)]}
    plain, raw, table = 0, 1, 2  # the maps, by index
    layout = {"A": (plain, 32), "B": (plain, 32), "C": (raw, 32), "D": (table, 64),
              "E": (plain, 32), "F": (plain, 32), "G": (plain, 32)}
    words[1] = at["B"] + 1          # A -> B
    words[2] = at["G"] + 3          # A -> G, weakly
    words[5] = at["A"] + 1          # B -> A: a cycle
    words[6] = at["D"] + 1          # B -> D, a WeakMap's table
    words[9] = at["E"] + 1          # C's raw data only looks like a pointer to E
    words[14:18] = [at["E"] + 1, at["F"] + 1,   # entry: E -> F (E is not reached)
                    at["A"] + 1, at["C"] + 1]   # entry: A -> C (A is)
    names = sorted(at, key=at.get)
    addresses = np.array([at[n] for n in names], dtype=np.uint64)
    info = np.array([layout[n][0] << 32 | layout[n][1] for n in names], dtype=np.uint64)
    trace_end = np.array([scanrules.TRACE_ALL, 8, scanrules.TRACE_ALL], dtype=np.int64)
    flags = np.array([0, 0, scanrules.MAP_EPHEMERON], dtype=np.uint8)
    areas = np.array([[vaddr, 0, 8 * len(words)]], dtype=np.uint64)
    roots = np.array([7, at["A"] + 1, at["A"] + 1], dtype=np.uint64)  # a Smi, A twice
    marks, parents = impl.mark_reachable(words.view(np.uint8), areas, addresses, info,
                                         trace_end, flags, 16, 18, roots,
                                         np.array([0, 0, 1], np.int32), True)
    assert dict(zip(names, marks.tolist())) == {"A": 1, "B": 1, "C": 1, "D": 1, "E": 0,
                                                "F": 0, "G": 0}
    index = {n: i for i, n in enumerate(names)}
    assert dict(zip(names, parents.tolist())) == {
        "A": -2, "B": index["A"], "D": index["B"], "C": index["D"], "E": -1, "F": -1,
        "G": -1}
