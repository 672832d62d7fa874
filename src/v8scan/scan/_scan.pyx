# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The hot loop: find V8 heap objects by their tagged map pointers, without the GIL.

Mirrors `_scan_py.py` function for function (that twin is the test oracle). Inputs are the
whole core as one read-only byte view plus a table of areas (vaddr, file offset, size);
every read is checked against its area, whatever the bytes say. Each function holds the
GIL only to set up and to hand back its result, so `sweep.py` runs chunks of one sweep on
several threads at once.
"""

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

import numpy as np

from . import scanrules

cdef int64_t MAX_OBJECT_SIZE = 1 << 31

# The constants of _scan.pxd are those of scanrules.py, every one of them.
for _name, _value in (
        ("SIZE_FIXED", SIZE_FIXED), ("SIZE_FIXED_ARRAY", SIZE_FIXED_ARRAY),
        ("SIZE_BYTE_ARRAY", SIZE_BYTE_ARRAY), ("SIZE_DOUBLE_ARRAY", SIZE_DOUBLE_ARRAY),
        ("SIZE_ONE_BYTE", SIZE_ONE_BYTE), ("SIZE_TWO_BYTE", SIZE_TWO_BYTE),
        ("SIZE_FREE_SPACE", SIZE_FREE_SPACE), ("SIZE_PROPERTY_ARRAY", SIZE_PROPERTY_ARRAY),
        ("SIZE_DESCRIPTORS", SIZE_DESCRIPTORS), ("SIZE_WEAK_ARRAY_LIST", SIZE_WEAK_ARRAY_LIST),
        ("SIZE_UNKNOWN", SIZE_UNKNOWN), ("MAP_JS_RECEIVER", MAP_JS_RECEIVER),
        ("MAP_FILLER", MAP_FILLER), ("MAP_COLLECT", MAP_COLLECT),
        ("MAX_FIELD_OFFSET", MAX_FIELD_OFFSET), ("MAX_OBJECT_SIZE", MAX_OBJECT_SIZE)):
    if getattr(scanrules, _name) != _value:
        raise ImportError(f"_scan.pxd and scanrules.py disagree on {_name}")


cdef dict _as_dict(ScanParams p):
    return p


cdef ScanParams _probe = dict.fromkeys(scanrules.ScanParams._fields, 0)
if set(_as_dict(_probe)) != set(scanrules.ScanParams._fields):
    raise ImportError("_scan.pxd and scanrules.py disagree on the scan parameters")


cdef inline uint64_t load64(const uint8_t* p) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return v


cdef inline int64_t round_up(int64_t n, int64_t to) noexcept nogil:
    return (n + to - 1) // to * to


# --- an open-addressing hash of tagged map pointers: a few instructions per word ---------
cdef struct MapTable:
    uint64_t* keys
    int64_t* values
    uint64_t mask
    uint64_t low      # smallest key: a word outside [low, low + span] is no map pointer
    uint64_t span
    Py_ssize_t n      # keys: the values found are indexes below n


cdef inline uint64_t hash_word(uint64_t w) noexcept nogil:
    return ((w >> 3) * <uint64_t>0x9E3779B97F4A7C15) >> 20


cdef inline int64_t table_find(MapTable* t, uint64_t w) noexcept nogil:
    if w - t.low > t.span:  # unsigned: also true below `low`
        return -1
    cdef uint64_t i = hash_word(w) & t.mask
    while t.keys[i] != 0:
        if t.keys[i] == w:
            return t.values[i]
        i = (i + 1) & t.mask
    return -1


cdef class _Table:
    """Owns the arrays behind a MapTable."""
    cdef object keys_array, values_array
    cdef MapTable table

    def __init__(self, const uint64_t[::1] map_keys):
        cdef Py_ssize_t n = map_keys.shape[0], size = 16, i
        cdef uint64_t slot, low = <uint64_t>-1, high = 0
        while size < 2 * n + 1:
            size *= 2
        self.keys_array = np.zeros(size, dtype=np.uint64)
        self.values_array = np.full(size, -1, dtype=np.int64)
        cdef uint64_t[::1] keys = self.keys_array
        cdef int64_t[::1] values = self.values_array
        for i in range(n):
            slot = hash_word(map_keys[i]) & (size - 1)
            while keys[slot] != 0:
                slot = (slot + 1) & (size - 1)
            keys[slot] = map_keys[i]
            values[slot] = i
            low = min(low, map_keys[i])
            high = max(high, map_keys[i])
        self.table.keys = &keys[0]
        self.table.values = &values[0]
        self.table.mask = size - 1
        self.table.low = low if n else 1
        self.table.span = high - low if n else 0
        self.table.n = n


# --- a growable array of addresses, filled without the GIL --------------------------
cdef struct Found:
    uint64_t* items
    Py_ssize_t n
    Py_ssize_t cap


cdef int found_add(Found* f, uint64_t address) except -1 nogil:
    cdef uint64_t* grown
    if f.n == f.cap:
        f.cap = 2 * f.cap if f.cap else 256
        grown = <uint64_t*>realloc(f.items, f.cap * sizeof(uint64_t))
        if grown == NULL:
            with gil:
                raise MemoryError()
        f.items = grown
    f.items[f.n] = address
    f.n += 1
    return 0


cdef object found_array(Found* f):
    """The addresses as a numpy array; frees the buffer."""
    out = np.empty(f.n, dtype=np.uint64)
    cdef uint64_t[::1] view = out
    if f.n:
        memcpy(&view[0], f.items, f.n * sizeof(uint64_t))
    free(f.items)
    f.items = NULL
    f.n = f.cap = 0
    return out


# --- areas: translate a virtual address to a byte position, or fail ------------------
cdef struct Areas:
    const uint64_t* rows   # n areas as rows of (vaddr, file offset, size), sorted by vaddr
    Py_ssize_t n
    Py_ssize_t hint        # the row of the last hit: pointers tend to go where the last did


cdef inline bint area_holds(const uint64_t* row, uint64_t address, uint64_t length) noexcept nogil:
    """Whether the area row (vaddr, offset, size) holds `length` bytes at `address`
    (written so that no sum can wrap around)."""
    return address >= row[0] and length <= row[2] and address - row[0] <= row[2] - length


cdef inline int64_t area_position(Areas* a, uint64_t address, uint64_t length) noexcept nogil:
    """File position of `length` bytes at `address`, or -1 if they are not all in one area."""
    cdef Py_ssize_t lo = a.hint, hi, mid
    if area_holds(a.rows + 3 * lo, address, length):
        return <int64_t>(a.rows[3 * lo + 1] + address - a.rows[3 * lo])
    lo, hi = 0, a.n
    while lo < hi:
        mid = (lo + hi) >> 1
        if a.rows[3 * mid] <= address:
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return -1
    lo -= 1
    if not area_holds(a.rows + 3 * lo, address, length):
        return -1
    a.hint = lo
    return <int64_t>(a.rows[3 * lo + 1] + address - a.rows[3 * lo])


cdef inline bint points_to_object(const uint8_t* data, Areas* areas, MapTable* maps,
                                  uint64_t tagged) noexcept nogil:
    cdef int64_t pos
    if tagged & 3 != 1:
        return False
    pos = area_position(areas, tagged - 1, 8)
    return pos >= 0 and table_find(maps, load64(data + pos)) >= 0


cdef inline int64_t smi_value(uint64_t word) noexcept nogil:
    if word & <uint64_t>0xFFFFFFFF:
        return -1
    return <int64_t>(<int32_t>(word >> 32))


cdef inline bint fits(int64_t pos, int64_t offset, int64_t width, int64_t end) noexcept nogil:
    """Whether `width` bytes at `pos + offset` lie before `end` (the area's end)."""
    return pos + offset + width <= end


cdef inline int64_t object_size(const uint8_t* data, int64_t pos, int64_t end, int kind,
                                int64_t fixed, const ScanParams* p) noexcept nogil:
    """Size of the object at `pos` by its size rule, or -1 if the fields that give it are
    implausible or lie past `end`."""
    cdef int64_t tagged = p.tagged_size, value
    cdef int32_t length
    cdef int16_t count
    if kind == SIZE_FIXED:
        return fixed
    if kind == SIZE_UNKNOWN:
        return tagged
    if kind == SIZE_ONE_BYTE or kind == SIZE_TWO_BYTE:
        if not fits(pos, p.string_length_offset, 4, end):
            return -1
        memcpy(&length, data + pos + p.string_length_offset, 4)
        if length < 0:
            return -1
        return round_up(p.string_chars_offset + (1 if kind == SIZE_ONE_BYTE else 2) * <int64_t>length, tagged)
    if kind == SIZE_DESCRIPTORS:
        if not fits(pos, p.descriptors_count_offset, 2, end):
            return -1
        memcpy(&count, data + pos + p.descriptors_count_offset, 2)
        if count < 0:
            return -1
        return p.descriptors_header + <int64_t>count * p.descriptor_entry
    if not fits(pos, p.length_offset, 8, end):
        return -1
    value = smi_value(load64(data + pos + p.length_offset))
    if value < 0 or value >= MAX_OBJECT_SIZE:
        return -1  # the length is not a plausible Smi: not an object
    # An array-like type with a header of its own carries it as its fixed size.
    if kind == SIZE_FIXED_ARRAY:
        return (fixed if fixed else p.header_size) + value * tagged
    if kind == SIZE_BYTE_ARRAY:
        return round_up((fixed if fixed else p.header_size) + value, tagged)
    if kind == SIZE_DOUBLE_ARRAY:
        return p.header_size + value * 8
    if kind == SIZE_FREE_SPACE:
        value *= p.free_space_unit
        return value if value % tagged == 0 else -1
    if kind == SIZE_PROPERTY_ARRAY:
        return p.header_size + (value & p.property_array_mask) * tagged
    if kind == SIZE_WEAK_ARRAY_LIST:
        return p.weak_list_header + value * tagged
    return -1


# --- what every entry point checks before it lets the loops loose on the bytes --------


cdef check_areas(const uint8_t[::1] data, const uint64_t[:, ::1] areas, bint ordered=False):
    """Every (vaddr, file offset, size) area must lie in `data` (then no read in it can
    leave the buffer) and, if `ordered`, follow the one before it in memory without overlap
    (then the binary search over them holds)."""
    cdef Py_ssize_t i
    cdef uint64_t reach = 0
    if areas.shape[0] and areas.shape[1] != 3:
        raise ValueError("area areas must be (vaddr, file offset, size)")
    for i in range(areas.shape[0]):
        if areas[i, 1] > <uint64_t>data.shape[0] or areas[i, 2] > <uint64_t>data.shape[0] - areas[i, 1]:
            raise ValueError(f"area {i} runs past the end of the core's bytes")
        if areas[i, 2] > <uint64_t>-1 - areas[i, 0] or (ordered and areas[i, 0] < reach):
            raise ValueError(f"area {i} wraps around or overlaps the one before it")
        reach = areas[i, 0] + areas[i, 2]


cdef ScanParams check_walk_rules(Py_ssize_t n_maps, const uint8_t[::1] size_kind,
                                const int64_t[::1] fixed_size, const uint8_t[::1] map_flags,
                                params) except *:
    """The walk's parameters as a C record, once they and the per-map rules are checked."""
    cdef Py_ssize_t i
    if size_kind.shape[0] != n_maps or fixed_size.shape[0] != n_maps or \
            map_flags.shape[0] != n_maps:
        raise ValueError("one size kind, fixed size and flag byte per map is needed")
    if not isinstance(params, scanrules.ScanParams) or params.implausible():
        raise ValueError(f"implausible scan parameters: {params}")
    for i in range(n_maps):
        if size_kind[i] > SIZE_UNKNOWN or not 0 <= fixed_size[i] < MAX_OBJECT_SIZE:
            raise ValueError(f"the size rule of map {i} is implausible")
    return params._asdict()


def find_meta_maps(const uint8_t[::1] data, const uint64_t[:, ::1] areas, int map_type,
                   int instance_type_offset):
    """Addresses of maps whose map word points to themselves and whose type is MAP_TYPE."""
    cdef Found found = Found(NULL, 0, 0)
    cdef const uint8_t* base = &data[0]
    cdef Py_ssize_t s, i, n
    cdef uint64_t vaddr, offset, size
    cdef uint16_t t
    check_areas(data, areas)
    if not 0 <= instance_type_offset < MAX_FIELD_OFFSET:
        raise ValueError("the instance type offset is implausible")
    try:
        with nogil:
            for s in range(areas.shape[0]):
                vaddr, offset, size = areas[s, 0], areas[s, 1], areas[s, 2]
                n = size // 8
                for i in range(n):
                    if load64(base + offset + 8 * i) == vaddr + 8 * i + 1 and \
                            8 * i + instance_type_offset + 2 <= size:
                        memcpy(&t, base + offset + 8 * i + instance_type_offset, 2)
                        if t == map_type:
                            found_add(&found, vaddr + 8 * i)
    finally:
        result = found_array(&found)
    return result


def find_maps(const uint8_t[::1] data, const uint64_t[:, ::1] areas,
              const uint64_t[::1] meta_maps, int64_t map_size):
    """Addresses of every object whose map is one of `meta_maps` (untagged addresses)."""
    cdef Found found = Found(NULL, 0, 0)
    cdef const uint8_t* base = &data[0]
    cdef Py_ssize_t s, i, n
    cdef uint64_t vaddr, offset, size, w
    cdef _Table table = _Table(np.asarray(meta_maps, dtype=np.uint64) + np.uint64(1))
    check_areas(data, areas)
    try:
        with nogil:
            for s in range(areas.shape[0]):
                vaddr, offset, size = areas[s, 0], areas[s, 1], areas[s, 2]
                n = size // 8
                for i in range(n):
                    w = load64(base + offset + 8 * i)
                    if w & 7 != 1:  # maps are 8-aligned: a pointer to one is tagged ...001
                        continue
                    if table_find(&table.table, w) >= 0 and \
                            <int64_t>(8 * i) + map_size <= <int64_t>size:
                        found_add(&found, vaddr + 8 * i)
    finally:
        result = found_array(&found)
    return result


def find_allocation_areas(const uint8_t[::1] data, const uint64_t[:, ::1] areas,
                          uint64_t lo, uint64_t hi, uint64_t max_span):
    """Addresses of three consecutive words start <= top < limit, all 8-aligned, with top
    in [lo, hi) and limit - start <= max_span: candidate LinearAllocationAreas."""
    cdef Found found = Found(NULL, 0, 0)
    cdef Py_ssize_t s, i, n
    cdef uint64_t vaddr, offset, start, top, limit
    cdef const uint8_t* base = &data[0]
    check_areas(data, areas)
    try:
        with nogil:
            for s in range(areas.shape[0]):
                vaddr, offset, n = areas[s, 0], areas[s, 1], areas[s, 2] // 8
                for i in range(1, n - 1):
                    top = load64(base + offset + 8 * i)
                    if top < lo or top >= hi or top & 7:
                        continue
                    start = load64(base + offset + 8 * (i - 1))
                    limit = load64(base + offset + 8 * (i + 1))
                    if start <= top and top < limit and limit - start <= max_span and \
                            (start | limit) & 7 == 0:
                        found_add(&found, vaddr + 8 * (i - 1))
    finally:
        result = found_array(&found)
    return result


# --- the walk: from one object to the next, as V8 lays them out in a page -------------
cdef struct Walk:
    const uint8_t* base
    MapTable* maps
    Areas properties_areas   # each keeps its own hint
    Areas elements_areas
    const uint8_t* size_kind
    const int64_t* fixed_size
    const uint8_t* map_flags
    ScanParams p


cdef inline int64_t object_at(Walk* walk, int64_t pos, int64_t end, int64_t* map_index) noexcept nogil:
    """Size of the object whose map word is at `pos` (its map's index in `map_index`), or 0
    if the word there starts no object; the size of an object of unknown extent is one
    tagged word (the walk then steps into it, word by word)."""
    cdef uint64_t w = load64(walk.base + pos)
    cdef int64_t m, obj_size
    cdef const ScanParams* p = &walk.p
    if w & 3 != 1:
        return 0
    m = table_find(walk.maps, w)
    if m < 0:
        return 0
    obj_size = object_size(walk.base, pos, end, walk.size_kind[m], walk.fixed_size[m], p)
    if obj_size <= 0 or pos + obj_size > end:
        return 0  # a stray word: the object it claims does not fit the area
    if walk.map_flags[m] & MAP_JS_RECEIVER:
        if not fits(0, p.properties_offset, 8, obj_size) or \
                not fits(0, p.elements_offset, 8, obj_size):
            return 0  # too small to hold a JS object's properties and elements
        w = load64(walk.base + pos + p.properties_offset)
        # a Smi (identity hash) is fine; a pointer must be a heap object
        if (w & 3 != 0 and not points_to_object(walk.base, &walk.properties_areas, walk.maps, w)) \
                or not points_to_object(walk.base, &walk.elements_areas, walk.maps,
                                        load64(walk.base + pos + p.elements_offset)):
            return 0
    map_index[0] = m
    return obj_size


cdef Walk make_walk(const uint8_t[::1] data, const uint64_t[:, ::1] areas, MapTable* maps,
                    const uint8_t[::1] size_kind, const int64_t[::1] fixed_size,
                    const uint8_t[::1] map_flags, params) except *:
    check_areas(data, areas, ordered=True)
    cdef ScanParams p = check_walk_rules(maps.n, size_kind, fixed_size, map_flags, params)
    if areas.shape[0] == 0:
        raise ValueError("no areas to walk")
    cdef Areas lookup = Areas(&areas[0, 0], areas.shape[0], 0)
    return Walk(&data[0], maps, lookup, lookup, &size_kind[0], &fixed_size[0], &map_flags[0], p)


def count_objects(const uint8_t[::1] data, const uint64_t[:, ::1] areas,
                  const uint64_t[::1] map_keys, const uint8_t[::1] size_kind,
                  const int64_t[::1] fixed_size, const uint8_t[::1] map_flags,
                  params, Py_ssize_t start=0, Py_ssize_t stop=-1):
    """Walk areas [start, stop) and count objects per map; see `_scan_py.count_objects`."""
    cdef Py_ssize_t n_maps = map_keys.shape[0]
    counts_array = np.zeros(n_maps, dtype=np.int64)
    sizes_array = np.zeros(n_maps, dtype=np.int64)
    if areas.shape[0] == 0:
        return counts_array, sizes_array, np.zeros(0, np.uint64), np.zeros(0, np.int64)
    cdef int64_t[::1] counts = counts_array
    cdef int64_t[::1] sizes = sizes_array
    cdef _Table table = _Table(map_keys)
    cdef Walk walk = make_walk(data, areas, &table.table, size_kind, fixed_size, map_flags,
                               params)
    if stop < 0:
        stop = areas.shape[0]
    cdef Py_ssize_t s
    cdef int64_t pos, end, obj_size, m = 0
    cdef uint64_t vaddr
    cdef Found collected = Found(NULL, 0, 0), collected_sizes = Found(NULL, 0, 0)
    try:
        with nogil:
            for s in range(start, stop):
                vaddr = areas[s, 0]
                pos = areas[s, 1]
                end = pos + <int64_t>(areas[s, 2] // 8 * 8)
                while pos + 8 <= end:
                    obj_size = object_at(&walk, pos, end, &m)
                    if obj_size == 0:
                        pos += 8
                        continue
                    if map_flags[m] & MAP_FILLER:
                        pos += obj_size
                        continue
                    counts[m] += 1
                    if size_kind[m] == SIZE_UNKNOWN:
                        obj_size = 0
                    if map_flags[m] & MAP_COLLECT:
                        found_add(&collected, vaddr + <uint64_t>(pos - <int64_t>areas[s, 1]))
                        found_add(&collected_sizes, <uint64_t>obj_size)
                    sizes[m] += obj_size
                    pos += obj_size if obj_size else 8
    finally:
        collected_array = found_array(&collected)
        collected_sizes_array = found_array(&collected_sizes).view(np.int64)
    return counts_array, sizes_array, collected_array, collected_sizes_array


def containing_objects(const uint8_t[::1] data, const uint64_t[:, ::1] areas,
                       const uint64_t[::1] map_keys, const uint8_t[::1] size_kind,
                       const int64_t[::1] fixed_size, const uint8_t[::1] map_flags,
                       params, const uint64_t[::1] addresses,
                       const int64_t[::1] area_of):
    """For each address (sorted, in area area_of[i]), the start of the object that holds it,
    or 0 where it lies in no live object (free space, a filler, a stray gap). Inside an
    object of unknown extent, the last object that started counts as the holder."""
    cdef Py_ssize_t n = addresses.shape[0], i = 0, s
    holders_array = np.zeros(n, dtype=np.uint64)
    if n == 0:
        return holders_array
    if area_of.shape[0] != n:
        raise ValueError("one area index per address is needed")
    for i in range(n):
        if not 0 <= area_of[i] < areas.shape[0] or (i and area_of[i] < area_of[i - 1]):
            raise ValueError("area_of must name areas, in ascending order")
    i = 0
    cdef uint64_t[::1] holders = holders_array
    cdef _Table table = _Table(map_keys)
    cdef Walk walk = make_walk(data, areas, &table.table, size_kind, fixed_size, map_flags,
                               params)
    cdef int64_t pos, end, obj_size, step, m = 0, at, holder_pos
    cdef uint64_t vaddr, offset
    with nogil:
        while i < n:
            s = area_of[i]
            vaddr, offset = areas[s, 0], areas[s, 1]
            pos = <int64_t>offset
            end = pos + <int64_t>(areas[s, 2] // 8 * 8)
            holder_pos = -1  # the object whose extent the walk is in, if any
            while pos + 8 <= end and i < n and area_of[i] == s:
                obj_size = object_at(&walk, pos, end, &m)
                if obj_size == 0:
                    step = 8  # a stray word: still inside an object of unknown extent, if any
                elif map_flags[m] & MAP_FILLER:
                    step, holder_pos = obj_size, -1
                else:
                    holder_pos = pos
                    step = 8 if size_kind[m] == SIZE_UNKNOWN else obj_size
                while i < n and area_of[i] == s:
                    at = <int64_t>(addresses[i] - vaddr + offset)
                    if at >= pos + step:
                        break
                    if holder_pos >= 0:
                        holders[i] = vaddr + <uint64_t>(holder_pos - <int64_t>offset)
                    i += 1
                pos += step
                if obj_size and size_kind[m] != SIZE_UNKNOWN:
                    holder_pos = -1  # past a known extent: what follows is its own object
            while i < n and area_of[i] == s:
                i += 1
    return holders_array


def find_words(const uint8_t[::1] data, const uint64_t[:, ::1] areas,
               const uint64_t[::1] targets):
    """(addresses, values) of every word equal to one of `targets` (tagged pointers)."""
    cdef _Table table = _Table(targets)
    cdef Found where = Found(NULL, 0, 0), what = Found(NULL, 0, 0)
    cdef const uint8_t* base = &data[0]
    cdef Py_ssize_t s, i, n
    cdef uint64_t vaddr, offset, w
    check_areas(data, areas)
    try:
        with nogil:
            for s in range(areas.shape[0]):
                vaddr, offset, n = areas[s, 0], areas[s, 1], areas[s, 2] // 8
                for i in range(n):
                    w = load64(base + offset + 8 * i)
                    if w & 3 == 1 and table_find(&table.table, w) >= 0:
                        found_add(&where, vaddr + 8 * i)
                        found_add(&what, w)
    finally:
        where_array, what_array = found_array(&where), found_array(&what)
    return where_array, what_array
