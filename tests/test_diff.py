"""Two cores of one process, before and after it grew: the growth comes first."""

from __future__ import annotations

import json
import subprocess
import sys

import v8scan


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
    out = subprocess.run([sys.executable, "-m", "v8scan", "diff", census_cores.before,
                          census_cores.after, "--json", "--top", "3"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) == {"before", "after", "rows"}
    assert set(doc["rows"][0]) == {"kind", "name", "count_before", "count_after",
                                   "count_delta", "size_before", "size_after", "size_delta"}
    deltas = [r["count_delta"] for r in doc["rows"]]
    assert deltas == sorted(deltas, reverse=True)
    assert any(r["name"] == "Leaky" and r["count_delta"] == 20000 for r in doc["rows"])


def test_diff_shapes_cli_json(census_cores):
    out = subprocess.run([sys.executable, "-m", "v8scan", "diff", census_cores.before,
                          census_cores.after, "--shapes", "--json", "--top", "5"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["rows"]
    assert all({"properties", "dictionary"} <= set(r) for r in rows)
    leaky = next(r for r in rows if r["name"] == "Leaky")
    assert leaky["properties"] == ["id", "data"] and leaky["dictionary"] is False
    assert leaky["count_delta"] == 20000
