"""The one place for V8 facts that the postmortem metadata (`v8dbg_*`) does not carry.

Each fact is data: a name, a value, the V8 versions it holds for, and where it comes from.
`layout.py` is the only reader. A binary's own metadata always wins over this table; a fact
is used only where the metadata is silent. Versions are V8's (Node 20 ships V8 11.3).

Instance types that the metadata lists are not repeated here. The ones it omits are numbered
by V8's Torque-generated `instance-types.h` of that version; each such value below was also
checked on a real core of that version (the class-constructor maps, the filler maps, ...)
by the accuracy tests against V8's own heap snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

Version = tuple[int, int]


@dataclass(frozen=True)
class Fact:
    name: str
    value: int
    since: Version
    until: Optional[Version]  # exclusive; None = still true
    source: str

    def holds_for(self, version: Version) -> bool:
        return self.since <= version and (self.until is None or version < self.until)


V8_11_3 = (11, 3)
V8_11_4 = (11, 4)

FACTS: tuple[Fact, ...] = (
    # --- instance types the metadata omits -------------------------------------------
    Fact("LAST_JS_FUNCTION_TYPE", 2081, V8_11_3, V8_11_4,
         "instance-type.h: static_assert(JS_CLASS_CONSTRUCTOR_TYPE == LAST_JS_FUNCTION_TYPE); "
         "JS_FUNCTION_TYPE (metadata) is the first"),
    Fact("LAST_FIXED_ARRAY_TYPE", 189, V8_11_3, V8_11_4,
         "instance-types.h (torque): FixedArray subclasses (hash tables, ScriptContextTable, "
         "ClosureFeedbackCellArray, ...) follow FIXED_ARRAY_TYPE up to BYTE_ARRAY_TYPE - 1"),
    Fact("LAST_WEAK_FIXED_ARRAY_TYPE", 241, V8_11_3, V8_11_4,
         "instance-types.h (torque): TRANSITION_ARRAY_TYPE follows WEAK_FIXED_ARRAY_TYPE"),
    Fact("FILLER_TYPE", 250, V8_11_3, V8_11_4,
         "instance-types.h (torque): one_pointer_filler_map and two_pointer_filler_map"),
    Fact("NATIVE_CONTEXT_TYPE", 212, V8_11_3, V8_11_4,
         "instance-types.h (torque): context types AWAIT..WITH from FirstContextType, "
         "NATIVE_CONTEXT_TYPE is the eighth"),
    Fact("BIGINT_TYPE", 129, V8_11_3, V8_11_4,
         "instance-types.h (torque): BIGINT_TYPE follows SYMBOL_TYPE (FIRST_NONSTRING_TYPE)"),
    # --- heap pages (heap/basic-memory-chunk.h) ------------------------------------------
    Fact("kPageAlignment", 1 << 18, (9, 0), None,
         "globals.h: kPageSizeBits = 18; every heap chunk starts on a 256 KB boundary"),
    Fact("MemoryChunk_size_offset", 0, (9, 0), V8_11_4,
         "basic-memory-chunk.h: size_ is the first field of the chunk header"),
    Fact("MemoryChunk_flags_offset", 8, (9, 0), V8_11_4,
         "basic-memory-chunk.h: main_thread_flags_ follows size_"),
    Fact("MemoryChunk_young_generation_mask", 0x18, (9, 0), V8_11_4,
         "basic-memory-chunk.h: Flag FROM_PAGE = 1u << 3, TO_PAGE = 1u << 4"),
    Fact("MemoryChunk_area_start_offset", 24, (9, 0), V8_11_4,
         "basic-memory-chunk.h: size_, main_thread_flags_, heap_, then area_start_"),
    Fact("MemoryChunk_area_end_offset", 32, (9, 0), V8_11_4,
         "basic-memory-chunk.h: area_end_ follows area_start_"),
    # --- map bits --------------------------------------------------------------------
    Fact("bit_field2_new_target_is_base_bit", 0, (9, 0), None,
         "map.h: Map::Bits2 NewTargetIsBaseBit is bit 0, before IsImmutablePrototypeBit"),
    Fact("bit_field3_is_prototype_map_shift", 20, (9, 0), None,
         "map.h: Map::Bits3 EnumLength(10) NumberOfOwnDescriptors(10) IsPrototypeMapBit"),
    # --- object bodies ---------------------------------------------------------------
    Fact("FreeSpace_size_offset", 8, (9, 0), None, "free-space.tq: size: Smi after the map"),
    Fact("DescriptorArray_number_of_all_descriptors_offset", 8, (9, 0), None,
         "descriptor-array.tq: number_of_all_descriptors: uint16 after the map"),
    Fact("PropertyArray_length_mask", 0x3FF, (9, 0), None,
         "property-array.h: LengthField is the low kLengthFieldSize = 10 bits"),
    Fact("WeakArrayList_header_size", 24, (9, 0), None,
         "weak-array-list.tq: map, capacity: Smi, length: Smi"),
    Fact("SharedFunctionInfo_no_shared_name_sentinel", 0, (9, 0), None,
         "shared-function-info.h: kNoSharedNameSentinel = Smi::zero()"),
    # --- ScopeInfo (scope-info.tq) ---------------------------------------------------
    Fact("ScopeInfo_has_saved_class_variable_shift", 10, V8_11_3, V8_11_4,
         "scope-info.tq ScopeFlags: scope_type:4 sloppy_eval:1 language_mode:1 "
         "declaration_scope:1 receiver_variable:2 has_class_brand:1 has_saved_class_variable"),
    Fact("ScopeInfo_function_variable_shift", 12, V8_11_3, V8_11_4,
         "scope-info.tq ScopeFlags: ... has_new_target:1, function_variable:2"),
    Fact("ScopeInfo_max_inlined_local_names", 75, V8_11_3, V8_11_4,
         "scope-info.h: kScopeInfoMaxInlinedLocalNamesSize; more names go to a hash table"),
    Fact("ScopeInfo_has_names_hashtable_slot", 1, V8_11_3, V8_11_4,
         "scope-info.tq: context_local_names_hashtable?[count >= kMaxInlinedLocalNamesSize] "
         "after context_local_infos"),
)

# Versions whose V8 has been checked against a heap snapshot by the test suite.
CHECKED_V8_VERSIONS: tuple[Version, ...] = (V8_11_3,)


def lookup(name: str, version: Version) -> Optional[Fact]:
    """The fact `name` for V8 `version`, or None where the table has none."""
    for fact in FACTS:
        if fact.name == name and fact.holds_for(version):
            return fact
    return None
