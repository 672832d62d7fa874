"""One heap object read as a tree of plain values, for `inspect`: what util.inspect shows.

Every value is a dict JSON can carry, with a "type": number, string, boolean, null,
undefined, hole, symbol, bigint, object, array, function, map, set, buffer, accessor,
circular, internal or unreadable. Objects deeper than `depth` keep only their address and
constructor ("omitted"). Readers never raise on missing memory; what the core lacks is an
"unreadable" value. Formatting is render.py's job.
"""

from __future__ import annotations

import math
import struct
from typing import Any, Optional

import numpy as np

from .heap import Heap
from .naming import Namer

MAX_ITEMS = 100         # elements, properties and entries read per object
MAX_OBJECTS = 5_000     # objects expanded per read: shared sub-objects repeat in the tree
MAX_ENTRY_SLOTS = 10_000  # Map/Set table entries looked at for MAX_ITEMS live ones
MAX_TEXT = 1_000        # characters read per string
BUFFER_PREVIEW = 50     # bytes read per Buffer (buffer.INSPECT_MAX_BYTES)
DEFAULT_DEPTH = 2       # as util.inspect

Value = dict[str, Any]
DOUBLE = struct.Struct("<d")


def js_number(value: float) -> str:
    """A double as JavaScript prints it (Number.prototype.toString)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:  # 1e-07 -> 1e-7, 1e+22 stays
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{exponent[0]}{int(exponent[1:])}"
    return text


class ValueReader:
    """Reads heap objects of one dump into value trees."""

    def __init__(self, heap: Heap, namer: Namer, depth: int = DEFAULT_DEPTH) -> None:
        self.heap, self.namer, self.layout = heap, namer, heap.layout
        self.depth = depth
        self._expanded = 0  # objects expanded so far in this read (MAX_OBJECTS)
        L = self.layout
        self._collections = {L.js_map_type: "map", L.js_set_type: "set"}
        self._entry_sizes = {"map": L.ordered_hash_map_entry, "set": L.ordered_hash_set_entry}

    def read(self, address: int) -> Value:
        """The value tree of the object at `address` (tagged or not).

        Raises NotAnObject if no V8 object starts there."""
        obj = self.heap.object_start(address)
        self._expanded = 0
        return self._object(obj, 0, frozenset())

    # --- any value ----------------------------------------------------------------
    def _value(self, word: Optional[int], level: int, path: frozenset) -> Value:
        if word is None:
            return {"type": "unreadable"}
        smi = self.layout.smi(word)
        if smi is not None:
            return {"type": "number", "value": smi, "text": str(smi)}
        if word & 3 != 1:
            return {"type": "unreadable", "word": f"{word:#x}"}
        return self._object(word - 1, level, path)

    def _object(self, obj: int, level: int, path: frozenset) -> Value:
        L, heap = self.layout, self.heap
        t = heap.instance_type(obj)
        if t is None:
            return {"type": "unreadable", "address": f"{obj:#x}"}
        if L.is_string(t):
            return self._string(obj, t)
        if t == L.heap_number_type:
            raw = heap.memory.read(obj + L.heap_number_value, 8)
            if raw is None:
                return {"type": "unreadable", "address": f"{obj:#x}"}
            return self._double(DOUBLE.unpack(raw)[0])
        if t == L.oddball_type:
            return self._oddball(obj)
        if t == L.hole_type:
            return {"type": "hole"}
        if t == L.symbol_type:
            return {"type": "symbol", "description": heap.symbol_description(obj)}
        if t == L.bigint_type:
            return {"type": "bigint", "address": f"{obj:#x}"}
        if not L.is_js_receiver(t):
            return {"type": "internal", "address": f"{obj:#x}",
                    "name": self.namer.label_map(heap.map_of(obj) or 0, t)[1]}
        if obj in path:
            return {"type": "circular", "address": f"{obj:#x}"}
        if L.is_js_function(t) or t == L.js_bound_function_type:
            return self._function(obj, t)
        return self._receiver(obj, t, level, path | {obj})

    def _string(self, obj: int, t: int) -> Value:
        L = self.layout
        rep = L.string_representation(t)
        representation = {L.seq_string_tag: "sequential", L.cons_string_tag: "cons",
                          L.sliced_string_tag: "sliced", L.thin_string_tag: "thin",
                          L.external_string_tag: "external"}.get(rep, "unknown")
        return {"type": "string", "value": self.heap.text(obj, MAX_TEXT),
                "length": self.heap.string_length(obj), "representation": representation,
                "encoding": "one-byte" if L.is_one_byte_string(t) else "two-byte"}

    def _oddball(self, obj: int) -> Value:
        L = self.layout
        kind = self.heap.smi_field(obj, L.oddball_kind)  # a Smi, though the metadata says int
        if kind in (L.oddball_true, L.oddball_false):
            return {"type": "boolean", "value": kind == L.oddball_true}
        if kind == L.oddball_null:
            return {"type": "null"}
        if kind == L.oddball_undefined:
            return {"type": "undefined"}
        if kind == L.oddball_the_hole:
            return {"type": "hole"}
        return {"type": "internal", "address": f"{obj:#x}", "name": f"Oddball kind {kind}"}

    def _function(self, obj: int, t: int) -> Value:
        heap, L = self.heap, self.layout
        tree: Value = {"type": "function", "address": f"{obj:#x}"}
        if t == L.js_bound_function_type:
            return {**tree, "name": "bound", "script": None, "line": None}
        sfi = heap.pointer(obj, L.js_function_shared)
        script = heap.script_of(sfi)
        start = None if sfi is None else heap.function_start(sfi)
        return {**tree, "name": self.namer.function_name(sfi),
                "script": None if script is None else heap.script_name(script),
                "line": None if script is None or start is None
                else heap.script_line(script, start)}

    # --- JS objects ---------------------------------------------------------------
    def _receiver(self, obj: int, t: int, level: int, path: frozenset) -> Value:
        L, heap = self.layout, self.heap
        map_addr = heap.map_of(obj) or 0
        kind = "object"
        if t == L.js_array_type:
            kind = "array"
        elif t in self._collections:
            kind = self._collections[t]
        elif t == L.js_typed_array_type:
            kind = "buffer"
        tree: Value = {"type": kind, "address": f"{obj:#x}",
                      "constructor": self.namer.label_object(obj, map_addr, t)[1]}
        if kind == "buffer":  # bytes, not references: shown at any depth
            return {**tree, **self._buffer(obj)}
        self._expanded += 1
        if level >= self.depth + 1 or self._expanded > MAX_OBJECTS:
            return {**tree, "omitted": True}
        child = level + 1
        if kind in ("map", "set"):
            tree.update(self._collection(obj, kind, child, path))
        if kind == "array":
            tree["length"] = heap.smi_field(obj, L.js_array_length)
        elements = self._elements(obj, tree.get("length"), child, path)
        if elements is not None:
            tree["elements"] = elements
        tree["properties"] = self._properties(obj, kind == "array", child, path)
        return tree

    def _properties(self, obj: int, is_array: bool, level: int, path: frozenset) -> list[Value]:
        result = []
        for key, value in self.heap.own_properties(obj)[:MAX_ITEMS]:
            name = self.namer.property_name(key)
            if is_array and name == "length":  # an accessor on every array; shown as length
                continue
            result.append({"key": name, "value": {"type": "accessor"} if value is None
                           else self._value(value, level, path)})
        return result

    def _elements(self, obj: int, length: Optional[int], level: int,
                  path: frozenset) -> Optional[Value]:
        """{"count", "items"} of an object's indexed elements ("dictionary": true and no
        items when they are kept in a hash table), or None when it has none."""
        L, heap = self.layout, self.heap
        store = heap.pointer(obj, L.js_elements)
        t = None if store is None else heap.instance_type(store)
        capacity = None if store is None else heap.smi_field(store, L.fixed_array_length)
        if t is None or capacity is None or capacity < 0:
            return None
        count = capacity if length is None else min(length, capacity)
        if count == 0 and not length:
            return None
        shown = min(count, MAX_ITEMS)
        raw = heap.memory.read(store + L.fixed_array_header, shown * L.tagged_size)
        if t == L.fixed_double_array_type and raw is not None:
            words = np.frombuffer(raw, dtype="<u8")
            items = [{"type": "hole"} if w == L.double_hole_nan else
                     self._double(d) for w, d in zip(words.tolist(),
                                                     words.view("<f8").tolist())]
        elif t == L.fixed_array_type and raw is not None:
            items = [self._value(w, level, path)
                     for w in np.frombuffer(raw, dtype="<u8").tolist()]
        elif L.is_fixed_array(t):
            return {"count": length, "dictionary": True, "items": []}
        else:
            return None
        if length is None:  # a plain object: only the indices that are set
            if all(item["type"] == "hole" for item in items):
                return None
        return {"count": length if length is not None else count, "items": items}

    @staticmethod
    def _double(value: float) -> Value:
        return {"type": "number", "value": value if math.isfinite(value) else None,
                "text": js_number(value)}

    def _collection(self, obj: int, kind: str, level: int, path: frozenset) -> Value:
        """The entries of a Map (key, value) or the values of a Set, in insertion order."""
        heap, L = self.heap, self.layout
        table = heap.pointer(obj, L.js_collection_table)
        entry = self._entry_sizes[kind]
        counts = [None if table is None else heap.smi_slot(table, i) for i in range(3)]
        if None in counts or min(counts) < 0:
            return {"size": None, "entries": []}
        elements, deleted, buckets = counts
        first = L.ordered_hash_start + buckets
        entries = []
        for i in range(min(elements + deleted, MAX_ENTRY_SLOTS)):
            if len(entries) >= MAX_ITEMS:
                break
            key = self._value(heap.slot(table, first + i * entry), level, path)
            if key["type"] == "hole":  # a deleted entry
                continue
            if kind == "map":
                value = self._value(heap.slot(table, first + i * entry + 1), level, path)
                entries.append({"key": key, "value": value})
            else:
                entries.append(key)
        return {"size": elements, "entries": entries}

    def _buffer(self, obj: int) -> Value:
        """Length and the first bytes of a typed array (a Value Buffer is a Uint8Array).
        Its data is at external_pointer + base_pointer: an address outside the heap with
        base 0, or an offset into the heap object base_pointer points to."""
        heap, L = self.heap, self.layout
        length = heap.memory.u64(obj + L.array_buffer_view_byte_length)
        external = heap.memory.u64(obj + L.typed_array_external_pointer)
        base = heap.memory.u64(obj + L.typed_array_base_pointer)
        if None in (length, external, base):
            return {"byteLength": length, "hex": None}
        raw = heap.memory.read((external + base) & (2 ** 64 - 1), min(length, BUFFER_PREVIEW))
        return {"byteLength": length, "hex": None if raw is None else bytes(raw).hex()}
