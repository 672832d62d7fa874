"""Real cores of real node processes, made once per test session and deleted after.

The census scenario (tests/scenarios/census.js) writes a V8 heap snapshot and is dumped
with gcore right after; for the default Node version it then grows and is dumped again.
Tests compare v8scan with the snapshot. The holders scenario (tests/scenarios/holders.js)
prints what it built (objects on known paths, one value of every kind) and is dumped. The official node binary of each version is fetched
once into a cache outside the repo (tests/nodes.py). Without node, npm or gdb these tests
cannot run: they fail, except where a test says why it skips.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Optional

import pytest

from v8scan.demo import take_core
from v8scan.v8.naming import ANONYMOUS

from .fuzzing import FuzzCore, describe
from .fuzzing import make_core as make_kernel_core
from .nodes import DEFAULT_VERSION, NODE_VERSIONS, node_binary
from .snapshot import Snapshot

SCENARIOS = Path(__file__).parent / "scenarios"
GCORE = shutil.which("gcore") or "gcore"


REAL_CORE_FIXTURES = {"census_cores", "version_cores", "holders", "version_holders",
                      "version_graph",
                      "kernel_core"}


def pytest_collection_modifyitems(items) -> None:
    """Tests that need a real core (node, gdb, npm) are `slow`, as are the modules that
    mark themselves so (they run node or gdb); the rest is the fast tier."""
    for item in items:
        if REAL_CORE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def copy_core(source, target) -> None:
    """A copy of a core that keeps its holes (test cores are sparse: see take_core)."""
    subprocess.run(["cp", "--sparse=always", str(source), str(target)], check=True)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m v8scan ARGS` in a child process, output captured."""
    return subprocess.run([sys.executable, "-m", "v8scan", *args], capture_output=True,
                          text=True)


def node_flags(version: str) -> tuple[str, ...]:
    """Without compaction the old-generation pages where dropped objects died stay in use,
    so their dead bodies are in the core for v8scan to (not) count. V8 9 (Node 16) spells
    the flag --never-compact."""
    return ("--expose-gc", "--never-compact" if version.startswith("16.") else "--no-compact")


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """v8scan's cache of node binaries' metadata starts empty and stays in the session."""
    patch = pytest.MonkeyPatch()
    patch.setenv("V8SCAN_CACHE_DIR", str(tmp_path_factory.mktemp("v8scan-cache")))
    yield
    patch.undo()


@dataclass
class CensusCores:
    version: str
    node: str
    snapshot_path: str      # V8's heap snapshot taken right before `before`
    before: str             # core right after the snapshot
    after: Optional[str]    # core after 20,000 Leaky objects were added (default version)
    workdir: Path = field(repr=False)

    @cached_property
    def snapshot(self) -> Snapshot:
        return Snapshot(self.snapshot_path)

    @cached_property
    def census(self) -> dict[tuple[str, str], tuple[int, int]]:
        """V8's census, with functions that have no name called as v8scan (and DevTools)
        call them: the snapshot names them ""."""
        census = self.snapshot.census()
        if ("closure", "") in census:
            census[("closure", ANONYMOUS)] = census.pop(("closure", ""))
        return census


