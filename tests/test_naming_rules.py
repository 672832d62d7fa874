"""Naming rules that follow from the instance type alone, on a real layout and no core.

The layout is built from the `v8dbg_*` metadata of the official Node 20 binary, recorded
in tests/data by tools/record_metadata.py. The expected (kind, name) pairs are those V8's
heap snapshot gives (V8HeapExplorer::AddEntry, GetSystemEntryType, GetSystemEntryName in
src/profiler/heap-snapshot-generator.cc); the real-core tests check the rest against
snapshots of live processes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from v8scan.core import AddressSpace
from v8scan.v8.binary import NodeBinary
from v8scan.v8.heap import Heap
from v8scan.v8.layout import Layout, build_layout
from v8scan.v8.naming import Namer

from .nodes import NODE_VERSIONS, instance_types_metadata_leaves_out, node_binary

METADATA = Path(__file__).parent / "data" / "node-20.20.2.json"

# instance type name -> (kind, name) in a V8 heap snapshot
BY_TYPE = {
    "CONS_ONE_BYTE_STRING_TYPE": ("concatenated string", "(concatenated string)"),
    "SLICED_STRING_TYPE": ("sliced string", "(sliced string)"),
    "HEAP_NUMBER_TYPE": ("number", "heap number"),
    "BIGINT_TYPE": ("bigint", "bigint"),
    "NATIVE_CONTEXT_TYPE": ("hidden", "system / NativeContext"),
    "FIXED_ARRAY_TYPE": ("array", "system / FixedArray"),
    "FIXED_DOUBLE_ARRAY_TYPE": ("array", "system / FixedDoubleArray"),
    "BYTE_ARRAY_TYPE": ("array", "system / ByteArray"),
    "MAP_TYPE": ("object shape", "system / Map"),
    "DESCRIPTOR_ARRAY_TYPE": ("object shape", "system / DescriptorArray"),
    "BYTECODE_ARRAY_TYPE": ("code", "system / BytecodeArray"),
    "SCOPE_INFO_TYPE": ("code", "system / ScopeInfo"),
    "FEEDBACK_VECTOR_TYPE": ("code", "system / FeedbackVector"),
    "ALLOCATION_SITE_TYPE": ("code", "system / AllocationSite"),
    "WEAK_FIXED_ARRAY_TYPE": ("hidden", "system / WeakFixedArray"),
    "ACCESSOR_PAIR_TYPE": ("hidden", "system / AccessorPair"),
    "JS_BOUND_FUNCTION_TYPE": ("closure", "native_bind"),
    # Types the metadata does not name: V8's own names (instance_types.json)
    "TRANSITION_ARRAY_TYPE": ("object shape", "system / TransitionArray"),
    "FEEDBACK_METADATA_TYPE": ("code", "system / FeedbackMetadata"),
    "LOAD_HANDLER_TYPE": ("code", "system / LoadHandler"),
    "STORE_HANDLER_TYPE": ("code", "system / StoreHandler"),
    "THIN_STRING_TYPE": ("string", "ThinString"),
}


@pytest.fixture(scope="module")
def layout() -> Layout:
    recorded = json.loads(METADATA.read_text())
    return build_layout(NodeBinary(str(METADATA), recorded["build_id"],
                                   recorded["node_version"], tuple(recorded["v8_version"]),
                                   recorded["constants"]))


@pytest.fixture(scope="module")
def namer(layout) -> Namer:
    # An empty address space: these rules must not need to read the heap.
    return Namer(Heap(AddressSpace(b"", []), layout))


def type_of(layout: Layout, name: str) -> int:
    return next(t for t, n in layout.type_names.items() if n == name)


@pytest.mark.parametrize("type_name", sorted(BY_TYPE))
def test_a_type_is_named_as_the_heap_snapshot_names_it(layout, namer, type_name):
    assert namer.label_map(0, type_of(layout, type_name)) == BY_TYPE[type_name]


def test_function_contexts_are_system_objects(layout, namer):
    contexts = [t for t in range(layout.first_context_type, layout.last_context_type + 1)
                if t != layout.native_context_type]
    assert len(contexts) >= 5
    assert {namer.label_map(0, t) for t in contexts} == {("object", "system / Context")}


def test_functions_are_named_one_by_one(layout, namer):
    functions = [t for t in layout.type_names if layout.is_js_function(t)]
    assert functions
    assert {namer.label_map(0, t) for t in functions} == {("closure", "")}


def test_only_plain_receivers_have_shapes(layout, namer):
    assert namer.has_shape(type_of(layout, "JS_OBJECT_TYPE"))
    assert namer.has_shape(type_of(layout, "JS_ARRAY_TYPE"))
    assert not namer.has_shape(type_of(layout, "JS_BOUND_FUNCTION_TYPE"))
    assert not any(namer.has_shape(t) for t in layout.type_names if layout.is_js_function(t))
    assert not namer.has_shape(type_of(layout, "MAP_TYPE"))


def test_no_internal_type_is_named_by_a_number(layout, namer):
    """Every instance type of V8 11.3 below the JS objects (those are named by their
    constructors) has a name: from the metadata, or V8's own recorded beside it."""
    internal = [t for t in layout.type_names if t < layout.js_proxy_type]
    assert len(internal) > 150 and 241 in internal  # 241: TRANSITION_ARRAY_TYPE, recorded
    unnamed = {t: namer.label_map(0, t) for t in internal
               if re.search(r"INSTANCE_TYPE_\d", namer.label_map(0, t)[1])}
    assert unnamed == {}


@pytest.mark.slow
@pytest.mark.parametrize("version", NODE_VERSIONS)
def test_recorded_instance_types_are_what_v8_says(version):
    """instance_types.json holds, for each supported V8, exactly the instance types V8
    itself lists (--trace-gc-object-stats) that its metadata does not name."""
    from v8scan.v8.facts import instance_type_names

    v8_version, v8_says = instance_types_metadata_leaves_out(node_binary(version))
    assert v8_says == instance_type_names(v8_version)
