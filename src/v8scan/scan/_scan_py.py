"""Plain-Python twin of the `_scan` extension: same functions, same results.

It is the test oracle for the Cython scanner and the fallback where no compiled extension
is available (select it with V8SCAN_PUREPYTHON=1). numpy finds the candidate words; the
object-by-object walk that follows is ordinary Python, written to mirror `_scan.pyx` line
for line, so the two can be compared on real bytes.
"""

from __future__ import annotations

import bisect
import threading
from typing import Optional

import numpy as np

from .scanrules import (
    MAP_COLLECT,
    MAP_EPHEMERON,
    MAP_FILLER,
    MAP_JS_RECEIVER,
    MAX_FIELD_OFFSET,
    MAX_OBJECT_SIZE,
    MAX_OBJECTS,
    SIZE_BYTE_ARRAY,
    SIZE_DESCRIPTORS,
    SIZE_DOUBLE_ARRAY,
    SIZE_FIXED,
    SIZE_FIXED_ARRAY,
    SIZE_FREE_SPACE,
    SIZE_ONE_BYTE,
    SIZE_PROPERTY_ARRAY,
    SIZE_TWO_BYTE,
    SIZE_UNKNOWN,
    SIZE_WEAK_ARRAY_LIST,
    SLOT_ELEMENTS,
    SLOT_EPHEMERON,
    SLOT_OFFSET_MASK,
    SLOT_OWN,
    SLOT_PROPERTIES,
    SLOT_SHIFT,
    ScanParams,
)

TAG_MASK = 3
HEAP_OBJECT_TAG = 1


def find_meta_maps(data: np.ndarray, areas: np.ndarray, map_type: int,
                   instance_type_offset: int) -> np.ndarray:
    """Addresses of maps whose map word points to themselves and whose type is MAP_TYPE."""
    found = []
    for vaddr, offset, size in areas.tolist():
        words = _words(data, offset, size)
        addrs = vaddr + 8 * np.arange(len(words), dtype=np.uint64)
        for i in np.flatnonzero(words == addrs + 1).tolist():
            type_at = offset + 8 * i + instance_type_offset
            if type_at + 2 <= offset + size and _u16(data, type_at) == map_type:
                found.append(vaddr + 8 * i)
    return np.array(found, dtype=np.uint64)


def find_maps(data: np.ndarray, areas: np.ndarray, meta_maps: np.ndarray,
              map_size: int) -> np.ndarray:
    """Addresses of every object whose map is one of `meta_maps` (untagged addresses)."""
    tagged = meta_maps.astype(np.uint64) + 1
    found = []
    for vaddr, offset, size in areas.tolist():
        words = _words(data, offset, size)
        for i in np.flatnonzero(np.isin(words, tagged)).tolist():
            if 8 * i + map_size <= size:
                found.append(vaddr + 8 * i)
    return np.array(found, dtype=np.uint64)


def find_allocation_areas(data: np.ndarray, areas: np.ndarray, lo: int, hi: int,
                          max_span: int) -> np.ndarray:
    """Addresses of three consecutive words start <= top < limit, all 8-aligned, with top
    in [lo, hi) and limit - start <= max_span: candidate LinearAllocationAreas."""
    found = []
    for vaddr, offset, size in areas.tolist():
        w = _words(data, offset, size)
        s, t, lim = w[:-2], w[1:-1], w[2:]
        hit = (t >= lo) & (t < hi) & (s <= t) & (t < lim) & (lim - s <= max_span) \
            & ((s | t | lim) & 7 == 0)
        offsets = np.uint64(8) * np.flatnonzero(hit).astype(np.uint64)
        found.extend((np.uint64(vaddr) + offsets).tolist())  # vaddr may not fit an int64
    return np.array(found, dtype=np.uint64)


