"""The reference: v8scan's heap scan written in plain numpy, for the benchmarks' ratio.

It does what `v8scan.scan.heapscan.scan_heap` does with the same pages, maps and size rules: meta
maps, maps, then counts objects and bytes per map. The object-by-object walk, which numpy
cannot step through, becomes: every word that holds a map pointer is a candidate; each
candidate that passes the scanner's checks points to the next one the walk would land on;
the objects counted are those reachable from each area's first candidate (found by
pointer doubling). The benchmark checks that its counts equal the scanner's.
"""

from __future__ import annotations

import numpy as np

from v8scan.scan import scanrules as k
from v8scan.scan.heapscan import _valid_maps, scan_params, size_rules
from v8scan.scan.pages import find_allocation_areas, heap_areas
from v8scan.scan.sweep import area_groups

BATCH_BYTES = 64 << 20


def numpy_scan(dump) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(maps, counts, sizes) of the live objects of an open `v8scan.Dump`."""
    memory, layout = dump.core.memory, dump.layout
    data = memory.as_array()
    words = data[: len(data) // 8 * 8].view("<u8")
    areas, _ = heap_areas(memory, layout, dump.pages,
                          find_allocation_areas(memory, layout, dump.pages,
                                                dump.isolate.neighbourhood(memory, dump.pages)))
    batches = _batches(areas)
    meta = np.concatenate([_meta_maps(words, areas[b], data, layout) for b in batches])
    map_size = memory.u8(int(meta[0]) + layout.map_instance_size_in_words) * layout.tagged_size
    candidates = np.concatenate([_maps(words, areas[b], meta, map_size) for b in batches])
    maps, types, sizes = _valid_maps(memory, layout, np.union1d(candidates, meta))
    kinds, fixed, flags = size_rules(layout, types, sizes)
    p = scan_params(layout)
    counts = np.zeros(len(maps), dtype=np.int64)
    totals = np.zeros(len(maps), dtype=np.int64)
    for b in batches:
        c, s = _count(data, words, areas, areas[b], maps + np.uint64(1), kinds, fixed, flags, p)
        counts += c
        totals += s
    return maps, counts, totals


def _batches(areas: np.ndarray) -> list[slice]:
    return [slice(a, b) for a, b in area_groups(areas, BATCH_BYTES)]


def _word_index(rows: np.ndarray):
    """For every word of the rows: its index into `words`, its address and its row."""
    n = (rows[:, 2] // np.uint64(8)).astype(np.int64)
    row = np.repeat(np.arange(len(rows)), n)
    within = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    index = (rows[row, 1] // np.uint64(8)).astype(np.int64) + within
    address = rows[row, 0] + (within * 8).astype(np.uint64)
    return index, address, row, within


def _meta_maps(words, rows, data, layout) -> np.ndarray:
    index, address, row, within = _word_index(rows)
    hit = np.flatnonzero(words[index] == address + np.uint64(1))
    at = (index[hit] * 8 + layout.map_instance_type).astype(np.int64)
    fits = within[hit] * 8 + layout.map_instance_type + 2 <= rows[row[hit], 2].astype(np.int64)
    types = data[at] | (data[at + 1].astype(np.uint16) << 8)
    return address[hit][fits & (types == layout.map_type)]


def _maps(words, rows, meta, map_size) -> np.ndarray:
    index, address, row, within = _word_index(rows)
    hit = np.flatnonzero(_member(words[index], np.sort(meta) + np.uint64(1)))
    fits = within[hit] * 8 + map_size <= rows[row[hit], 2].astype(np.int64)
    return address[hit][fits]


def _count(data, words, all_areas, rows, keys, kinds, fixed, flags, p):
    index, _, row, _ = _word_index(rows)
    cand = np.flatnonzero(_member(words[index], keys))
    pos = index[cand] * 8                      # file positions of candidate objects
    m = np.searchsorted(keys, words[index[cand]])
    end = (rows[row[cand], 1] + rows[row[cand], 2] // np.uint64(8) * np.uint64(8)).astype(np.int64)
    kind = kinds[m].astype(np.int64)
    size = _sizes(data, words, pos, kind, fixed[m], p)
    valid = (size > 0) & (pos + size <= end)
    receiver = valid & ((flags[m] & k.MAP_JS_RECEIVER) != 0)
    r = np.flatnonzero(receiver)
    props = words[(pos[r] + p.properties_offset) // 8]
    elements = words[(pos[r] + p.elements_offset) // 8]
    ok = (((props & np.uint64(3)) == 0) | _points_to_object(words, all_areas, keys, props)) \
        & _points_to_object(words, all_areas, keys, elements)
    valid[r[~ok]] = False
    # The walk: from each valid candidate to the first valid one at or after its end.
    v = np.flatnonzero(valid)
    vrow = row[cand[v]]
    # Order by (row, offset in row): file offsets need not grow with the row.
    vkey = (vrow.astype(np.int64) << 40) + pos[v] - rows[vrow, 1].astype(np.int64)
    step = np.where(kind[v] == k.SIZE_UNKNOWN, 8, size[v])
    nxt = np.searchsorted(vkey, vkey + step)
    sentinel = len(v)
    crosses = nxt < sentinel
    crosses[crosses] = vrow[nxt[crosses]] != vrow[crosses]
    nxt[crosses] = sentinel
    jump = np.append(nxt, sentinel)
    reach = np.zeros(len(v) + 1, dtype=bool)
    first_of_row = np.ones(len(v), dtype=bool)
    first_of_row[1:] = vrow[1:] != vrow[:-1]
    reach[:-1] = first_of_row
    while True:
        reach[jump[np.flatnonzero(reach)]] = True
        if (jump == sentinel).all():
            break
        jump = jump[jump]
    counted = v[reach[:-1] & ((flags[m[v]] & k.MAP_FILLER) == 0)]
    counts = np.bincount(m[counted], minlength=len(keys))
    known = counted[kind[counted] != k.SIZE_UNKNOWN]
    sizes = np.bincount(m[known], weights=size[known], minlength=len(keys)).astype(np.int64)
    return counts, sizes


def _member(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """values in sorted_keys, by binary search (np.isin would sort `values`)."""
    i = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[i] == values


def _sizes(data, words, pos, kind, fixed, p) -> np.ndarray:
    tagged = p.tagged_size

    def round_up(n):
        return (n + tagged - 1) // tagged * tagged

    def int32_at(offset):
        at = pos + offset
        raw = data[at[:, None] + np.arange(4)].copy().view("<i4").ravel()
        return raw.astype(np.int64)

    def int16_at(offset):
        at = pos + offset
        return data[at[:, None] + np.arange(2)].copy().view("<i2").ravel().astype(np.int64)

    word = words[np.minimum(pos + p.length_offset, len(words) * 8 - 8) // 8]
    is_smi = (word & np.uint64(0xFFFFFFFF)) == 0
    smi = (word >> np.uint64(32)).astype(np.uint32).view(np.int32).astype(np.int64)
    smi = np.where(is_smi & (smi >= 0) & (smi < k.MAX_OBJECT_SIZE), smi, -1)
    length = int32_at(p.string_length_offset)
    count = int16_at(p.descriptors_count_offset)
    free = smi * p.free_space_unit
    header = np.where(fixed != 0, fixed, p.header_size)  # an array type's own header
    size = np.select(
        [kind == k.SIZE_FIXED, kind == k.SIZE_UNKNOWN,
         kind == k.SIZE_ONE_BYTE, kind == k.SIZE_TWO_BYTE, kind == k.SIZE_DESCRIPTORS,
         kind == k.SIZE_FIXED_ARRAY, kind == k.SIZE_BYTE_ARRAY, kind == k.SIZE_DOUBLE_ARRAY,
         kind == k.SIZE_FREE_SPACE, kind == k.SIZE_PROPERTY_ARRAY,
         kind == k.SIZE_WEAK_ARRAY_LIST],
        [fixed, np.full_like(pos, tagged),
         np.where(length < 0, -1, round_up(p.string_chars_offset + length)),
         np.where(length < 0, -1, round_up(p.string_chars_offset + 2 * length)),
         np.where(count < 0, -1, p.descriptors_header + count * p.descriptor_entry),
         header + smi * tagged,
         round_up(header + smi),
         p.header_size + smi * 8,
         np.where(free % tagged == 0, free, -1),
         p.header_size + (smi & p.property_array_mask) * tagged,
         p.weak_list_header + smi * tagged],
        default=-1)
    needs_smi = ~np.isin(kind, [k.SIZE_FIXED, k.SIZE_UNKNOWN, k.SIZE_ONE_BYTE, k.SIZE_TWO_BYTE,
                                k.SIZE_DESCRIPTORS])
    return np.where(needs_smi & (smi < 0), -1, size)


def _points_to_object(words, areas, keys, tagged) -> np.ndarray:
    """Whether each tagged word points into an area at an object with a known map."""
    address = tagged - np.uint64(1)
    i = np.searchsorted(areas[:, 0], address, side="right") - 1
    safe = np.maximum(i, 0)
    inside = (i >= 0) & ((tagged & np.uint64(3)) == 1) & (address >= areas[safe, 0]) \
        & (address - areas[safe, 0] + np.uint64(8) <= areas[safe, 2])
    position = np.where(inside, areas[safe, 1] + address - areas[safe, 0], 0).astype(np.int64)
    map_word = words[position // 8]
    odd = np.flatnonzero(position % 8)  # 4-aligned pointers: read the bytes as they are
    if len(odd):
        data = words.view(np.uint8)
        map_word[odd] = data[position[odd, None] + np.arange(8)].copy().view("<u8").ravel()
    return inside & _member(map_word, keys)
