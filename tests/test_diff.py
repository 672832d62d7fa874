"""Two cores of one process, before and after it grew: the growth comes first."""

from __future__ import annotations

import json
import os

import v8scan

from .conftest import run_cli


def test_grown_constructor_leads_the_diff(census_cores):
    with v8scan.open_dump(census_cores.before) as a, v8scan.open_dump(census_cores.after) as b:
        d = v8scan.diff(a.histogram(), b.histogram())
    top = d.sorted("count")
    leaky = next(r for r in top if r.name == "Leaky")
    assert (leaky.count_before, leaky.count_after) == (0, 20000)
    objects = [r for r in top if r.kind == "object"]
    assert objects[0].name == "Leaky"
    unchanged = {r.name for r in d.rows}
    assert "Album" not in unchanged and "Track" not in unchanged


def test_diff_cli_json(census_cores):
    out = run_cli("diff", census_cores.before, census_cores.after, "--json", "--top", "3")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) == {"before", "after", "rows"}
    assert set(doc["rows"][0]) == {"kind", "name", "count_before", "count_after",
                                   "count_delta", "size_before", "size_after", "size_delta"}
    deltas = [r["count_delta"] for r in doc["rows"]]
    assert deltas == sorted(deltas, reverse=True)
    assert any(r["name"] == "Leaky" and r["count_delta"] == 20000 for r in doc["rows"])


def test_diff_shapes_cli_json(census_cores):
    out = run_cli("diff", census_cores.before, census_cores.after, "--shapes", "--json",
                  "--top", "5")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["rows"]
    assert all({"properties", "dictionary"} <= set(r) for r in rows)
    leaky = next(r for r in rows if r["name"] == "Leaky")
    assert leaky["properties"] == ["id", "data"] and leaky["dictionary"] is False
    assert leaky["count_delta"] == 20000


def test_samples_are_new_objects_of_the_row(census_cores):
    out = run_cli("diff", census_cores.before, census_cores.after, "--json", "--top", "4",
                  "--samples", "5")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["rows"]
    sampled = [r for r in rows if r["count_delta"] > 0]
    assert sampled and all(len(r["samples"]) == 5 for r in sampled)
    with v8scan.open_dump(census_cores.before) as a, v8scan.open_dump(census_cores.after) as b:
        for row in sampled:
            old = {i.address for i in a.instances(row["name"], kind=row["kind"])}
            new = {i.address for i in b.instances(row["name"], kind=row["kind"])}
            samples = {int(s, 16) for s in row["samples"]}
            assert samples <= new - old, row["name"]
        leaky = next(r for r in sampled if r["name"] == "Leaky")
        for address in leaky["samples"]:
            value = b.value(int(address, 16))
            fields = {p["key"]: p["value"]["value"] for p in value["properties"]}
            assert value["constructor"] == "Leaky" and fields["data"] == f"leak {fields['id']}"


def test_a_diff_of_two_node_builds_warns(census_cores, version_cores):
    """Cores of different Node versions are no two moments of one process: say so."""
    from .nodes import DEFAULT_VERSION
    out = run_cli("diff", census_cores.before, version_cores.before, "--top", "1")
    assert out.returncode == 0, out.stderr
    warned = "different node builds" in out.stderr
    assert warned == (version_cores.version != DEFAULT_VERSION), out.stderr


def test_a_diff_of_two_processes_or_backwards_warns(census_cores, holders):
    """Two processes of one build, or the later core given first: the diff says so; two
    moments of one process in order get no such warning."""
    pair = [census_cores.before, census_cores.after]
    times = [os.stat(path).st_mtime for path in pair]
    try:
        os.utime(pair[0], (times[0], times[0] - 60))  # the first core 60 s older
        out = run_cli("diff", *pair, "--top", "1")
        assert out.returncode == 0 and "different processes" not in out.stderr, out.stderr
        assert "backwards" not in out.stderr, out.stderr
        out = run_cli("diff", *reversed(pair), "--top", "1")
        assert out.returncode == 0 and "diff reads backwards" in out.stderr, out.stderr
    finally:
        os.utime(pair[0], (times[0], times[0]))
    out = run_cli("diff", census_cores.before, holders.path, "--top", "1")
    assert out.returncode == 0 and "different processes" in out.stderr, out.stderr