def count_objects(data: np.ndarray, areas: np.ndarray, map_keys: np.ndarray,
                  size_kind: np.ndarray, fixed_size: np.ndarray, map_flags: np.ndarray,
                  params: ScanParams, start: int = 0, stop: int = -1):
    """Walk areas [start, stop) and count objects per map.

    `map_keys` are the tagged map pointers, sorted; the other per-map arrays follow that
    order. Returns (counts, sizes, collected, collected_sizes): int64 arrays indexed like
    `map_keys`, then the addresses of objects whose map has MAP_COLLECT, in address order,
    and their sizes (0 where unknown).
    """
    collected, collected_sizes = [], []
    counts = np.zeros(len(map_keys), dtype=np.int64)
    sizes = np.zeros(len(map_keys), dtype=np.int64)
    walk = _Walk(data, areas, map_keys, size_kind, fixed_size, map_flags, params)
    stop = len(walk.seg_list) if stop < 0 else stop
    for vaddr, offset, size in walk.seg_list[start:stop]:
        for pos, m, obj_size in walk.objects(offset, size):
            if map_flags[m] & MAP_FILLER:
                continue
            counts[m] += 1
            known = int(size_kind[m]) != SIZE_UNKNOWN
            if map_flags[m] & MAP_COLLECT:
                collected.append(vaddr + pos - offset)
                collected_sizes.append(obj_size if known else 0)
            if known:
                sizes[m] += obj_size
    return (counts, sizes, np.array(collected, dtype=np.uint64),
            np.array(collected_sizes, dtype=np.int64))


def containing_objects(data: np.ndarray, areas: np.ndarray, map_keys: np.ndarray,
                       size_kind: np.ndarray, fixed_size: np.ndarray, map_flags: np.ndarray,
                       params: ScanParams, addresses: np.ndarray,
                       area_of: np.ndarray) -> np.ndarray:
    """For each address (sorted, in area area_of[i]), the start of the object that holds it,
    or 0 where it lies in no live object (free space, a filler, a stray gap). Inside an
    object of unknown extent, the last object that started counts as the holder."""
    walk = _Walk(data, areas, map_keys, size_kind, fixed_size, map_flags, params)
    holders = np.zeros(len(addresses), dtype=np.uint64)
    for s in np.unique(area_of).tolist():
        vaddr, offset, size = walk.seg_list[s]
        objects = list(walk.objects(offset, size))
        spans = []  # (start, end, holder or None) in file positions
        for k, (pos, m, obj_size) in enumerate(objects):
            if map_flags[m] & MAP_FILLER:
                spans.append((pos, pos + obj_size, None))
            elif int(size_kind[m]) == SIZE_UNKNOWN:
                # stray words after it are still inside it, up to the next object
                following = objects[k + 1][0] if k + 1 < len(objects) else offset + size
                spans.append((pos, following, pos))
            else:
                spans.append((pos, pos + obj_size, pos))
        starts = [span[0] for span in spans]
        for i in np.flatnonzero(area_of == s).tolist():
            at = int(addresses[i]) - vaddr + offset
            k = bisect.bisect_right(starts, at) - 1
            if k >= 0 and at < spans[k][1] and spans[k][2] is not None:
                holders[i] = vaddr + spans[k][2] - offset
    return holders


def find_words(data: np.ndarray, areas: np.ndarray, targets: np.ndarray):
    """(addresses, values) of every word equal to one of `targets` (tagged pointers)."""
    where, what = [], []
    for vaddr, offset, size in areas.tolist():
        words = _words(data, offset, size)
        for i in np.flatnonzero(np.isin(words, targets)).tolist():
            where.append(vaddr + 8 * i)
            what.append(int(words[i]))
    return np.array(where, dtype=np.uint64), np.array(what, dtype=np.uint64)


def find_words_in(data: np.ndarray, areas: np.ndarray, ranges: np.ndarray):
    """(addresses, values) of every word that points into one of `ranges`, [start, end)
    untagged addresses in order and apart, as a pointer to an object does (tagged
    ...001)."""
    ranges = np.asarray(ranges, dtype=np.uint64).reshape(-1, 2)
    if np.any(ranges[:, 1] < ranges[:, 0]) or np.any(ranges[1:, 0] < ranges[:-1, 1]):
        raise ValueError("ranges must be in order, apart, and not end before they start")
    where, what = [], []
    for vaddr, offset, size in areas.tolist():
        words = _words(data, offset, size)
        pointed = words - np.uint64(1)
        at = np.searchsorted(ranges[:, 0], pointed, side="right").astype(np.int64) - 1
        inside = (words & np.uint64(7) == 1) & (at >= 0) & (
            pointed < ranges[np.maximum(at, 0), 1] if len(ranges) else False)
        for i in np.flatnonzero(inside).tolist():
            where.append(vaddr + 8 * i)
            what.append(int(words[i]))
    return np.array(where, dtype=np.uint64), np.array(what, dtype=np.uint64)