def make_census_cores(workdir: Path, version: str, grow: bool) -> CensusCores:
    node = node_binary(version)
    workdir.mkdir(parents=True, exist_ok=True)
    snapshot = str(workdir / "census.heapsnapshot")
    proc = subprocess.Popen([node, *node_flags(version), str(SCENARIOS / "census.js"), snapshot],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    after = None
    try:
        assert proc.stdout.readline().strip() == "starting"
        assert proc.stdout.readline().strip() == "ready"
        # Frozen from "ready" (the snapshot's callback waits a little, on the stack) until
        # the core is taken: it holds what the snapshot saw.
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            before = take_core(GCORE, proc.pid, str(workdir / "before"))
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        if grow:
            proc.stdin.write("grow\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "grown"
            after = take_core(GCORE, proc.pid, str(workdir / "after"))
    finally:
        proc.kill()
        proc.wait()
    return CensusCores(version, node, snapshot, before, after, workdir)


@pytest.fixture(scope="session")
def census_cores(tmp_path_factory) -> CensusCores:
    """The default Node version's cores, before and after growing."""
    cores = make_census_cores(tmp_path_factory.mktemp("cores") / DEFAULT_VERSION,
                              DEFAULT_VERSION, grow=True)
    yield cores
    shutil.rmtree(cores.workdir, ignore_errors=True)


def per_version(request, tmp_path_factory, default_fixture: str, make):
    """A fixture's body for one Node version (request.param): the default version's own
    fixture, else `make(workdir, version)`, deleted afterwards; pytest keeps one version's
    cores at a time."""
    if request.param == DEFAULT_VERSION:
        yield request.getfixturevalue(default_fixture)
        return
    made = make(tmp_path_factory.mktemp(default_fixture) / request.param, request.param)
    yield made
    shutil.rmtree(made.workdir, ignore_errors=True)


@pytest.fixture(scope="session", params=NODE_VERSIONS)
def version_cores(request, tmp_path_factory) -> CensusCores:
    """The census scenario's core for every supported Node version."""
    yield from per_version(request, tmp_path_factory, "census_cores",
                           lambda workdir, version: make_census_cores(workdir, version,
                                                                      grow=False))


@dataclass
class HoldersCore:
    version: str
    path: str
    built: dict   # what the program says it built
    workdir: Path = field(repr=False)


def make_holders_core(workdir: Path, version: str) -> HoldersCore:
    return make_scenario_core(workdir, version, "holders.js")


def make_scenario_core(workdir: Path, version: str, script: str,
                       *flags: str) -> HoldersCore:
    """A core of tests/scenarios/`script`, which prints what it built as one JSON line,
    then "ready", then waits to be killed."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([node_binary(version), *flags, str(SCENARIOS / script)],
                            stdout=subprocess.PIPE, text=True)
    try:
        built = json.loads(proc.stdout.readline())
        assert proc.stdout.readline().strip() == "ready"
        core = take_core(GCORE, proc.pid, str(workdir / "core"))
    finally:
        proc.kill()
        proc.wait()
    return HoldersCore(version, core, built, workdir)


@pytest.fixture(scope="session")
def holders(tmp_path_factory) -> HoldersCore:
    """A core of the holders scenario on the default Node version."""
    core = make_holders_core(tmp_path_factory.mktemp("holders") / DEFAULT_VERSION,
                             DEFAULT_VERSION)
    yield core
    shutil.rmtree(core.workdir, ignore_errors=True)


@pytest.fixture(scope="session", params=NODE_VERSIONS)
def version_holders(request, tmp_path_factory) -> HoldersCore:
    """A core of the holders scenario for every supported Node version."""
    yield from per_version(request, tmp_path_factory, "holders", make_holders_core)


def make_graph_core(workdir: Path, version: str) -> HoldersCore:
    """A core of tests/scenarios/graph.js, taken while its function `running` runs."""
    return make_scenario_core(workdir, version, "graph.js", "--expose-gc")


@pytest.fixture(scope="session", params=NODE_VERSIONS)
def version_graph(request, tmp_path_factory) -> HoldersCore:
    """A core of the object graph scenario for every supported Node version."""
    made = make_graph_core(tmp_path_factory.mktemp("graph") / request.param, request.param)
    yield made
    shutil.rmtree(made.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def kernel_core(tmp_path_factory) -> FuzzCore:
    """A kernel core (~30 MB) of tests/scenarios/hostile.js on the default Node version,
    with where its headers, notes and heap pages are: the fuzz tests' input."""
    workdir = tmp_path_factory.mktemp("kernel-core")
    node = node_binary(DEFAULT_VERSION)
    yield describe(make_kernel_core(node, workdir), node)
    shutil.rmtree(workdir, ignore_errors=True)
