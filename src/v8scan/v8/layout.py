"""A frozen, typed V8 layout built from a binary's `v8dbg_*` constants and `facts.py`.

This is where metadata names become plain integers. It fails loudly (LayoutError) when a
constant it needs is missing, and records which facts it had to take from the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import LayoutError, Warnings
from .binary import NodeBinary
from .facts import ARRAY_BODIES, CHECKED_V8_VERSIONS, instance_type_names, lookup

# What the layout needs, by V8's own metadata names. A class field is named without its
# type suffix ("class_Map__prototype"), since the suffix changes between versions
# (`__Object`, `__Tagged_Object_`, ...). A name the metadata lacks is looked up in
# facts.py.
REQUIRED: dict[str, str] = {
    "tagged_size": "TaggedSize",
    "smi_shift_size": "SmiShiftSize",
    "first_nonstring_type": "FirstNonstringType",
    "string_representation_mask": "StringRepresentationMask",
    "string_encoding_mask": "StringEncodingMask",
    "one_byte_string_tag": "OneByteStringTag",
    "seq_string_tag": "SeqStringTag",
    "cons_string_tag": "ConsStringTag",
    "sliced_string_tag": "SlicedStringTag",
    "thin_string_tag": "ThinStringTag",
    "external_string_tag": "ExternalStringTag",
    "first_context_type": "FirstContextType",
    "last_context_type": "LastContextType",
    "map_type": "type_Map__MAP_TYPE",
    "js_function_type": "type_JSFunction__JS_FUNCTION_TYPE",
    "last_js_function_type": "LastJSFunctionType",
    "js_bound_function_type": "type_JSBoundFunction__JS_BOUND_FUNCTION_TYPE",
    "js_regexp_type": "type_JSRegExp__JS_REG_EXP_TYPE",
    "js_proxy_type": "type_JSProxy__JS_PROXY_TYPE",
    "js_global_object_type": "type_JSGlobalObject__JS_GLOBAL_OBJECT_TYPE",
    "fixed_array_type": "type_FixedArray__FIXED_ARRAY_TYPE",
    "last_fixed_array_type": "LAST_FIXED_ARRAY_TYPE",
    "byte_array_type": "type_ByteArray__BYTE_ARRAY_TYPE",
    "fixed_double_array_type": "type_FixedDoubleArray__FIXED_DOUBLE_ARRAY_TYPE",
    "free_space_type": "type_FreeSpace__FREE_SPACE_TYPE",
    "filler_type": "FILLER_TYPE",
    "native_context_type": "NATIVE_CONTEXT_TYPE",
    "bigint_type": "BIGINT_TYPE",
    "property_array_type": "type_PropertyArray__PROPERTY_ARRAY_TYPE",
    "descriptor_array_type": "type_DescriptorArray__DESCRIPTOR_ARRAY_TYPE",
    "weak_fixed_array_type": "type_WeakFixedArray__WEAK_FIXED_ARRAY_TYPE",
    "last_weak_fixed_array_type": "LAST_WEAK_FIXED_ARRAY_TYPE",
    "weak_array_list_type": "type_WeakArrayList__WEAK_ARRAY_LIST_TYPE",
    "symbol_type": "type_Symbol__SYMBOL_TYPE",
    "heap_number_type": "type_HeapNumber__HEAP_NUMBER_TYPE",
    "shared_function_info_type": "type_SharedFunctionInfo__SHARED_FUNCTION_INFO_TYPE",
    "scope_info_type": "type_ScopeInfo__SCOPE_INFO_TYPE",
    "map_instance_type": "class_Map__instance_type",
    "map_instance_size_in_words": "class_Map__instance_size_in_words",
    "map_bit_field2": "class_Map__bit_field2",
    "map_inobject_properties_start":
        "class_Map__inobject_properties_start_or_constructor_function_index",
    "map_bit_field3": "class_Map__bit_field3",
    "map_prototype": "class_Map__prototype",
    "map_constructor_or_back_pointer": "class_Map__constructor_or_back_pointer",
    "map_instance_descriptors": "class_Map__instance_descriptors",
    "is_dictionary_map_shift": "bit_field3_is_dictionary_map_shift",
    "own_descriptors_mask": "bit_field3_number_of_own_descriptors_mask",
    "own_descriptors_shift": "bit_field3_number_of_own_descriptors_shift",
    "js_properties": "class_JSReceiver__raw_properties_or_hash",
    "js_elements": "class_JSObject__elements",
    "js_function_shared": "class_JSFunction__shared",
    "js_function_context": "class_JSFunction__context",
    "sfi_script": "class_SharedFunctionInfo__script",
    "script_type": "type_Script__SCRIPT_TYPE",
    "script_name": "class_Script__name",
    "property_cell_type": "type_PropertyCell__PROPERTY_CELL_TYPE",
    "property_cell_name": "class_PropertyCell__name",
    "property_cell_value": "class_PropertyCell__value",
    "js_map_type": "type_JSMap__JS_MAP_TYPE",
    "js_set_type": "type_JSSet__JS_SET_TYPE",
    "js_weak_map_type": "type_JSWeakMap__JS_WEAK_MAP_TYPE",
    "sfi_name_or_scope_info": "class_SharedFunctionInfo__name_or_scope_info",
    "sfi_function_data": "class_SharedFunctionInfo__function_data",
    "uncompiled_data_start": "class_UncompiledData__start_position",
    "script_source": "class_Script__source",
    "script_line_ends": "class_Script__line_ends",
    "oddball_type": "type_Oddball__ODDBALL_TYPE",
    "oddball_kind": "class_Oddball__kind",
    "oddball_false": "OddballFalse",
    "oddball_true": "OddballTrue",
    "oddball_null": "OddballNull",
    "oddball_undefined": "OddballUndefined",
    "oddball_the_hole": "OddballTheHole",
    "hole_type": "type_Hole__HOLE_TYPE",
    "heap_number_value": "class_HeapNumber__value",
    "js_array_type": "type_JSArray__JS_ARRAY_TYPE",
    "js_array_length": "class_JSArray__length",
    "js_collection_table": "class_JSCollection__table",
    "js_typed_array_type": "type_JSTypedArray__JS_TYPED_ARRAY_TYPE",
    "typed_array_external_pointer": "class_JSTypedArray__external_pointer",
    "typed_array_base_pointer": "class_JSTypedArray__base_pointer",
    "array_buffer_view_byte_length": "class_JSArrayBufferView__byte_length",
    "string_length": "class_String__length",
    "seq_one_byte_chars": "class_SeqOneByteString__chars",
    "seq_two_byte_chars": "class_SeqTwoByteString__chars",
    "cons_first": "class_ConsString__first",
    "cons_second": "class_ConsString__second",
    "thin_actual": "class_ThinString__actual",
    "sliced_parent": "class_SlicedString__parent",
    "sliced_offset": "class_SlicedString__offset",
    "external_resource_data": "class_ExternalString__resource_data",
    "fixed_array_length": "class_FixedArrayBase__length",
    "fixed_array_header": "class_FixedArray__data",
    "descriptor_array_header": "class_DescriptorArray__header_size",
    "descriptor_key": "prop_desc_key",
    "descriptor_details": "prop_desc_details",
    "descriptor_value": "prop_desc_value",
    "descriptor_size": "prop_desc_size",
    "scope_info_first_vars": "scopeinfo_idx_first_vars",
    "scope_info_context_local_count": "scopeinfo_idx_ncontextlocals",
    "name_dictionary_prefix_start": "namedictionary_prefix_start_index",
    "name_dictionary_entry_size": "namedictionaryshape_entry_size",
    "name_dictionary_prefix_size": "namedictionaryshape_prefix_size",
    "symbol_name": "class_Symbol__name",
    "prop_kind_mask": "prop_kind_mask",
    "prop_kind_accessor": "prop_kind_Accessor",
    "prop_location_mask": "prop_location_mask",
    "prop_location_shift": "prop_location_shift",
    "prop_location_descriptor": "prop_location_Descriptor",
    "prop_index_mask": "prop_index_mask",
    "prop_index_shift": "prop_index_shift",
    # facts.py only
    "page_alignment": "kPageAlignment",
    "random_address_max": "kAllocationRandomAddressMax",
    "chunk_flags": "MemoryChunk_flags_offset",
    "chunk_metadata": "MemoryChunk_metadata_offset",
    "young_generation_mask": "MemoryChunk_young_generation_mask",
    "to_page_flag": "MemoryChunk_to_page_flag",
    "chunk_list_prev": "Metadata_list_prev_offset",
    "chunk_size": "Metadata_size_offset",
    "chunk_heap": "Metadata_heap_offset",
    "chunk_area_start": "Metadata_area_start_offset",
    "chunk_area_end": "Metadata_area_end_offset",
    "new_target_is_base_bit": "bit_field2_new_target_is_base_bit",
    "is_prototype_map_shift": "bit_field3_is_prototype_map_shift",
    "free_space_size_unit": "FreeSpace_size_unit",
    "descriptor_count": "DescriptorArray_number_of_all_descriptors_offset",
    "property_array_length_mask": "PropertyArray_length_mask",
    "weak_array_list_header": "WeakArrayList_header_size",
    "scope_info_saved_class_variable_shift": "ScopeInfo_has_saved_class_variable_shift",
    "scope_info_function_variable_shift": "ScopeInfo_function_variable_shift",
    "scope_info_flags_is_smi": "ScopeInfo_flags_is_smi",
    "scope_info_receiver_variable_shift": "ScopeInfo_receiver_variable_shift",
    "scope_info_max_inlined_names": "ScopeInfo_max_inlined_local_names",
    "scope_info_has_names_hashtable": "ScopeInfo_has_names_hashtable_slot",
    "scope_info_inferred_name_shift": "ScopeInfo_inferred_function_name_shift",
    "scope_info_position_slot": "ScopeInfo_position_info_slot",
    "double_hole_nan": "FixedDoubleArray_hole_nan",
    "ordered_hash_start": "OrderedHashTable_hash_table_start_index",
    "ordered_hash_map_entry": "OrderedHashMap_entry_size",
    "ordered_hash_set_entry": "OrderedHashSet_entry_size",
}

TYPE_SYMBOL = re.compile(r"^type_(\w+?)__(\w+_TYPE)$")

# Sanity bounds: a damaged binary or cache must not steer the readers and the scanner out
# of bounds. An instance type (type_*, *Type, *_TYPE in V8's names) is in [0, 65535];
# every other value is an offset, index, count or bit position in [0, MAX_FIELD_OFFSET),
# the bound the scanner checks its offsets against, except those named here. -1 means
# "no such thing" where facts.py says so.
MAY_BE_ABSENT = {"chunk_metadata", "scope_info_receiver_variable_shift",
                 "scope_info_position_slot", "oddball_the_hole", "hole_type"}
WIDE_VALUES = {  # name: (lowest, highest)
    "own_descriptors_mask": (1, (1 << 32) - 1),
    "prop_index_mask": (1, (1 << 32) - 1),
    "property_array_length_mask": (1, (1 << 32) - 1),
    "young_generation_mask": (1, (1 << 32) - 1),
    "to_page_flag": (1, (1 << 32) - 1),
    "double_hole_nan": (0, (1 << 64) - 1),
    "page_alignment": (1 << 12, 1 << 30),
    "random_address_max": (1 << 32, 1 << 47),
}
EXACT_VALUES = {"tagged_size": 8, "smi_shift_size": 31}
MAX_FIELD_OFFSET = 4096  # as in scanrules.py: no field v8scan reads is this far in


@dataclass(frozen=True)
class Layout:
    """Every offset, type number and bit position the scanner and readers use: one field
    per name of REQUIRED (where each comes from), then what the binary says of itself."""

    tagged_size: int
    smi_shift_size: int
    first_nonstring_type: int
    string_representation_mask: int
    string_encoding_mask: int
    one_byte_string_tag: int
    seq_string_tag: int
    cons_string_tag: int
    sliced_string_tag: int
    thin_string_tag: int
    external_string_tag: int
    first_context_type: int
    last_context_type: int
    map_type: int
    js_function_type: int
    last_js_function_type: int
    js_bound_function_type: int
    js_regexp_type: int
    js_proxy_type: int
    js_global_object_type: int
    fixed_array_type: int
    last_fixed_array_type: int
    byte_array_type: int
    fixed_double_array_type: int
    free_space_type: int
    filler_type: int
    native_context_type: int
    bigint_type: int
    property_array_type: int
    descriptor_array_type: int
    weak_fixed_array_type: int
    last_weak_fixed_array_type: int
    weak_array_list_type: int
    symbol_type: int
    heap_number_type: int
    shared_function_info_type: int
    scope_info_type: int
    map_instance_type: int
    map_instance_size_in_words: int
    map_bit_field2: int
    map_inobject_properties_start: int
    map_bit_field3: int
    map_prototype: int
    map_constructor_or_back_pointer: int
    map_instance_descriptors: int
    is_dictionary_map_shift: int
    own_descriptors_mask: int
    own_descriptors_shift: int
    js_properties: int
    js_elements: int
    js_function_shared: int
    js_function_context: int
    sfi_script: int
    script_type: int
    script_name: int
    property_cell_type: int
    property_cell_name: int
    property_cell_value: int
    js_map_type: int
    js_set_type: int
    js_weak_map_type: int
    sfi_name_or_scope_info: int
    sfi_function_data: int
    uncompiled_data_start: int
    script_source: int
    script_line_ends: int
    oddball_type: int
    oddball_kind: int
    oddball_false: int
    oddball_true: int
    oddball_null: int
    oddball_undefined: int
    oddball_the_hole: int
    hole_type: int
    heap_number_value: int
    js_array_type: int
    js_array_length: int
    js_collection_table: int
    js_typed_array_type: int
    typed_array_external_pointer: int
    typed_array_base_pointer: int
    array_buffer_view_byte_length: int
    string_length: int
    seq_one_byte_chars: int
    seq_two_byte_chars: int
    cons_first: int
    cons_second: int
    thin_actual: int
    sliced_parent: int
    sliced_offset: int
    external_resource_data: int
    fixed_array_length: int
    fixed_array_header: int
    descriptor_array_header: int
    descriptor_key: int
    descriptor_details: int
    descriptor_value: int
    descriptor_size: int
    scope_info_first_vars: int
    scope_info_context_local_count: int
    name_dictionary_prefix_start: int
    name_dictionary_entry_size: int
    name_dictionary_prefix_size: int
    symbol_name: int
    prop_kind_mask: int
    prop_kind_accessor: int
    prop_location_mask: int
    prop_location_shift: int
    prop_location_descriptor: int
    prop_index_mask: int
    prop_index_shift: int
    page_alignment: int
    random_address_max: int
    chunk_flags: int
    chunk_metadata: int
    young_generation_mask: int
    to_page_flag: int
    chunk_list_prev: int
    chunk_size: int
    chunk_heap: int
    chunk_area_start: int
    chunk_area_end: int
    new_target_is_base_bit: int
    is_prototype_map_shift: int
    free_space_size_unit: int
    descriptor_count: int
    property_array_length_mask: int
    weak_array_list_header: int
    scope_info_saved_class_variable_shift: int
    scope_info_function_variable_shift: int
    scope_info_flags_is_smi: int
    scope_info_receiver_variable_shift: int
    scope_info_max_inlined_names: int
    scope_info_has_names_hashtable: int
    scope_info_inferred_name_shift: int
    scope_info_position_slot: int
    double_hole_nan: int
    ordered_hash_start: int
    ordered_hash_map_entry: int
    ordered_hash_set_entry: int
    v8_version: tuple[int, int, int, int]
    constants: dict[str, int]       # every v8dbg_* constant, for the rarely used ones
    type_names: dict[int, str]      # instance type -> V8 name, e.g. 1057 -> JS_OBJECT_TYPE
    class_names: dict[int, str]     # instance type -> C++ class, e.g. 1057 -> JSObject
    array_bodies: dict[int, tuple[int, int]]  # instance type -> (element bytes, header bytes)
    first_js_receiver_type: int
    checked: bool                   # this V8 version was checked against heap snapshots
    facts_used: tuple[str, ...] = field(default=())

    def smi(self, word: int) -> int | None:
        """The value of a tagged Smi word, or None if the word is not a Smi."""
        if word & ((1 << (self.smi_shift_size + 1)) - 1):
            return None
        value = word >> (self.smi_shift_size + 1)
        return value - (1 << 32) if value >= 1 << 31 else value

    # --- instance type classes -------------------------------------------------------
    def is_string(self, t: int) -> bool:
        return t < self.first_nonstring_type

    def is_js_receiver(self, t: int) -> bool:
        return t >= self.first_js_receiver_type

    def is_js_function(self, t: int) -> bool:
        return self.js_function_type <= t <= self.last_js_function_type

    def is_context(self, t: int) -> bool:
        return self.first_context_type <= t <= self.last_context_type

    def is_fixed_array(self, t: int) -> bool:
        return self.fixed_array_type <= t <= self.last_fixed_array_type

    def string_representation(self, t: int) -> int:
        return t & self.string_representation_mask

    def is_one_byte_string(self, t: int) -> bool:
        return t & self.string_encoding_mask == self.one_byte_string_tag

    def type_name(self, t: int) -> str:
        return self.type_names.get(t, f"INSTANCE_TYPE_{t}")


def class_of_type_name(type_name: str) -> str:
    """V8's class for an instance type's name: TRANSITION_ARRAY_TYPE is TransitionArray."""
    words = type_name.removesuffix("_TYPE").split("_")
    return "".join(w if w in ("JS", "API") else w.capitalize() for w in words)


def build_layout(binary: NodeBinary, warnings: Warnings | None = None) -> Layout:
    """Resolve the layout of `binary`; raise LayoutError if required metadata is missing."""
    constants = binary.constants
    if not constants:
        raise LayoutError(binary.path, ["every v8dbg_* symbol (is this a node binary?)"])
    if constants.get("TaggedSize") != 8:
        raise LayoutError(binary.path, ["support for pointer-compressed builds (TaggedSize 4)"])
    version = binary.v8_version or (0, 0, 0, 0)
    resolver = _Resolver(constants, version[:2])
    values: dict[str, int] = {}
    missing = []
    for key, name in REQUIRED.items():
        value = resolver.get(name)
        if value is None:
            missing.append(name)
        else:
            values[key] = value
    if missing:
        raise LayoutError(binary.path,
                          [f"{name} (V8 {binary.v8_version_string})" for name in missing])
    wrong = implausible_values(values)
    if wrong:
        raise LayoutError(binary.path, [f"a plausible {REQUIRED[key]} (it says {values[key]})"
                                        for key in wrong])
    type_names, class_names = {}, {}
    for name, value in constants.items():
        found = TYPE_SYMBOL.match(name)
        if found:
            class_names.setdefault(value, found.group(1))
            type_names.setdefault(value, found.group(2))
    if "APIObjectType" in constants:
        type_names.setdefault(constants["APIObjectType"], "JS_API_OBJECT_TYPE")
    for t, n in ((values["filler_type"], "FILLER_TYPE"),
                 (values["free_space_type"], "FREE_SPACE_TYPE"),
                 (values["native_context_type"], "NATIVE_CONTEXT_TYPE"),
                 (values["bigint_type"], "BIGINT_TYPE"),
                 (values["last_js_function_type"], "JS_CLASS_CONSTRUCTOR_TYPE")):
        type_names.setdefault(t, n)
    class_names.setdefault(values["bigint_type"], "BigInt")
    class_names.setdefault(values["free_space_type"], "FreeSpace")
    for t, n in instance_type_names(version).items():  # V8's own names, recorded
        type_names.setdefault(t, n)
    checked = version[:2] in CHECKED_V8_VERSIONS
    if not checked and warnings is not None:
        warnings.add(
            f"V8 {binary.v8_version_string} (Node {binary.node_version or '?'}) has not been "
            "checked against V8 heap snapshots by v8scan; counts may be off"
        )
    # JS receiver types are the highest instance types; JS_PROXY_TYPE is the first of them.
    return Layout(**values, v8_version=version, constants=dict(constants),
                  type_names=type_names, class_names=class_names,
                  array_bodies=_array_bodies(resolver, binary.path),
                  first_js_receiver_type=values["js_proxy_type"], checked=checked,
                  facts_used=tuple(sorted(resolver.facts_used)))


def _array_bodies(resolver: "_Resolver", path: str) -> dict[int, tuple[int, int]]:
    """Instance type -> (bytes per element, header bytes) of the array-like types of
    facts.ARRAY_BODIES this binary has, with a header the metadata or the facts give."""
    bodies = {}
    for type_name, element, header_name in ARRAY_BODIES:
        t, header = resolver.get(type_name), resolver.get(header_name)
        if t is None or header is None:
            continue
        if not (0 <= t <= 0xFFFF and 16 <= header < MAX_FIELD_OFFSET):
            raise LayoutError(path, [f"a plausible {type_name} and {header_name} "
                                     f"(it says {t} and {header})"])
        bodies[t] = (element, header)
    return bodies


def _is_instance_type(name: str) -> bool:
    return name.startswith("type_") or name.endswith(("Type", "_TYPE"))


def implausible_values(values: dict[str, int]) -> list[str]:
    """The layout values outside their sanity bounds."""
    wrong = []
    for key, value in values.items():
        if key in EXACT_VALUES:
            ok = value == EXACT_VALUES[key]
        elif key in WIDE_VALUES:
            low, high = WIDE_VALUES[key]
            ok = low <= value <= high
        else:
            high = 0xFFFF if _is_instance_type(REQUIRED[key]) else MAX_FIELD_OFFSET - 1
            ok = (-1 if key in MAY_BE_ABSENT else 0) <= value <= high
        if key == "page_alignment" and value & (value - 1):
            ok = False  # a power of two
        if not ok:
            wrong.append(key)
    return wrong


class _Resolver:
    """Looks a name up in the metadata, then in facts.py (relative facts recursively)."""

    def __init__(self, constants: dict[str, int], version: tuple[int, int]) -> None:
        self.constants = constants
        self.version = version
        self.facts_used: set[str] = set()
        # "class_Map__prototype__Object" is found as "class_Map__prototype".
        self.fields: dict[str, int] = {}
        for name, value in constants.items():
            if name.startswith("class_") and name.count("__") >= 2:
                self.fields.setdefault(name[: name.index("__", name.index("__") + 2)], value)

    def get(self, name: str) -> int | None:
        if name in self.constants:
            return self.constants[name]
        if name in self.fields:
            return self.fields[name]
        fact = lookup(name, self.version)
        if fact is None:
            return None
        base = 0
        if fact.relative_to is not None:
            base = self.get(fact.relative_to)
            if base is None:
                return None
        self.facts_used.add(name)
        return base + fact.value
