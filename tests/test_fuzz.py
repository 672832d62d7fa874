"""Damaged and hostile cores: mutations of a real core, each run through a real command.

Hypothesis draws mutations (truncation anywhere, byte flips in the ELF and program headers,
the notes, the heap pages or anywhere, floods of flips, a tampered metadata cache) with a
fixed seed, so CI sees the same cases every time; V8SCAN_FUZZ_EXAMPLES sets how many
(default 150, a few minutes). Every run must keep `fuzzing.verdict`'s rule. The long
campaign is tools/fuzz_campaign.py.
"""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from . import fuzzing
from .conftest import run_cli

EXAMPLES = int(os.environ.get("V8SCAN_FUZZ_EXAMPLES", "150"))


@pytest.fixture(scope="module")
def fuzz_core(kernel_core, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fuzz-scratch")
    yield kernel_core, fuzzing.Scratch(kernel_core, workdir), workdir
    shutil.rmtree(workdir, ignore_errors=True)


def memory_limit(target: fuzzing.FuzzCore) -> int:
    """What a run may use at most: the interpreter, numpy and threads (~300 MB), plus a
    few times the core (what a scan can hold is proportional to it)."""
    return 600 * 2**20 + 4 * target.size


regions = st.sampled_from(fuzzing.REGIONS)
unit = st.floats(0, 1, allow_nan=False)
mutations = st.one_of(
    st.builds(fuzzing.Mutation, kind=st.just("truncate"), region=regions, at=unit),
    st.builds(fuzzing.Mutation, kind=st.just("flip"), region=regions, at=unit,
              data=st.binary(min_size=1, max_size=64).map(
                  lambda b: bytes(x or 1 for x in b).hex())),
    st.builds(fuzzing.Mutation, kind=st.just("flood"), region=regions,
              fraction=st.sampled_from((1e-4, 1e-3, 1e-2, 0.2)),
              seed=st.integers(0, 2**30)),
    st.builds(fuzzing.Mutation, kind=st.just("cache"),
              constant=st.sampled_from(fuzzing.CACHE_TARGETS),
              value=st.one_of(st.integers(-2**70, 2**70), st.sampled_from(
                  (None, "x", [1], 1.5, 8, 4096, 10**12))),
              resign=st.booleans()),
)


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(mutation=mutations, command=st.sampled_from(fuzzing.COMMANDS))
# What the long campaign found: notes pyelftools cannot parse; a cached value in the
# metadata's bounds but past the scanner's.
@example(mutation=fuzzing.Mutation("flood", "notes", fraction=0.2, seed=1),
         command=fuzzing.COMMANDS[0])
@example(mutation=fuzzing.Mutation("cache", constant="class_Map__instance_type__uint16_t",
                                   value=4096, resign=True), command=fuzzing.COMMANDS[0])
def test_mutated_cores_give_output_or_one_line(fuzz_core, mutation, command):
    target, scratch, workdir = fuzz_core
    scratch.apply(mutation)
    try:
        outcome = fuzzing.run_v8scan(fuzzing.command_for(command, target, scratch.path),
                                     os.environ["V8SCAN_CACHE_DIR"], memory_limit(target))
    finally:
        scratch.restore()
    why = fuzzing.verdict(outcome, memory_limit(target))
    assert why is None, (why, mutation, outcome.command, outcome.stderr[-2000:])


def test_the_rule_catches_what_it_must(fuzz_core):
    """The oracle is no check that cannot fail: a crash, a traceback and a raw escape
    sequence are each caught."""
    target, _, _ = fuzz_core
    limit = memory_limit(target)
    ok = fuzzing.Outcome(["histogram"], 0, "rows\n", "", 0.1, 1 << 20)
    assert fuzzing.verdict(ok, limit) is None
    for bad in (fuzzing.Outcome(["histogram"], -11, "", "", 0.1, 1 << 20),
                fuzzing.Outcome(["histogram"], 1, "", "Traceback (most recent call last)", 0.1, 1),
                fuzzing.Outcome(["histogram"], 0, "a \x1b]0;x\x07 b", "", 0.1, 1),
                fuzzing.Outcome(["histogram"], 2, "", "v8scan: error: a\nv8scan: hint: b", 0.1, 1),
                fuzzing.Outcome(["histogram"], 0, "rows", "", 0.1, limit + 1)):
        assert fuzzing.verdict(bad, limit) is not None, bad


def test_an_unmutated_core_answers_every_command(fuzz_core):
    """Every fuzzed command works on the core as the kernel wrote it, so the fuzz test
    exercises the commands, not only their error paths."""
    target, _, _ = fuzz_core
    for command in fuzzing.COMMANDS:
        outcome = fuzzing.run_v8scan(fuzzing.command_for(command, target, target.path),
                                     os.environ["V8SCAN_CACHE_DIR"], memory_limit(target))
        assert outcome.returncode == 0, (command, outcome.stderr)
        assert fuzzing.verdict(outcome, memory_limit(target)) is None


def test_names_from_the_core_reach_the_terminal_escaped(fuzz_core):
    target, _, _ = fuzz_core
    result = run_cli("histogram", target.path, "--shapes", "--node", target.node)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "title\\x1b]0;pwned\\x07" in result.stdout  # the hostile property, shown escaped
    assert "\\u202eevil" in result.stdout
    info = run_cli("info", target.path, "--node", target.node)
    assert info.returncode == 0, info.stderr
    assert "\x1b" not in info.stdout  # process name and arguments come from the core
    assert "up\\x1b]0;pwned\\x07" in info.stdout


def test_a_core_cut_by_the_kernel_is_analysed(fuzz_core, tmp_path):
    """A real kernel core cut short by `ulimit -c` (RLIMIT_CORE) at 90% of what it writes."""
    target, _, _ = fuzz_core
    if not fuzzing.pattern_writes_files():
        pytest.skip("the kernel's core_pattern writes no core files on this machine")
    written = os.stat(target.path).st_blocks * 512  # the kernel leaves holes unwritten
    path = fuzzing.make_core(target.node, tmp_path, core_limit=int(written * 0.9))
    assert os.path.getsize(path) < target.size
    result = run_cli("histogram", path, "--top", "3", "--node", target.node)
    assert result.returncode == 0, result.stderr
    assert "the core is truncated" in result.stderr
    assert "counts are lower bounds" in result.stderr
