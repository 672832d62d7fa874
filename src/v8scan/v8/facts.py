"""The one place for V8 facts that the postmortem metadata (`v8dbg_*`) does not carry.

Each fact is data: a name, a value, the V8 versions it holds for, and where it comes from.
`layout.py` is the only reader. A binary's own metadata always wins over this table; a fact
is used only where the metadata is silent. Versions are V8's: Node 16 ships V8 9.4, 18 10.2,
20 11.3, 22 12.4, 24 13.6 and 26 14.6.

A fact is either a plain value or a value relative to a metadata constant (`relative_to`),
because most missing instance types sit at a fixed place next to listed ones: Torque numbers
the types by walking the class tree, children of one parent in alphabetical order, so for
example FILLER_TYPE always directly precedes FREE_SPACE_TYPE (base.tq's `Filler` and
free-space.tq's `FreeSpace` are adjacent children of HeapObject). Relative facts carry over
to V8 versions between the checked ones; each was checked on a real core of every version
in CHECKED_V8_VERSIONS by the accuracy tests against V8's own heap snapshot.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Optional

Version = tuple[int, int]


@dataclass(frozen=True)
class Fact:
    name: str
    value: int
    since: Version
    until: Optional[Version]  # exclusive; None = still true
    source: str
    relative_to: Optional[str] = None  # value is an offset from this v8dbg_ constant

    def holds_for(self, version: Version) -> bool:
        return self.since <= version and (self.until is None or version < self.until)


V9 = (9, 0)
V10 = (10, 0)
V11 = (11, 0)
V12 = (12, 0)
V13 = (13, 0)

# Torque instance-type numbering, as generated into instance-types.h.
_INSTANCE_TYPES = (
    # Named as the metadata constant it stands in for, so the metadata wins where it has it.
    Fact("type_FreeSpace__FREE_SPACE_TYPE", 2, V9, None,
         "HeapObject's children in order: FeedbackVector (feedback-vector.tq), Filler "
         "(base.tq), FreeSpace (free-space.tq); metadata lists FreeSpace up to V8 12.4 only",
         relative_to="type_FeedbackVector__FEEDBACK_VECTOR_TYPE"),
    Fact("FILLER_TYPE", -1, V9, None,
         "base.tq: Filler (one_pointer_filler_map, two_pointer_filler_map) sorts between "
         "FeedbackVector and FreeSpace", relative_to="type_FreeSpace__FREE_SPACE_TYPE"),
    Fact("LAST_FIXED_ARRAY_TYPE", -1, V9, None,
         "instance-types.h: FixedArray's subclasses (hash tables, ScriptContextTable, "
         "ClosureFeedbackCellArray, ...) fill the range up to ByteArray, FixedArrayBase's "
         "next child", relative_to="type_ByteArray__BYTE_ARRAY_TYPE"),
    Fact("LAST_WEAK_FIXED_ARRAY_TYPE", 1, V9, None,
         "instance-types.h: TransitionArray is WeakFixedArray's one subclass",
         relative_to="type_WeakFixedArray__WEAK_FIXED_ARRAY_TYPE"),
    Fact("NATIVE_CONTEXT_TYPE", -2, V9, None,
         "contexts.tq: the ten context types in alphabetical order end NATIVE, SCRIPT, WITH",
         relative_to="LastContextType"),
    Fact("BIGINT_TYPE", 1, V9, None,
         "instance-types.h: BIGINT_TYPE follows SYMBOL_TYPE (FIRST_NONSTRING_TYPE)",
         relative_to="type_Symbol__SYMBOL_TYPE"),
    Fact("LastJSFunctionType", 14, V9, V10,
         "js-function.tq (9.x): JS_FUNCTION_TYPE, 11 typed-array constructors, then the "
         "Array, Promise and RegExp constructors; class constructors are plain JSFunctions",
         relative_to="type_JSFunction__JS_FUNCTION_TYPE"),
    Fact("LastJSFunctionType", 15, V10, None,
         "js-function.tq: JS_CLASS_CONSTRUCTOR_TYPE follows the RegExp constructor type; "
         "V8 12+ exports LastJSFunctionType itself",
         relative_to="type_JSFunction__JS_FUNCTION_TYPE"),
)

# Heap pages (heap/basic-memory-chunk.h up to V8 11, memory-chunk.h and
# memory-chunk-metadata.h after). A page starts on a 256 KB boundary with a header. Up to
# V8 11 the header holds everything. Since V8 12 it holds the flags and a pointer to a
# MemoryChunkMetadata: in the page itself in 12.x, malloc'ed from 13 on. Offsets of size,
# area_start and area_end are relative to that metadata.
_PAGES = (
    Fact("kPageAlignment", 1 << 18, V9, None,
         "globals.h: kPageSizeBits = 18; every heap chunk starts on a 256 KB boundary"),
    Fact("kAllocationRandomAddressMax", 0x3FFFFFFFF000, V9, None,
         "platform-posix.cc: x64 heap pages are mapped at random hints below this address "
         "(the kernel puts stacks, malloc arenas and libraries near the top of the 47 bits)"),
    Fact("MemoryChunk_young_generation_mask", 0x18, V9, None,
         "memory-chunk.h: Flag FROM_PAGE = 1u << 3, TO_PAGE = 1u << 4"),
    Fact("MemoryChunk_flags_offset", 8, V9, V12, "basic-memory-chunk.h: size_, then flags_"),
    Fact("MemoryChunk_flags_offset", 0, V12, None,
         "memory-chunk.h: main_thread_flags_ is the first field of the page header"),
    Fact("MemoryChunk_metadata_offset", -1, V9, V12,
         "basic-memory-chunk.h: no separate metadata; the header is the metadata (-1)"),
    Fact("MemoryChunk_metadata_offset", 8, V12, None,
         "memory-chunk.h: metadata_ (MemoryChunkMetadata*) follows the flags"),
    # list_node_ (heap::ListNode: next_, prev_) links the pages of a space in allocation
    # order; the offset of prev_ was read off the page headers of each checked build.
    Fact("Metadata_list_prev_offset", 224, V9, V10, "memory-chunk.h (9.4): list_node_.prev_"),
    Fact("Metadata_list_prev_offset", 240, V10, V11, "memory-chunk.h (10.2): list_node_.prev_"),
    Fact("Metadata_list_prev_offset", 272, V11, (14, 0),
         "memory-chunk.h (11.3, 12.4), mutable-page-metadata.h (13.6): list_node_.prev_"),
    Fact("Metadata_list_prev_offset", 264, (14, 0), None,
         "mutable-page-metadata.h (14.6): list_node_.prev_"),
    Fact("MemoryChunk_to_page_flag", 1 << 4, V9, None, "memory-chunk.h: Flag TO_PAGE = 1u << 4"),
    Fact("Metadata_size_offset", 0, V9, V12, "basic-memory-chunk.h: size_ comes first"),
    Fact("Metadata_heap_offset", 16, V9, V12, "basic-memory-chunk.h: size_, flags_, heap_"),
    Fact("Metadata_area_start_offset", 24, V9, V12,
         "basic-memory-chunk.h: size_, flags_, heap_, area_start_"),
    Fact("Metadata_area_end_offset", 32, V9, V12, "basic-memory-chunk.h: area_end_"),
    Fact("Metadata_size_offset", 16, V12, V13,
         "memory-chunk.h (12.x): flags_, metadata_ (the page itself), then size_, heap_"),
    Fact("Metadata_heap_offset", 24, V12, V13, "memory-chunk.h (12.x): heap_ after size_"),
    Fact("Metadata_area_start_offset", 32, V12, V13, "memory-chunk.h (12.x): area_start_"),
    Fact("Metadata_area_end_offset", 40, V12, V13, "memory-chunk.h (12.x): area_end_"),
    Fact("Metadata_size_offset", 48, V13, None,
         "memory-chunk-metadata.h: reservation_ (3 words), allocated_bytes_, wasted_memory_, "
         "high_water_mark_, size_"),
    Fact("Metadata_area_end_offset", 56, V13, None,
         "memory-chunk-metadata.h: area_end_ follows size_"),
    Fact("Metadata_heap_offset", 64, V13, None,
         "memory-chunk-metadata.h: heap_ follows area_end_"),
    Fact("Metadata_area_start_offset", 72, V13, None,
         "memory-chunk-metadata.h: heap_, then area_start_"),
)

_OBJECT_BODIES = (
    Fact("class_PropertyCell__value", 16, V9, None,
         "property-cell.tq: name, property_details_raw, value, dependent_code",
         relative_to="class_PropertyCell__name"),
    Fact("bit_field2_new_target_is_base_bit", 0, V9, None,
         "map.h: Map::Bits2 NewTargetIsBaseBit is bit 0, before IsImmutablePrototypeBit"),
    Fact("bit_field3_is_prototype_map_shift", 20, V9, None,
         "map.h: Map::Bits3 EnumLength(10) NumberOfOwnDescriptors(10) IsPrototypeMapBit"),
    Fact("FreeSpace_size_unit", 1, V9, V13, "free-space.h: size() in bytes"),
    Fact("FreeSpace_size_unit", 8, V13, None,
         "free-space.h (13+): size_in_tagged: the Smi counts tagged words"),
    Fact("DescriptorArray_number_of_all_descriptors_offset", 8, V9, None,
         "descriptor-array.tq: number_of_all_descriptors: uint16 after the map"),
    Fact("PropertyArray_length_mask", 0x3FF, V9, None,
         "property-array.h: LengthField is the low kLengthFieldSize = 10 bits"),
    Fact("WeakArrayList_header_size", 24, V9, None,
         "weak-array-list.tq: map, capacity: Smi, length: Smi"),
    Fact("class_SharedFunctionInfo__script", 0, V9, V12,
         "the metadata of V8 9.4-11.3 names this field script_or_debug_info; from 12.4 it "
         "is script", relative_to="class_SharedFunctionInfo__script_or_debug_info"),
    Fact("class_PropertyCell__name", 8, V9, None,
         "property-cell.tq: name is the first field after the map; the metadata omits it "
         "(read this way, `global.specimen` is found on V8 11.3; other versions unchecked)"),
    Fact("class_SharedFunctionInfo__function_data", 8, V12, None,
         "shared-function-info.tq: (untrusted_)function_data follows the map; the metadata "
         "of 12.4+ omits it (read off cores of 12.4, 13.6, 14.6: it holds the UncompiledData "
         "of a function not yet compiled)"),
    Fact("class_Script__source", 8, V9, V10,
         "script.tq: source is Script's first field; the metadata of 9.4 omits it"),
    Fact("class_Oddball__kind", 0, V9, V12,
         "oddball.tq: the metadata of 9.4-11.3 calls the kind field kind_offset",
         relative_to="class_Oddball__kind_offset"),
    Fact("OddballTheHole", -1, V12, None,
         "V8 12+: the hole is no Oddball but its own Hole type (-1: no such kind)"),
    Fact("type_Hole__HOLE_TYPE", -1, V9, V12,
         "before V8 12 the hole is an Oddball of kind OddballTheHole (-1: no such type)"),
    Fact("type_Hole__HOLE_TYPE", 1, V12, None,
         "HeapObject's children in order: ... Filler, FreeSpace, Hole (hole.tq); the "
         "metadata lists Hole in 12.4 and 13.6 (FreeSpace + 1 in both) but not in 14.6",
         relative_to="type_FreeSpace__FREE_SPACE_TYPE"),
    Fact("FixedDoubleArray_hole_nan", 0xFFF7FFFFFFF7FFFF, V9, None,
         "globals.h: kHoleNanUpper32 = kHoleNanLower32 = 0xFFF7FFFF marks a hole among doubles"),
    Fact("class_ExternalString__resource_data", 8, V9, None,
         "string.tq: a cached external string keeps resource_data (the characters) after "
         "resource", relative_to="class_ExternalString__resource"),
    Fact("class_JSArray__length", 24, V9, None,
         "js-array.tq: length follows JSObject's map, properties and elements"),
    Fact("class_JSCollection__table", 24, V9, None,
         "js-collection.tq: table follows JSObject's map, properties and elements"),
    # OrderedHashMap / OrderedHashSet (ordered-hash-table.h): a FixedArray of element count,
    # deleted count and bucket count, the buckets, then entries of key[, value], chain.
    Fact("OrderedHashTable_hash_table_start_index", 3, V9, None,
         "ordered-hash-table.h: kNumberOfElementsIndex 0, kNumberOfDeletedElementsIndex 1, "
         "kNumberOfBucketsIndex 2, kHashTableStartIndex 3"),
    Fact("OrderedHashMap_entry_size", 3, V9, None,
         "ordered-hash-table.h: OrderedHashMap entrysize 2 (key, value) plus the chain"),
    Fact("OrderedHashSet_entry_size", 2, V9, None,
         "ordered-hash-table.h: OrderedHashSet entrysize 1 (key) plus the chain"),
    Fact("SharedFunctionInfo_no_shared_name_sentinel", 0, V9, None,
         "shared-function-info.h: kNoSharedNameSentinel = Smi::zero()"),
    # ScopeInfo (scope-info.tq): the flags word and where the function's own name sits.
    Fact("ScopeInfo_has_saved_class_variable_shift", 10, V9, None,
         "scope-info.tq ScopeFlags: scope_type:4 sloppy_eval:1 language_mode:1 "
         "declaration_scope:1 receiver_variable:2 has_class_brand:1 has_saved_class_variable"),
    Fact("ScopeInfo_function_variable_shift", 12, V9, None,
         "scope-info.tq ScopeFlags: ... has_new_target:1, function_variable:2"),
    Fact("ScopeInfo_flags_is_smi", 1, V9, V13, "scope-info.tq: flags: SmiTagged<ScopeFlags>"),
    Fact("ScopeInfo_flags_is_smi", 0, V13, None,
         "scope-info.tq (13+): flags: ScopeFlags, a raw uint32 in the low half of the word"),
    Fact("ScopeInfo_receiver_variable_shift", 7, V9, V10,
         "scope-info.tq (9.x): receiver_info?[receiver_variable is STACK or CONTEXT] comes "
         "before function_variable_info; ScopeFlags receiver_variable:2 at bit 7"),
    Fact("ScopeInfo_receiver_variable_shift", -1, V10, None,
         "scope-info.tq: receiver_info was removed in V8 10 (-1: no such slot)"),
    Fact("ScopeInfo_inferred_function_name_shift", 14, V9, None,
         "scope-info.tq ScopeFlags: ... function_variable:2, has_inferred_function_name:1"),
    Fact("ScopeInfo_position_info_slot", -1, V9, V13,
         "scope-info.tq: position_info (start, end) follows the function variable and the "
         "inferred name (-1: not at a fixed slot)"),
    Fact("ScopeInfo_position_info_slot", 3, V13, None,
         "scope-info.tq (13+): position_info moved into the fixed header after "
         "context_local_count (scopeinfo_idx_first_vars went from 3 to 5)"),
    Fact("ScopeInfo_max_inlined_local_names", 75, V9, None,
         "scope-info.h: kScopeInfoMaxInlinedLocalNamesSize; more names go to a hash table"),
    Fact("ScopeInfo_has_names_hashtable_slot", 1, V9, None,
         "scope-info.tq: context_local_names_hashtable?[count >= kMaxInlinedLocalNamesSize] "
         "after context_local_infos"),
)

# Array-like objects whose instance type lies outside the FixedArray and ByteArray ranges
# the walk sizes by: a Smi count at FixedArrayBase's length offset, then a header of its
# own, then the elements. Each header below was checked on a real core of the versions it
# names: every object it sizes ends where the next object on the page begins.
_ARRAY_HEADERS = (
    Fact("class_BytecodeArray__data", 54, V9, V10,
         "bytecode-array.h (9.4): the bytecodes follow a 54-byte header; the metadata of "
         "9.4 omits class_BytecodeArray__data (10.2+ has it)"),
    Fact("EmbedderDataArray_header_size", 16, V9, None,
         "embedder-data-array.h: map and length (Smi), then one 8-byte slot per entry"),
    Fact("TrustedArray_header_size", 16, V12, None,
         "fixed-array.h (12+): TrustedFixedArray, ProtectedFixedArray, TrustedByteArray, "
         "ClosureFeedbackCellArray and (13+) the trusted and protected WeakFixedArrays keep "
         "FixedArray's map and length header"),
    Fact("ArrayList_header_size", 24, V12, None,
         "fixed-array.h (12+): ArrayList is a TaggedArrayBase of map, capacity, length (the "
         "metadata has class_ArrayList__length at 16)"),
    Fact("ObjectBoilerplateDescription_header_size", 32, V12, None,
         "literal-objects.h (12+): map, capacity, backing_store_size, flags, then entries"),
    Fact("RegExpMatchInfo_header_size", 40, V12, None,
         "regexp-match-info.h (12+): map, capacity, number_of_capture_registers, "
         "last_subject, last_input, then the capture registers"),
)

# Which type takes which header: (instance type's metadata name, bytes per element, header).
ARRAY_BODIES: tuple[tuple[str, int, str], ...] = (
    ("type_BytecodeArray__BYTECODE_ARRAY_TYPE", 1, "class_BytecodeArray__data"),
    ("type_EmbedderDataArray__EMBEDDER_DATA_ARRAY_TYPE", 8, "EmbedderDataArray_header_size"),
    ("type_TrustedFixedArray__TRUSTED_FIXED_ARRAY_TYPE", 8, "TrustedArray_header_size"),
    ("type_ProtectedFixedArray__PROTECTED_FIXED_ARRAY_TYPE", 8, "TrustedArray_header_size"),
    ("type_TrustedWeakFixedArray__TRUSTED_WEAK_FIXED_ARRAY_TYPE", 8,
     "TrustedArray_header_size"),
    ("type_ProtectedWeakFixedArray__PROTECTED_WEAK_FIXED_ARRAY_TYPE", 8,
     "TrustedArray_header_size"),
    ("type_TrustedByteArray__TRUSTED_BYTE_ARRAY_TYPE", 1, "TrustedArray_header_size"),
    ("type_ClosureFeedbackCellArray__CLOSURE_FEEDBACK_CELL_ARRAY_TYPE", 8,
     "TrustedArray_header_size"),
    ("type_ArrayList__ARRAY_LIST_TYPE", 8, "ArrayList_header_size"),
    ("type_ObjectBoilerplateDescription__OBJECT_BOILERPLATE_DESCRIPTION_TYPE", 8,
     "ObjectBoilerplateDescription_header_size"),
    ("type_RegExpMatchInfo__REG_EXP_MATCH_INFO_TYPE", 8, "RegExpMatchInfo_header_size"),
)

# The heap snapshot format each V8 writes (`snapshot.meta` of v8.writeHeapSnapshot() by
# each supported node): its node fields and node types changed over the versions, its edge
# fields and edge types did not. Tagged by the first V8 version that writes each.
_EDGE_TYPES = ("context", "element", "property", "internal", "hidden", "shortcut", "weak")
_NODE_TYPES = ("hidden", "array", "string", "object", "code", "closure", "regexp", "number",
               "native", "synthetic", "concatenated string", "sliced string", "symbol",
               "bigint")
SNAPSHOT_FORMATS: tuple[tuple[Version, tuple[str, ...], tuple[str, ...]], ...] = (
    # (since, node_fields, node_types: the types of the fields, the first one's listed; V8
    # 13 lists one "number" more than it has fields)
    (V9, ("type", "name", "id", "self_size", "edge_count", "trace_node_id", "detachedness"),
     ("string",) + ("number",) * 5),
    (V13, ("type", "name", "id", "self_size", "edge_count", "detachedness"),
     ("string",) + ("number",) * 5),
    ((14, 0), ("type", "name", "id", "self_size", "edge_count", "detachedness"),
     ("string",) + ("number",) * 4),
)
# The node types (the type field's values), by the first V8 version that writes each list.
SNAPSHOT_NODE_TYPES: tuple[tuple[Version, tuple[str, ...]], ...] = (
    (V9, _NODE_TYPES),
    (V11, _NODE_TYPES + ("object shape", "wasm object")),
    (V12, _NODE_TYPES + ("object shape",)),
)

# What the snapshot's root holds with a shortcut edge, one per context: DevTools' user
# roots. Seen in V8's own snapshots: the global object up to V8 13.6 (Node 24), the
# native context in V8 14.6 (Node 26).
SNAPSHOT_USER_ROOTS: tuple[tuple[Version, str], ...] = (
    (V9, "global object"),
    ((14, 0), "native context"),
)


def _newest(table: tuple[tuple, ...], version: Version) -> tuple:
    """The row of a (since, ...) table for `version`: the last one since which it holds,
    the first one for a V8 older than all."""
    return [row for row in table if row[0] <= version][-1] if version >= table[0][0] \
        else table[0]


def snapshot_user_roots(version: Version) -> str:
    """What V8 `version`'s heap snapshot has its root hold: "global object" or "native
    context"."""
    return _newest(SNAPSHOT_USER_ROOTS, version)[1]


