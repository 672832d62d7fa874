"""Text tables and JSON of every command's results. The JSON contract lives here only, and
tests/golden/ holds one rendering of each (tests/test_golden.py checks them):

histogram --json: {"core", "node_version", "rows": [{"kind", "name", "count", "size"}]};
                  with --retained, every row also has "retained" (bytes)
diff --json:      {"before", "after", "rows": [{"kind", "name", "count_before", "count_after",
                   "count_delta", "size_before", "size_after", "size_delta"}]}; with
                  --samples, sampled rows also have "samples": ["0x..."]; with
                  --retained, every row also has "retained_before", "retained_after",
                  "retained_delta" (bytes)
  With --shapes, every row of both also has "properties": [own property names] (empty for
  objects without any, and for rows that are not JS objects) and "dictionary": true when
  the names come from a dictionary-mode object.
info --json:      {"core", "core_bytes", "process_name", "process_args", "node_binary",
                   "build_id", "build_id_matches" (true, false or null: not verifiable),
                   "node_version", "v8_version", "version_checked", "segments",
                   "memory_bytes", "heap_pages", "heap_bytes", "young_bytes",
                   "missing_bytes", "missing_heap_pages"}
instances --json: {"core", "name", "kind", "count", "other_kinds": {kind: count},
                   "instances": [{"address": "0x...", "size", "kind", "name"}]} (one kind,
                   count is of all of it; instances as many as --limit; other_kinds:
                   objects of other kinds called the same)
dominators --json: {"core", "live_bytes", "dominators": [{"address": "0x...", "kind",
                   "name", "size", "retained", "path": [nearest holder first]}]}
retainers --json: {"core", "target", "paths": [{"count", "steps": [nearest holder first],
                   "rooted", "samples": ["0x..."], "retained" (bytes; of targets
                   inside other targets only the outermost count)}]}
inspect --json:   {"core", "address": "0x...", "value": a value tree (v8/values.py): every
                   value has a "type"}
Text from the core is escaped in text output (printable); JSON escapes it by itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Optional, Sequence

from .results import (Diff, DiffRow, Dominator, DumpInfo, Histogram, Instance,
                      RetainerPath, Row)

# Text from a core is data: control characters (C0, DEL, C1) and the Unicode controls that
# reorder or break lines would steer the terminal, so they are shown escaped.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e"
                    "\u2066-\u2069\ufeff]")


def printable(text: str) -> str:
    """`text` with every character that could steer a terminal written as an escape."""
    return UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                      else f"\\u{ord(m.group()):04x}", text)


def histogram_json(h: Histogram, by: str = "size", top: Optional[int] = None,
                   shapes: bool = False) -> str:
    rows = h.sorted(by)[:top] if top else h.sorted(by)
    return json.dumps({
        "core": h.core,
        "node_version": h.node_version,
        "rows": [{"kind": r.kind, "name": r.name, "count": r.count, "size": r.size,
                  **({} if r.retained is None else {"retained": r.retained}),
                  **_shape_json(r, shapes)} for r in rows],
    }, indent=1)


def diff_json(d: Diff, by: str = "count", top: Optional[int] = None,
              shapes: bool = False) -> str:
    rows = d.sorted(by)[:top] if top else d.sorted(by)
    return json.dumps({
        "before": d.before,
        "after": d.after,
        "rows": [{"kind": r.kind, "name": r.name, "count_before": r.count_before,
                  "count_after": r.count_after, "count_delta": r.count_delta,
                  "size_before": r.size_before, "size_after": r.size_after,
                  "size_delta": r.size_delta, **_shape_json(r, shapes),
                  **({} if r.retained_after is None else {
                      "retained_before": r.retained_before, "retained_after": r.retained_after,
                      "retained_delta": r.retained_delta}),
                  **({"samples": [f"{a:#x}" for a in d.samples[r.key]]}
                     if r.key in d.samples else {})} for r in rows],
    }, indent=1)


def _shape_json(row: Row | DiffRow, shapes: bool) -> dict:
    if not shapes:
        return {}
    return {"properties": list(row.properties), "dictionary": row.dictionary}


def info_json(info: DumpInfo) -> str:
    return json.dumps(asdict(info), indent=1)


def histogram_text(h: Histogram, by: str = "size", top: Optional[int] = None) -> str:
    rows = h.sorted(by)
    shown = rows[:top] if top else rows
    held = h.has_retained  # a Retained column, after Bytes
    lines = [f"{'Count':>10}  {'Bytes':>14}  " + (f"{'Retained':>14}  " if held else "")
             + f"{'Kind':<20}  Name"]
    for r in shown:
        size = f"{r.size:,}" + ("" if r.size_known else "+")
        lines.append(f"{r.count:>10,}  {size:>14}  "
                     + (f"{r.retained or 0:>14,}  " if held else "")
                     + f"{r.kind:<20}  {_label(r)}")
    blank = f"{'':>14}  " if held else ""
    if len(shown) < len(rows):
        lines.append(f"{'':>10}  {'':>14}  {blank}{'':<20}  ... "
                     f"{len(rows) - len(shown):,} more rows")
    lines.append(f"{h.total_count:>10,}  {h.total_size:>14,}  {blank}{'total':<20}  "
                 f"Node {h.node_version}, V8 {h.v8_version}")
    if any(not r.size_known for r in shown):
        lines.append("(+: some objects of that row are of a type whose size v8scan does not "
                     "compute; their bytes are not counted)")
    return "\n".join(lines)


def diff_text(d: Diff, by: str = "count", top: Optional[int] = None) -> str:
    rows = d.sorted(by)
    shown = rows[:top] if top else rows
    held = d.has_retained  # a Retained +/- column, after Bytes +/-
    lines = [f"{'Count +/-':>10}  {'Bytes +/-':>14}  " + (f"{'Retained +/-':>14}  " if held
                                                          else "")
             + f"{'Before':>10}  {'After':>10}  {'Kind':<20}  Name"]
    for r in shown:
        lines.append(f"{r.count_delta:>+10,}  {r.size_delta:>+14,}  "
                     + (f"{r.retained_delta:>+14,}  " if held else "")
                     + f"{r.count_before:>10,}  {r.count_after:>10,}  {r.kind:<20}  {_label(r)}")
        if r.key in d.samples:
            new = ", ".join(f"{a:#x}" for a in d.samples[r.key]) or "(none at a new address)"
            lines.append(f"{'':>10}  new, e.g. {new}")
    if len(shown) < len(rows):
        lines.append(f"... {len(rows) - len(shown):,} more rows")
    # Retained bytes overlap between rows (a Map's row holds its entries' rows): no total.
    lines.append(f"{sum(r.count_delta for r in rows):>+10,}  "
                 f"{sum(r.size_delta for r in rows):>+14,}  total")
    return "\n".join(lines)


def info_text(info: DumpInfo) -> str:
    match = {True: "matches the core", False: "DOES NOT match the core (--force)",
             None: "not verified"}[info.build_id_matches]
    checked = "" if info.version_checked else "  (not checked by v8scan: counts may be off)"
    # gcore writes the program's name alone where it could not read the command line
    args = info.process_args if info.process_args.strip() not in ("", info.process_name) \
        else "no arguments recorded"
    return "\n".join([
        f"core            {printable(info.core)} ({info.core_bytes:,} bytes)"
        + (f", TRUNCATED: {info.missing_bytes:,} bytes of memory missing, "
           f"{info.missing_heap_pages:,} V8 heap pages among them" if info.missing_bytes else ""),
        f"process         {printable(info.process_name)}  [{printable(args)}]",
        f"node binary     {printable(info.node_binary)}",
        f"build-id        {info.build_id or '?'} ({match})",
        f"Node.js         {info.node_version}",
        f"V8              {info.v8_version}{checked}",
        f"segments        {info.segments} ({info.memory_bytes:,} bytes of memory)",
        f"V8 heap pages   {info.heap_pages} ({info.heap_bytes:,} bytes of live object areas)"
        + (f", {info.young_bytes:,} young-generation bytes not scanned (no allocation area "
           "found)" if info.young_bytes else ""),
    ])


MAX_SHOWN_PROPERTIES = 8


def _label(row: Row | DiffRow) -> str:
    """The name column; with --shapes as mdb_v8 prints it: `Object: albumId, title`."""
    name = printable(row.name) if row.name else "(anonymous)"
    if row.dictionary:
        name += " [dictionary]"
    if not row.properties:
        return name
    shown = ", ".join(printable(p) for p in row.properties[:MAX_SHOWN_PROPERTIES])
    more = len(row.properties) - MAX_SHOWN_PROPERTIES
    return f"{name}: {shown}" + (f", ... (+{more})" if more > 0 else "")


def instances_text(name: str, found: Sequence[Instance], other_kinds: dict[str, int],
                   limit: Optional[int] = None) -> str:
    """The objects `found` (one kind), and how many of other kinds share their name."""
    lines = [f"{'Address':>18}  {'Bytes':>10}  {'Kind':<20}  Name"]
    for item in found[:limit] if limit else found:
        lines.append(f"{item.address:#18x}  {item.size or '?':>10}  {item.kind:<20}  "
                     f"{printable(item.name) or '(anonymous)'}")
    shown = min(len(found), limit) if limit else len(found)
    lines.append(f"{len(found):,} object{'' if len(found) == 1 else 's'}"
                 + (f" ({shown:,} shown)" if shown < len(found) else ""))
    for kind, count in other_kinds.items():
        lines.append(f"also called {printable(name)}: {count:,} of kind {printable(kind)} "
                     f"(--kind {printable(kind)})")
    return "\n".join(lines)


def instances_json(core: str, name: str, found: Sequence[Instance],
                   other_kinds: dict[str, int],
                   limit: Optional[int] = None) -> str:
    return json.dumps({
        "core": core, "name": name, "kind": found[0].kind if found else None,
        "count": len(found), "other_kinds": other_kinds,
        "instances": [{"address": f"{i.address:#x}", "size": i.size, "kind": i.kind,
                       "name": i.name} for i in (found[:limit] if limit else found)],
    }, indent=1)


def retainers_text(target: str, paths: list[RetainerPath]) -> str:
    total = sum(p.count for p in paths)
    lines = [f"{total:,} {printable(target)} held by:"]
    for p in paths:
        chain = "\n      held by ".join(map(printable, p.steps))
        end = "" if p.rooted or p.unreachable else \
            "\n      ... (no root within the hops searched)"
        samples = ", ".join(f"{a:#x}" for a in p.samples)
        held = "" if p.retained is None else f"; {p.retained:,} bytes retained"
        lines.append(f"  {p.count:>9,}  {chain}{end}\n             e.g. {samples}{held}")
    return "\n".join(lines)


def retainers_json(core: str, target: str, paths: list[RetainerPath]) -> str:
    return json.dumps({
        "core": core, "target": target,
        "paths": [{"count": p.count, "steps": list(p.steps), "rooted": p.rooted,
                   "samples": [f"{a:#x}" for a in p.samples],
                   **({} if p.retained is None else {"retained": p.retained})}
                  for p in paths],
    }, indent=1)


# --- inspect -------------------------------------------------------------------------
BREAK_LENGTH = 76  # util.inspect's breakLength 80, less the braces' spaces
IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*$")


def dominators_text(found: list[Dominator], total: int) -> str:
    """The objects that retain the most, each with the path that holds it."""
    lines = [f"{'Retained':>14}  {'Bytes':>10}  {'Kind':<20}  Name"]
    for d in found:
        lines.append(f"{d.retained:>14,}  {d.size:>10,}  {d.kind:<20}  "
                     f"{printable(d.name) or '(anonymous)'}  {d.address:#x}")
        if d.path:
            lines.append(f"{'':>14}  held by " + "\n{0:>14}  held by ".format("").join(
                map(printable, d.path)))
    lines.append(f"{total:>14,}  {'':>10}  {'total':<20}  every live object")
    return "\n".join(lines)


def dominators_json(core: str, found: list[Dominator], total: int) -> str:
    return json.dumps({
        "core": core, "live_bytes": total,
        "dominators": [{"address": f"{d.address:#x}", "kind": d.kind, "name": d.name,
                        "size": d.size, "retained": d.retained, "path": list(d.path)}
                       for d in found],
    }, indent=1)


def inspect_json(core: str, address: int, value: dict) -> str:
    return json.dumps({"core": core, "address": f"{address:#x}", "value": value}, indent=1)


def inspect_text(value: dict) -> str:
    """A value tree (v8/values.py) as util.inspect prints it, with addresses where it stops."""
    kind = value["type"]
    if kind in LEAVES:
        return LEAVES[kind](value)
    if value.get("omitted"):
        return f"[{printable(value['constructor'] or 'Object')} {value['address']}]"
    if kind == "buffer":
        return _buffer_text(value)
    entries = []
    if kind in ("map", "set"):
        for entry in value["entries"]:
            entries.append(f"{inspect_text(entry['key'])} => {inspect_text(entry['value'])}"
                           if kind == "map" else inspect_text(entry))
        shown = len(value["entries"])
        if value["size"] is not None and value["size"] > shown:
            entries.append(f"... {value['size'] - shown} more items")
    elements = value.get("elements")
    if elements is not None:
        entries.extend(_elements_text(elements, kind == "array"))
    entries.extend(f"{_key(p['key'])}: {inspect_text(p['value'])}" for p in value["properties"])
    constructor = printable(value["constructor"] or "Object")
    if kind == "array":
        prefix = "" if constructor == "Array" else f"{constructor}({value['length']}) "
        braces = "[]"
    elif kind in ("map", "set"):
        prefix, braces = f"{constructor}({value['size']}) ", "{}"
    else:
        prefix, braces = ("" if constructor == "Object" else f"{constructor} "), "{}"
    if not entries:
        return f"{prefix}{braces}"
    one_line = f"{prefix}{braces[0]} {', '.join(entries)} {braces[1]}"
    if len(one_line) <= BREAK_LENGTH and not any("\n" in e for e in entries):
        return one_line
    body = ",\n".join("  " + e.replace("\n", "\n  ") for e in entries)
    return f"{prefix}{braces[0]}\n{body}\n{braces[1]}"


def _elements_text(elements: dict, is_array: bool) -> list[str]:
    if elements.get("dictionary"):
        return [f"<{elements['count'] or 'some'} elements in a dictionary, not read>"]
    result, holes = [], 0
    for index, item in enumerate(elements["items"]):
        if item["type"] == "hole":
            holes += 1
            continue
        if holes and is_array:
            result.append(f"<{holes} empty item{'s' if holes > 1 else ''}>")
        holes = 0
        result.append(inspect_text(item) if is_array else f"'{index}': {inspect_text(item)}")
    if holes and is_array:
        result.append(f"<{holes} empty item{'s' if holes > 1 else ''}>")
    more = (elements["count"] or 0) - len(elements["items"])
    if more > 0:
        result.append(f"... {more} more items")
    return result


def _buffer_text(value: dict) -> str:
    length, hex_bytes = value["byteLength"], value["hex"]
    if hex_bytes is None:
        return f"<{value['constructor']} {length} bytes, not in the core>"
    shown = " ".join(hex_bytes[i:i + 2] for i in range(0, len(hex_bytes), 2))
    more = (length or 0) - len(hex_bytes) // 2
    tail = f" ... {more} more bytes" if more > 0 else ""
    if value["constructor"] in ("Buffer", "FastBuffer"):
        return f"<Buffer {shown}{tail}>"
    return f"{printable(value['constructor'])}({length} bytes) <{shown}{tail}>"


def _string_text(value: dict) -> str:
    text, length = value["value"], value["length"]
    if text is None:
        return f"<{value['representation']} string of {length} characters, not in the core>"
    more = (length or 0) - len(text)
    return _quote(text) + (f"... {more} more characters" if more > 0 else "")


def _quote(text: str) -> str:
    quote = "'" if "'" not in text or '"' in text else '"'
    escaped = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
    escaped = printable(escaped)
    return quote + (escaped.replace("'", "\\'") if quote == "'" else escaped) + quote


def _key(name: str) -> str:
    return name if IDENTIFIER.fullmatch(name) else _quote(name)


def _function_text(value: dict) -> str:
    name = f": {printable(value['name'])}" if value["name"] else " (anonymous)"
    where = ""
    if value["script"]:
        where = f" {printable(value['script'])}" + (f":{value['line']}" if value["line"] else "")
    return f"[Function{name}]{where}"


LEAVES = {
    "number": lambda n: n["text"],
    "string": _string_text,
    "boolean": lambda n: "true" if n["value"] else "false",
    "null": lambda n: "null",
    "undefined": lambda n: "undefined",
    "hole": lambda n: "<hole>",
    "symbol": lambda n: f"Symbol({printable(n['description'] or '')})",
    "bigint": lambda n: f"[BigInt {n['address']}]",
    "accessor": lambda n: "[Getter/Setter]",
    "circular": lambda n: f"[Circular {n['address']}]",
    "internal": lambda n: f"[{printable(n['name'])} {n['address']}]",
    "unreadable": lambda n: "<not in the core>",
    "function": _function_text,
}
