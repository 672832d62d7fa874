"""Metadata of the machine's node binary, read by v8scan and, independently, by gdb."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from v8scan.errors import BinaryError, LayoutError, Warnings
from v8scan.v8 import binary as binary_module
from v8scan.v8.binary import cache_dir, read_node_binary
from v8scan.v8.layout import build_layout

NODE = shutil.which("node")
pytestmark = pytest.mark.slow  # reads the machine's node binary, asks gdb


def gdb_print(expression: str) -> int:
    out = subprocess.run(["gdb", "-batch", "-nx", "-ex", f"print *(int *) &{expression}", NODE],
                         capture_output=True, text=True).stdout
    return int(re.search(r"= (-?\d+)", out).group(1))


def test_constants_agree_with_gdb():
    binary = read_node_binary(NODE)
    assert len(binary.constants) > 300
    for name in ("TaggedSize", "type_JSObject__JS_OBJECT_TYPE", "class_Map__instance_type__uint16_t",
                 "FirstContextType", "prop_index_mask", "class_HeapObject__map__Map"):
        assert binary.constants[name] == gdb_print(f"v8dbg_{name}"), name


def test_versions_and_build_id_agree_with_the_binary():
    binary = read_node_binary(NODE)
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout
    assert binary.node_version == version.strip().lstrip("v")
    v8 = subprocess.run([NODE, "-p", "process.versions.v8"], capture_output=True, text=True)
    assert binary.v8_version_string.startswith(v8.stdout.strip().split("-")[0])
    notes = subprocess.run(["readelf", "-n", NODE], capture_output=True, text=True).stdout
    assert binary.build_id == re.search(r"Build ID: ([0-9a-f]+)", notes).group(1)


def test_layout_builds_for_the_machine_node():
    layout = build_layout(read_node_binary(NODE))
    assert layout.tagged_size == 8
    assert layout.is_js_function(layout.js_function_type)
    assert layout.is_js_receiver(layout.js_proxy_type)


def test_missing_binary_and_binary_without_metadata():
    with pytest.raises(BinaryError):
        read_node_binary("/nonexistent/node")
    with pytest.raises(LayoutError):
        build_layout(read_node_binary(shutil.which("true") or "/bin/true"))


def test_a_build_read_once_comes_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("V8SCAN_CACHE_DIR", str(tmp_path))
    first = read_node_binary(NODE)
    assert cache_dir() == str(tmp_path)
    assert (tmp_path / "binaries" / f"{first.build_id}.json").is_file()

    def no_second_read(*args):
        raise AssertionError("read the binary again instead of the cache")
    monkeypatch.setattr(binary_module, "_read", no_second_read)
    assert read_node_binary(NODE) == first


def test_a_damaged_cache_entry_is_read_again(tmp_path, monkeypatch):
    monkeypatch.setenv("V8SCAN_CACHE_DIR", str(tmp_path))
    fresh = read_node_binary(NODE, use_cache=False)
    entry = tmp_path / "binaries" / f"{fresh.build_id}.json"
    entry.parent.mkdir(parents=True)
    entry.write_text('{"format": 1, "build_id": "')
    assert read_node_binary(NODE) == fresh
    assert read_node_binary(NODE) == fresh  # the entry was rewritten whole


def test_a_stripped_copy_does_not_poison_the_cache(tmp_path, monkeypatch):
    """A stripped binary has the same build-id but no metadata: reading it must not stop
    the real binary from being read afterwards."""
    monkeypatch.setenv("V8SCAN_CACHE_DIR", str(tmp_path / "cache"))
    stripped = tmp_path / "node"
    subprocess.run(["strip", "-o", str(stripped), NODE], check=True)
    with pytest.raises(LayoutError):
        build_layout(read_node_binary(str(stripped)))
    binary = read_node_binary(NODE)
    assert build_layout(binary).tagged_size == 8
    assert read_node_binary(str(stripped)).constants == {}  # not served the real one's


def test_cache_entries_are_private_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("V8SCAN_CACHE_DIR", str(tmp_path))
    fresh = read_node_binary(NODE)
    entry = tmp_path / "binaries" / f"{fresh.build_id}.json"
    assert entry.stat().st_mode & 0o777 == 0o600
    assert entry.parent.stat().st_mode & 0o777 == 0o700
    saved = json.loads(entry.read_text())

    def tampered(change, resign: bool) -> str:
        """What read_node_binary warns of an entry changed by `change`."""
        doc = json.loads(json.dumps(saved))
        change(doc)
        if resign:  # an attacker recomputes the checksum
            doc["sha256"] = binary_module.checksum(doc)
        entry.write_text(json.dumps(doc))
        warnings = Warnings()
        got = read_node_binary(NODE, warnings=warnings, check=build_layout)
        assert got == fresh  # read again from the binary, right
        assert json.loads(entry.read_text()) == saved  # and the entry rewritten
        return " ".join(warnings)

    assert "checksum" in tampered(lambda d: d["constants"].update(TaggedSize=4), False)
    assert "implausible" in tampered(lambda d: d.update(v8_version=["11", 3, 0, 0]), True)
    assert "implausible" in tampered(lambda d: d["constants"].update(x=None), True)
    assert "another file" in tampered(lambda d: d.update(binary_size=1), True)
    assert "plausible class_JSObject__elements" in tampered(
        lambda d: d["constants"].update(class_JSObject__elements__Object=10**12), True)
    # found by the fuzz campaign: in the metadata's bounds, past the scanner's
    assert "plausible class_Map__instance_type" in tampered(
        lambda d: d["constants"].update(class_Map__instance_type__uint16_t=4096), True)
    assert "plausible kPageAlignment" in tampered(
        lambda d: d["constants"].update(kPageAlignment=8), True)
    entry.chmod(0o666)
    warnings = Warnings()
    assert read_node_binary(NODE, warnings=warnings) == fresh
    assert "writable by another user" in " ".join(warnings)