# From this version on, an external string's self size in V8's snapshot counts its
# characters, kept outside the heap (seen in V8 13.6, Node 24; not in 12.4, Node 22).
SNAPSHOT_EXTERNAL_STRING_PAYLOAD_SINCE: Version = V13


def snapshot_meta(version: Version) -> dict:
    """`snapshot.meta` as V8 `version` writes it (the newest format for a newer V8)."""
    _, node_fields, field_types = _newest(SNAPSHOT_FORMATS, version)
    _, node_types = _newest(SNAPSHOT_NODE_TYPES, version)
    return {
        "node_fields": list(node_fields),
        "node_types": [list(node_types), *field_types],
        "edge_fields": ["type", "name_or_index", "to_node"],
        "edge_types": [list(_EDGE_TYPES), "string_or_number", "node"],
        "trace_function_info_fields": ["function_id", "name", "script_name", "script_id",
                                       "line", "column"],
        "trace_node_fields": ["id", "function_info_index", "count", "size", "children"],
        "sample_fields": ["timestamp_us", "last_assigned_id"],
        "location_fields": ["object_index", "script_id", "line", "column"],
    }


FACTS: tuple[Fact, ...] = _INSTANCE_TYPES + _PAGES + _OBJECT_BODIES + _ARRAY_HEADERS

# Versions whose V8 has been checked against a heap snapshot by the test suite.
CHECKED_V8_VERSIONS: tuple[Version, ...] = ((9, 4), (10, 2), (11, 3), (12, 4), (13, 6), (14, 6))


def lookup(name: str, version: Version) -> Optional[Fact]:
    """The fact `name` for V8 `version`, or None where the table has none."""
    for fact in FACTS:
        if fact.name == name and fact.holds_for(version):
            return fact
    return None


def instance_type_names(version: Version) -> dict[int, str]:
    """V8's own names of the instance types of V8 `version` that the postmortem metadata
    does not name (instance_types.json, recorded from each supported node binary by
    tools/record_instance_types.py); empty for a version not recorded."""
    return {int(t): name for t, name in _recorded_instance_types().get(
        f"{version[0]}.{version[1]}", {}).items()}


@functools.lru_cache(maxsize=1)
def _recorded_instance_types() -> dict[str, dict[str, str]]:
    return json.loads(resources.files(__package__).joinpath("instance_types.json").read_text())
