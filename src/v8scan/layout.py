"""A frozen, typed V8 layout built from a binary's `v8dbg_*` constants and `facts.py`.

This is where metadata names become plain integers. It fails loudly (LayoutError) when a
constant it needs is missing, and records which facts it had to take from the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .binary import NodeBinary
from .errors import LayoutError, Warnings
from .facts import CHECKED_V8_VERSIONS, lookup

# Metadata constants the layout needs, by V8's own names.
REQUIRED = {
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
    "js_bound_function_type": "type_JSBoundFunction__JS_BOUND_FUNCTION_TYPE",
    "js_regexp_type": "type_JSRegExp__JS_REG_EXP_TYPE",
    "js_proxy_type": "type_JSProxy__JS_PROXY_TYPE",
    "js_global_object_type": "type_JSGlobalObject__JS_GLOBAL_OBJECT_TYPE",
    "fixed_array_type": "type_FixedArray__FIXED_ARRAY_TYPE",
    "byte_array_type": "type_ByteArray__BYTE_ARRAY_TYPE",
    "fixed_double_array_type": "type_FixedDoubleArray__FIXED_DOUBLE_ARRAY_TYPE",
    "free_space_type": "type_FreeSpace__FREE_SPACE_TYPE",
    "property_array_type": "type_PropertyArray__PROPERTY_ARRAY_TYPE",
    "descriptor_array_type": "type_DescriptorArray__DESCRIPTOR_ARRAY_TYPE",
    "weak_fixed_array_type": "type_WeakFixedArray__WEAK_FIXED_ARRAY_TYPE",
    "weak_array_list_type": "type_WeakArrayList__WEAK_ARRAY_LIST_TYPE",
    "symbol_type": "type_Symbol__SYMBOL_TYPE",
    "heap_number_type": "type_HeapNumber__HEAP_NUMBER_TYPE",
    "shared_function_info_type": "type_SharedFunctionInfo__SHARED_FUNCTION_INFO_TYPE",
    "scope_info_type": "type_ScopeInfo__SCOPE_INFO_TYPE",
    "map_instance_type": "class_Map__instance_type__uint16_t",
    "map_instance_size_in_words": "class_Map__instance_size_in_words__char",
    "map_bit_field2": "class_Map__bit_field2__char",
    "map_inobject_properties_start":
        "class_Map__inobject_properties_start_or_constructor_function_index__char",
    "map_bit_field3": "class_Map__bit_field3__int",
    "map_prototype": "class_Map__prototype__Object",
    "map_constructor_or_back_pointer": "class_Map__constructor_or_back_pointer__Object",
    "map_instance_descriptors": "class_Map__instance_descriptors__DescriptorArray",
    "is_dictionary_map_shift": "bit_field3_is_dictionary_map_shift",
    "own_descriptors_mask": "bit_field3_number_of_own_descriptors_mask",
    "own_descriptors_shift": "bit_field3_number_of_own_descriptors_shift",
    "js_properties": "class_JSReceiver__raw_properties_or_hash__Object",
    "js_elements": "class_JSObject__elements__Object",
    "js_function_shared": "class_JSFunction__shared__SharedFunctionInfo",
    "sfi_name_or_scope_info": "class_SharedFunctionInfo__name_or_scope_info__Object",
    "string_length": "class_String__length__int32_t",
    "seq_one_byte_chars": "class_SeqOneByteString__chars__char",
    "seq_two_byte_chars": "class_SeqTwoByteString__chars__char",
    "cons_first": "class_ConsString__first__String",
    "cons_second": "class_ConsString__second__String",
    "thin_actual": "class_ThinString__actual__String",
    "fixed_array_length": "class_FixedArrayBase__length__SMI",
    "fixed_array_header": "class_FixedArray__data__uintptr_t",
    "descriptor_array_header": "class_DescriptorArray__header_size__uintptr_t",
    "descriptor_key": "prop_desc_key",
    "descriptor_details": "prop_desc_details",
    "descriptor_value": "prop_desc_value",
    "descriptor_size": "prop_desc_size",
    "scope_info_first_vars": "scopeinfo_idx_first_vars",
    "scope_info_context_local_count": "scopeinfo_idx_ncontextlocals",
    "name_dictionary_prefix_start": "namedictionary_prefix_start_index",
    "name_dictionary_entry_size": "namedictionaryshape_entry_size",
}

# Facts the metadata lacks, from facts.py.
FROM_FACTS = {
    "last_js_function_type": "LAST_JS_FUNCTION_TYPE",
    "last_fixed_array_type": "LAST_FIXED_ARRAY_TYPE",
    "last_weak_fixed_array_type": "LAST_WEAK_FIXED_ARRAY_TYPE",
    "filler_type": "FILLER_TYPE",
    "native_context_type": "NATIVE_CONTEXT_TYPE",
    "bigint_type": "BIGINT_TYPE",
    "page_alignment": "kPageAlignment",
    "chunk_size": "MemoryChunk_size_offset",
    "chunk_flags": "MemoryChunk_flags_offset",
    "young_generation_mask": "MemoryChunk_young_generation_mask",
    "chunk_area_start": "MemoryChunk_area_start_offset",
    "chunk_area_end": "MemoryChunk_area_end_offset",
    "new_target_is_base_bit": "bit_field2_new_target_is_base_bit",
    "is_prototype_map_shift": "bit_field3_is_prototype_map_shift",
    "free_space_size": "FreeSpace_size_offset",
    "descriptor_count": "DescriptorArray_number_of_all_descriptors_offset",
    "property_array_length_mask": "PropertyArray_length_mask",
    "weak_array_list_header": "WeakArrayList_header_size",
    "scope_info_saved_class_variable_shift": "ScopeInfo_has_saved_class_variable_shift",
    "scope_info_function_variable_shift": "ScopeInfo_function_variable_shift",
    "scope_info_max_inlined_names": "ScopeInfo_max_inlined_local_names",
    "scope_info_has_names_hashtable": "ScopeInfo_has_names_hashtable_slot",
}

TYPE_SYMBOL = re.compile(r"^type_(\w+?)__(\w+_TYPE)$")


@dataclass(frozen=True)
class Layout:
    """Every offset, type number and bit position the scanner and readers use."""

    v8_version: tuple[int, int, int, int]
    values: dict[str, int]
    constants: dict[str, int]       # every v8dbg_* constant, for the rarely used ones
    type_names: dict[int, str]      # instance type -> V8 name, e.g. 1057 -> JS_OBJECT_TYPE
    class_names: dict[int, str]     # instance type -> C++ class, e.g. 1057 -> JSObject
    first_js_receiver_type: int
    checked: bool                   # this V8 version was checked against heap snapshots
    facts_used: tuple[str, ...] = field(default=())

    def __getattr__(self, name: str) -> int:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def smi(self, word: int) -> int | None:
        """The value of a tagged Smi word, or None if the word is not a Smi."""
        if word & ((1 << (self.values["smi_shift_size"] + 1)) - 1):
            return None
        value = word >> (self.values["smi_shift_size"] + 1)
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


def build_layout(binary: NodeBinary, warnings: Warnings | None = None) -> Layout:
    """Resolve the layout of `binary`; raise LayoutError if required metadata is missing."""
    constants = binary.constants
    missing = [sym for sym in REQUIRED.values() if sym not in constants]
    if not constants:
        raise LayoutError(binary.path, ["every v8dbg_* symbol (is this a node binary?)"])
    if missing:
        raise LayoutError(binary.path, missing)
    if constants["TaggedSize"] != 8:
        raise LayoutError(binary.path, ["support for pointer-compressed builds (TaggedSize 4)"])
    values = {key: constants[sym] for key, sym in REQUIRED.items()}
    version = binary.v8_version or (0, 0, 0, 0)
    facts_used = []
    absent = []
    for key, fact_name in FROM_FACTS.items():
        fact = lookup(fact_name, version[:2])
        if fact is None:
            absent.append(fact_name)
            continue
        values[key] = fact.value
        facts_used.append(fact_name)
    if absent:
        raise LayoutError(
            binary.path,
            [f"{name} for V8 {binary.v8_version_string} (not in facts.py)" for name in absent],
        )
    type_names, class_names = {}, {}
    for name, value in constants.items():
        found = TYPE_SYMBOL.match(name)
        if found:
            class_names.setdefault(value, found.group(1))
            type_names.setdefault(value, found.group(2))
    if "APIObjectType" in constants:
        type_names.setdefault(constants["APIObjectType"], "JS_API_OBJECT_TYPE")
    for t, n in ((values["filler_type"], "FILLER_TYPE"),
                 (values["native_context_type"], "NATIVE_CONTEXT_TYPE"),
                 (values["bigint_type"], "BIGINT_TYPE"),
                 (values["last_js_function_type"], "JS_CLASS_CONSTRUCTOR_TYPE")):
        type_names.setdefault(t, n)
    class_names.setdefault(values["bigint_type"], "BigInt")
    checked = version[:2] in CHECKED_V8_VERSIONS
    if not checked and warnings is not None:
        warnings.add(
            f"V8 {binary.v8_version_string} (Node {binary.node_version or '?'}) has not been "
            "checked against V8 heap snapshots by v8scan; counts may be off"
        )
    # JS receiver types are the highest instance types; JS_PROXY_TYPE is the first of them.
    return Layout(version, values, dict(constants), type_names, class_names, values["js_proxy_type"], checked,
                  tuple(facts_used))
