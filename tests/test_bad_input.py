"""Bad input: one clear line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from .conftest import copy_core, run_cli


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


def test_fifo_and_devices_are_refused_at_once(scratch):
    fifo = scratch / "fifo"
    os.mkfifo(fifo)
    result = subprocess.run([sys.executable, "-m", "v8scan", "histogram", str(fifo)],
                            capture_output=True, text=True, timeout=60)
    assert_clean_error(result, "is a FIFO")
    assert_clean_error(run_cli("info", "/dev/zero"), "is a character device")


def test_node_that_is_a_device_or_a_directory(kernel_core, scratch):
    assert_clean_error(run_cli("info", kernel_core.path, "--node", "/dev/zero"),
                       "is a character device")
    assert_clean_error(run_cli("info", kernel_core.path, "--node", str(scratch)),
                       "is a directory")


def test_usage_errors_are_one_line():
    for args in (("histogram",), ("histogram", "x", "--jobs", "0"), ("histogram", "x", "--nope"),
                 ("no-such-command",)):
        result = run_cli(*args)
        assert result.returncode == 2, args
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("v8scan: error: "), result.stderr


@pytest.mark.parametrize("address, says", [
    ("0x10000000000000000", "outside 0x0 to 0xffffffffffffffff"),
    ("0x0", "not in the core's memory"),
    ("0x1234", "not in the core's memory"),
    ("0xzz", "is not an address"),
])
def test_bad_addresses_are_one_line_in_every_command(kernel_core, address, says):
    for command in ("inspect", "retainers"):
        result = run_cli(command, kernel_core.path, address, "--node", kernel_core.node)
        assert_clean_error(result, says)
        assert result.stderr.count("\n") == 1


def test_an_address_inside_an_object_is_not_an_object(kernel_core):
    """The second word of a live Session is in the core, but no object starts there."""
    inside = f"{kernel_core.address + 8:#x}"
    for command in ("inspect", "retainers"):
        assert_clean_error(run_cli(command, kernel_core.path, inside, "--node",
                                   kernel_core.node), "is not the address of a V8 heap object")


def test_a_name_that_matches_nothing_is_the_same_error_everywhere(kernel_core):
    results = [run_cli(command, kernel_core.path, "NoSuchClass", "--node", kernel_core.node)
               for command in ("instances", "retainers")]
    for result in results:
        assert_clean_error(result, "no live object is called 'NoSuchClass'")
    assert results[0].stderr == results[1].stderr


def rewrite_program_header(source: str, target, index: int, **fields) -> None:
    """A copy of a real core with fields of its `index`th PT_LOAD header that has bytes
    in the file changed."""
    import numpy as np

    from v8scan.core import ELF64_PHDR, PT_LOAD
    copy_core(source, target)
    with open(target, "r+b") as f:
        f.seek(32)
        phoff = int.from_bytes(f.read(8), "little")
        f.seek(56)
        phnum = int.from_bytes(f.read(2), "little")
        f.seek(phoff)
        headers = np.frombuffer(f.read(phnum * ELF64_PHDR.itemsize), ELF64_PHDR).copy()
        load = np.flatnonzero((headers["type"] == PT_LOAD) & (headers["filesz"] > 0))[index]
        for name, value in fields.items():
            headers[load][name] = value(headers, load) if callable(value) else value
        f.seek(phoff)
        f.write(headers.tobytes())


def test_overlapping_and_wrapping_segments_are_cut_with_one_warning(kernel_core, scratch):
    overlapping = scratch / "overlap.core"  # a segment claims the one before's addresses
    rewrite_program_header(kernel_core.path, overlapping, 5,
                           vaddr=lambda h, i: h[:i][h[:i]["filesz"] > 0][-1]["vaddr"])
    wrapping = scratch / "wrap.core"
    rewrite_program_header(kernel_core.path, wrapping, 3, vaddr=2**64 - 4096,
                           memsz=1 << 20, filesz=1 << 20)
    for path, says in ((overlapping, "1 overlap another"), (wrapping, "1 describe sizes")):
        result = run_cli("histogram", str(path), "--top", "3", "--node", kernel_core.node)
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if "program headers" in line]
        assert len(warnings) == 1 and says in warnings[0], result.stderr


def test_garbage_sizes_are_reported_as_damage_not_figures(kernel_core, scratch):
    path = scratch / "filesz.core"
    rewrite_program_header(kernel_core.path, path, -1, filesz=160_527_709_927_504,
                           memsz=160_527_709_927_504)
    result = run_cli("info", str(path), "--node", kernel_core.node)
    assert result.returncode == 0, result.stderr
    assert "160,527,709,927,504" not in result.stderr + result.stdout
    assert "cannot be true" in result.stderr
