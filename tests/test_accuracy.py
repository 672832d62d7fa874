"""v8scan's histogram against V8's own heap snapshot of the same moment."""

from __future__ import annotations

import v8scan

from .snapshot import census

FIXTURE_CLASSES = {("object", "Album"): 5000, ("object", "Track"): 3000,
                   ("closure", "namedClosure"): 1200}


def test_every_common_object_and_closure_within_one_percent(census_cores):
    expected = census(census_cores.snapshot)
    with v8scan.open_dump(census_cores.before) as dump:
        got = {(r.kind, r.name): r.count for r in dump.histogram().rows}
    checked = {key: count for key, (count, _) in expected.items()
               if key[0] in ("object", "closure") and count >= 100}
    assert len(checked) >= 10  # the scenario alone has six such names
    off = {key: (count, got.get(key, 0)) for key, count in checked.items()
           if abs(got.get(key, 0) - count) > count * 0.01}
    assert off == {}, f"(kind, name): (V8 snapshot, v8scan) beyond 1%: {off}"


def test_fixture_classes_are_exact_in_count_and_bytes(census_cores):
    expected = census(census_cores.snapshot)
    with v8scan.open_dump(census_cores.before) as dump:
        rows = {(r.kind, r.name): r for r in dump.histogram().rows}
    for key in FIXTURE_CLASSES:
        count, size = expected[key]
        assert (rows[key].count, rows[key].size) == (count, size), key
    # The snapshot also counts each class's prototype chain objects; our fixture floor:
    for key, made in FIXTURE_CLASSES.items():
        assert rows[key].count >= made


def test_histogram_json_contract(census_cores):
    import json

    from v8scan.render import histogram_json
    with v8scan.open_dump(census_cores.before) as dump:
        doc = json.loads(histogram_json(dump.histogram(), "count", 5))
    assert set(doc) == {"core", "node_version", "rows"}
    assert doc["core"] == census_cores.before
    assert len(doc["rows"]) == 5
    assert all(set(row) == {"kind", "name", "count", "size"} for row in doc["rows"])
    counts = [row["count"] for row in doc["rows"]]
    assert counts == sorted(counts, reverse=True)


def test_info_reports_versions_and_heap(census_cores):
    import subprocess
    node_version = subprocess.run([census_cores.node, "--version"], capture_output=True,
                                  text=True).stdout.strip().lstrip("v")
    with v8scan.open_dump(census_cores.before) as dump:
        info = dump.info()
    assert info.node_version == node_version
    assert info.build_id_matches is True
    assert info.heap_pages > 0 and info.heap_bytes > 1_000_000
