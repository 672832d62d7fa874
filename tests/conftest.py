"""Real cores of real node processes, made once per test session and deleted after.

The `census_process` scenario (tests/scenarios/census.js) writes a V8 heap snapshot and
is dumped with gcore; then it grows and is dumped again. Tests compare v8scan with the
snapshot. Without node or gdb these tests cannot run: they fail, except where a test
says why it skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from v8scan.demo import take_core

SCENARIOS = Path(__file__).parent / "scenarios"
NODE = shutil.which("node") or "node"
GCORE = shutil.which("gcore") or "gcore"


@dataclass(frozen=True)
class CensusCores:
    snapshot: str   # V8's heap snapshot taken right before `before`
    before: str     # core right after the snapshot
    after: str      # core after 20,000 Leaky objects were added
    node: str


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cores")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def census_cores(workdir: Path) -> CensusCores:
    snapshot = str(workdir / "census.heapsnapshot")
    proc = subprocess.Popen([NODE, "--expose-gc", str(SCENARIOS / "census.js"), snapshot],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "starting"
        assert proc.stdout.readline().strip() == "ready"
        before = take_core(GCORE, proc.pid, str(workdir / "before"))
        proc.stdin.write("grow\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "grown"
        after = take_core(GCORE, proc.pid, str(workdir / "after"))
    finally:
        proc.kill()
        proc.wait()
    return CensusCores(snapshot, before, after, os.path.realpath(NODE))
