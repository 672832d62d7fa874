"""Text tables and JSON for histograms, diffs and info. The JSON contract lives here only.

histogram --json: {"core", "node_version", "rows": [{"kind", "name", "count", "size"}]}
diff --json:      {"before", "after", "rows": [{"kind", "name", "count_before", "count_after",
                   "count_delta", "size_before", "size_after", "size_delta"}]}
With --shapes, every row also has "properties": [own property names] (empty for objects
without any, and for rows that are not JS objects) and "dictionary": true when the names
come from a dictionary-mode object.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Optional

from .census import Diff, DiffRow, Histogram, Row
from .dump import DumpInfo


def histogram_json(h: Histogram, by: str = "size", top: Optional[int] = None,
                   shapes: bool = False) -> str:
    rows = h.sorted(by)[:top] if top else h.sorted(by)
    return json.dumps({
        "core": h.core,
        "node_version": h.node_version,
        "rows": [{"kind": r.kind, "name": r.name, "count": r.count, "size": r.size,
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
                  "size_delta": r.size_delta, **_shape_json(r, shapes)} for r in rows],
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
    lines = [f"{'Count':>10}  {'Bytes':>14}  {'Kind':<20}  Name"]
    for r in shown:
        size = f"{r.size:,}" + ("" if r.size_known else "+")
        lines.append(f"{r.count:>10,}  {size:>14}  {r.kind:<20}  {_label(r)}")
    if len(shown) < len(rows):
        lines.append(f"{'':>10}  {'':>14}  {'':<20}  ... {len(rows) - len(shown):,} more rows")
    lines.append(f"{h.total_count:>10,}  {h.total_size:>14,}  {'total':<20}  "
                 f"Node {h.node_version}, V8 {h.v8_version}")
    if any(not r.size_known for r in shown):
        lines.append("(+: some objects of that row are of a type whose size v8scan does not "
                     "compute; their bytes are not counted)")
    return "\n".join(lines)


def diff_text(d: Diff, by: str = "count", top: Optional[int] = None) -> str:
    rows = d.sorted(by)
    shown = rows[:top] if top else rows
    lines = [f"{'Count +/-':>10}  {'Bytes +/-':>14}  {'Before':>10}  {'After':>10}  "
             f"{'Kind':<20}  Name"]
    for r in shown:
        lines.append(f"{r.count_delta:>+10,}  {r.size_delta:>+14,}  {r.count_before:>10,}  "
                     f"{r.count_after:>10,}  {r.kind:<20}  {_label(r)}")
    if len(shown) < len(rows):
        lines.append(f"... {len(rows) - len(shown):,} more rows")
    lines.append(f"{sum(r.count_delta for r in rows):>+10,}  "
                 f"{sum(r.size_delta for r in rows):>+14,}  total")
    return "\n".join(lines)


def info_text(info: DumpInfo) -> str:
    match = {True: "matches the core", False: "DOES NOT match the core (--force)",
             None: "not verified"}[info.build_id_matches]
    checked = "" if info.version_checked else "  (not checked by v8scan: counts may be off)"
    return "\n".join([
        f"core            {info.core} ({info.core_bytes:,} bytes)",
        f"process         {info.process_name}  [{info.process_args}]",
        f"node binary     {info.node_binary}",
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
    name = row.name if row.name else "(anonymous)"
    if row.dictionary:
        name += " [dictionary]"
    if not row.properties:
        return name
    shown = ", ".join(row.properties[:MAX_SHOWN_PROPERTIES])
    more = len(row.properties) - MAX_SHOWN_PROPERTIES
    return f"{name}: {shown}" + (f", ... (+{more})" if more > 0 else "")


def instances_text(found: list, limit: Optional[int] = None) -> str:
    lines = [f"{'Address':>18}  {'Bytes':>10}  {'Kind':<20}  Name"]
    for item in found[:limit] if limit else found:
        lines.append(f"{item.address:#18x}  {item.size or '?':>10}  {item.kind:<20}  {item.name}")
    shown = min(len(found), limit) if limit else len(found)
    lines.append(f"{len(found):,} objects" + (f" ({shown:,} shown)" if shown < len(found) else ""))
    return "\n".join(lines)


def instances_json(core: str, name: str, found: list, limit: Optional[int] = None) -> str:
    return json.dumps({
        "core": core, "name": name, "count": len(found),
        "instances": [{"address": f"{i.address:#x}", "size": i.size, "kind": i.kind,
                       "name": i.name} for i in (found[:limit] if limit else found)],
    }, indent=1)


def retainers_text(target: str, paths: list) -> str:
    total = sum(p.count for p in paths)
    lines = [f"{total:,} {target} held by:"]
    for p in paths:
        chain = "\n      held by ".join(p.steps) if p.steps else "(nothing in the heap)"
        end = "" if p.rooted else "\n      ... (no root within the hops searched)"
        samples = ", ".join(f"{a:#x}" for a in p.samples)
        lines.append(f"  {p.count:>9,}  {chain}{end}\n             e.g. {samples}")
    return "\n".join(lines)


def retainers_json(core: str, target: str, paths: list) -> str:
    return json.dumps({
        "core": core, "target": target,
        "paths": [{"count": p.count, "steps": list(p.steps), "rooted": p.rooted,
                   "samples": [f"{a:#x}" for a in p.samples]} for p in paths],
    }, indent=1)
