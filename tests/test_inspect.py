"""`inspect` on a real core of tests/scenarios/holders.js, on every supported Node version:
each value of its `specimen` object must read back as the program itself reports it."""

from __future__ import annotations

import json
import re

import pytest

import v8scan
from v8scan.v8.values import MAX_TEXT

from .conftest import SCENARIOS, run_cli


def plain(node: dict):
    """A value tree as the plain JSON value the program prints for the same value."""
    kind = node["type"]
    if kind in ("number", "string", "boolean"):
        return node["value"]
    if kind in ("null", "undefined", "hole"):
        return None
    if kind == "array":
        return [plain(item) for item in node["elements"]["items"]] if "elements" in node else []
    if kind == "object":
        return {p["key"]: plain(p["value"]) for p in node["properties"]}
    if kind == "map":
        return [[plain(e["key"]), plain(e["value"])] for e in node["entries"]]
    if kind == "set":
        return [plain(e) for e in node["entries"]]
    raise AssertionError(f"no plain form for {node}")


def line_of(text: str) -> int:
    """The line of holders.js that holds `text`, counted from 1."""
    lines = (SCENARIOS / "holders.js").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def specimen_address(dump) -> int:
    found = [i for i in dump.instances("Specimen") if i.kind == "object"]
    assert len(found) == 1
    return found[0].address


def test_every_kind_of_value_reads_back(version_holders):
    built = version_holders.built
    with v8scan.open_dump(version_holders.path) as dump:
        top = dump.value(specimen_address(dump), depth=3)
    assert (top["type"], top["constructor"]) == ("object", "Specimen")
    value = {p["key"]: p["value"] for p in top["properties"]}

    for key, expected in built["numbers"].items():
        assert value[key]["type"] == "number" and value[key]["value"] == expected, key
    assert value["nan"]["text"] == "NaN" and value["negativeZero"]["text"] == "-0"
    assert [plain(value[k]) for k in ("yes", "no")] == [True, False]
    assert [value[k]["type"] for k in ("nothing", "missing")] == ["null", "undefined"]

    strings = built["strings"]
    expected_strings = {
        "seq": (strings["seq"], "sequential", "one-byte"),
        "twoByte": (strings["twoByte"], "sequential", "two-byte"),
        "cons": ("".join(strings["consParts"]), "cons", "one-byte"),
        "sliced": (strings["sliced"], "sliced", "one-byte"),
    }
    for key, (text, representation, encoding) in expected_strings.items():
        node = value[key]
        assert (node["value"], node["length"], node["representation"], node["encoding"]) == \
            (text, len(text), representation, encoding), key
    external = value["external"]
    assert external["representation"] == "external"
    assert external["length"] == strings["externalLength"]
    assert external["value"] == "x" * MAX_TEXT

    for key in ("list", "doubles", "mixed", "nested", "map", "set"):
        assert plain(value[key]) == built["values"][key], key
    assert [item["type"] for item in value["holey"]["elements"]["items"]] == \
        ["number", "hole", "number"]
    assert value["list"]["length"] == 3

    for key, source in (("fn", "function namedFunction("), ("called", "function subscribe(")):
        function = value[key]
        assert (function["name"], function["script"], function["line"]) == \
            (source[len("function "):-1], built["script"], line_of(source)), key

    assert value["buf"]["type"] == "buffer" and value["buf"]["hex"] == built["buf"]
    assert value["buf"]["byteLength"] == len(built["buf"]) // 2


def test_depth_stops_at_an_address(holders):
    with v8scan.open_dump(holders.path) as dump:
        top = dump.value(specimen_address(dump), depth=1)
    nested = next(p["value"] for p in top["properties"] if p["key"] == "nested")
    inner = nested["properties"][0]["value"]
    assert inner["omitted"] and inner["constructor"] == "Object"
    assert inner["address"].startswith("0x")


def test_text_reads_like_util_inspect(holders):
    with v8scan.open_dump(holders.path) as dump:
        address = specimen_address(dump)
    result = run_cli("inspect", holders.path, hex(address))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Specimen {" and lines[-1] == "}"
    buf = " ".join(re.findall("..", holders.built["buf"]))
    script = holders.built["script"]
    for expected in ("  smi: 42,", "  nan: NaN,", "  negativeZero: -0,", "  nothing: null,",
                     "  missing: undefined,", "  seq: 'plain one-byte text',",
                     "  holey: [ 1, <1 empty item>, 3 ],",
                     "  nested: { inner: { deep: 'bottom' } },",
                     "  mixed: [ 7, 'seven', { n: 7 } ],",
                     f"  fn: [Function: namedFunction] {script}:{line_of('function namedFunction(')},",
                     "  map: Map(2) { 'a' => 1, 'b' => 'bee' },",
                     "  set: Set(2) { 5, 'five' },",
                     f"  buf: <Buffer {buf}>"):
        assert expected in lines, expected
    external = next(line for line in lines if line.startswith("  external: "))
    more = holders.built["strings"]["externalLength"] - MAX_TEXT
    assert external.endswith(f"'... {more} more characters,")


def test_json_output(holders):
    with v8scan.open_dump(holders.path) as dump:
        address = specimen_address(dump)
    result = run_cli("inspect", holders.path, hex(address + 1), "--json", "--depth", "0")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["address"] == hex(address + 1) and out["value"]["constructor"] == "Specimen"
    nested = next(p["value"] for p in out["value"]["properties"] if p["key"] == "nested")
    assert nested["omitted"]


@pytest.mark.parametrize("address", ["0x10", "zz"])
def test_not_an_object_is_a_clean_error(holders, address):
    result = run_cli("inspect", holders.path, address)
    assert result.returncode == 2
    assert result.stderr.startswith("v8scan: error: ") and "Traceback" not in result.stderr