def list_objects(data: np.ndarray, areas: np.ndarray, map_keys: np.ndarray,
                 size_kind: np.ndarray, fixed_size: np.ndarray, map_flags: np.ndarray,
                 params: ScanParams, start: int, stop: int, addresses: np.ndarray,
                 info: np.ndarray, at: int) -> int:
    """Write every object the walk of areas [start, stop) counts (the objects of
    `count_objects`), in address order, into `addresses` and `info` from index `at`;
    return how many. An object's info is its map index << 32 | its extent: the size of an
    object of known size; for one of unknown size, up to the next object or filler the
    walk finds, or its area's end. Raises ValueError if the arrays have no room for them
    all (the caller counts them first, with `count_objects`)."""
    if len(addresses) != len(info) or not 0 <= at <= len(addresses):
        raise ValueError("the output arrays must have one length, and `at` lie in it")
    if len(areas) == 0 or start >= stop:
        return 0
    if not 0 <= start < stop <= len(areas):
        raise ValueError("the areas to walk are not among the areas")
    walk = _Walk(data, areas, map_keys, size_kind, fixed_size, map_flags, params)
    n = at
    for vaddr, offset, size in walk.seg_list[start:stop]:
        open_at, open_pos = -1, 0
        for pos, m, obj_size in walk.objects(offset, size):
            if open_at >= 0:  # an object of unknown size ends where the next begins
                info[open_at] |= np.uint64(min(pos - open_pos, MAX_OBJECT_SIZE - 8))
                open_at = -1
            if map_flags[m] & MAP_FILLER:
                continue
            if n == len(addresses):
                raise ValueError("the output arrays are too small for the objects walked")
            if int(size_kind[m]) == SIZE_UNKNOWN:
                open_at, open_pos, obj_size = n, pos, 0
            addresses[n] = vaddr + pos - offset
            info[n] = m << 32 | obj_size
            n += 1
        if open_at >= 0:
            info[open_at] |= np.uint64(min(offset + size // 8 * 8 - open_pos,
                                           MAX_OBJECT_SIZE - 8))
    return n - at


MAX_EPHEMERON_ROUNDS = 1000


def mark_reachable(data: np.ndarray, areas: np.ndarray, addresses: np.ndarray,
                   info: np.ndarray, trace_end: np.ndarray, map_flags: np.ndarray,
                   ephemeron_start: int, unit_shift: int, roots: np.ndarray,
                   root_groups: np.ndarray, want_parents: bool = False):
    """Mark every object reachable from `roots`, breadth first, one root group after the
    other (`root_groups` ascending: a group is traced to the end before the next, so that
    paths prefer the roots of earlier groups).

    Objects are `list_objects`'s (addresses, info), concatenated over the `areas`. A root
    or a word of a traced object is an edge when it is a strong tagged pointer (...001) to
    an object's start; weak ones (...011) are not. An object's words up to
    min(extent, trace_end[its map]) are traced (raw data beyond that is not); those of a
    map with MAP_EPHEMERON up to `ephemeron_start`, where the (key, value) entries of a
    WeakMap's table begin: a value is reached only once its key is (or if the key is no
    object here). Returns (marks, parents): a uint8 mark per object, and if
    `want_parents`, per object the index of the object it was first reached from, -2 - g
    if from a root of group `root_groups[r]`, or -1 if unreached. (`unit_shift` sizes
    the compiled scanner's index; it does not change the result.)
    """
    if len(root_groups) != len(roots) or np.any(np.diff(root_groups) < 0):
        raise ValueError("one group per root is needed, in order")
    marker = Marker(data, areas, addresses, info, trace_end, map_flags, ephemeron_start,
                    unit_shift, want_parents)
    groups = root_groups.tolist()
    start = 0
    for r in range(1, len(roots) + 1):
        if r == len(roots) or groups[r] != groups[r - 1]:
            marker.add_roots(roots[start:r], groups[start])
            marker.run()  # a group is traced to the end before the next
            start = r
    if len(roots) == 0:
        marker.run()
    return marker.result()


