"""The object graph on real cores of tests/scenarios/graph.js, every supported Node: what
the roots reach is counted, garbage is not, and paths come from the roots."""

from __future__ import annotations

import numpy as np

import v8scan
from v8scan.census import objects_by_row
from v8scan.scan import isolate as isolate_module
from v8scan.results import UNREACHABLE
from v8scan.retainers import retainer_paths, targets_named
from v8scan.scan.heapscan import count_all
from v8scan.scan.sweep import Sweeper


def _objects(rows, name: str) -> int:
    return sum(r.count for r in rows if (r.kind, r.name) == ("object", name))


def test_reachable_objects_are_counted_and_garbage_is_not(version_graph):
    built = version_graph.built
    with v8scan.open_dump(version_graph.path) as dump:
        live = dump.histogram().rows
        everything = dump.histogram(include_dead=True).rows
    assert _objects(live, "Session") == built["sessions"]
    assert _objects(live, "Entry") == built["entries"]
    assert _objects(live, "Key") == _objects(live, "KeptValue") == built["kept"]
    assert _objects(live, "StackOnly") == 1  # held by a running function's frame alone
    # WeakMap entries whose key nothing else holds, and dropped objects: garbage that is
    # still in the heap (--all counts it), and not counted as live.
    for name in ("Ghost", "GhostValue"):
        assert _objects(everything, name) == built["ghosts"]
        assert _objects(live, name) == 0
    assert _objects(everything, "Dropped") == built["dropped"]
    assert _objects(live, "Dropped") == 0


def _paths(dump, name: str):
    return retainer_paths(dump, targets_named(dump, name, kind="object"))


def test_sessions_are_held_by_the_map_in_the_module_context(version_graph):
    """The sessions Map has been rehashed many times (every old table points to its
    successor) and each Session holds a closure over itself: neither is a holder."""
    with v8scan.open_dump(version_graph.path) as dump:
        paths = _paths(dump, "Session")
    assert [(p.count, p.rooted) for p in paths] == [(version_graph.built["sessions"], True)]
    assert paths[0].steps[0] == "Map entries"
    assert paths[0].steps[1].startswith("sessions in the context of ")
    assert paths[0].steps[1].endswith(f"({version_graph.built['script']})")


def test_closure_context_stack_and_weakmap_holders(version_graph):
    script = version_graph.built["script"]
    with v8scan.open_dump(version_graph.path) as dump:
        entries, stack_only, kept = (_paths(dump, name)
                                     for name in ("Entry", "StackOnly", "KeptValue"))
        ghosts = objects_by_row(dump, lambda key: key[:2] == ("object", "Ghost"),
                                include_dead=True)
        ghost = np.concatenate([a for a, _ in ghosts.values()])[:5]
        unreachable = retainer_paths(dump, ghost)
    assert [p.steps for p in entries] == [("Array[...]",
                                           f"items in the context of add, size ({script})")]
    assert [p.steps for p in stack_only] == [("(Stack of thread 1)",)]
    assert [p.count for p in kept] == [version_graph.built["kept"]]
    assert kept[0].steps[0] == "WeakMap entries" and kept[0].rooted
    assert [(p.count, p.steps, p.rooted) for p in unreachable] == [(5, (UNREACHABLE,), False)]


def test_marking_only_removes_objects_from_the_page_census(version_graph):
    """Per map, the reachable objects are some of those the walk of the same areas finds
    (the census before marking), and garbage is among the rest."""
    with v8scan.open_dump(version_graph.path) as dump, Sweeper(1) as sweeper:
        reachable = dump.scan()
        walked = count_all(dump.core.memory, reachable.plan, reachable.per_object, sweeper)
    assert np.all(reachable.counts <= walked.counts)
    assert reachable.counts.sum() + version_graph.built["dropped"] <= walked.counts.sum()


def test_without_the_isolate_every_object_is_counted_and_said(holders, monkeypatch):
    """If V8's own roots cannot be found (a damaged core), marking from handles and stacks
    alone would hide most of the heap: v8scan counts every object instead, and says so."""
    monkeypatch.setattr(isolate_module, "isolate_block", lambda *args: None)
    with v8scan.open_dump(holders.path) as dump, Sweeper(1) as sweeper:
        scan = dump.scan()
        walked = count_all(dump.core.memory, scan.plan, scan.per_object, sweeper)
        warnings = list(dump.warnings)
    assert scan.graph is None
    np.testing.assert_array_equal(scan.counts, walked.counts)
    assert any("V8's roots (its Isolate) are not in the core" in w for w in warnings)
