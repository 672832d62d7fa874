"""v8scan's own reading of ELF headers and core notes (v8scan/elf.py) against pyelftools',
on real cores: the gcore core of the census and the kernel's core of the fuzz tests."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.notes import iter_notes

from v8scan.core import CoreFile
from v8scan.elf import ELF64_SHDR, PN_XNUM, read_header


def pyelftools_notes(path: str) -> dict:
    """What the notes say, as pyelftools reads them."""
    seen: dict = {"threads": [], "files": [], "auxv": {}}
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for segment in elf.iter_segments():
            if segment["p_type"] != "PT_NOTE":
                continue
            for note in iter_notes(elf, segment["p_offset"], segment["p_filesz"]):
                kind, desc = note["n_type"], note["n_desc"]
                if kind == "NT_PRPSINFO":
                    seen["name"] = desc["pr_fname"].split(b"\0")[0].decode()
                    seen["args"] = desc["pr_psargs"].split(b"\0")[0].decode().strip()
                    seen["pid"] = desc["pr_pid"]
                elif kind == "NT_FILE":
                    seen["files"] = [
                        (e["vm_start"], e["vm_end"], e["page_offset"] * desc["page_size"],
                         name.decode()) for e, name in zip(desc["Elf_Nt_File_Entry"],
                                                           desc["filename"])]
                elif kind == "NT_PRSTATUS":
                    seen["threads"].append(struct.unpack_from("<I", desc, 32)[0])
                elif kind == "NT_AUXV":
                    words = np.frombuffer(desc, dtype="<u8")
                    seen["auxv"] = dict(zip(words[0::2].tolist(), words[1::2].tolist()))
    return seen


def mine(path: str) -> dict:
    with CoreFile(path) as core:
        assert not core.warnings
        return {"name": core.process_name, "args": core.process_args, "pid": core.pid,
                "threads": [t.tid for t in core.threads], "auxv": core.auxv,
                "files": [(m.start, m.end, m.file_offset, m.path) for m in core.file_mappings]}


@pytest.mark.parametrize("which", ["gcore", "kernel"])
def test_core_notes_agree_with_pyelftools(request, which):
    path = (request.getfixturevalue("census_cores").before if which == "gcore"
            else request.getfixturevalue("kernel_core").path)
    expected = pyelftools_notes(path)
    assert expected["files"] and expected["threads"] and expected["auxv"]
    assert mine(path) == expected


def test_a_segment_count_past_16_bits_is_read_from_section_zero(census_cores, tmp_path):
    """A core of more than 65,534 mappings keeps its segment count in section 0 (PN_XNUM).
    The census core's header, rewritten so, with that section after it."""
    with open(census_cores.before, "rb") as f:
        header = bytearray(f.read(64))
        size = f.seek(0, 2)
    count = struct.unpack_from("<H", header, 56)[0]
    struct.pack_into("<Q", header, 40, 64)             # e_shoff: right after the header
    struct.pack_into("<HHHH", header, 56, PN_XNUM, ELF64_SHDR.itemsize, 1, 0)
    section = np.zeros(1, dtype=ELF64_SHDR)
    section["info"] = count
    path = tmp_path / "xnum"
    path.write_bytes(bytes(header) + section.tobytes())
    with open(path, "rb") as f:
        assert read_header(f, size).phnum == count
        f.seek(0)
        with pytest.raises(ValueError):
            read_header(f, 64)  # the section is past the end the file is said to have