class Marker:
    """The marking of `mark_reachable`, step by step: roots group by group (`add_roots`),
    tracing here (`run`), or, for large breadth-first levels, in slices that may run at
    once (`skip`, then `trace_slice` on each slice, then `take` of what each marked)."""

    def __init__(self, data: np.ndarray, areas: np.ndarray, addresses: np.ndarray,
                 info: np.ndarray, trace_end: np.ndarray, map_flags: np.ndarray,
                 ephemeron_start: int, unit_shift: int, want_parents: bool = False) -> None:
        n = len(addresses)
        if len(info) != n or n > MAX_OBJECTS or len(map_flags) != len(trace_end) \
                or len(trace_end) == 0:
            raise ValueError("inconsistent object graph arrays")
        rows = areas.tolist()
        self._starts = [row[0] for row in rows]
        self._rows = rows
        for i, (address, word) in enumerate(zip(addresses.tolist(), info.tolist())):
            k = bisect.bisect_right(self._starts, address) - 1
            inside = k >= 0 and address + (word & 0xFFFFFFFF) <= rows[k][0] + rows[k][2] \
                and address < rows[k][0] + rows[k][2] and (address - rows[k][0]) % 8 == 0
            if not inside or (i and address <= addresses[i - 1]) or word >> 32 >= len(trace_end):
                raise ValueError(f"object {i} is not inside the areas, in address order, "
                                 "with a map")
        self._index = {address: i for i, address in enumerate(addresses.tolist())}
        self._data, self._addresses, self._infos = data, addresses, info.tolist()
        self._trace_end, self._map_flags = trace_end, map_flags
        self._ephemeron_start = ephemeron_start
        self.marks = np.zeros(n, dtype=np.uint8)
        self.parents = np.full(n, -1, dtype=np.int32) if want_parents else None
        self._queue: list[int] = []
        self.head = 0
        self._tables: list[int] = []
        self._rounds = 0
        self._last_group = 0
        self._marking = threading.Lock()

    @property
    def tail(self) -> int:
        return len(self._queue)

    def _position(self, address: int) -> int:
        vaddr, offset, _ = self._rows[bisect.bisect_right(self._starts, address) - 1]
        return offset + address - vaddr

    def _object(self, word: int) -> int:
        return self._index.get(word - 1, -1) if word & 7 == 1 else -1

    def _reach(self, word: int, parent: int) -> None:
        j = self._object(word)
        if j >= 0 and not self.marks[j]:
            self.marks[j] = 1
            if self.parents is not None:
                self.parents[j] = parent
            self._queue.append(j)

    def add_roots(self, roots: np.ndarray, group: int) -> None:
        """Mark what `roots` point at, as reached from root group `group` (ascending)."""
        if not self._last_group <= group < MAX_OBJECTS - 2:
            raise ValueError("root groups must be small non-negative numbers, in order")
        self._last_group = group
        for word in np.asarray(roots, dtype=np.uint64).tolist():
            self._reach(word, -2 - group)

    def _words(self, i: int, tables: list[int]) -> list[int]:
        """The words of object i that are traced; notes it in `tables` if it is an
        ephemeron table."""
        m, extent = self._infos[i] >> 32, self._infos[i] & 0xFFFFFFFF
        pos = self._position(int(self._addresses[i]))
        limit = min(extent, int(self._trace_end[m]))
        if self._map_flags[m] & MAP_EPHEMERON:
            limit = min(limit, self._ephemeron_start)
            tables.append(i)
        return [_u64(self._data, pos + off) for off in range(0, limit - 7, 8)]

    def run(self, parallel_level: int = 0) -> int:
        """Trace queued objects until none is left, through the ephemerons' rounds
        (return 0), or until `parallel_level` or more wait (if not 0): return how many."""
        while True:
            while self.head < self.tail:
                if parallel_level and self.tail - self.head >= parallel_level:
                    return self.tail - self.head
                i = self._queue[self.head]
                self.head += 1
                for word in self._words(i, self._tables):
                    self._reach(word, i)
            if not self._ephemeron_round():
                return 0

    def _ephemeron_round(self) -> bool:
        """A value is held while its key is, to a fixed point as in V8; past
        MAX_EPHEMERON_ROUNDS, every value counts as held. Whether it queued anything."""
        before = self.tail
        self._rounds += 1
        keys_hold = self._rounds <= MAX_EPHEMERON_ROUNDS
        for i in self._tables:
            pos, extent = self._position(int(self._addresses[i])), self._infos[i] & 0xFFFFFFFF
            for off in range(self._ephemeron_start, extent - 15, 16):
                key = self._object(_u64(self._data, pos + off))
                if key < 0 or self.marks[key] or not keys_hold:
                    self._reach(_u64(self._data, pos + off + 8), i)
        return self.tail > before

    def skip(self) -> None:
        """Take every queued entry for `trace_slice`."""
        self.head = self.tail

    def trace_slice(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Trace queue entries [lo, hi) taken by `skip`: (newly marked, tables met)."""
        if self.parents is not None:
            raise ValueError("parents are kept breadth first, on one thread")
        if not 0 <= lo <= hi <= self.head:
            raise ValueError("trace only entries taken from the queue")
        found: list[int] = []
        tables: list[int] = []  # this slice's own: slices may run on several threads
        for q in range(lo, hi):
            for word in self._words(self._queue[q], tables):
                j = self._object(word)
                if j >= 0 and not self.marks[j]:
                    with self._marking:  # the compiled twin's atomic exchange
                        if self.marks[j]:
                            continue
                        self.marks[j] = 1
                    found.append(j)
        return np.array(found, dtype=np.uint64), np.array(tables, dtype=np.uint64)

    def take(self, found: np.ndarray, tables: np.ndarray) -> None:
        """Queue what a `trace_slice` marked, and keep the tables it met."""
        if self.tail + len(found) > len(self.marks) or np.any(found >= len(self.marks)) \
                or np.any(tables >= len(self.marks)):
            raise ValueError("not objects of this graph")
        self._queue.extend(found.tolist())
        self._tables.extend(tables.tolist())

    def result(self) -> tuple[np.ndarray, Optional[np.ndarray]]:
        return self.marks, self.parents

    def set_marks(self, marks: np.ndarray) -> None:
        """Take `marks` (of a marking of the same objects made before) for `edges`."""
        if len(marks) != len(self.marks):
            raise ValueError("one mark per object")
        self.marks[:] = marks

    def edges(self, elements_offset: int = -1, properties_offset: int = -1,
              with_slots: bool = False, skip: Optional[np.ndarray] = None,
              store_header: int = 0) -> tuple[np.ndarray, ...]:
        """(sources, targets): every strong reference between marked objects; an entry of a
        WeakMap's table refers to its value from its key (from the table if the key is no
        object here); an object of a MAP_JS_RECEIVER map also refers to all that its stores
        at the two offsets refer to. With `with_slots`, where each was read (SLOT_*). Left
        out: references to objects `skip` flags, a store's first `store_header` bytes."""
        for offset in (elements_offset, properties_offset, store_header):
            if not -1 <= offset < MAX_FIELD_OFFSET:
                raise ValueError("a store's offset is implausible")
        if skip is not None and len(skip) != len(self.marks):
            raise ValueError("one skip flag per object")
        found: list[tuple[int, int, int]] = []
        for i in np.flatnonzero(self.marks).tolist():
            self._edges_of(i, i, SLOT_OWN, found)
            if not self._map_flags[self._infos[i] >> 32] & MAP_JS_RECEIVER:
                continue
            extent = self._infos[i] & 0xFFFFFFFF
            pos = self._position(int(self._addresses[i]))
            for offset, holder in ((elements_offset, SLOT_ELEMENTS),
                                   (properties_offset, SLOT_PROPERTIES)):
                if offset < 0 or offset + 8 > extent:
                    continue
                store = self._object(_u64(self._data, pos + offset))
                if store >= 0 and store != i and self.marks[store]:
                    self._edges_of(store, i, holder, found)
        rows = np.array(found, dtype=np.int64).reshape(-1, 3)
        kind, offset = rows[:, 2] >> SLOT_SHIFT, rows[:, 2] & SLOT_OFFSET_MASK
        drawn = (kind == SLOT_OWN) | (kind == SLOT_EPHEMERON) | (offset >= store_header)
        if skip is not None:
            drawn &= skip[rows[:, 1]] == 0
        rows = rows[drawn]
        pairs = rows[:, 0].astype(np.int32), rows[:, 1].astype(np.int32)
        return (*pairs, rows[:, 2].astype(np.uint32)) if with_slots else pairs

    def _edges_of(self, i: int, source: int, holder: int,
                  found: list[tuple[int, int, int]]) -> None:
        def slot(kind: int, offset: int) -> int:
            return kind << SLOT_SHIFT | min(offset, SLOT_OFFSET_MASK)
        for index, word in enumerate(self._words(i, [])):
            j = self._object(word)
            if j >= 0 and self.marks[j]:
                found.append((source, j, slot(holder, 8 * index)))
        if not self._map_flags[self._infos[i] >> 32] & MAP_EPHEMERON:
            return
        pos, extent = self._position(int(self._addresses[i])), self._infos[i] & 0xFFFFFFFF
        for off in range(self._ephemeron_start, extent - 15, 16):
            key = self._object(_u64(self._data, pos + off))
            j = self._object(_u64(self._data, pos + off + 8))
            if j >= 0 and self.marks[j] and (key < 0 or self.marks[key]):
                found.append((source, j, slot(holder, off + 8)) if key < 0
                             else (key, j, slot(SLOT_EPHEMERON, off + 8)))


