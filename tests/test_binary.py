"""Metadata of the machine's node binary, read by v8scan and, independently, by gdb."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from v8scan import binary as binary_module
from v8scan.binary import cache_dir, read_node_binary
from v8scan.errors import BinaryError, LayoutError
from v8scan.layout import build_layout

NODE = shutil.which("node")


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
