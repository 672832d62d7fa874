"""Names every map (and every function) the way a V8 heap snapshot names its objects.

Mirrors V8's `V8HeapExplorer::AddEntry` and `JSReceiver::GetConstructorHelper`:
JS objects by constructor name, functions by their SharedFunctionInfo name, bound
functions as `native_bind`, and everything else by kind and V8 type. Each map, prototype
and SharedFunctionInfo is read once; objects are never visited one by one here.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..arrays import distinct, distinct_inverse
from .heap import MAX_CHAIN, Heap
from .layout import Layout, class_of_type_name

ANONYMOUS = "(anonymous)"  # a function without a name, as DevTools calls it
# JSReceiver::class_name(), by instance type name, for objects no constructor names.
CLASS_NAMES = {
    "JS_ARGUMENTS_OBJECT_TYPE": "Arguments",
    "JS_ARRAY_TYPE": "Array",
    "JS_ARRAY_BUFFER_TYPE": "ArrayBuffer",
    "JS_ARRAY_ITERATOR_TYPE": "ArrayIterator",
    "JS_DATE_TYPE": "Date",
    "JS_ERROR_TYPE": "Error",
    "JS_MAP_TYPE": "Map",
    "JS_REG_EXP_TYPE": "RegExp",
    "JS_SET_TYPE": "Set",
    "JS_WEAK_MAP_TYPE": "WeakMap",
    "JS_WEAK_SET_TYPE": "WeakSet",
    "JS_GLOBAL_PROXY_TYPE": "global",
    "JS_PROXY_TYPE": "Object",
}

# V8HeapExplorer::GetSystemEntryType: the "code" kinds among internal objects.
CODE_CLASSES = {
    "AllocationSite", "ArrayBoilerplateDescription", "BytecodeArray", "Code",
    "FeedbackCell", "FeedbackMetadata", "FeedbackVector", "InstructionStream",
    "InterpreterData", "ObjectBoilerplateDescription", "PreparseData",
    "RegExpBoilerplateDescription", "ScopeInfo", "TemplateObjectDescription",
    "UncompiledDataWithoutPreparseData", "UncompiledDataWithPreparseData",
    "ClosureFeedbackCellArray", "LoadHandler", "StoreHandler",
    "UncompiledDataWithPreparseDataAndJob", "UncompiledDataWithoutPreparseDataWithJob",
    "SharedFunctionInfo", "Script",
}
SHAPE_CLASSES = {"Map", "DescriptorArray", "StrongDescriptorArray", "PrototypeInfo", "EnumCache",
                 "TransitionArray"}

Label = tuple[str, str]  # (kind, name)
# A JSProxy is a JSReceiver but no JSObject: the snapshot lists it among V8's internals.
PROXY_LABEL: Label = ("hidden", "system / JSProxy")


class Namer:
    """Names maps and functions of one core; caches what it reads."""

    def __init__(self, heap: Heap) -> None:
        self.heap = heap
        self.layout: Layout = heap.layout
        self._type_by_name = {v: k for k, v in self.layout.type_names.items()}
        self._prototype_names: dict[int, Optional[str]] = {}
        self._function_names: dict[int, str] = {}
        self._map_shapes: dict[int, tuple[str, ...]] = {}
        self._to_string_tag: dict[int, bool] = {}  # by key address
        self._constructor_names: dict[int, str] = {}  # by map
        self._chain_names: dict[int, Optional[str]] = {}  # by prototype

    def read_ahead(self, maps: np.ndarray) -> None:
        """Name the constructors of the objects of `maps` (JS receivers' maps) in bulk, so
        that label_map and label_object find them cached: each map's bits, constructor,
        that function's name and its prototype are read for all maps at once; only
        prototype chains are walked one by one, each prototype once."""
        L, heap, memory = self.layout, self.heap, self.heap.memory
        maps = distinct(np.asarray(maps, np.uint64))
        maps = maps[[m not in self._constructor_names for m in maps.tolist()]]
        if not len(maps):
            return
        types = memory.u64_many(maps + np.uint64(L.map_instance_type))[0] & np.uint64(0xFFFF)
        bits2 = memory.u64_many(maps + np.uint64(L.map_bit_field2))[0]
        bits3 = memory.u64_many(maps + np.uint64(L.map_bit_field3))[0]
        by_constructor = (types != L.js_proxy_type) \
            & ((bits2 >> np.uint64(L.new_target_is_base_bit)) & np.uint64(1) != 0) \
            & ((bits3 >> np.uint64(L.is_prototype_map_shift)) & np.uint64(1) == 0)
        constructors = heap.map_constructors(maps[by_constructor])
        kinds = heap.instance_types(constructors)
        is_function = (kinds >= L.js_function_type) & (kinds <= L.last_js_function_type)
        sfis = np.zeros(len(maps), np.uint64)
        sfis[np.flatnonzero(by_constructor)[is_function]] = heap.pointers(
            constructors[is_function] + np.uint64(L.js_function_shared))
        self.closure_names(sfis)
        prototypes = heap.pointers(maps + np.uint64(L.map_prototype))
        self._chain_names_ahead(prototypes)
        for map_addr, t, sfi, prototype in zip(maps.tolist(), types.tolist(), sfis.tolist(),
                                              prototypes.tolist()):
            name = self._function_names.get(sfi, "") if sfi else ""
            if not name or name == "Object":
                name = self._chain_name(prototype or None) or self._class_name(t)
            self._constructor_names[map_addr] = name

    # --- per map -------------------------------------------------------------------
    def label_map(self, map_addr: int, instance_type: int) -> Label:
        """(kind, name) of every object with this map; functions are named separately."""
        L = self.layout
        t = instance_type
        if t == L.js_proxy_type:
            return PROXY_LABEL
        if L.is_js_receiver(t):
            if L.is_js_function(t):
                return ("closure", "")  # named per function by label_function
            if t == L.js_bound_function_type:
                return ("closure", "native_bind")
            kind = "regexp" if t == L.js_regexp_type else "object"
            return (kind, self.constructor_name(map_addr, t))
        if L.is_string(t):
            rep = L.string_representation(t)
            if rep == L.cons_string_tag:
                return ("concatenated string", "(concatenated string)")
            if rep == L.sliced_string_tag:
                return ("sliced string", "(sliced string)")
            return ("string", self._class_of(t))
        if t == L.heap_number_type:
            return ("number", "heap number")
        if t == L.symbol_type:
            return ("symbol", "symbol")
        if t == L.bigint_type:
            return ("bigint", "bigint")
        if L.is_context(t):
            if t == L.native_context_type:
                return ("hidden", "system / NativeContext")
            return ("object", "system / Context")
        cls = self._class_of(t)
        if cls in CODE_CLASSES:
            return ("code", f"system / {cls}")
        if L.is_fixed_array(t) or t in (L.fixed_double_array_type, L.byte_array_type):
            return ("array", f"system / {cls}")
        if cls in SHAPE_CLASSES:
            return ("object shape", f"system / {cls}")
        return ("hidden", f"system / {cls}")

    def _class_of(self, t: int) -> str:
        L = self.layout
        if L.is_context(t):
            return "Context"
        if L.is_fixed_array(t) and t not in L.class_names:
            return "FixedArray"
        if t in L.class_names:
            return L.class_names[t]
        if L.is_string(t):
            return self._string_class(t)
        return class_of_type_name(L.type_names[t]) if t in L.type_names else L.type_name(t)

    def _string_class(self, t: int) -> str:
        """V8's class of a string type the metadata does not name, from its tag bits
        (a two-byte thin string, say)."""
        L = self.layout
        rep = L.string_representation(t)
        encoding = "OneByte" if L.is_one_byte_string(t) else "TwoByte"
        return {L.seq_string_tag: f"Seq{encoding}String",
                L.external_string_tag: f"External{encoding}String",
                L.thin_string_tag: "ThinString", L.cons_string_tag: "ConsString",
                L.sliced_string_tag: "SlicedString"}.get(rep, L.type_name(t))

    def per_object_maps(self, maps: np.ndarray, types: np.ndarray) -> np.ndarray:
        """Which maps' objects must be named one by one (a boolean mask over `maps`).

        Functions are named by their SharedFunctionInfo; prototypes, dictionary-mode objects
        and objects with an own Symbol.toStringTag can each carry their own name. Reads
        every map's bits and descriptor keys in bulk, and checks each distinct key once.
        """
        L, memory = self.layout, self.heap.memory
        by_type = {t: (L.is_js_receiver(t), L.is_js_function(t),
                       t in (L.js_bound_function_type, L.js_regexp_type))
                   for t in distinct(types).tolist()}
        receiver, function, named_by_type = (
            np.array([by_type[t][k] for t in types.tolist()], dtype=bool) for k in range(3))
        bits3 = memory.u64_many(maps + np.uint64(L.map_bit_field3))[0] & np.uint64(0xFFFFFFFF)
        special = ((bits3 >> np.uint64(L.is_prototype_map_shift)) & np.uint64(1)) | (
            (bits3 >> np.uint64(L.is_dictionary_map_shift)) & np.uint64(1))
        per_object = receiver & (function | (~named_by_type & (special != 0)))
        # The rest: an own Symbol.toStringTag among the map's own descriptors' keys.
        check = np.flatnonzero(receiver & ~function & ~named_by_type & (special == 0))
        owner, keys = self.heap.descriptor_keys(maps[check])
        tagged = np.bincount(owner[self._are_to_string_tags(keys)], minlength=len(check)) > 0
        per_object[check[tagged]] = True
        return per_object

    def _are_to_string_tags(self, keys: np.ndarray) -> np.ndarray:
        """Whether each key (a tagged word) is the Symbol.toStringTag symbol: types read in
        bulk, each distinct symbol's description once."""
        unique, inverse = distinct_inverse(keys)
        pointers = np.where(unique & np.uint64(3) == 1, unique - np.uint64(1), 0)
        symbols = np.flatnonzero(self.heap.instance_types(pointers) == self.layout.symbol_type)
        is_tag = np.zeros(len(unique), dtype=bool)
        is_tag[symbols] = [self._is_to_string_tag(k) for k in pointers[symbols].tolist()]
        return is_tag[inverse]

    def label_objects(self, objects: np.ndarray, maps: np.ndarray,
                      types: np.ndarray) -> list[Label]:
        """label_object of each object (functions aside). Whether each has an own
        Symbol.toStringTag key is read in bulk; only those that do are read one by one."""
        L = self.layout
        objects, maps = np.asarray(objects, np.uint64), np.asarray(maps, np.uint64)
        self.read_ahead(maps)
        bits3 = self.heap.memory.u64_many(maps + np.uint64(L.map_bit_field3))[0]
        dictionary = ((bits3 >> np.uint64(L.is_dictionary_map_shift)) & np.uint64(1)) != 0
        maybe_tagged = types == L.js_global_object_type  # a GlobalDictionary: read as is
        fast = np.flatnonzero(~dictionary & ~maybe_tagged)
        owner, keys = self.heap.descriptor_keys(maps[fast])
        maybe_tagged[fast] = np.bincount(owner[self._are_to_string_tags(keys)],
                                         minlength=len(fast)) > 0
        slow = np.flatnonzero(dictionary & ~maybe_tagged)
        owner, keys = self.heap.dictionary_keys(objects[slow])
        maybe_tagged[slow] = np.bincount(owner[self._are_to_string_tags(keys)],
                                         minlength=len(slow)) > 0
        return [self.label_object(obj, m, t, may_have_tag)
                for obj, m, t, may_have_tag in zip(objects.tolist(), maps.tolist(),
                                                   types.tolist(), maybe_tagged.tolist())]

    def label_object(self, obj: int, map_addr: int, instance_type: int,
                     may_have_tag: bool = True) -> Label:
        """(kind, name) of one object whose map needs_per_object. `may_have_tag=False`
        says it has no own Symbol.toStringTag key (label_objects reads that in bulk)."""
        if instance_type == self.layout.js_proxy_type:
            return PROXY_LABEL
        if self.layout.is_js_function(instance_type):
            return ("closure", self.closure_name(
                self.heap.pointer(obj, self.layout.js_function_shared)))
        own_tag = self._own_to_string_tag(obj) if may_have_tag else None
        if own_tag is not None:
            return ("object", own_tag)
        name = self.constructor_name(map_addr, instance_type)
        if name == "Object" and self.layout.type_name(instance_type) == "JS_PRIMITIVE_WRAPPER_TYPE":
            name = self._wrapper_class_name(obj) or name  # Boolean.prototype, say
        return ("object", name)

    def _wrapper_class_name(self, obj: int) -> Optional[str]:
        """JSReceiver::class_name of a JSPrimitiveWrapper: the type of the value it wraps
        (its one field, after the JSObject header)."""
        L, heap = self.layout, self.heap
        value = heap.memory.u64(obj + L.js_elements + L.tagged_size)
        if value is None:
            return None
        if value & 1 == 0:
            return "Number"  # a Smi
        t = heap.instance_type(value - 1)
        if t is None:
            return None
        if L.is_string(t):
            return "String"
        return {L.heap_number_type: "Number", L.oddball_type: "Boolean",
                L.bigint_type: "BigInt", L.symbol_type: "Symbol"}.get(t)

    def _is_to_string_tag(self, key: int) -> bool:
        if key not in self._to_string_tag:
            self._to_string_tag[key] = (
                self.heap.instance_type(key) == self.layout.symbol_type
                and self.heap.symbol_description(key) == "Symbol.toStringTag")
        return self._to_string_tag[key]

    def _own_to_string_tag(self, obj: int) -> Optional[str]:
        for key, value in self.heap.own_properties(obj):
            if value is not None and value & 3 == 1 and self._is_to_string_tag(key):
                return self.heap.string(value - 1)
        return None

    def constructor_name(self, map_addr: int, instance_type: int) -> str:
        """JSReceiver::GetConstructorName for objects of this map (own properties aside):
        the map's constructor's name, else the first constructor.name or
        Symbol.toStringTag a prototype up the chain holds, else the class name.
        (`instance_type` is the map's own, which read_ahead reads.)"""
        if map_addr not in self._constructor_names:
            self.read_ahead(np.array([map_addr], np.uint64))
        return self._constructor_names.get(map_addr) or self._class_name(instance_type)

    def _chain_name(self, prototype: Optional[int]) -> Optional[str]:
        """The first name _prototype_name finds up the prototype chain from `prototype`,
        remembered for every prototype on the way."""
        L, heap = self.layout, self.heap
        visited, result = [], None
        for _ in range(MAX_CHAIN):
            if prototype is None:
                break
            if prototype in self._chain_names:
                result = self._chain_names[prototype]
                break
            if not L.is_js_receiver(heap.instance_type(prototype) or -1):
                break
            visited.append(prototype)
            result = self._prototype_name(prototype)
            if result:
                break
            proto_map = heap.map_of(prototype)
            prototype = None if proto_map is None else heap.pointer(proto_map, L.map_prototype)
        self._chain_names.update((p, result) for p in visited)
        return result

    def _prototype_name(self, prototype: int) -> Optional[str]:
        """Symbol.toStringTag or constructor.name held as own data on a prototype."""
        if prototype not in self._prototype_names:
            self._read_prototype_names([prototype])
        return self._prototype_names[prototype]

    def _read_prototype_names(self, prototypes: list[int]) -> None:
        """_prototype_name of each of `prototypes`: own properties read one by one, the
        constructors' names in bulk."""
        heap, L = self.heap, self.layout
        found: list[tuple[int, Optional[str], int]] = []  # (prototype, tag, constructor's sfi)
        for prototype in prototypes:
            tag, sfi = None, 0
            for key, value in heap.own_properties(prototype):
                if value is None or value & 3 != 1:
                    continue
                key_type = heap.instance_type(key)
                if key_type == L.symbol_type:
                    if self._is_to_string_tag(key):
                        tag = heap.string(value - 1)
                elif key_type is not None and L.is_string(key_type) \
                        and heap.string(key) == "constructor" \
                        and L.is_js_function(heap.instance_type(value - 1) or -1):
                    sfi = heap.pointer(value - 1, L.js_function_shared) or 0
            found.append((prototype, tag, sfi))
        self.closure_names(np.array([sfi for _, _, sfi in found], np.uint64))
        for prototype, tag, sfi in found:
            name = self._function_names.get(sfi, "") if sfi else ""
            self._prototype_names[prototype] = tag if tag is not None else (
                name if name and name != "Object" else None)

    def _chain_names_ahead(self, prototypes: np.ndarray) -> None:
        """_prototype_name of every prototype on the chains from `prototypes`, a level of
        all chains at a time (chains meet soon: most end at Object.prototype)."""
        L, heap = self.layout, self.heap
        level = distinct(prototypes[prototypes != 0])
        for _ in range(MAX_CHAIN):
            level = level[[p not in self._prototype_names for p in level.tolist()]]
            level = level[heap.instance_types(level) >= L.first_js_receiver_type]
            if not len(level):
                break
            self._read_prototype_names(level.tolist())
            unnamed = level[[not self._prototype_names[p] for p in level.tolist()]]
            level = distinct(heap.pointers(heap.pointers(unnamed) + np.uint64(L.map_prototype)))
            level = level[level != 0]

    def _class_name(self, instance_type: int) -> str:
        name = CLASS_NAMES.get(self.layout.type_name(instance_type))
        if name is not None:
            return name
        if self.layout.is_js_function(instance_type):
            return "Function"
        return "Object"

    # --- shapes (--shapes) -------------------------------------------------------------
    def has_shape(self, instance_type: int) -> bool:
        """Whether objects of this type are split by their own property names."""
        L = self.layout
        return L.is_js_receiver(instance_type) and not L.is_js_function(instance_type) \
            and instance_type != L.js_bound_function_type

    def map_shape(self, map_addr: int) -> tuple[str, ...]:
        """Own property names of a fast-mode map, in the order they were added."""
        if map_addr not in self._map_shapes:
            self._map_shapes[map_addr] = tuple(
                self.property_name(key) for key in self.heap.own_keys(map_addr))
        return self._map_shapes[map_addr]

    def object_shape(self, obj: int, map_addr: int) -> tuple[tuple[str, ...], bool]:
        """(own property names, dictionary mode?) of one object. A dictionary has no
        insertion order worth showing, so its names are sorted."""
        if self.heap.is_dictionary_map(map_addr):
            names = sorted(self.property_name(key) for key, _ in self.heap.own_properties(obj))
            return tuple(names), True
        return self.map_shape(map_addr), False

    def property_name(self, key: int) -> str:
        if self.heap.instance_type(key) == self.layout.symbol_type:
            return f"Symbol({self.heap.symbol_description(key) or ''})"
        return self.heap.string(key) or "?"

    # --- per function ----------------------------------------------------------------
    def closure_name(self, sfi: Optional[int]) -> str:
        """A function's row name: its name, or ANONYMOUS (as DevTools shows one without)."""
        return self.function_name(sfi) or ANONYMOUS

    def closure_names(self, sfis: np.ndarray) -> list[str]:
        """closure_name of each SharedFunctionInfo at `sfis` (0: none), read in bulk."""
        sfis = np.asarray(sfis, np.uint64)
        unread = [sfi for sfi in distinct(sfis).tolist() if sfi not in self._function_names]
        self._function_names.update(zip(unread, self.heap.function_names(
            np.array(unread, np.uint64))))
        return [self._function_names[sfi] or ANONYMOUS if sfi else ANONYMOUS
                for sfi in sfis.tolist()]

    def function_name(self, sfi: Optional[int]) -> str:
        """SharedFunctionInfo::Name(), cached per SharedFunctionInfo."""
        if sfi is None:
            return ""
        if sfi not in self._function_names:
            self._function_names[sfi] = self.heap.function_name(sfi)
        return self._function_names[sfi]