def count_marked(addresses: np.ndarray, info: np.ndarray, marks: np.ndarray,
                 size_known: np.ndarray, per_object: np.ndarray):
    """(counts, sizes) per map of the marked objects (`mark_reachable`'s marks over
    `list_objects`'s table; sizes only of maps where `size_known`), then the addresses
    and sizes of the marked objects of the `per_object` maps, in address order."""
    if not len(info) == len(marks) == len(addresses) or len(per_object) != len(size_known):
        raise ValueError("one info word and mark per object, one flag per map are needed")
    live = marks.astype(bool)
    maps = (info[live] >> np.uint64(32)).astype(np.int64)
    if np.any(maps >= len(size_known)):
        raise ValueError("an object has no map")
    extents = np.where(size_known[maps] != 0, (info[live] & np.uint64(0xFFFFFFFF)), 0)
    extents = extents.astype(np.int64)
    counts = np.bincount(maps, minlength=len(size_known)).astype(np.int64)
    sizes = np.zeros(len(size_known), dtype=np.int64)
    np.add.at(sizes, maps, extents)
    one_by_one = per_object[maps] != 0
    return counts, sizes, addresses[live][one_by_one], extents[one_by_one]


class _Walk:
    """The object-by-object walk of an area, as `object_at` in _scan.pyx does it."""

    def __init__(self, data, areas, map_keys, size_kind, fixed_size, map_flags, params):
        self.data, self.size_kind, self.fixed_size, self.map_flags = (
            data, size_kind, fixed_size, map_flags)
        self.seg_list = areas.tolist()
        self.keys = map_keys.astype(np.uint64)
        self.p = params

    def objects(self, offset: int, size: int):
        """(position, map index, size) of every object the walk accepts, fillers too."""
        words = _words(self.data, offset, size)
        end = offset + size // 8 * 8
        next_free = 0  # first word index not inside an accepted object
        for i in np.flatnonzero(np.isin(words, self.keys)).tolist():
            if i < next_free:
                continue
            pos = offset + 8 * i
            m = self._object_at(words, i, pos, end)
            if m is None:
                continue
            obj_size = _object_size(self.data, pos, end, int(self.size_kind[m]),
                                    int(self.fixed_size[m]), self.p)
            yield pos, m, obj_size
            if int(self.size_kind[m]) != SIZE_UNKNOWN:
                next_free = i + obj_size // 8

    def _object_at(self, words, i: int, pos: int, end: int):
        m = int(np.searchsorted(self.keys, int(words[i])))
        obj_size = _object_size(self.data, pos, end, int(self.size_kind[m]),
                                int(self.fixed_size[m]), self.p)
        if obj_size <= 0 or pos + obj_size > end:
            return None  # a stray word: the object it claims does not fit the segment
        if self.map_flags[m] & MAP_JS_RECEIVER and (
                max(self.p.properties_offset, self.p.elements_offset) + 8 > obj_size
                or not _valid_receiver(self.data, self.seg_list, self.keys, pos, self.p)):
            return None  # too small for, or without, heap-object properties and elements
        return m


