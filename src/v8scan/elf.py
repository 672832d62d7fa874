"""The few parts of ELF that opening a core and finding a binary's build-id need: the file
header, program and section headers, and notes, decoded with struct and numpy.

pyelftools takes 30 ms to import, more than opening a core takes; it reads the node
binary's symbol tables, once per build (v8/binary.py), and nothing else.
"""

from __future__ import annotations

import struct
from typing import Iterator, NamedTuple

import numpy as np

ELFCLASS64 = 2
ELFDATA2LSB = 1
PN_XNUM = 0xFFFF  # e_phnum when the count is in section 0's sh_info
TYPE_NAMES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}
MACHINE_NAMES = {3: "EM_386", 8: "EM_MIPS", 20: "EM_PPC", 21: "EM_PPC64", 22: "EM_S390",
                 40: "EM_ARM", 62: "EM_X86_64", 183: "EM_AARCH64", 243: "EM_RISCV"}
ELF64_PHDR = np.dtype([("type", "<u4"), ("flags", "<u4"), ("offset", "<u8"), ("vaddr", "<u8"),
                       ("paddr", "<u8"), ("filesz", "<u8"), ("memsz", "<u8"), ("align", "<u8")])
ELF64_SHDR = np.dtype([("name", "<u4"), ("type", "<u4"), ("flags", "<u8"), ("addr", "<u8"),
                       ("offset", "<u8"), ("size", "<u8"), ("link", "<u4"), ("info", "<u4"),
                       ("addralign", "<u8"), ("entsize", "<u8")])
_IDENT = struct.Struct("<4sBB10x")
_ELF64_REST = struct.Struct("<HHIQQQIHHHHHH")  # after e_ident, little-endian
_NOTE = struct.Struct("<III")


class ElfHeader(NamedTuple):
    elf_class: int       # 32 or 64
    little_endian: bool
    type: str            # "ET_CORE", "ET_EXEC", ... or "type N"
    machine: str         # "EM_X86_64", ... or "machine N"
    phoff: int = 0       # the rest only for 64-bit little-endian files
    phentsize: int = 0
    phnum: int = 0
    shoff: int = 0
    shentsize: int = 0
    shnum: int = 0


def read_header(f, size: int) -> ElfHeader:
    """The ELF header of the open file `f` of `size` bytes. Raises ValueError when it is
    not one; the numbers past e_machine are read only for 64-bit little-endian files
    (the only ones v8scan reads), and are not checked against `size` here."""
    f.seek(0)
    raw = f.read(64)
    if len(raw) < 20:
        raise ValueError("the file is shorter than an ELF header")
    magic, elf_class, data = _IDENT.unpack_from(raw)
    if magic != b"\x7fELF":
        raise ValueError("no ELF magic")
    order = "<" if data == ELFDATA2LSB else ">"
    elf_type, machine = struct.unpack_from(order + "HH", raw, 16)
    header = ElfHeader(64 if elf_class == ELFCLASS64 else 32, data == ELFDATA2LSB,
                       TYPE_NAMES.get(elf_type, f"type {elf_type}"),
                       MACHINE_NAMES.get(machine, f"machine {machine}"))
    if header.elf_class != 64 or not header.little_endian:
        return header
    if len(raw) < 64:
        raise ValueError("the file is shorter than an ELF header")
    (_, _, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
     _) = _ELF64_REST.unpack_from(raw, 16)
    if phnum == PN_XNUM:  # more segments than 16 bits count (a core of a large process)
        if shoff + ELF64_SHDR.itemsize > size:
            raise ValueError("the section header holding the segment count is missing")
        f.seek(shoff)
        phnum = int(np.frombuffer(f.read(ELF64_SHDR.itemsize), dtype=ELF64_SHDR)["info"][0])
    return header._replace(phoff=phoff, phentsize=phentsize, phnum=phnum, shoff=shoff,
                           shentsize=shentsize, shnum=shnum)


def iter_notes(data: bytes) -> Iterator[tuple[bytes, int, bytes]]:
    """(name, type, desc) of each note in a block of ELF notes (4-byte aligned, as Linux
    writes them). Raises ValueError at a note that runs past the block's end."""
    pos = 0
    while pos + _NOTE.size <= len(data):
        namesz, descsz, kind = _NOTE.unpack_from(data, pos)
        name_start = pos + _NOTE.size
        desc_start = name_start + (namesz + 3) // 4 * 4
        desc_end = desc_start + descsz
        if desc_end > len(data):
            raise ValueError(f"a note at byte {pos} runs past the end of its block")
        yield data[name_start:name_start + namesz].rstrip(b"\0"), kind, data[desc_start:desc_end]
        pos = desc_start + (descsz + 3) // 4 * 4
