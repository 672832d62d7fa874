"""The JSON contract of every command, checked against golden files (tests/golden/): the
renderers of render.py on fixed results. After a deliberate change to the contract,
V8SCAN_UPDATE_GOLDEN=1 rewrites the files; review their diff before committing it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from v8scan import census, render
from v8scan.results import Dominator, DumpInfo, Histogram, Instance, RetainerPath, Row

GOLDEN = Path(__file__).parent / "golden"
SESSION = ("object", "Session", ("id", "user"), False)
BEFORE = Histogram("core.1", "20.20.2", "11.3.244.8", [
    Row("object", "Session", 10, 480, True, ("id", "user")),
    Row("string", "SeqOneByteString", 5, 160)])
AFTER = Histogram("core.2", "20.20.2", "11.3.244.8", [
    Row("object", "Session", 30, 1440, True, ("id", "user")),
    Row("object", "Object", 2, 80, True, ("a\x1b", "b"), True),
    Row("string", "SeqOneByteString", 5, 160)])

RETAINED = Histogram("core.2", "20.20.2", "11.3.244.8", [
    Row("object", "Session", 30, 1440, retained=4320),
    Row("object", "Map", 1, 32, retained=4900)])
RETAINED_BEFORE = Histogram("core.1", "20.20.2", "11.3.244.8", [
    Row("object", "Session", 10, 480, retained=1440),
    Row("object", "Map", 1, 32, retained=1700)])


def rendered() -> dict[str, str]:
    d = census.diff(BEFORE, AFTER)
    d.samples = {SESSION: [0x2F1E5A9C1E20, 0x2F1E5A9C1E50]}
    info = DumpInfo("core.2", 1 << 30, "node", "node server.js", "/usr/bin/node", "ab12",
                    True, "20.20.2", "11.3.244.8", True, 98, 934461440, 34, 5448896, 0,
                    4096, 1)
    value = {"type": "object", "address": "0x2f1e5a9c1e20", "constructor": "Session",
             "properties": [{"key": "id", "value": {"type": "number", "value": 7, "text": "7"}},
                            {"key": "user", "value": {"type": "string", "value": "u7",
                                                      "length": 2,
                                                      "representation": "sequential",
                                                      "encoding": "one-byte"}}]}
    return {
        "histogram": render.histogram_json(AFTER, "count", None, False),
        "histogram-shapes": render.histogram_json(AFTER, "size", 2, True),
        "diff": render.diff_json(d, "count", None, True),
        "info": render.info_json(info),
        "instances": render.instances_json("core.2", "Session", [
            Instance(0x2F1E5A9C1E20, 48, "object", "Session"),
            Instance(0x2F1E5A9C1E50, 48, "object", "Session")], {"closure": 1}, 1),
        "retainers": render.retainers_json("core.2", "Session", [
            RetainerPath(30, ("Array[...]", "cache in the context of flush (db.js)"), True,
                         (0x2F1E5A9C1E20,), 4320)]),
        "inspect": render.inspect_json("core.2", 0x2F1E5A9C1E20, value),
        "histogram-retained": render.histogram_json(RETAINED, "retained", None, False),
        "diff-retained": render.diff_json(census.diff(RETAINED_BEFORE, RETAINED), "retained"),
        "dominators": render.dominators_json("core.2", [
            Dominator(0x2F1E5A9C1E80, "object", "Map", 32, 1_600_000,
                      ("cache in the context of flush (db.js)",))], 2_000_000),
    }


@pytest.mark.parametrize("command", sorted(rendered()))
def test_json_matches_the_golden_file(command):
    text = rendered()[command] + "\n"
    path = GOLDEN / f"{command}.json"
    if os.environ.get("V8SCAN_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{command}: the JSON contract changed"