def _object_size(data, pos: int, end: int, kind: int, fixed: int, p: ScanParams) -> int:
    """Size of the object at `pos` by its size rule, or -1 if the fields that give it are
    implausible or lie past `end`."""
    tagged = p.tagged_size
    if kind == SIZE_FIXED or kind == SIZE_UNKNOWN:
        return fixed if kind == SIZE_FIXED else tagged
    at, width = {SIZE_ONE_BYTE: (p.string_length_offset, 4),
                 SIZE_TWO_BYTE: (p.string_length_offset, 4),
                 SIZE_DESCRIPTORS: (p.descriptors_count_offset, 2)}.get(kind, (p.length_offset, 8))
    if pos + at + width > end:
        return -1
    if kind in (SIZE_ONE_BYTE, SIZE_TWO_BYTE):
        length = _i32(data, pos + p.string_length_offset)
        if length < 0:
            return -1
        width = 1 if kind == SIZE_ONE_BYTE else 2
        return _round_up(p.string_chars_offset + width * length, tagged)
    if kind == SIZE_DESCRIPTORS:
        n = _i16(data, pos + p.descriptors_count_offset)
        return -1 if n < 0 else p.descriptors_header + n * p.descriptor_entry
    value = _smi(_u64(data, pos + p.length_offset))
    if value is None or value < 0 or value >= MAX_OBJECT_SIZE:
        return -1
    # An array-like type with a header of its own carries it as its fixed size.
    if kind == SIZE_FIXED_ARRAY:
        return (fixed or p.header_size) + value * tagged
    if kind == SIZE_BYTE_ARRAY:
        return _round_up((fixed or p.header_size) + value, tagged)
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


