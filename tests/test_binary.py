"""Metadata of the machine's node binary, read by v8scan and, independently, by gdb."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from v8scan.binary import read_node_binary
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
