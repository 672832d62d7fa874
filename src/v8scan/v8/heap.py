"""Readers for V8 objects used once per map or per function, never per object in a loop.

Strings, SharedFunctionInfo names, ScopeInfo function names, maps' constructors and
prototypes, and own data properties of an object (fast descriptors or a NameDictionary).
Every reader returns None (or an empty value) when memory is missing, never raises.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..core import AddressSpace
from ..errors import NotAnObject
from .layout import Layout

MAX_STRING = 1024      # characters read of one string
MAX_CHAIN = 64         # prototype chain / back-pointer / cons-string depth
MAX_STRING_PARTS = 4096  # string objects visited to read one string (cons trees)
MAX_SOURCE = 1 << 24   # characters of a script's source read to find a line
MAX_DICTIONARY = 1 << 20  # entries of one property dictionary


class Heap:
    """Typed reads of V8 objects in a core's address space."""

    def __init__(self, memory: AddressSpace, layout: Layout) -> None:
        self.memory = memory
        self.layout = layout
        self._string_cache: dict[int, Optional[str]] = {}
        self._key_cache: dict[int, bool] = {}

    # --- raw fields ----------------------------------------------------------------
    def field(self, obj: int, offset: int) -> Optional[int]:
        """The tagged word at `offset` in the object at untagged address `obj`."""
        return self.memory.u64(obj + offset)

    def pointer(self, obj: int, offset: int) -> Optional[int]:
        """The untagged address the field points to, or None for Smis and missing memory."""
        word = self.field(obj, offset)
        if word is None or word & 3 != 1:
            return None
        return word - 1

    def map_of(self, obj: int) -> Optional[int]:
        return self.pointer(obj, 0)

    def is_object(self, obj: int) -> bool:
        """Whether a V8 heap object starts at untagged address `obj`: its first word
        points to a Map."""
        map_addr = self.map_of(obj)
        return map_addr is not None and self.instance_type(map_addr) == self.layout.map_type

    def object_start(self, address: int) -> int:
        """The untagged address of the V8 heap object at `address` (tagged or not).

        Raises NotAnObject if the address is outside 64 bits, not in the core, or no object
        starts there."""
        obj = address & ~1
        if not 0 <= address < 1 << 64:
            raise NotAnObject(f"{address:#x} is not a 64-bit address")
        if self.memory.u64(obj) is None:
            raise NotAnObject(f"{address:#x} is not in the core's memory")
        if not self.is_object(obj):
            raise NotAnObject(f"{address:#x} is not the address of a V8 heap object in this "
                              "core (its first word is not a pointer to a Map)")
        return obj

    def instance_type(self, obj: int) -> Optional[int]:
        m = self.map_of(obj)
        return None if m is None else self.memory.u16(m + self.layout.map_instance_type)

    def slot(self, obj: int, index: int) -> Optional[int]:
        """Element `index` of a FixedArray-like object (after map and length)."""
        return self.field(obj, self.layout.fixed_array_header + index * self.layout.tagged_size)

    def smi_field(self, obj: int, offset: int) -> Optional[int]:
        """The Smi value of a field, or None if it is missing or not a Smi."""
        word = self.field(obj, offset)
        return None if word is None else self.layout.smi(word)

    def smi_slot(self, obj: int, index: int) -> Optional[int]:
        return self.smi_field(obj, self.layout.fixed_array_header + index * self.layout.tagged_size)

    # --- strings -------------------------------------------------------------------
    def string(self, obj: Optional[int]) -> Optional[str]:
        """The text of the String at `obj` (cut at MAX_STRING characters), or None; cached,
        for names."""
        if obj is None:
            return None
        if obj not in self._string_cache:
            self._string_cache[obj] = self._read_string(obj, MAX_CHAIN, MAX_STRING,
                                                        [MAX_STRING_PARTS])
        return self._string_cache[obj]

    def text(self, obj: int, limit: int) -> Optional[str]:
        """The first `limit` characters of the String at `obj`, or None if unreadable (an
        uncached external string, memory the core lacks, or a cons tree too large)."""
        return self._read_string(obj, MAX_CHAIN, limit, [MAX_STRING_PARTS])

    def string_length(self, obj: int) -> Optional[int]:
        return self.memory.i32(obj + self.layout.string_length)

    def _read_string(self, obj: int, depth: int, limit: int,
                     budget: list[int]) -> Optional[str]:
        """`budget` counts the string objects this read may still visit: a crafted cons
        tree of empty leaves would otherwise take exponential time."""
        L = self.layout
        budget[0] -= 1
        t = self.instance_type(obj)
        length = self.string_length(obj)
        if t is None or not L.is_string(t) or length is None or length < 0 or depth <= 0 \
                or budget[0] < 0:
            return None
        n = min(length, limit)
        rep = L.string_representation(t)
        if rep == L.seq_string_tag:
            chars = obj + (L.seq_one_byte_chars if L.is_one_byte_string(t) else L.seq_two_byte_chars)
            return self._chars(chars, n, L.is_one_byte_string(t))
        if rep == L.cons_string_tag:
            first = self._read_string(self.pointer(obj, L.cons_first) or 0, depth - 1, n,
                                      budget)
            if first is None or len(first) >= n:
                return first
            second = self._read_string(self.pointer(obj, L.cons_second) or 0, depth - 1,
                                       n - len(first), budget)
            return None if second is None else first + second
        if rep == L.thin_string_tag:
            return self._read_string(self.pointer(obj, L.thin_actual) or 0, depth - 1, n,
                                     budget)
        if rep == L.sliced_string_tag:
            offset = self.smi_field(obj, L.sliced_offset)
            if offset is None or not 0 <= offset <= MAX_SOURCE:
                return None
            parent = self._read_string(self.pointer(obj, L.sliced_parent) or 0, depth - 1,
                                       offset + n, budget)
            return None if parent is None else parent[offset:offset + n]
        if rep == L.external_string_tag and "UNCACHED" not in L.type_name(t):
            # The characters live outside the heap (a C++ resource); V8 caches their address.
            data = self.memory.u64(obj + L.external_resource_data)
            return None if data is None else self._chars(data, n, L.is_one_byte_string(t))
        return None

    def _chars(self, address: int, count: int, one_byte: bool) -> Optional[str]:
        raw = self.memory.read(address, count if one_byte else 2 * count)
        if raw is None:
            return None
        return bytes(raw).decode("latin-1" if one_byte else "utf-16-le", "replace")

    def symbol_description(self, obj: int) -> Optional[str]:
        """The description of a Symbol (e.g. 'Symbol.toStringTag'), or None."""
        if self.instance_type(obj) != self.layout.symbol_type:
            return None
        return self.string(self.pointer(obj, self.layout.symbol_name))

    # --- functions -----------------------------------------------------------------
    def function_name(self, sfi: Optional[int]) -> str:
        """SharedFunctionInfo::Name(): the shared name, '' when there is none."""
        return "" if sfi is None else self.function_names(np.array([sfi], np.uint64))[0]

    def function_names(self, sfis: np.ndarray) -> list[str]:
        """function_name of each SharedFunctionInfo at `sfis`, read in bulk: its shared
        name, or its ScopeInfo's function variable's name; '' where there is none
        (kNoSharedNameSentinel)."""
        L = self.layout
        target = self.pointers(np.asarray(sfis, np.uint64) + np.uint64(L.sfi_name_or_scope_info))
        scope = self.instance_types(target) == L.scope_info_type
        names = target.copy()
        flags, index = self._function_variables(target[scope])
        has_name = index >= 0
        has_name[has_name] = (flags[has_name] >> L.scope_info_function_variable_shift) & 3 != 0
        slots = target[scope] + np.uint64(L.tagged_size) * (1 + np.maximum(index, 0)).astype(
            np.uint64)
        names[scope] = np.where(has_name, self.pointers(np.where(has_name, slots, 0)), 0)
        return [text or "" for text in self.strings(names)]

    def pointers(self, slots: np.ndarray) -> np.ndarray:
        """The untagged address each word at `slots` (0: none) points to, 0 for Smis and
        missing memory."""
        words, found = self.memory.u64_many(np.asarray(slots, np.uint64))
        return np.where(found & (slots != 0) & (words & np.uint64(3) == 1),
                        words - np.uint64(1), 0).astype(np.uint64)

    def instance_types(self, objects: np.ndarray) -> np.ndarray:
        """The instance type of each object at `objects` (0: none), -1 where unreadable."""
        maps = self.pointers(objects)
        words, found = self.memory.u64_many(
            np.where(maps != 0, maps + np.uint64(self.layout.map_instance_type), 0))
        return np.where(found & (maps != 0), words & np.uint64(0xFFFF), -1).astype(np.int64)

    def smis(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The Smi value of each word at `slots` (int64), and whether it is one."""
        words, found = self.memory.u64_many(slots)
        shift = np.uint64(self.layout.smi_shift_size + 1)
        is_smi = found & (words & ((np.uint64(1) << shift) - np.uint64(1)) == 0)
        values = (words >> shift).astype(np.uint32).view(np.int32).astype(np.int64)
        return np.where(is_smi, values, 0), is_smi

    def strings(self, objects: np.ndarray, cache: bool = True) -> list[Optional[str]]:
        """`string` of each object at `objects` (0: None). Sequential strings, and thin
        ones pointing at them (internalized names mostly are), are read with their type
        and length in bulk; others one by one. `cache=False` keeps none of them (an
        export reads every string of the heap once)."""
        L = self.layout
        objects = np.asarray(objects, np.uint64)
        types = self.instance_types(objects)
        is_string = np.array([t >= 0 and L.is_string(t) for t in types.tolist()], dtype=bool)
        rep = np.where(is_string, types & L.string_representation_mask, -1)
        thin = rep == L.thin_string_tag
        actual = objects.copy()
        actual[thin] = self.pointers(objects[thin] + np.uint64(L.thin_actual))
        types[thin] = self.instance_types(actual[thin])
        lengths, ok = self.memory.u64_many(actual + np.uint64(L.string_length))
        lengths = (lengths & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)
        texts: list[Optional[str]] = []
        for obj, real, t, length, found in zip(objects.tolist(), actual.tolist(),
                                               types.tolist(), lengths.tolist(), ok.tolist()):
            if obj == 0:
                texts.append(None)
            elif obj in self._string_cache:
                texts.append(self._string_cache[obj])
            elif found and real and t >= 0 and L.is_string(t) and 0 <= length and \
                    L.string_representation(t) == L.seq_string_tag:
                one_byte = L.is_one_byte_string(t)
                chars = real + (L.seq_one_byte_chars if one_byte else L.seq_two_byte_chars)
                text = self._chars(chars, min(length, MAX_STRING), one_byte)
                if cache:
                    self._string_cache[obj] = text
                texts.append(text)
            elif cache:
                texts.append(self.string(obj))
            else:
                texts.append(self._read_string(obj, MAX_CHAIN, MAX_STRING, [MAX_STRING_PARTS]))
        return texts

    def scope_info_start(self, scope_info: int) -> Optional[int]:
        """The source position a function's ScopeInfo starts at, or None."""
        L = self.layout
        index = L.scope_info_position_slot
        if index < 0:  # after the function variable (name, slot) and the inferred name
            flag_array, index_array = self._function_variables(np.array([scope_info], np.uint64))
            flags, index = int(flag_array[0]), int(index_array[0])
            if index < 0:
                return None
            index += 2 if (flags >> L.scope_info_function_variable_shift) & 3 else 0
            index += (flags >> L.scope_info_inferred_name_shift) & 1
        start = self.smi_field(scope_info, L.tagged_size * (1 + index))
        end = self.smi_field(scope_info, L.tagged_size * (2 + index))
        return start if start is not None and end is not None and 0 <= start <= end else None

    def _function_variables(self, scope_infos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per ScopeInfo at `scope_infos`: its flags, and the slot index (counting from the
        word after the map) where its function variable's info would be; -1 where
        unreadable."""
        L = self.layout
        tagged = np.uint64(L.tagged_size)
        if L.scope_info_flags_is_smi:
            flags, ok = self.smis(scope_infos + tagged)
        else:
            words, ok = self.memory.u64_many(scope_infos + tagged)
            flags = (words & np.uint64(0xFFFFFFFF)).astype(np.int64)
        count, is_smi = self.smis(
            scope_infos + tagged * np.uint64(1 + L.scope_info_context_local_count))
        ok &= is_smi & (count >= 0)
        inlined = count < L.scope_info_max_inlined_names
        index = L.scope_info_first_vars + np.where(inlined, count, 0) + count
        if L.scope_info_has_names_hashtable:
            index += ~inlined
        index += (flags >> L.scope_info_saved_class_variable_shift) & 1
        receiver = L.scope_info_receiver_variable_shift
        if receiver >= 0:  # STACK or CONTEXT
            index += np.isin((flags >> receiver) & 3, (1, 2))
        return flags, np.where(ok, index, -1)

    def context_local_count(self, scope_info: int) -> Optional[int]:
        """How many variables a ScopeInfo's context holds, or None."""
        L = self.layout
        return self.smi_field(scope_info, L.tagged_size * (1 + L.scope_info_context_local_count))

    def context_local_name(self, scope_info: int, local: int) -> Optional[str]:
        """The name of context variable `local` when a ScopeInfo keeps the names inline
        (fewer than ScopeInfo_max_inlined_local_names of them), or None."""
        L = self.layout
        count = self.context_local_count(scope_info)
        if count is None or not 0 <= local < count or count >= L.scope_info_max_inlined_names:
            return None
        name = self.pointer(scope_info, L.tagged_size * (1 + L.scope_info_first_vars + local))
        return None if name is None else self.string(name)

    def function_start(self, sfi: int) -> Optional[int]:
        """SharedFunctionInfo::StartPosition(): from the ScopeInfo of a compiled function,
        or the UncompiledData of one not compiled yet; None if neither says."""
        L = self.layout
        target = self.pointer(sfi, L.sfi_name_or_scope_info)
        if target is not None and self.instance_type(target) == L.scope_info_type:
            start = self.scope_info_start(target)
            if start is not None:
                return start
        data = self.pointer(sfi, L.sfi_function_data)
        t = None if data is None else self.instance_type(data)
        if t is not None and L.type_name(t).startswith("UNCOMPILED_DATA"):
            return self.memory.i32(data + L.uncompiled_data_start)
        return None

    def script_of(self, sfi: Optional[int]) -> Optional[int]:
        """The Script a function's code came from, or None."""
        script = None if sfi is None else self.pointer(sfi, self.layout.sfi_script)
        return script if script is not None and \
            self.instance_type(script) == self.layout.script_type else None

    def script_name(self, script: int) -> Optional[str]:
        return self.string(self.pointer(script, self.layout.script_name))

    def script_line(self, script: int, position: int) -> Optional[int]:
        """The 1-based line of source `position` in `script`: from the script's line ends
        when V8 has computed them, else by counting newlines in its source."""
        L = self.layout
        line_ends = self.pointer(script, L.script_line_ends)
        if line_ends is not None and self.instance_type(line_ends) == L.fixed_array_type:
            count = self.smi_field(line_ends, L.fixed_array_length)
            raw = None if count is None or count < 0 else self.memory.read(
                line_ends + L.fixed_array_header, count * L.tagged_size)
            if raw is not None:
                ends = np.frombuffer(raw, dtype="<i8") >> (L.smi_shift_size + 1)
                return int(np.searchsorted(ends, position)) + 1
        source = self.pointer(script, L.script_source)
        text = None if source is None or not 0 <= position <= MAX_SOURCE \
            else self.text(source, position)
        return None if text is None or len(text) < position else text.count("\n") + 1

    # --- maps ----------------------------------------------------------------------
    def map_constructor(self, map_addr: int) -> Optional[int]:
        """Map::GetConstructor(): follow back pointers to the first non-map value."""
        return self.map_constructors(np.array([map_addr], np.uint64))[0] or None

    def map_constructors(self, maps: np.ndarray) -> np.ndarray:
        """map_constructor of each of `maps`, in bulk (0 where there is none)."""
        slot = np.uint64(self.layout.map_constructor_or_back_pointer)
        current = np.asarray(maps, np.uint64).copy()
        found = np.zeros(len(current), np.uint64)
        going = np.arange(len(current))  # the maps whose chains go on, and where they are
        for _ in range(MAX_CHAIN):
            value = self.pointers(current + slot)
            is_map = self.instance_types(value) == self.layout.map_type
            found[going[~is_map]] = value[~is_map]
            current, going = value[is_map], going[is_map]
            if not len(going):
                break
        return found

    def map_bits(self, map_addr: int) -> tuple[int, int]:
        """(bit_field2, bit_field3) of a map."""
        L = self.layout
        return (self.memory.u8(map_addr + L.map_bit_field2) or 0,
                self.memory.u32(map_addr + L.map_bit_field3) or 0)

    def is_dictionary_map(self, map_addr: int) -> bool:
        return bool((self.map_bits(map_addr)[1] >> self.layout.is_dictionary_map_shift) & 1)

    # --- own properties ------------------------------------------------------------
    def own_properties(self, obj: int) -> list[tuple[int, Optional[int]]]:
        """Own named properties of a JS object as (key address, value word or None).

        Fast-mode objects are read through their map's descriptors, dictionary-mode ones
        through their NameDictionary. Accessor properties have value None.
        """
        map_addr = self.map_of(obj)
        if map_addr is None:
            return []
        if self.instance_type(obj) == self.layout.js_global_object_type:
            return self._global_properties(obj)
        if self.is_dictionary_map(map_addr):
            return self._dictionary_properties(obj)
        return self._fast_properties(obj, map_addr)

    def own_keys(self, map_addr: int) -> list[int]:
        """Keys of the own descriptors of a fast-mode map (empty for dictionary maps)."""
        if self.is_dictionary_map(map_addr):
            return []
        return [key for key, _, _ in self.descriptors(map_addr)]

    def descriptors(self, map_addr: int):
        """(key address, details Smi or None, entry address) of each own descriptor."""
        L = self.layout
        descriptors = self.pointer(map_addr, L.map_instance_descriptors)
        bits3 = self.map_bits(map_addr)[1]
        count = (bits3 & L.own_descriptors_mask) >> L.own_descriptors_shift
        if descriptors is None:
            return
        for i in range(count):
            entry = self.descriptor_entry(descriptors, i)
            key = self.pointer(entry, L.descriptor_key * L.tagged_size)
            if key is not None:
                yield key, self.smi_field(entry, L.descriptor_details * L.tagged_size), entry

    def descriptor_entry(self, descriptors, index):
        """Address of entry `index` of the DescriptorArray at `descriptors` (untagged): on
        ints, or on uint64 and int64 arrays alike (for the bulk readers)."""
        L = self.layout
        stride = L.descriptor_size * L.tagged_size
        if isinstance(index, np.ndarray):
            return (np.asarray(descriptors, dtype=np.uint64) + np.uint64(L.descriptor_array_header)
                    + index.astype(np.uint64) * np.uint64(stride))
        return descriptors + L.descriptor_array_header + index * stride

    def field_key(self, map_addr: int, field_index: int) -> Optional[int]:
        """The key of the own data property kept in field `field_index` (in-object fields
        first, then the property backing store), or None."""
        for key, details, _ in self.descriptors(map_addr):
            if details is not None and self._field_index(details) == field_index:
                return key
        return None

    def _field_index(self, details: int) -> Optional[int]:
        """The field a data property's value is kept in, or None (kept in the descriptor)."""
        L = self.layout
        if (details & L.prop_location_mask) >> L.prop_location_shift == \
                L.prop_location_descriptor:
            return None
        return (details & L.prop_index_mask) >> L.prop_index_shift

    def _fast_properties(self, obj: int, map_addr: int):
        L = self.layout
        words = self.memory.u8(map_addr + L.map_instance_size_in_words) or 0
        inobject_start = self.memory.u8(map_addr + L.map_inobject_properties_start) or 0
        inobject = max(0, words - inobject_start)
        result = []
        for key, details, entry in self.descriptors(map_addr):
            if details is None:
                continue
            if details & L.prop_kind_mask == L.prop_kind_accessor:
                result.append((key, None))
                continue
            index = self._field_index(details)
            if index is None:
                value = self.field(entry, L.descriptor_value * L.tagged_size)
            elif index < inobject:
                value = self.field(obj, (inobject_start + index) * L.tagged_size)
            else:
                backing = self.pointer(obj, L.js_properties)
                value = None if backing is None else self.slot(backing, index - inobject)
            result.append((key, value))
        return result

    def _dictionary_entries(self, obj: int, width: int) -> Optional[np.ndarray]:
        """The (capacity, width) entries of the hash table in `obj`'s properties slot
        (as _dictionary_tables, for one object: scalar reads are faster for one)."""
        L = self.layout
        dictionary = self.pointer(obj, L.js_properties)
        if dictionary is None:
            return None
        capacity = self.smi_slot(dictionary, 2)
        length = self.smi_field(dictionary, L.fixed_array_length)
        if capacity is None or length is None or not 0 <= capacity <= MAX_DICTIONARY:
            return None
        start = length - capacity * width
        if start < L.name_dictionary_prefix_start:
            return None
        raw = self.memory.read(dictionary + L.fixed_array_header + start * L.tagged_size,
                               capacity * width * L.tagged_size)
        return None if raw is None else np.frombuffer(raw, dtype="<u8").reshape(capacity, width)

    def _dictionary_tables(self, objects: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Per object: where the entries of the hash table in its properties slot start,
        and its capacity (-1 where unreadable). The entries are the table's last
        capacity * width slots (a NameDictionary's prefix is one slot longer than a
        GlobalDictionary's)."""
        L = self.layout
        tagged = np.uint64(L.tagged_size)
        dictionaries = self.pointers(np.asarray(objects, np.uint64) + np.uint64(L.js_properties))
        header = dictionaries + np.uint64(L.fixed_array_header)
        capacity, ok = self.smis(np.where(dictionaries != 0, header + np.uint64(2) * tagged, 0))
        length, has_length = self.smis(
            np.where(dictionaries != 0, dictionaries + np.uint64(L.fixed_array_length), 0))
        start = length - capacity * width
        ok &= has_length & (dictionaries != 0) & (capacity >= 0) & (capacity <= MAX_DICTIONARY) \
            & (start >= L.name_dictionary_prefix_start)
        starts = header + np.where(ok, start, 0).astype(np.uint64) * tagged
        return starts, np.where(ok, capacity, -1)

    def dictionary_keys(self, objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The keys (tagged words, empty and deleted markers included) of the
        NameDictionary of each of `objects` (dictionary-mode JS objects), in bulk: the
        index into `objects` of each key's owner, and the keys."""
        width = self.layout.name_dictionary_entry_size
        owners, keys = [], []
        if width < 2:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64)
        starts, capacities = self._dictionary_tables(objects, width)
        for i in np.flatnonzero(capacities > 0).tolist():
            raw = self.memory.read(int(starts[i]),
                                   int(capacities[i]) * width * self.layout.tagged_size)
            if raw is not None:
                keys.append(np.frombuffer(raw, dtype="<u8")[::width])
                owners.append(np.full(len(keys[-1]), i, np.int64))
        if not keys:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64)
        return np.concatenate(owners), np.concatenate(keys)

    def descriptor_keys(self, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The keys (tagged words; 0 where unreadable) of the own descriptors of each of
        `maps` (fast-mode maps), in bulk: the index into `maps` of each key's map, and the
        keys."""
        L, memory = self.layout, self.memory
        maps = np.asarray(maps, np.uint64)
        bits3 = memory.u64_many(maps + np.uint64(L.map_bit_field3))[0] & np.uint64(0xFFFFFFFF)
        descriptors, _ = memory.u64_many(maps + np.uint64(L.map_instance_descriptors))
        own = ((bits3 & np.uint64(L.own_descriptors_mask))
               >> np.uint64(L.own_descriptors_shift)).astype(np.int64)
        owner = np.repeat(np.arange(len(maps)), own)
        index = np.arange(len(owner)) - np.repeat(np.cumsum(own) - own, own)
        slots = (self.descriptor_entry(descriptors[owner] - np.uint64(1), index)
                 + np.uint64(L.descriptor_key * L.tagged_size))
        return owner, memory.u64_many(slots)[0]

    def _global_properties(self, obj: int):
        """A global object's properties: a GlobalDictionary of PropertyCells (one slot per
        entry; each cell holds its name and value)."""
        entries = self._dictionary_entries(obj, 1)
        result = []
        for cell in [] if entries is None else entries[:, 0].tolist():
            if cell & 3 != 1 or self.instance_type(cell - 1) != self.layout.property_cell_type:
                continue  # the empty (undefined) or deleted (hole) marker
            key = self.pointer(cell - 1, self.layout.property_cell_name)
            if key is not None and self._is_key(key):
                result.append((key, self.memory.u64(cell - 1 + self.layout.property_cell_value)))
        return result

    def _dictionary_properties(self, obj: int):
        width = self.layout.name_dictionary_entry_size
        entries = self._dictionary_entries(obj, width) if width >= 2 else None
        if entries is None:
            return []
        result = []
        for key, value in entries[:, :2].tolist():
            if key & 3 != 1:
                continue
            if self._is_key(key - 1):  # not the empty (undefined) or deleted (hole) marker
                result.append((key - 1, value))
        return result

    def _is_key(self, obj: int) -> bool:
        """Whether `obj` is a String or Symbol; cached, as keys recur in every dictionary."""
        if obj not in self._key_cache:
            t = self.instance_type(obj)
            L = self.layout
            self._key_cache[obj] = t is not None and (L.is_string(t) or t == L.symbol_type)
        return self._key_cache[obj]