def _valid_receiver(data, seg_list, keys, pos: int, p: ScanParams) -> bool:
    props = _u64(data, pos + p.properties_offset)
    if props & TAG_MASK != 0 and not _points_to_object(data, seg_list, keys, props):
        return False  # a Smi (identity hash) is fine; a pointer must be a heap object
    elements = _u64(data, pos + p.elements_offset)
    return _points_to_object(data, seg_list, keys, elements)


def _points_to_object(data, seg_list, keys, tagged: int) -> bool:
    if tagged & TAG_MASK != HEAP_OBJECT_TAG:
        return False
    address = tagged - 1
    for vaddr, offset, size in seg_list:
        if vaddr <= address and address + 8 <= vaddr + size:
            map_word = _u64(data, offset + address - vaddr)
            i = int(np.searchsorted(keys, map_word))
            return i < len(keys) and int(keys[i]) == map_word
    return False


def _words(data: np.ndarray, offset: int, size: int) -> np.ndarray:
    return data[offset : offset + size // 8 * 8].view("<u8")


def _u64(data, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 8].tobytes(), "little")


def _u16(data, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 2].tobytes(), "little")


def _i16(data, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 2].tobytes(), "little", signed=True)


def _i32(data, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 4].tobytes(), "little", signed=True)


def _smi(word: int):
    """The value of a 64-bit Smi (31-bit shift, payload in the upper half), else None."""
    if word & 0xFFFFFFFF:
        return None
    value = word >> 32
    return value - (1 << 32) if value >= 1 << 31 else value


def _round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


