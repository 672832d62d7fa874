"""Truncated cores are analysed, not refused: what is there is counted, and one warning
says how much memory, and how many V8 heap pages, the file lacks."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

import v8scan

from .conftest import run_cli

APPLICATION = (("object", "Album"), ("object", "Track"), ("closure", "namedClosure"))


@pytest.fixture
def cut_copy(tmp_path):
    """make(source, share): a copy of `source` cut at `share` of its size, as a full disk
    or a size limit leaves a core; deleted after the test (a cut census core is ~1 GB)."""
    made = []

    def make(source: str, share: float) -> str:
        made.append(_cut(source, tmp_path / f"cut{len(made)}.core", share))
        return made[-1]
    yield make
    for path in made:
        os.unlink(path)


def _cut(source: str, target, share: float) -> str:
    # A sparse copy: a gcore core's unused reservations are zeros, which take no disk.
    subprocess.run(["cp", "--sparse=always", source, str(target)], check=True)
    os.truncate(target, int(os.path.getsize(source) * share))
    return str(target)


def counts(path: str, node: str) -> dict:
    with v8scan.open_dump(path, node=node) as dump:
        return {(r.kind, r.name): r.count for r in dump.histogram().rows}


def page_offsets(path: str, node: str) -> list[int]:
    """File offsets of the V8 heap pages of a core, in order."""
    with v8scan.open_dump(path, node=node) as dump:
        return sorted(_offset(dump, p.base) for p in dump.pages)


def meta_map_offset(path: str, node: str) -> int:
    """File offset of the meta map (the map of maps) of a core."""
    with v8scan.open_dump(path, node=node) as dump:
        return _offset(dump, int(dump.scan().plan.meta_maps[0]))


def _offset(dump, address: int) -> int:
    segment = dump.core.memory.segment_at(address)
    return segment.offset + address - segment.vaddr


@pytest.mark.parametrize("share", [0.1, 0.5, 0.9])
def test_a_cut_gcore_core_gives_a_histogram_with_one_warning(census_cores, cut_copy, share):
    """Cut at 10%, 50% and 90%: a histogram of what is left with one warning, whose
    application classes lose at most the share of pages lost; or, if the cut took every
    heap page, one line that says so."""
    offsets = page_offsets(census_cores.before, census_cores.node)
    path = cut_copy(census_cores.before, share)
    result = run_cli("histogram", path, "--node", census_cores.node)
    if offsets[0] >= os.path.getsize(path):
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1
        assert "truncated" in result.stderr and "heap is in the part that is missing" \
            in result.stderr
        return
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "truncated" in line]
    assert len(warnings) == 1, result.stderr
    assert "counts are lower bounds" in warnings[0]
    missing_pages = int(re.search(r"([\d,]+) V8 heap pages", warnings[0]).group(1)
                        .replace(",", ""))
    assert missing_pages == sum(1 for offset in offsets if offset >= os.path.getsize(path))
    lost_share = missing_pages / len(offsets)
    full, cut = counts(census_cores.before, census_cores.node), counts(path, census_cores.node)
    for key in APPLICATION:
        # what is lost is at most what the lost pages held, had they held their share
        assert full[key] * (1 - lost_share) <= cut.get(key, 0) <= full[key], (key, lost_share)


def test_pages_lost_in_a_cut_kernel_core_are_counted(kernel_core, cut_copy):
    """A kernel core cut in the middle of its heap pages: the warning and `info` count the
    pages the cut took, exactly, and the counts are lower bounds. The cut keeps the meta
    map (without it, and without a map left to point at it, there is no heap to count:
    a core cut that way is refused with one line)."""
    offsets = page_offsets(kernel_core.path, kernel_core.node)
    after_meta = [o for o in offsets if o > meta_map_offset(kernel_core.path, kernel_core.node)]
    assert len(after_meta) >= 2
    middle = after_meta[len(after_meta) // 2]
    path = cut_copy(kernel_core.path, middle / kernel_core.size)
    lost = sum(1 for offset in offsets if offset >= middle)
    with v8scan.open_dump(path, node=kernel_core.node) as dump:
        info = dump.info()
        warnings = [w for w in dump.warnings if "truncated" in w]
    assert info.missing_heap_pages == lost > 0
    assert info.missing_bytes > 0
    assert len(warnings) == 1 and f"{lost:,} V8 heap pages" in warnings[0]
    assert info.heap_pages == len(offsets) - lost
    shown = run_cli("info", path, "--node", kernel_core.node)
    assert "TRUNCATED" in shown.stdout and f"{lost:,} V8 heap pages" in shown.stdout
    full, cut = counts(kernel_core.path, kernel_core.node), counts(path, kernel_core.node)
    assert cut.get(("object", "Session"), 0) <= full[("object", "Session")]
    assert sum(cut.values()) < sum(full.values())


def test_a_cut_gcore_core_without_notes_finds_node_on_path(census_cores, cut_copy):
    """gcore writes the notes (which name the program) last, so a cut core has none: the
    node on PATH is taken if its build-id is that of the executable in the core's memory."""
    import shutil

    from v8scan.v8.binary import read_node_binary
    path = cut_copy(census_cores.before, 0.9)
    result = run_cli("histogram", path, "--top", "3")
    on_path = shutil.which("node")
    same = on_path is not None and \
        read_node_binary(on_path).build_id == read_node_binary(census_cores.node).build_id
    if same:
        assert result.returncode == 0, result.stderr
        assert f"{on_path} is the build whose image is in the core's memory" in result.stderr
    else:
        assert result.returncode == 2 and "does not say which program it ran" in result.stderr


@pytest.mark.parametrize("share", [0.5, 0.9])
def test_a_cut_core_exports_a_complete_snapshot_or_none(census_cores, cut_copy, tmp_path,
                                                       share):
    """`snapshot` of a cut core writes a whole, valid .heapsnapshot of what is left (with
    the truncation's one warning), or fails with one line and leaves no file at all."""
    import json

    path = cut_copy(census_cores.before, share)
    out = tmp_path / "cut.heapsnapshot"
    result = run_cli("snapshot", path, "--node", census_cores.node, "-o", str(out), "-q")
    left = sorted(p.name for p in tmp_path.iterdir() if "heapsnapshot" in p.name)
    if result.returncode != 0:
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert left == []
        return
    assert left == ["cut.heapsnapshot"]
    assert sum("truncated" in line for line in result.stderr.splitlines()) == 1
    with open(out) as f:
        doc = json.load(f)
    out.unlink()
    fields = len(doc["snapshot"]["meta"]["node_fields"])
    assert len(doc["nodes"]) == fields * doc["snapshot"]["node_count"]
    assert len(doc["edges"]) == 3 * doc["snapshot"]["edge_count"]
    assert max(doc["edges"][2::3]) < len(doc["nodes"])
    assert max(doc["nodes"][1::fields]) < len(doc["strings"])
