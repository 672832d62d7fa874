"""Bad input: one clear line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from .conftest import run_cli


def assert_clean_error(result: subprocess.CompletedProcess, says: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("v8scan: error: "), result.stderr
    assert says in result.stderr.splitlines()[0]


@pytest.fixture
def scratch(tmp_path):
    return tmp_path


def test_missing_file(scratch):
    assert_clean_error(run_cli("histogram", str(scratch / "nope")), "no such file")


def test_empty_file(scratch):
    path = scratch / "empty"
    path.write_bytes(b"")
    assert_clean_error(run_cli("histogram", str(path)), "empty")


def test_random_bytes(scratch):
    path = scratch / "random"
    path.write_bytes(os.urandom(1 << 16))
    assert_clean_error(run_cli("info", str(path)), "not an ELF file")


def test_elf_that_is_not_a_core(scratch):
    assert_clean_error(run_cli("histogram", shutil.which("true") or "/bin/true"),
                       "not a core dump")


def test_core_of_another_architecture(census_cores, scratch):
    # No non-x86-64 process can run here, so the header of a real core is relabelled.
    path = scratch / "arm64.core"
    with open(census_cores.before, "rb") as f:
        head = bytearray(f.read(1 << 20))
    head[18:20] = (183).to_bytes(2, "little")  # EM_AARCH64
    path.write_bytes(head)
    assert_clean_error(run_cli("histogram", str(path)), "only x86-64")


def test_truncated_core_is_analysed_with_a_warning(census_cores, scratch):
    path = scratch / "truncated.core"
    size = os.path.getsize(census_cores.before)
    with open(census_cores.before, "rb") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst, length=1 << 20)
        dst.truncate(size * 2 // 3)
    result = run_cli("histogram", str(path), "--top", "3", "--node", census_cores.node)
    assert "Traceback" not in result.stderr
    assert "truncated" in result.stderr
    assert result.returncode in (0, 2)  # 2 only if the part left holds no V8 heap
    if result.returncode == 2:
        assert result.stderr.count("v8scan: error:") == 1


def test_node_binary_that_does_not_match(census_cores):
    result = run_cli("histogram", census_cores.before, "--node",
                     shutil.which("true") or "/bin/true")
    assert_clean_error(result, "build-id")
    assert "--force" in result.stderr


def test_help_of_every_command():
    from v8scan.cli import main
    for command in sorted(main.commands):
        result = run_cli(command, "--help")
        assert result.returncode == 0
        assert "Example" in result.stdout  # "Example:" or "Examples:"


def test_jobs_must_be_a_positive_count(census_cores):
    result = run_cli("histogram", census_cores.before, "--jobs", "0")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--jobs" in result.stderr


def test_help_imports_no_heavy_modules():
    """`v8scan --help` and friends start quickly: numpy and pyelftools load on first use."""
    probe = ("import sys, v8scan, v8scan.cli; "
             "print(sorted(m for m in ('numpy', 'elftools') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
