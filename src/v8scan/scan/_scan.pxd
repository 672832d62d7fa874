# The scanner's constants and parameter record for C. Their values are those of
# scanrules.py; _scan.pyx checks each of them against it when imported.

from libc.stdint cimport int64_t

cdef enum SizeKind:
    SIZE_FIXED = 0
    SIZE_FIXED_ARRAY = 1
    SIZE_BYTE_ARRAY = 2
    SIZE_DOUBLE_ARRAY = 3
    SIZE_ONE_BYTE = 4
    SIZE_TWO_BYTE = 5
    SIZE_FREE_SPACE = 6
    SIZE_PROPERTY_ARRAY = 7
    SIZE_DESCRIPTORS = 8
    SIZE_WEAK_ARRAY_LIST = 9
    SIZE_UNKNOWN = 10

cdef enum MapFlag:
    MAP_JS_RECEIVER = 1
    MAP_FILLER = 2
    MAP_COLLECT = 4
    MAP_EPHEMERON = 8

cdef enum Limit:
    MAX_FIELD_OFFSET = 4096

cdef enum EdgeSlot:
    SLOT_SHIFT = 30
    SLOT_OWN = 0
    SLOT_ELEMENTS = 1
    SLOT_PROPERTIES = 2
    SLOT_EPHEMERON = 3

cdef struct ScanParams:
    int64_t tagged_size
    int64_t header_size
    int64_t length_offset
    int64_t string_length_offset
    int64_t string_chars_offset
    int64_t properties_offset
    int64_t elements_offset
    int64_t descriptors_header
    int64_t descriptor_entry
    int64_t descriptors_count_offset
    int64_t property_array_mask
    int64_t weak_list_header
    int64_t free_space_unit
