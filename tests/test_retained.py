"""Retained sizes from the core's dominator tree, judged by memlab's from V8's own heap
snapshot of the same process state (the census cores: taken right after
v8.writeHeapSnapshot()), on every supported Node version."""

from __future__ import annotations

import json

import numpy as np
import pytest

import v8scan
from v8scan.retainers import top_dominators

from .conftest import run_cli
from .memlab import memlab_retained

# The census scenario's classes, and its leak's holder: a Map of 50,000 Visit objects.
CLASSES = ("Visit", "Survivor", "Album", "Track")
HOLDER_BYTES = 1 << 20  # the holders compared one by one: those that retain a megabyte


def close(got: int, want: int, within: float = 0.01) -> bool:
    return abs(got - want) <= within * want


@pytest.fixture(scope="module")
def judged(version_cores):
    """(v8scan's histogram with retained sizes, its dominators of a megabyte or more as
    (retained, kind, name), memlab's findings) for one version's census core."""
    with v8scan.open_dump(version_cores.before) as dump:
        histogram = dump.histogram(retained=True)
        big = [(d.retained, d.kind, d.name) for d in top_dominators(dump, 12, hops=2)
               if d.retained >= HOLDER_BYTES]
    return histogram, big, memlab_retained(version_cores.snapshot_path)


def test_rows_retain_what_memlab_says(judged):
    histogram, _, memlab = judged
    ours = {(r.kind, r.name): r.retained for r in histogram.rows}
    theirs = {(r["type"], r["name"]): r["retained"] for r in memlab["rows"]}
    for name in CLASSES:
        assert theirs[("object", name)] > 0
        assert close(ours[("object", name)], theirs[("object", name)]), \
            (name, ours[("object", name)], theirs[("object", name)])


def test_the_holders_retain_what_memlab_says(judged):
    """Every object that retains a megabyte or more (the leak's Map and its table, the
    arrays of the scenario and the object that holds them all), one by one."""
    _, big, memlab = judged
    theirs = [(size, kind) for size, kind, _, _ in memlab["top"]
              if kind != "synthetic" and size >= HOLDER_BYTES]
    assert len(big) >= 5 and len(big) == len(theirs), (big, theirs)
    for (size, _, name), (want, _) in zip(big, theirs):
        assert close(size, want), (name, size, want)
    maps = [size for size, kind, name in big if (kind, name) == ("object", "Map")]
    assert maps and close(maps[0], max(size for size, kind, name, _ in memlab["top"]
                                       if (kind, name) == ("object", "Map")))


def test_every_live_byte_is_retained_by_the_root(version_cores):
    """The root retains every reachable object's bytes, and no object retains more than
    the object that dominates it."""
    with v8scan.open_dump(version_cores.before) as dump:
        tree = dump.dominators()
        graph = dump.graph_of(dump.scan())
        live = graph.marks == 1
        sizes = (graph.info & np.uint64(0xFFFFFFFF)).astype(np.int64)
        assert tree.retained[-1] == sizes[live].sum()
        reached = np.flatnonzero(tree.idom[:-1] >= 0)
        assert np.array_equal(reached, np.flatnonzero(live))
        assert np.all(tree.retained[tree.idom[reached]] >= tree.retained[reached])
        assert np.all(tree.retained[reached] >= sizes[reached])


