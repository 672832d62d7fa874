# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The hot loop: find V8 heap objects by their tagged map pointers, without the GIL.

Mirrors `_scan_py.py` function for function (that twin is the test oracle). Inputs are the
whole core as one read-only byte view plus a table of areas (vaddr, file offset, size);
every read is checked against its area, whatever the bytes say. Each function holds the
GIL only to set up and to hand back its result, so `sweep.py` runs chunks of one sweep on
several threads at once.
"""

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memcpy
from cython.view cimport array as cvarray
from posix.mman cimport (MAP_ANONYMOUS, MAP_FAILED, MAP_NORESERVE, MAP_PRIVATE, PROT_READ,
                         PROT_WRITE, mmap, munmap)

import numpy as np

from . import scanrules

cdef int64_t MAX_OBJECT_SIZE = 1 << 31
cdef int64_t MAX_OBJECTS = (1 << 31) - 1
cdef int MAX_EPHEMERON_ROUNDS = 1000
cdef enum:
    UNIT_CACHE = 64
cdef uint64_t EXTENT_MASK = 0xFFFFFFFF  # an object's info word: map index << 32 | extent

cdef extern from *:
    int popcount64 "__builtin_popcountll"(unsigned long long) nogil

# The constants of _scan.pxd are those of scanrules.py, every one of them.
for _name, _value in (
        ("SIZE_FIXED", SIZE_FIXED), ("SIZE_FIXED_ARRAY", SIZE_FIXED_ARRAY),
        ("SIZE_BYTE_ARRAY", SIZE_BYTE_ARRAY), ("SIZE_DOUBLE_ARRAY", SIZE_DOUBLE_ARRAY),
        ("SIZE_ONE_BYTE", SIZE_ONE_BYTE), ("SIZE_TWO_BYTE", SIZE_TWO_BYTE),
        ("SIZE_FREE_SPACE", SIZE_FREE_SPACE), ("SIZE_PROPERTY_ARRAY", SIZE_PROPERTY_ARRAY),
        ("SIZE_DESCRIPTORS", SIZE_DESCRIPTORS), ("SIZE_WEAK_ARRAY_LIST", SIZE_WEAK_ARRAY_LIST),
        ("SIZE_UNKNOWN", SIZE_UNKNOWN), ("MAP_JS_RECEIVER", MAP_JS_RECEIVER),
        ("MAP_FILLER", MAP_FILLER), ("MAP_COLLECT", MAP_COLLECT),
        ("MAP_EPHEMERON", MAP_EPHEMERON), ("TRACE_ALL", MAX_OBJECT_SIZE),
        ("MAX_FIELD_OFFSET", MAX_FIELD_OFFSET), ("MAX_OBJECT_SIZE", MAX_OBJECT_SIZE),
        ("SLOT_SHIFT", SLOT_SHIFT), ("SLOT_OWN", SLOT_OWN), ("SLOT_ELEMENTS", SLOT_ELEMENTS),
        ("SLOT_PROPERTIES", SLOT_PROPERTIES), ("SLOT_EPHEMERON", SLOT_EPHEMERON)):
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


# --- a growable list of (int32, int32) pairs: the object graph's edges ----------------
cdef Py_ssize_t PAIRS_DOUBLING = 1 << 23  # entries a Pairs doubles up to (32 MiB a column)


cdef struct Pairs:
    int32_t* columns[3]  # first, second[, third]: a column each, each handed over as is
    Py_ssize_t n
    Py_ssize_t cap
    Py_ssize_t width     # 2, or 3 with a third column


cdef int pairs_add(Pairs* p, int32_t first, int32_t second, uint32_t third=0) except -1 nogil:
    cdef int32_t* grown
    cdef Py_ssize_t c
    if p.n == p.cap:
        # Doubling while small; then steps of an eighth, which keep the slack past the
        # end small: a large block grows without its bytes being copied (remapped).
        p.cap = (2 * p.cap if p.cap < PAIRS_DOUBLING else p.cap + p.cap // 8) if p.cap \
            else 1 << 16
        for c in range(p.width):
            grown = <int32_t*>realloc(p.columns[c], p.cap * sizeof(int32_t))
            if grown == NULL:
                with gil:
                    raise MemoryError()
            p.columns[c] = grown
    p.columns[0][p.n] = first
    p.columns[1][p.n] = second
    if p.width == 3:
        p.columns[2][p.n] = <int32_t>third
    p.n += 1
    return 0


cdef object pairs_arrays(Pairs* p):
    """(firsts, seconds) as int32 arrays, and with three columns the third as uint32: the
    buffers themselves, cut to size and owned by the arrays (no copy); the Pairs is
    emptied. A column nobody wrote to is freed."""
    cdef cvarray column
    cdef int32_t* shrunk
    cdef Py_ssize_t c
    out = []
    try:
        for c in range(p.width):
            if p.n == 0:
                out.append(np.zeros(0, np.int32))
                continue
            shrunk = <int32_t*>realloc(p.columns[c], p.n * sizeof(int32_t))
            if shrunk != NULL:
                p.columns[c] = shrunk
            column = cvarray(shape=(p.n,), itemsize=sizeof(int32_t), format="i",
                             allocate_buffer=False)
            column.data = <char*>p.columns[c]
            column.callback_free_data = free
            p.columns[c] = NULL
            out.append(np.asarray(column))
    finally:
        for c in range(3):
            free(p.columns[c])
            p.columns[c] = NULL
        p.n = p.cap = 0
    if p.width == 3:
        out[2] = out[2].view(np.uint32)
    return tuple(out)


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


cdef inline int64_t next_entry(Walk* walk, int64_t* pos, int64_t end, int64_t* m,
                               int64_t* size) noexcept nogil:
    """The position of the next object or filler the walk accepts from *pos on, before
    `end`: its map index in *m, its size in *size (0 if not known), *pos moved past it (by
    one word into an object of unknown size, which the walk steps through); -1 at `end`.
    `_scan_py._Walk.objects` is its twin."""
    cdef int64_t at, obj_size
    while pos[0] + 8 <= end:
        at = pos[0]
        obj_size = object_at(walk, at, end, m)
        if obj_size == 0:
            pos[0] += 8  # a stray word
            continue
        if walk.size_kind[m[0]] == SIZE_UNKNOWN:
            obj_size = 0
        pos[0] += obj_size if obj_size else 8
        size[0] = obj_size
        return at
    return -1


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
    cdef int64_t pos, end, at, obj_size = 0, m = 0
    cdef uint64_t vaddr
    cdef Found collected = Found(NULL, 0, 0), collected_sizes = Found(NULL, 0, 0)
    try:
        with nogil:
            for s in range(start, stop):
                vaddr = areas[s, 0]
                pos = areas[s, 1]
                end = pos + <int64_t>(areas[s, 2] // 8 * 8)
                while True:
                    at = next_entry(&walk, &pos, end, &m, &obj_size)
                    if at < 0:
                        break
                    if map_flags[m] & MAP_FILLER:
                        continue
                    counts[m] += 1
                    if map_flags[m] & MAP_COLLECT:
                        found_add(&collected, vaddr + <uint64_t>(at - <int64_t>areas[s, 1]))
                        found_add(&collected_sizes, <uint64_t>obj_size)
                    sizes[m] += obj_size
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


def find_words_in(const uint8_t[::1] data, const uint64_t[:, ::1] areas,
                  const uint64_t[:, ::1] ranges):
    """(addresses, values) of every word that points into one of `ranges`, [start, end)
    untagged addresses in order and apart, as a pointer to an object does (tagged ...001:
    objects are 8-aligned): a few comparisons a word where `find_words` would hash every
    word of a large range."""
    cdef Found where = Found(NULL, 0, 0), what = Found(NULL, 0, 0)
    cdef const uint8_t* base = &data[0]
    cdef Py_ssize_t s, i, n, lo, hi, mid, n_ranges = ranges.shape[0]
    cdef uint64_t vaddr, offset, w, low = 0, span = 0
    check_areas(data, areas)
    if n_ranges and ranges.shape[1] != 2:
        raise ValueError("ranges must be (start, end) pairs")
    for i in range(n_ranges):
        if ranges[i, 1] < ranges[i, 0] or (i and ranges[i, 0] < ranges[i - 1, 1]):
            raise ValueError("ranges must be in order, apart, and not end before they start")
    if n_ranges == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    low, span = ranges[0, 0], ranges[n_ranges - 1, 1] - ranges[0, 0]
    try:
        with nogil:
            for s in range(areas.shape[0]):
                vaddr, offset, n = areas[s, 0], areas[s, 1], areas[s, 2] // 8
                for i in range(n):
                    w = load64(base + offset + 8 * i)
                    if w & 7 != 1 or w - 1 - low >= span:  # unsigned: also below `low`
                        continue
                    lo, hi = 0, n_ranges  # the last range starting at or before w - 1
                    while lo < hi:
                        mid = (lo + hi) >> 1
                        if ranges[mid, 0] <= w - 1:
                            lo = mid + 1
                        else:
                            hi = mid
                    if lo and w - 1 < ranges[lo - 1, 1]:
                        found_add(&where, vaddr + 8 * i)
                        found_add(&what, w)
    finally:
        where_array, what_array = found_array(&where), found_array(&what)
    return where_array, what_array


def list_objects(const uint8_t[::1] data, const uint64_t[:, ::1] areas,
                 const uint64_t[::1] map_keys, const uint8_t[::1] size_kind,
                 const int64_t[::1] fixed_size, const uint8_t[::1] map_flags,
                 params, Py_ssize_t start, Py_ssize_t stop, uint64_t[::1] addresses,
                 uint64_t[::1] info, Py_ssize_t at):
    """Write every object the walk of areas [start, stop) counts into `addresses` and
    `info` from index `at`; see `_scan_py.list_objects`."""
    if addresses.shape[0] != info.shape[0] or not 0 <= at <= addresses.shape[0]:
        raise ValueError("the output arrays must have one length, and `at` lie in it")
    if areas.shape[0] == 0 or start >= stop:
        return 0
    cdef _Table table = _Table(map_keys)
    cdef Walk walk = make_walk(data, areas, &table.table, size_kind, fixed_size, map_flags,
                               params)
    if not 0 <= start < stop <= areas.shape[0]:
        raise ValueError("the areas to walk are not among the areas")
    cdef Py_ssize_t s, n = at, room = addresses.shape[0]
    cdef Py_ssize_t open_at = -1  # the entry of an object of unknown size not yet ended
    cdef int64_t pos, end, here, obj_size = 0, m = 0, open_pos = 0
    cdef uint64_t vaddr
    cdef bint full = False
    with nogil:
        for s in range(start, stop):
            vaddr = areas[s, 0]
            pos = areas[s, 1]
            end = pos + <int64_t>(areas[s, 2] // 8 * 8)
            while True:
                here = next_entry(&walk, &pos, end, &m, &obj_size)
                if here < 0:
                    break
                if open_at >= 0:  # an object of unknown size ends where the next begins
                    info[open_at] |= <uint64_t>min(here - open_pos, MAX_OBJECT_SIZE - 8)
                    open_at = -1
                if map_flags[m] & MAP_FILLER:
                    continue
                if n == room:
                    full = True  # more objects than counted: the bytes changed under us
                    break
                if size_kind[m] == SIZE_UNKNOWN:
                    open_at, open_pos = n, here
                addresses[n] = vaddr + <uint64_t>(here - <int64_t>areas[s, 1])
                info[n] = (<uint64_t>m << 32) | <uint64_t>obj_size
                n += 1
            if open_at >= 0:
                info[open_at] |= <uint64_t>min(end - open_pos, MAX_OBJECT_SIZE - 8)
                open_at = -1
            if full:
                break
    if full:
        raise ValueError("the output arrays are too small for the objects walked")
    return n - at


# --- the object graph: which object starts at an address, in a few steps --------------
cdef struct Graph:
    const uint8_t* base
    const uint64_t* rows      # the areas, (vaddr, file offset, size), in address order
    Py_ssize_t n_areas
    const int64_t* bit_base   # per area: the bit of its first word
    uint64_t* blocks          # per 64 words of the areas: a bit per word where an object
    #                           starts, then the number of objects that start before them
    MapTable* units           # page-aligned unit -> the first area in it (unit_area index)
    const int64_t* unit_area
    int unit_shift
    uint64_t cached_unit[UNIT_CACHE]  # units looked up lately, and their first areas
    int64_t cached_area[UNIT_CACHE]


cdef inline int64_t first_area(Graph* g, uint64_t address) noexcept nogil:
    """The first area in `address`'s unit, or -1. Units looked up lately are remembered
    (a direct-mapped cache): an object's pointers go to a few pages, again and again."""
    cdef uint64_t unit = address >> g.unit_shift
    cdef int slot = <int>(unit & (UNIT_CACHE - 1))
    cdef int64_t k
    if g.cached_unit[slot] != unit:
        k = table_find(g.units, unit << g.unit_shift)
        g.cached_unit[slot], g.cached_area[slot] = unit, (g.unit_area[k] if k >= 0 else -1)
    return g.cached_area[slot]