# --- the dominator tree ----------------------------------------------------------------
def adjacency(n: int, keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, ordered): `values` grouped by key, in a stable order."""
    keys, values = np.asarray(keys), np.asarray(values)
    if len(keys) != len(values):
        raise ValueError("one value per key")
    if len(keys) and not (0 <= keys.min() and keys.max() < n):
        raise ValueError("a key is not a node")
    order = np.argsort(keys, kind="stable")
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=offsets[1:])
    return offsets, values[order].astype(np.int32)


def _depth_first(root: int, succ_at: np.ndarray, succ: np.ndarray) -> tuple[list, list]:
    """(preorder, postorder) of a depth-first walk from `root`, successors in order."""
    preorder, postorder, seen = [root], [], {root}
    stack = [(root, int(succ_at[root]))]
    while stack:
        v, e = stack[-1]
        if e == succ_at[v + 1]:
            postorder.append(v)
            stack.pop()
            continue
        stack[-1] = (v, e + 1)
        w = int(succ[e])
        if w not in seen:
            seen.add(w)
            preorder.append(w)
            stack.append((w, int(succ_at[w])))
    return preorder, postorder


def immediate_dominators(root: int, succ_at: np.ndarray, succ: np.ndarray,
                         pred_at: np.ndarray, pred: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(idom, preorder) as the compiled twin gives them, by another algorithm: Cooper,
    Harvey and Kennedy's iteration to a fixed point over reverse postorder."""
    n = len(succ_at) - 1
    if len(pred_at) != n + 1 or not 0 <= root < n:
        raise ValueError("one offset per node and one more, and a root among the nodes")
    if succ_at[n] != len(succ) or pred_at[n] != len(pred) or np.any(np.diff(succ_at) < 0) \
            or np.any(np.diff(pred_at) < 0):
        raise ValueError("the offsets must not decrease, and end at the edges' count")
    if np.any((succ < 0) | (succ >= n)) or np.any((pred < 0) | (pred >= n)):
        raise ValueError("an edge leads to or comes from no node")
    preorder, postorder = _depth_first(root, succ_at, succ)
    number = {v: i for i, v in enumerate(postorder)}
    idom = {root: root}

    def intersect(a: int, b: int) -> int:
        while a != b:
            while number[a] < number[b]:
                a = idom[a]
            while number[b] < number[a]:
                b = idom[b]
        return a

    changed = True
    while changed:
        changed = False
        for w in reversed(postorder):
            if w == root:
                continue
            new = -1
            for v in pred[pred_at[w]:pred_at[w + 1]].tolist():
                if v in idom:
                    new = v if new < 0 else intersect(v, new)
            if idom.get(w) != new:
                idom[w] = new
                changed = True
    result = np.full(n, -1, dtype=np.int32)
    for w, d in idom.items():
        if w != root:
            result[w] = d
    return result, np.array(preorder, dtype=np.int32)


def retained_sizes(idom: np.ndarray, preorder: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Each node's size plus the sizes of all it dominates (0 where not reached)."""
    if len(sizes) != len(idom):
        raise ValueError("one size per node")
    retained = np.zeros(len(idom), dtype=np.int64)
    children: dict[int, list[int]] = {}
    for w in preorder.tolist():
        if idom[w] >= 0:
            children.setdefault(int(idom[w]), []).append(w)
    for w in reversed(preorder.tolist()):  # the dominated come after their dominators
        retained[w] = sizes[w] + sum(int(retained[c]) for c in children.get(w, []))
    return retained


def outermost_of_group(root: int, child_at: np.ndarray, children: np.ndarray,
                       group: np.ndarray, n_groups: int) -> np.ndarray:
    """Per node: 1 where no node that dominates it is of its own group (-1: none)."""
    n = len(group)
    if len(child_at) != n + 1 or not 0 <= root < n:
        raise ValueError("one offset per node and one more, and a root among the nodes")
    if len(group) and not (-1 <= group.min() and group.max() < n_groups):
        raise ValueError("a group out of range")
    outermost = np.zeros(n, dtype=np.uint8)
    stack = [(root, frozenset())]  # a node, and the groups of the nodes that dominate it
    seen = {root}
    while stack:
        v, above = stack.pop()
        outermost[v] = group[v] >= 0 and int(group[v]) not in above
        below = above | {int(group[v])} if group[v] >= 0 else above
        for w in children[child_at[v]:child_at[v + 1]].tolist():
            if w not in seen:
                seen.add(w)
                stack.append((w, below))
    return outermost