def test_the_edges_are_every_strong_reference_between_live_objects(census_cores):
    """Every strong word (tagged ...001) of a sample of live objects that points at a
    live object's start is an edge of the tree's graph, from that object."""
    from v8scan.graph.marking import ephemeron_start, trace_rules
    from v8scan.scan import _scan

    with v8scan.open_dump(census_cores.before) as dump:
        scan = dump.scan()
        graph, memory, layout = dump.graph_of(scan), dump.core.memory, dump.layout
        trace_end = trace_rules(layout, scan.plan)
        marker = _scan.Marker(memory.as_array(), scan.plan.areas, graph.addresses,
                              graph.info, trace_end, graph.map_flags,
                              ephemeron_start(layout), layout.page_alignment.bit_length() - 1)
        marker.set_marks(graph.marks)
        sources, targets = marker.edges()
        edges = set(zip(sources.tolist(), targets.tolist()))
        sample = np.flatnonzero(graph.marks)[::499]
        expected = 0
        for i in sample.tolist():
            m = int(graph.info[i] >> np.uint64(32))
            length = min(graph.extent(i), int(trace_end[m])) // 8 * 8
            if graph.map_flags[m]:
                continue  # a WeakMap's table: its entries are held through their keys
            words = np.frombuffer(memory.read(int(graph.addresses[i]), length), "<u8")
            pointed = words[(words & np.uint64(7)) == 1] - np.uint64(1)
            at = np.minimum(np.searchsorted(graph.addresses, pointed), len(graph.addresses) - 1)
            live = (graph.addresses[at] == pointed) & (graph.marks[at] == 1)
            for j in at[live].tolist():
                expected += 1
                assert (i, j) in edges, (hex(int(graph.addresses[i])), j)
        assert expected > len(sample)  # a map word each, and more


def test_histogram_retained_cli(census_cores):
    result = run_cli("histogram", census_cores.before, "--retained", "--json", "--sort",
                     "retained", "--top", "5")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert len(rows) == 5 and all(isinstance(r["retained"], int) for r in rows)
    assert [r["retained"] for r in rows] == sorted((r["retained"] for r in rows), reverse=True)
    text = run_cli("histogram", census_cores.before, "--retained", "--top", "3")
    assert text.returncode == 0 and "Retained" in text.stdout.splitlines()[0]
    plain = run_cli("histogram", census_cores.before, "--json", "--top", "3")
    assert "retained" not in plain.stdout
    for wrong in (("--sort", "retained"), ("--retained", "--all")):
        refused = run_cli("histogram", census_cores.before, *wrong)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr


def test_dominators_cli(census_cores):
    result = run_cli("dominators", census_cores.before, "--top", "3", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    found = doc["dominators"]
    assert len(found) == 3
    assert [d["retained"] for d in found] == sorted((d["retained"] for d in found),
                                                    reverse=True)
    assert found[0]["path"] == ["global.keep"] and found[0]["retained"] < doc["live_bytes"]
    text = run_cli("dominators", census_cores.before, "--top", "2")
    assert text.returncode == 0 and "held by global.keep" in text.stdout


def test_diff_retained_cli(census_cores):
    """The 20,000 Leaky objects the after core adds each hold a string of their own: their
    row's retained bytes grow by more than its bytes, as `histogram --retained` counts."""
    result = run_cli("diff", census_cores.before, census_cores.after, "--retained", "--json",
                     "--sort", "retained")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    deltas = [r["retained_delta"] for r in rows]
    assert deltas == sorted(deltas, reverse=True)
    leaky = next(r for r in rows if (r["kind"], r["name"]) == ("object", "Leaky"))
    assert leaky["count_delta"] == 20000 and leaky["retained_before"] == 0
    assert leaky["retained_delta"] == leaky["retained_after"] > leaky["size_delta"] > 0
    with v8scan.open_dump(census_cores.after) as dump:
        after = {(r.kind, r.name): r for r in dump.histogram(retained=True).rows}
    assert leaky["retained_after"] == after[("object", "Leaky")].retained
    text = run_cli("diff", census_cores.before, census_cores.after, "--retained", "--top", "3")
    assert text.returncode == 0 and "Retained +/-" in text.stdout.splitlines()[0]
    refused = run_cli("diff", census_cores.before, census_cores.after, "--sort", "retained")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr


def test_retainers_say_what_each_path_retains(census_cores):
    """All 50,000 Visit objects hang off one Map: their one path retains what their
    histogram row retains (judged against memlab above)."""
    result = run_cli("retainers", census_cores.before, "Visit", "--json")
    assert result.returncode == 0, result.stderr
    paths = json.loads(result.stdout)["paths"]
    with v8scan.open_dump(census_cores.before) as dump:
        rows = {(r.kind, r.name): r for r in dump.histogram(retained=True).rows}
    assert [p["count"] for p in paths] == [50000]
    assert paths[0]["retained"] == rows[("object", "Visit")].retained > 0
    text = run_cli("retainers", census_cores.before, "Visit")
    assert f"{paths[0]['retained']:,} bytes retained" in text.stdout