cdef inline int64_t object_index(Graph* g, uint64_t address) noexcept nogil:
    """Index of the object that starts at `address` (8-aligned), or -1."""
    cdef int64_t a = first_area(g, address), bit
    cdef uint64_t word
    if a < 0:
        return -1
    while a < g.n_areas and g.rows[3 * a] <= address:
        if address - g.rows[3 * a] < g.rows[3 * a + 2]:
            bit = g.bit_base[a] + <int64_t>((address - g.rows[3 * a]) >> 3)
            word = g.blocks[2 * (bit >> 6)]
            if not (word >> (bit & 63)) & 1:
                return -1
            return <int64_t>g.blocks[2 * (bit >> 6) + 1] + \
                popcount64(word & ((<uint64_t>1 << (bit & 63)) - 1))
        a += 1
    return -1


cdef class _Graph:
    """Owns the index behind a Graph: start bits with their ranks, and the unit table."""
    cdef object unit_table, unit_area_array, bit_base_array
    cdef Graph graph

    def __cinit__(self):
        self.graph.blocks = NULL

    def __dealloc__(self):
        free(self.graph.blocks)

    def __init__(self, const uint8_t[::1] data, const uint64_t[:, ::1] areas,
                 const uint64_t[::1] addresses, const uint64_t[::1] info, int unit_shift,
                 Py_ssize_t n_maps):
        cdef Py_ssize_t n_areas = areas.shape[0], n = addresses.shape[0], a, i, bad = -1
        cdef uint64_t unit, last_unit = 0, address, extent, previous = 0
        cdef int64_t words = 0, bit, n_blocks
        cdef uint64_t held = 0
        cdef uint64_t* blocks
        if not 12 <= unit_shift <= 40:
            raise ValueError("the unit of the object graph's index is implausible")
        if n_areas == 0:
            raise ValueError("no areas to index")
        self.bit_base_array = np.zeros(n_areas, dtype=np.int64)
        cdef int64_t[::1] bit_base = self.bit_base_array
        keys, firsts = [], []
        for a in range(n_areas):  # every unit an area touches; its first area
            bit_base[a] = words
            words += <int64_t>(areas[a, 2] // 8)
            unit = areas[a, 0] >> unit_shift
            while unit <= (areas[a, 0] + areas[a, 2] - 1) >> unit_shift:
                if unit + 1 > last_unit:
                    keys.append(unit << unit_shift)
                    firsts.append(a)
                    last_unit = unit + 1
                unit += 1
        self.unit_table = _Table(np.array(keys, dtype=np.uint64))
        self.unit_area_array = np.array(firsts, dtype=np.int64)
        cdef const int64_t[::1] unit_area = self.unit_area_array
        # Per 64 words, the start bits and then the objects that start before them: one
        # cache line holds both.
        n_blocks = words // 64 + 1
        blocks = self.graph.blocks = <uint64_t*>calloc(2 * n_blocks, 8)
        if blocks == NULL:
            raise MemoryError()
        a = 0
        with nogil:
            for i in range(n):  # the objects must lie in the areas, in order, with a map
                address, extent = addresses[i], info[i] & EXTENT_MASK
                while a < n_areas and address - areas[a, 0] >= areas[a, 2]:
                    a += 1
                if a == n_areas or address < areas[a, 0] or (address - areas[a, 0]) & 7 or \
                        extent > areas[a, 2] - (address - areas[a, 0]) or \
                        (i and address <= previous) or <Py_ssize_t>(info[i] >> 32) >= n_maps:
                    bad = i
                    break
                bit = bit_base[a] + <int64_t>((address - areas[a, 0]) >> 3)
                blocks[2 * (bit >> 6)] |= <uint64_t>1 << (bit & 63)
                previous = address
            for bit in range(n_blocks):
                blocks[2 * bit + 1] = held
                held += popcount64(blocks[2 * bit])
        if bad >= 0:
            raise ValueError(f"object {bad} is not inside the areas, in address order, "
                             "with a map")
        self.graph.base = &data[0]
        self.graph.rows = &areas[0, 0]
        self.graph.n_areas = n_areas
        self.graph.bit_base = &bit_base[0]
        self.graph.units = &(<_Table>self.unit_table).table
        self.graph.unit_area = &unit_area[0]
        self.graph.unit_shift = unit_shift
        for i in range(UNIT_CACHE):
            self.graph.cached_unit[i], self.graph.cached_area[i] = <uint64_t>-1, -1


cdef inline int64_t object_position(Graph* g, uint64_t address) noexcept nogil:
    """File position of the object at `address`, which the index holds."""
    cdef int64_t a = first_area(g, address)
    while address - g.rows[3 * a] >= g.rows[3 * a + 2]:
        a += 1
    return <int64_t>(g.rows[3 * a + 1] + address - g.rows[3 * a])


cdef extern from "<sys/mman.h>" nogil:
    enum: MADV_DONTNEED
    int madvise(void* addr, size_t length, int advice)

cdef enum:
    QUEUE_RELEASE = 1 << 21  # bytes of traced queue entries given back to the system at once


cdef extern from *:
    # GCC's and Clang's atomic exchange: the old value, so one thread wins each mark.
    uint8_t test_and_set "__sync_lock_test_and_set"(uint8_t* target, uint8_t value) nogil


cdef struct Marking:
    uint8_t* marks
    int32_t* parents          # NULL unless wanted
    int32_t* queue            # breadth first: every object enters it at most once
    Py_ssize_t head, tail
    size_t queue_bytes        # of the mapping behind the queue
    size_t released           # bytes at its start given back (their entries are traced)
    Found tables              # the ephemeron tables reached, in order
    int rounds                # of the ephemeron fixed point, over all root groups


cdef inline void reach(Graph* g, Marking* k, uint64_t word, int32_t parent) noexcept nogil:
    """Mark the object `word` points to (strongly: tag ...001 on an 8-aligned address)."""
    cdef int64_t j
    if word & 7 != 1:
        return  # a Smi, a weak reference (...011), or not a pointer to an object start
    j = object_index(g, word - 1)
    if j >= 0 and not k.marks[j]:
        k.marks[j] = 1
        if k.parents != NULL:
            k.parents[j] = parent
        k.queue[k.tail] = <int32_t>j
        k.tail += 1


cdef class Marker:
    """The marking of `mark_reachable`, step by step, so that large breadth-first levels
    can be traced on several threads (`trace_slice`, marks set atomically) while the rest
    runs here; see `_scan_py.Marker`."""
    cdef _Graph index
    cdef Marking k
    cdef object marks_array, parents_array, keep
    cdef const uint64_t* addresses
    cdef const uint64_t* info
    cdef const int64_t* trace_end
    cdef const uint8_t* map_flags
    cdef int64_t ephemeron_start
    cdef const uint8_t* skipped   # during edges(): targets left out, or NULL
    cdef int64_t store_header     # during edges(): a store's bytes left out
    cdef Py_ssize_t n
    cdef int32_t last_group

    def __cinit__(self):
        self.k.queue = NULL
        self.k.queue_bytes = self.k.released = 0
        self.k.tables = Found(NULL, 0, 0)

    def __dealloc__(self):
        if self.k.queue != NULL:
            munmap(self.k.queue, self.k.queue_bytes)
        free(self.k.tables.items)

    def __init__(self, const uint8_t[::1] data, const uint64_t[:, ::1] areas,
                 const uint64_t[::1] addresses, const uint64_t[::1] info,
                 const int64_t[::1] trace_end, const uint8_t[::1] map_flags,
                 int64_t ephemeron_start, int unit_shift, bint want_parents=False):
        cdef Py_ssize_t n = addresses.shape[0], n_maps = trace_end.shape[0]
        check_areas(data, areas, ordered=True)
        if info.shape[0] != n or n > MAX_OBJECTS:
            raise ValueError("one info word per object, and at most 2**31 - 1 objects")
        if map_flags.shape[0] != n_maps or n_maps == 0:
            raise ValueError("one flag byte per map is needed")
        if not 0 <= ephemeron_start < MAX_FIELD_OFFSET:
            raise ValueError("the ephemeron table's first entry is implausible")
        self.n, self.last_group = n, 0
        self.marks_array = np.zeros(n, dtype=np.uint8)
        self.parents_array = np.full(n, -1, dtype=np.int32) if want_parents else None
        self.keep = (data, areas, addresses, info, trace_end, map_flags)
        self.k.marks, self.k.parents, self.k.head, self.k.tail, self.k.rounds = NULL, NULL, 0, 0, 0
        if n == 0:
            return
        self.index = _Graph(data, areas, addresses, info, unit_shift, n_maps)
        cdef uint8_t[::1] marks = self.marks_array
        cdef int32_t[::1] parents
        self.k.marks = &marks[0]
        if want_parents:
            parents = self.parents_array
            self.k.parents = &parents[0]
        # The queue is mapped, not allocated, so that the pages of entries already traced
        # can be given back: only the breadth-first frontier stays resident.
        cdef void* queue
        self.k.queue_bytes = <size_t>n * sizeof(int32_t)
        queue = mmap(NULL, self.k.queue_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if queue == MAP_FAILED:
            raise MemoryError()
        self.k.queue = <int32_t*>queue
        self.addresses, self.info = &addresses[0], &info[0]
        self.trace_end, self.map_flags = &trace_end[0], &map_flags[0]
        self.ephemeron_start = ephemeron_start

    @property
    def head(self) -> int:
        return self.k.head

    @property
    def tail(self) -> int:
        return self.k.tail

    def add_roots(self, const uint64_t[::1] roots, int group):
        """Mark what `roots` point at, as reached from root group `group` (the groups in
        ascending order, each traced with `run` before the next is added)."""
        cdef Py_ssize_t r
        if not self.last_group <= group < MAX_OBJECTS - 2:
            raise ValueError("root groups must be small non-negative numbers, in order")
        self.last_group = group
        if self.n == 0:
            return
        with nogil:
            for r in range(roots.shape[0]):
                reach(&self.index.graph, &self.k, roots[r], -2 - group)

    def run(self, Py_ssize_t parallel_level=0):
        """Trace queued objects here until none is left, through the ephemerons' rounds
        (return 0), or until `parallel_level` or more wait (if it is not 0): return how
        many, for `trace_slice` to share them out."""
        if self.n == 0:
            return 0
        cdef Py_ssize_t waiting
        with nogil:
            waiting = self._run(parallel_level)
        return waiting

    cdef void _release_traced(self) noexcept nogil:
        """Give back the queue's pages whose entries are all traced: those before head,
        when no slice is in flight (as in `run`)."""
        cdef size_t done = (<size_t>self.k.head * sizeof(int32_t)) & ~(<size_t>QUEUE_RELEASE - 1)
        if done > self.k.released:
            madvise(<char*>self.k.queue + self.k.released, done - self.k.released,
                    MADV_DONTNEED)
            self.k.released = done

    cdef Py_ssize_t _run(self, Py_ssize_t parallel_level) except -1 nogil:
        cdef Graph* g = &self.index.graph
        cdef Marking* k = &self.k
        cdef Py_ssize_t i
        while True:
            self._release_traced()  # the slices of the last level are done
            while k.head < k.tail:
                if parallel_level and k.tail - k.head >= parallel_level:
                    return k.tail - k.head
                i = k.queue[k.head]
                k.head += 1
                self._trace(g, i, k, &k.tables, <int32_t>i)
                if k.head & 0xFFFFF == 0:
                    self._release_traced()
            if not self._ephemeron_round(g):
                return 0

    cdef inline int _trace(self, Graph* g, Py_ssize_t i, Marking* k, Found* tables,
                           int32_t parent) except -1 nogil:
        """Reach what object i's tagged words point at; note it in `tables` if it is an
        ephemeron table."""
        cdef int64_t m = <int64_t>(self.info[i] >> 32), pos, limit, off
        pos = object_position(g, self.addresses[i])
        limit = min(<int64_t>(self.info[i] & EXTENT_MASK), self.trace_end[m])
        if self.map_flags[m] & MAP_EPHEMERON:
            limit = min(limit, self.ephemeron_start)
            found_add(tables, i)
        off = 0
        while off + 8 <= limit:
            reach(g, k, load64(g.base + pos + off), parent)
            off += 8
        return 0

    cdef bint _ephemeron_round(self, Graph* g) except -1 nogil:
        """One round over the ephemeron tables reached: a value is held while its key is.
        A round may reach keys of other tables; V8 iterates the same way, to a fixed
        point. Past MAX_EPHEMERON_ROUNDS (a crafted core), every value counts as held.
        Whether it queued anything."""
        cdef Marking* k = &self.k
        cdef Py_ssize_t t, i, before = k.tail
        cdef int64_t pos, limit, off, key
        cdef uint64_t word
        cdef bint keys_hold
        k.rounds += 1
        keys_hold = k.rounds <= MAX_EPHEMERON_ROUNDS
        for t in range(k.tables.n):
            i = <Py_ssize_t>k.tables.items[t]
            pos = object_position(g, self.addresses[i])
            limit = <int64_t>(self.info[i] & EXTENT_MASK)
            off = self.ephemeron_start
            while off + 16 <= limit:
                word = load64(g.base + pos + off)
                key = object_index(g, word - 1) if word & 7 == 1 else -1
                if key < 0 or k.marks[key] or not keys_hold:
                    reach(g, k, load64(g.base + pos + off + 8), <int32_t>i)
                off += 16
        return k.tail > before

    def trace_slice(self, Py_ssize_t lo, Py_ssize_t hi):
        """Trace queue entries [lo, hi) (taken by `skip`), safe to run on several threads
        at once (not with parents): each mark is set atomically, and each thread looks up
        with its own copy of the index's cache. Returns (newly marked, ephemeron tables),
        for `take`."""
        if self.k.parents != NULL:
            raise ValueError("parents are kept breadth first, on one thread")
        if not 0 <= lo <= hi <= self.k.head:
            raise ValueError("trace only entries taken from the queue")
        cdef Graph g
        cdef Found found = Found(NULL, 0, 0), tables = Found(NULL, 0, 0)
        cdef Py_ssize_t q, i
        cdef int64_t m, pos, limit, off, j
        cdef uint64_t word
        if self.n == 0:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
        g = self.index.graph
        try:
            with nogil:
                for q in range(lo, hi):
                    i = self.k.queue[q]
                    m = <int64_t>(self.info[i] >> 32)
                    pos = object_position(&g, self.addresses[i])
                    limit = min(<int64_t>(self.info[i] & EXTENT_MASK), self.trace_end[m])
                    if self.map_flags[m] & MAP_EPHEMERON:
                        limit = min(limit, self.ephemeron_start)
                        found_add(&tables, i)
                    off = 0
                    while off + 8 <= limit:
                        word = load64(g.base + pos + off)
                        off += 8
                        if word & 7 != 1:
                            continue
                        j = object_index(&g, word - 1)
                        if j >= 0 and not self.k.marks[j] and \
                                not test_and_set(&self.k.marks[j], 1):
                            found_add(&found, <uint64_t>j)
        finally:
            found_array_out, tables_out = found_array(&found), found_array(&tables)
        return found_array_out, tables_out

    def skip(self):
        """Take every queued entry for `trace_slice`: [head, tail) before the call."""
        self.k.head = self.k.tail

    def take(self, const uint64_t[::1] found, const uint64_t[::1] tables):
        """Queue what a `trace_slice` marked, and keep the tables it met."""
        cdef Py_ssize_t i
        if self.k.tail + found.shape[0] > self.n:
            raise ValueError("more objects queued than there are")
        for i in range(found.shape[0]):
            if found[i] >= <uint64_t>self.n:
                raise ValueError("not an object")
            self.k.queue[self.k.tail] = <int32_t>found[i]
            self.k.tail += 1
        for i in range(tables.shape[0]):
            if tables[i] >= <uint64_t>self.n:
                raise ValueError("not an object")
            found_add(&self.k.tables, tables[i])

    def result(self):
        """(marks, parents): see mark_reachable."""
        return self.marks_array, self.parents_array

    def set_marks(self, const uint8_t[::1] marks):
        """Take `marks` (of a marking of the same objects made before) for `edges`,
        instead of marking again."""
        if marks.shape[0] != self.n:
            raise ValueError("one mark per object")
        if self.n:
            self.marks_array[:] = marks

    def edges(self, int64_t elements_offset=-1, int64_t properties_offset=-1,
              bint with_slots=False, const uint8_t[::1] skip=None, int64_t store_header=0):
        """(sources, targets), int32: every strong reference between marked objects, as the
        marking follows them: each traced tagged word of a marked object to the marked
        object it points at, and in a WeakMap's table (MAP_EPHEMERON) from each entry's key
        to its value (the value is held through its key, as V8's heap snapshot draws it; an
        entry whose key is no object here holds its value from the table). An object of a
        MAP_JS_RECEIVER map also refers to all that the stores at `elements_offset` and
        `properties_offset` in it refer to (V8's snapshot draws a JS object's elements and
        properties as its own references). With `with_slots`, a third array (uint32) says
        where each reference was read: SLOT_* << SLOT_SHIFT | the word's offset. Left out:
        references to the objects `skip` flags (one byte per object), and a store's first
        `store_header` bytes (its map and length: no reference of the JS object)."""
        cdef Pairs found = Pairs([NULL, NULL, NULL], 0, 0, 3 if with_slots else 2)
        cdef Graph* g = &self.index.graph
        cdef Py_ssize_t i
        cdef int64_t m, pos, extent, off, store, side
        cdef int64_t sides[2]
        cdef uint64_t word
        if self.n == 0:
            empty = np.zeros(0, np.int32)
            return (empty, empty, np.zeros(0, np.uint32)) if with_slots else (empty, empty)
        for off in (elements_offset, properties_offset, store_header):
            if not -1 <= off < MAX_FIELD_OFFSET:
                raise ValueError("a store's offset is implausible")
        if skip is not None and skip.shape[0] != self.n:
            raise ValueError("one skip flag per object")
        self.skipped = &skip[0] if skip is not None else NULL
        self.store_header = max(store_header, 0)
        sides[0], sides[1] = elements_offset, properties_offset
        try:
            with nogil:
                for i in range(self.n):
                    if not self.k.marks[i]:
                        continue
                    self._edges_of(g, i, <int32_t>i, SLOT_OWN, &found)
                    m = <int64_t>(self.info[i] >> 32)
                    if not self.map_flags[m] & MAP_JS_RECEIVER:
                        continue
                    extent = <int64_t>(self.info[i] & EXTENT_MASK)
                    pos = object_position(g, self.addresses[i])
                    for side in range(2):
                        off = sides[side]
                        if off < 0 or off + 8 > extent:
                            continue
                        word = load64(g.base + pos + off)
                        store = object_index(g, word - 1) if word & 7 == 1 else -1
                        if store >= 0 and store != i and self.k.marks[store]:
                            self._edges_of(g, store, <int32_t>i,
                                           SLOT_ELEMENTS if side == 0 else SLOT_PROPERTIES,
                                           &found)
        finally:
            self.skipped = NULL
            arrays = pairs_arrays(&found)
        return arrays

    cdef inline bint _is_target(self, int64_t j) noexcept nogil:
        """Whether an edge may point at object j (-1: none): marked, and not skipped."""
        return j >= 0 and self.k.marks[j] and (self.skipped == NULL or not self.skipped[j])

    cdef int _edges_of(self, Graph* g, Py_ssize_t i, int32_t source, uint32_t holder,
                       Pairs* found) except -1 nogil:
        """The references of marked object i, as held by `source` (i itself, or the JS
        object whose store i is: `holder` says which); a WeakMap table's entries from
        their keys."""
        cdef int64_t m = <int64_t>(self.info[i] >> 32), pos, limit, extent, off, j, key
        cdef uint64_t word
        cdef uint32_t mask = (1 << SLOT_SHIFT) - 1
        pos = object_position(g, self.addresses[i])
        extent = <int64_t>(self.info[i] & EXTENT_MASK)
        limit = min(extent, self.trace_end[m])
        if self.map_flags[m] & MAP_EPHEMERON:
            limit = min(limit, self.ephemeron_start)
        off = 0 if holder == SLOT_OWN else self.store_header
        while off + 8 <= limit:
            word = load64(g.base + pos + off)
            j = object_index(g, word - 1) if word & 7 == 1 else -1
            if self._is_target(j):
                pairs_add(found, source, <int32_t>j,
                          holder << SLOT_SHIFT | <uint32_t>min(off, mask))
            off += 8
        if not self.map_flags[m] & MAP_EPHEMERON:
            return 0
        off = self.ephemeron_start
        while off + 16 <= extent:
            word = load64(g.base + pos + off)
            key = object_index(g, word - 1) if word & 7 == 1 else -1
            word = load64(g.base + pos + off + 8)
            j = object_index(g, word - 1) if word & 7 == 1 else -1
            off += 16
            if not self._is_target(j):
                continue
            if key < 0:
                pairs_add(found, source, <int32_t>j,
                          holder << SLOT_SHIFT | <uint32_t>min(off - 8, mask))
            elif self.k.marks[key]:
                pairs_add(found, <int32_t>key, <int32_t>j,
                          SLOT_EPHEMERON << SLOT_SHIFT | <uint32_t>min(off - 8, mask))
        return 0


def mark_reachable(const uint8_t[::1] data, const uint64_t[:, ::1] areas,
                   const uint64_t[::1] addresses, const uint64_t[::1] info,
                   const int64_t[::1] trace_end, const uint8_t[::1] map_flags,
                   int64_t ephemeron_start, int unit_shift, const uint64_t[::1] roots,
                   const int32_t[::1] root_groups, bint want_parents=False):
    """Mark every object reachable from `roots`, breadth first, one root group after the
    other, on this thread; see `_scan_py.mark_reachable`."""
    cdef Py_ssize_t r, start = 0
    if root_groups.shape[0] != roots.shape[0]:
        raise ValueError("one group per root is needed")
    for r in range(1, roots.shape[0]):
        if root_groups[r] < root_groups[r - 1]:
            raise ValueError("root groups must be in order")
    marker = Marker(data, areas, addresses, info, trace_end, map_flags, ephemeron_start,
                    unit_shift, want_parents)
    roots_array = np.asarray(roots)
    for r in range(1, roots.shape[0] + 1):
        if r == roots.shape[0] or root_groups[r] != root_groups[r - 1]:
            marker.add_roots(roots_array[start:r], root_groups[start])
            marker.run()  # a group is traced to the end before the next
            start = r
    if roots.shape[0] == 0:
        marker.run()
    return marker.result()


def count_marked(const uint64_t[::1] addresses, const uint64_t[::1] info,
                 const uint8_t[::1] marks, const uint8_t[::1] size_known,
                 const uint8_t[::1] per_object):
    """Objects and bytes per map of the marked objects, and the marked objects of the
    `per_object` maps with their sizes; see `_scan_py.count_marked`."""
    cdef Py_ssize_t n = addresses.shape[0], n_maps = size_known.shape[0], i, bad = -1
    if info.shape[0] != n or marks.shape[0] != n or per_object.shape[0] != n_maps:
        raise ValueError("one info word and mark per object, one flag per map are needed")
    counts_array = np.zeros(n_maps, dtype=np.int64)
    sizes_array = np.zeros(n_maps, dtype=np.int64)
    cdef int64_t[::1] counts = counts_array
    cdef int64_t[::1] sizes = sizes_array
    cdef Found collected = Found(NULL, 0, 0), collected_sizes = Found(NULL, 0, 0)
    cdef Py_ssize_t m
    cdef uint64_t extent
    try:
        with nogil:
            for i in range(n):
                if not marks[i]:
                    continue
                m = <Py_ssize_t>(info[i] >> 32)
                if m >= n_maps:
                    bad = i
                    break
                extent = info[i] & EXTENT_MASK if size_known[m] else 0
                counts[m] += 1
                sizes[m] += <int64_t>extent
                if per_object[m]:
                    found_add(&collected, addresses[i])
                    found_add(&collected_sizes, extent)
    finally:
        addresses_out = found_array(&collected)
        sizes_out = found_array(&collected_sizes).view(np.int64)
    if bad >= 0:
        raise ValueError(f"object {bad} has no map")
    return counts_array, sizes_array, addresses_out, sizes_out


# --- the dominator tree: who retains what ---------------------------------------------
def adjacency(Py_ssize_t n, const int32_t[::1] keys, const int32_t[::1] values):
    """(offsets, ordered): `values` grouped by their key (0 <= key < n) in a stable
    counting sort; the values of key k are ordered[offsets[k]:offsets[k + 1]]."""
    cdef Py_ssize_t m = keys.shape[0], e, k
    if values.shape[0] != m:
        raise ValueError("one value per key")
    offsets_array = np.zeros(n + 1, dtype=np.int64)
    ordered_array = np.empty(m, dtype=np.int32)
    cdef int64_t[::1] offsets = offsets_array
    cdef int32_t[::1] ordered = ordered_array
    cdef int64_t[::1] cursor
    for e in range(m):
        if not 0 <= keys[e] < n:
            raise ValueError(f"key {keys[e]} is not a node")
    with nogil:
        for e in range(m):
            offsets[keys[e] + 1] += 1
        for k in range(n):
            offsets[k + 1] += offsets[k]
    cursor_array = offsets_array[:n].copy()
    cursor = cursor_array
    with nogil:
        for e in range(m):
            ordered[cursor[keys[e]]] = values[e]
            cursor[keys[e]] += 1
    return offsets_array, ordered_array


cdef inline int32_t lt_eval(int32_t v, int32_t* ancestor, int32_t* label, const int32_t* semi,
                            int32_t* path) noexcept nogil:
    """Lengauer-Tarjan's EVAL with path compression, without recursion (`path` is room for
    a chain of the forest)."""
    cdef Py_ssize_t depth = 0
    cdef int32_t x = v, a
    if ancestor[v] < 0:
        return v
    while ancestor[ancestor[x]] >= 0:
        path[depth] = x
        depth += 1
        x = ancestor[x]
    while depth > 0:  # from the top of the chain down, as the recursion would unwind
        depth -= 1
        x = path[depth]
        a = ancestor[x]
        if semi[label[a]] < semi[label[x]]:
            label[x] = label[a]
        ancestor[x] = ancestor[a]
    return label[v]


def immediate_dominators(Py_ssize_t root, const int64_t[::1] succ_at, const int32_t[::1] succ,
                         const int64_t[::1] pred_at, const int32_t[::1] pred):
    """(idom, preorder): each node's immediate dominator from `root` (-1 for the root and
    for what it does not reach), and the reached nodes in depth-first preorder (a node's
    dominators come before it). Lengauer and Tarjan's algorithm with path compression,
    without recursion: O(m log n) for n nodes and m edges (successors and predecessors
    as `adjacency` gives them)."""
    cdef Py_ssize_t n = succ_at.shape[0] - 1, count = 0, sp, i, e
    cdef int32_t v, w, u, b, nxt, p
    if pred_at.shape[0] != n + 1 or not 0 <= root < n:
        raise ValueError("one offset per node and one more, and a root among the nodes")
    if succ_at[n] != succ.shape[0] or pred_at[n] != pred.shape[0]:
        raise ValueError("the offsets must end at the edges' count")
    for v in range(n):
        if succ_at[v] > succ_at[v + 1] or pred_at[v] > pred_at[v + 1]:
            raise ValueError("the offsets must not decrease")
    for e in range(succ.shape[0]):
        if not 0 <= succ[e] < n:
            raise ValueError("an edge leads to no node")
    for e in range(pred.shape[0]):
        if not 0 <= pred[e] < n:
            raise ValueError("an edge comes from no node")
    arrays = [np.full(n, -1, dtype=np.int32) for _ in range(9)]
    cdef int32_t[::1] semi = arrays[0], vertex = arrays[1], parent = arrays[2]
    cdef int32_t[::1] ancestor = arrays[3], label = arrays[4], idom = arrays[5]
    cdef int32_t[::1] bucket = arrays[6], bucket_next = arrays[7], path = arrays[8]
    edge_array = np.zeros(n, dtype=np.int64)
    cdef int64_t[::1] next_edge = edge_array
    cdef int32_t[::1] stack = np.empty(n, dtype=np.int32)
    with nogil:
        # Depth-first preorder from the root; semi holds the preorder number until below.
        semi[root], vertex[0], label[root], count = 0, <int32_t>root, <int32_t>root, 1
        stack[0], sp, next_edge[root] = <int32_t>root, 1, succ_at[root]
        while sp > 0:
            v = stack[sp - 1]
            if next_edge[v] == succ_at[v + 1]:
                sp -= 1
                continue
            w = succ[next_edge[v]]
            next_edge[v] += 1
            if semi[w] < 0:
                semi[w], vertex[count], label[w], parent[w] = <int32_t>count, w, w, v
                count += 1
                next_edge[w] = succ_at[w]
                stack[sp] = w
                sp += 1
        for i in range(count - 1, 0, -1):
            w = vertex[i]
            for e in range(pred_at[w], pred_at[w + 1]):
                v = pred[e]
                if semi[v] < 0:
                    continue  # not reached from the root
                u = lt_eval(v, &ancestor[0], &label[0], &semi[0], &path[0])
                if semi[u] < semi[w]:
                    semi[w] = semi[u]
            b = vertex[semi[w]]
            bucket_next[w], bucket[b] = bucket[b], w
            p = parent[w]
            ancestor[w] = p
            v = bucket[p]
            while v >= 0:
                nxt = bucket_next[v]
                u = lt_eval(v, &ancestor[0], &label[0], &semi[0], &path[0])
                idom[v] = u if semi[u] < semi[v] else p
                v = nxt
            bucket[p] = -1
        for i in range(1, count):
            w = vertex[i]
            if idom[w] != vertex[semi[w]]:
                idom[w] = idom[idom[w]]
        idom[root] = -1
    return arrays[5], arrays[1][:count].copy()


def retained_sizes(const int32_t[::1] idom, const int32_t[::1] preorder,
                   const int64_t[::1] sizes):
    """Each node's size plus the sizes of all it dominates (0 where not reached): summed
    from the last node of the preorder back, each into its immediate dominator."""
    cdef Py_ssize_t n = idom.shape[0], i
    cdef int32_t w
    if sizes.shape[0] != n:
        raise ValueError("one size per node")
    for i in range(preorder.shape[0]):
        if not 0 <= preorder[i] < n or not -1 <= idom[preorder[i]] < n:
            raise ValueError("the preorder and the dominators must name nodes")
    retained_array = np.zeros(n, dtype=np.int64)
    cdef int64_t[::1] retained = retained_array
    with nogil:
        for i in range(preorder.shape[0]):
            retained[preorder[i]] = sizes[preorder[i]]
        for i in range(preorder.shape[0] - 1, 0, -1):
            w = preorder[i]
            if idom[w] >= 0:
                retained[idom[w]] += retained[w]
    return retained_array


def outermost_of_group(Py_ssize_t root, const int64_t[::1] child_at,
                       const int32_t[::1] children, const int32_t[::1] group,
                       Py_ssize_t n_groups):
    """Per node: 1 where no node that dominates it is of its own group (group -1: none),
    for the retained size of a group (a histogram row) that counts no byte twice. The
    dominator tree is walked depth first from `root` (its children as `adjacency` gives
    them), a count per group of the nodes of the path to the current node."""
    cdef Py_ssize_t n = group.shape[0], i, sp
    cdef int32_t v, w, r
    if child_at.shape[0] != n + 1 or not 0 <= root < n or child_at[n] != children.shape[0]:
        raise ValueError("one offset per node and one more, and a root among the nodes")
    for i in range(n):
        if not -1 <= group[i] < n_groups or child_at[i] > child_at[i + 1]:
            raise ValueError("a group out of range, or offsets that decrease")
    for i in range(children.shape[0]):
        if not 0 <= children[i] < n:
            raise ValueError("a child that is no node")
    outermost_array = np.zeros(n, dtype=np.uint8)
    held_array = np.zeros(max(n_groups, 1), dtype=np.int32)
    stack_array = np.empty(n, dtype=np.int32)
    cursor_array = np.zeros(n, dtype=np.int64)
    seen_array = np.zeros(n, dtype=np.uint8)  # a tree has no cycle; a crafted one might
    cdef uint8_t[::1] outermost = outermost_array, seen = seen_array
    cdef int32_t[::1] held = held_array, stack = stack_array
    cdef int64_t[::1] cursor = cursor_array
    with nogil:
        stack[0], sp, cursor[root], seen[root] = <int32_t>root, 1, child_at[root], 1
        r = group[root]
        outermost[root] = r >= 0
        if r >= 0:
            held[r] += 1
        while sp > 0:
            v = stack[sp - 1]
            if cursor[v] == child_at[v + 1]:
                sp -= 1
                if group[v] >= 0:
                    held[group[v]] -= 1
                continue
            w = children[cursor[v]]
            cursor[v] += 1
            if seen[w]:
                continue
            seen[w] = 1
            r = group[w]
            outermost[w] = r >= 0 and held[r] == 0
            if r >= 0:
                held[r] += 1
            cursor[w] = child_at[w]
            stack[sp] = w
            sp += 1
    return outermost_array
