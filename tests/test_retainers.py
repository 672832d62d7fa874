"""`instances` and `retainers` on a real core of tests/scenarios/holders.js, whose objects
hang off known paths; the expected counts are what the program itself reports."""

from __future__ import annotations

import json

import numpy as np

import v8scan
from v8scan.retainers import retainer_paths

from .conftest import run_cli


def test_instances_are_every_object_of_the_constructor(holders):
    with v8scan.open_dump(holders.path) as dump:
        sessions = dump.instances("Session")
        rows = {(r.kind, r.name): r for r in dump.histogram().rows}
        row = rows[("object", "Session")]
        # The name means the objects, of one kind, as many as the histogram's row counts;
        # the class Session, a closure, is asked for by kind.
        assert {i.kind for i in sessions} == {"object"}
        assert len(sessions) == holders.built["sessions"] == row.count
        assert sum(i.size for i in sessions) == row.size
        classes = dump.instances("Session", kind="closure")
        assert len(classes) == rows[("closure", "Session")].count == 1
        assert len({i.address for i in sessions}) == len(sessions)
        shaped = dump.instances("Session", shape=["id", "user", "payload"])
        assert [i.address for i in shaped] == [i.address for i in sessions]
        assert dump.instances("Session", shape=["id"]) == []


def test_instances_cli_json(holders):
    result = run_cli("instances", holders.path, "Job", "--json", "--limit", "5")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["kind"], out["count"]) == ("object", holders.built["jobs"])
    assert out["other_kinds"] == {"closure": 1}  # the class Job
    assert len(out["instances"]) == 5
    assert all(i["address"].startswith("0x") and i["size"] > 0 for i in out["instances"])


def test_cache_array_in_a_module_context_holds_the_sessions(holders):
    with v8scan.open_dump(holders.path) as dump:
        targets = np.array([i.address for i in dump.instances("Session") if i.kind == "object"],
                           dtype=np.uint64)
        paths = retainer_paths(dump, targets)
    assert len(paths) == 1
    path = paths[0]
    assert path.count == holders.built["sessions"] and path.rooted
    assert path.steps[0] == "Array[...]"
    assert path.steps[1].startswith("cache in the context of ")
    assert "flush" in path.steps[1] and holders.built["script"] in path.steps[1]


def test_listener_closures_hold_the_jobs(holders):
    result = run_cli("retainers", holders.path, "Job", "--json")
    assert result.returncode == 0, result.stderr
    paths = json.loads(result.stdout)["paths"]
    assert [(p["count"], p["steps"], p["rooted"]) for p in paths] == [
        (holders.built["jobs"],
         [f"job in the context of onTick ({holders.built['script']})"], True)]
    # one context per job, merged into one path: three different jobs as examples (they
    # were one address three times, taken from the neighbouring groups)
    samples = paths[0]["samples"]
    assert len(samples) == 3 == len(set(samples))
    with v8scan.open_dump(holders.path) as dump:
        jobs = {f"{i.address:#x}" for i in dump.instances("Job") if i.kind == "object"}
    assert set(samples) <= jobs


def test_a_global_variable_is_a_root(holders):
    with v8scan.open_dump(holders.path) as dump:
        specimen = [i for i in dump.instances("Specimen") if i.kind == "object"]
    assert len(specimen) == 1
    result = run_cli("retainers", holders.path, hex(specimen[0].address))
    assert result.returncode == 0, result.stderr
    assert "global.specimen" in result.stdout


def test_unknown_name_is_a_clean_error(holders):
    result = run_cli("retainers", holders.path, "NoSuchConstructor")
    assert result.returncode == 2
    assert result.stderr.startswith("v8scan: error: ") and "Traceback" not in result.stderr


def test_a_young_large_object_is_counted(version_holders):
    """`large` is allocated last, so it is still in the young generation's large-object
    space, on a page of its own that no allocation area points into."""
    with v8scan.open_dump(version_holders.path) as dump:
        sizes = [i.size for i in dump.instances("system / FixedArray")]
    assert version_holders.built["largeBytes"] in sizes
