"""The scanner's rules as plain Python: how an object's size is found from its map, the
per-map flags, the limits, and the parameters of the walk as a typed record.

The one definition for Python: the twin (`_scan_py`), `heapscan.py` and the tests import it.
`_scan.pxd` declares the same values for C, and `_scan.pyx` checks every one of them
against this module when it is imported.
"""

from __future__ import annotations

from typing import NamedTuple

# How the size of an object is found from its map.
SIZE_FIXED = 0          # map's instance_size
SIZE_FIXED_ARRAY = 1    # header + length (Smi) * tagged size; the header is the map's
SIZE_BYTE_ARRAY = 2     # header + length (Smi) bytes, rounded up; fixed size if not 0
SIZE_DOUBLE_ARRAY = 3   # header + length (Smi) * 8
SIZE_ONE_BYTE = 4       # string chars offset + length (int32) bytes, rounded up
SIZE_TWO_BYTE = 5       # string chars offset + 2 * length (int32) bytes, rounded up
SIZE_FREE_SPACE = 6     # size (Smi, where FixedArrayBase keeps length) times its unit
SIZE_PROPERTY_ARRAY = 7  # header + (length_and_hash & mask) * tagged size
SIZE_DESCRIPTORS = 8    # header + number_of_all_descriptors (int16) * entry size
SIZE_WEAK_ARRAY_LIST = 9  # header + capacity (Smi) * tagged size
SIZE_UNKNOWN = 10       # counted, size not known: the walk steps one word

# Per-map flags.
MAP_JS_RECEIVER = 1     # properties and elements must point at real heap objects
MAP_FILLER = 2          # free space and fillers: skipped, never counted
MAP_COLLECT = 4         # record each object's address (functions: named one by one)
MAP_EPHEMERON = 8       # a WeakMap's table: a value is reachable only if its key is

# Where an edge's reference was read (Marker.edges with slots): the word's offset in the
# object that holds it, and in the top two bits which object that is.
SLOT_SHIFT = 30
SLOT_OWN = 0            # the source itself
SLOT_ELEMENTS = 1       # the source's elements store
SLOT_PROPERTIES = 2     # the source's property store (an array or a dictionary)
SLOT_EPHEMERON = 3      # a WeakMap table's entry, its value held by its key (the source)
SLOT_OFFSET_MASK = (1 << SLOT_SHIFT) - 1  # an offset this large or larger: not known

MAX_OBJECT_SIZE = 1 << 31  # a length or size at or past this is not a plausible object
MAX_FIELD_OFFSET = 4096    # no field the scanner reads is this far into an object
TRACE_ALL = MAX_OBJECT_SIZE  # a map's traced bytes: all of its objects' words
MAX_OBJECTS = (1 << 31) - 1  # the object graph numbers objects with int32


class ScanParams(NamedTuple):
    """Where the walk finds what it reads, in bytes (offsets from an object's start)."""

    tagged_size: int
    header_size: int               # FixedArray-like header (map + length)
    length_offset: int             # FixedArrayBase::length
    string_length_offset: int
    string_chars_offset: int
    properties_offset: int
    elements_offset: int
    descriptors_header: int
    descriptor_entry: int          # bytes per descriptor
    descriptors_count_offset: int
    property_array_mask: int
    weak_list_header: int
    free_space_unit: int           # bytes per unit of FreeSpace::size (1, or 8 from V8 13)

    def implausible(self) -> list[str]:
        """The fields outside the bounds the scanner accepts."""
        wide = {"descriptor_entry", "free_space_unit", "property_array_mask"}
        wrong = [name for name, value in self._asdict().items()
                 if not 0 <= value < (MAX_OBJECT_SIZE if name in wide else MAX_FIELD_OFFSET)]
        return wrong + ([] if self.tagged_size == 8 else ["tagged_size"])
