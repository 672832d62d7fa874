"""ELF core files: segments, notes and an address space over the mmapped bytes.

Nothing here knows about V8 or Node.js; this module would serve a C++ program's core as
well. The file is mmapped, never read whole: segment bytes are views into the mapping.
"""

from __future__ import annotations

import bisect
import mmap
import os
import struct
from dataclasses import dataclass
from typing import Optional

import numpy as np
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from .errors import CoreFormatError, Warnings

AT_ENTRY = 9
NT_GNU_BUILD_ID = 3
PT_LOAD = 1
PT_NOTE = 4
ELF64_PHDR = np.dtype([("type", "<u4"), ("flags", "<u4"), ("offset", "<u8"), ("vaddr", "<u8"),
                       ("paddr", "<u8"), ("filesz", "<u8"), ("memsz", "<u8"), ("align", "<u8")])
_U8, _U16, _U32, _I32, _U64 = (struct.Struct(f) for f in ("<B", "<H", "<I", "<i", "<Q"))


@dataclass(frozen=True)
class Segment:
    """One PT_LOAD segment with bytes in the file (possibly fewer than it maps)."""

    vaddr: int
    memsz: int
    offset: int
    filesz: int
    flags: int

    @property
    def end(self) -> int:
        """First address past the bytes the file holds for this segment."""
        return self.vaddr + self.filesz


@dataclass(frozen=True)
class FileMapping:
    """One NT_FILE entry: a file mapped into the process."""

    start: int
    end: int
    file_offset: int
    path: str


class AddressSpace:
    """Reads the dumped process memory by virtual address."""

    def __init__(self, buffer: mmap.mmap | bytes, segments: list[Segment]) -> None:
        self.buffer = buffer
        self.segments = sorted(segments, key=lambda s: s.vaddr)
        self._starts = [s.vaddr for s in self.segments]
        self._ends = [s.end for s in self.segments]
        self._offsets = [s.offset for s in self.segments]
        self._start_array = np.array(self._starts, dtype=np.uint64)
        self._end_array = np.array([s.end for s in self.segments], dtype=np.uint64)
        self._offset_array = np.array([s.offset for s in self.segments], dtype=np.uint64)
        self.view = memoryview(buffer)

    def segment_at(self, address: int) -> Optional[Segment]:
        """The segment whose file bytes hold `address`, or None."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self._ends[i]:
            return self.segments[i]
        return None

    def _position(self, address: int, size: int) -> Optional[int]:
        """File position of `size` bytes at `address`, or None if not all are in the core."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i < 0 or address + size > self._ends[i] or size < 0:
            return None
        return self._offsets[i] + address - self._starts[i]

    def read(self, address: int, size: int) -> Optional[memoryview]:
        """`size` bytes at `address`, or None if any of them is not in the core."""
        pos = self._position(address, size)
        return None if pos is None else self.view[pos : pos + size]

    def _unpack(self, fmt: struct.Struct, address: int) -> Optional[int]:
        pos = self._position(address, fmt.size)
        return None if pos is None else fmt.unpack_from(self.buffer, pos)[0]

    def u8(self, address: int) -> Optional[int]:
        return self._unpack(_U8, address)

    def u16(self, address: int) -> Optional[int]:
        return self._unpack(_U16, address)

    def u32(self, address: int) -> Optional[int]:
        return self._unpack(_U32, address)

    def i32(self, address: int) -> Optional[int]:
        return self._unpack(_I32, address)

    def u64(self, address: int) -> Optional[int]:
        return self._unpack(_U64, address)

    def u64_many(self, addresses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised u64 reads: (values, found), found False where memory is missing."""
        addresses = np.asarray(addresses, dtype=np.uint64)
        idx = np.searchsorted(self._start_array, addresses, side="right") - 1
        safe = np.clip(idx, 0, None)
        ends = self._end_array[safe]
        found = (idx >= 0) & (addresses < ends) & (ends - addresses >= np.uint64(8))  # no wrap
        positions = np.where(found, self._offset_array[safe] + addresses
                             - self._start_array[safe], 0).astype(np.int64)
        data = self.as_array()
        gathered = data[positions[:, None] + np.arange(8)].copy().view("<u8").ravel()
        return np.where(found, gathered, 0).astype(np.uint64), found

    def segment_table(self) -> np.ndarray:
        """Segments as an (n, 3) uint64 array of vaddr, file offset, byte count."""
        table = np.zeros((len(self.segments), 3), dtype=np.uint64)
        for i, s in enumerate(self.segments):
            table[i] = (s.vaddr, s.offset, s.filesz)
        return table

    def as_array(self) -> np.ndarray:
        """The whole file as a read-only uint8 array (a view, not a copy)."""
        return np.frombuffer(self.buffer, dtype=np.uint8)

    @property
    def total_bytes(self) -> int:
        return sum(s.filesz for s in self.segments)


class CoreFile:
    """An x86-64 Linux ELF core dump, opened read-only and mmapped."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.warnings = Warnings()
        self._file = _open_readable(self.path)
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> None:
        size = os.fstat(self._file.fileno()).st_size
        if size == 0:
            raise CoreFormatError(self.path, "the file is empty")
        magic = self._file.read(4)
        self._file.seek(0)
        if magic != b"\x7fELF":
            raise CoreFormatError(self.path, "not an ELF file (no ELF magic)")
        try:
            elf = ELFFile(self._file)
            elf_type, machine = elf["e_type"], elf["e_machine"]
            elf_class = elf.elfclass
        except (ELFError, struct.error, ValueError) as exc:
            raise CoreFormatError(self.path, f"unreadable ELF header ({exc})") from None
        if elf_type != "ET_CORE":
            raise CoreFormatError(self.path, f"an ELF file of type {elf_type}, not a core dump")
        if machine != "EM_X86_64" or elf_class != 64 or not elf.little_endian:
            raise CoreFormatError(
                self.path, f"a core dump for {machine} ({elf_class}-bit); only x86-64 is supported"
            )
        self.file_size = size
        self._mmap = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        segments, notes = [], []
        try:
            # Decoded in bulk: a core has thousands of program headers.
            count, at = elf.num_segments(), elf["e_phoff"]
            if elf["e_phentsize"] != ELF64_PHDR.itemsize or at + count * ELF64_PHDR.itemsize > size:
                raise ValueError("program headers run past the end of the file")
            headers = np.frombuffer(self._mmap, dtype=ELF64_PHDR, count=count, offset=at)
            for i, header in enumerate(headers.tolist()):
                p_type, flags, offset, vaddr, _paddr, filesz, memsz, _align = header
                if p_type == PT_LOAD and filesz > 0:
                    segments.append(self._load_segment(vaddr, memsz, offset, filesz, flags))
                elif p_type == PT_NOTE:
                    notes.append(elf.get_segment(i))
        except (ELFError, struct.error, ValueError) as exc:
            raise CoreFormatError(self.path, f"unreadable program headers ({exc})") from None
        segments = [s for s in segments if s is not None]
        if not segments:
            raise CoreFormatError(self.path, "the core holds no memory segments")
        self.memory = AddressSpace(self._mmap, segments)
        self.file_mappings: list[FileMapping] = []
        self.process_name = ""
        self.process_args = ""
        self.auxv: dict[int, int] = {}
        for seg in notes:
            self._load_notes(seg)

    def _load_segment(self, vaddr: int, memsz: int, offset: int, filesz: int,
                      flags: int) -> Optional[Segment]:
        available = max(0, min(filesz, self.file_size - offset))
        if available < filesz:
            self.warnings.add(
                f"the core is truncated: {filesz - available:,} bytes of memory are missing; "
                "analysing the segments that are there"
            )
        if available == 0:
            return None
        return Segment(vaddr, memsz, offset, available, flags)

    def _load_notes(self, seg) -> None:
        if seg["p_offset"] + seg["p_filesz"] > self.file_size:
            self.warnings.add("the core's notes are truncated; process details may be missing")
            return
        try:
            for note in seg.iter_notes():
                kind, desc = note["n_type"], note["n_desc"]
                if kind == "NT_FILE":
                    self._load_nt_file(desc)
                elif kind == "NT_PRPSINFO":
                    self.process_name = _c_string(desc["pr_fname"])
                    self.process_args = _c_string(desc["pr_psargs"])
                elif kind == "NT_AUXV" and isinstance(desc, bytes):
                    words = np.frombuffer(desc[: len(desc) // 16 * 16], dtype="<u8")
                    self.auxv = {int(k): int(v) for k, v in words.reshape(-1, 2)}
        except (ELFError, struct.error, ValueError, KeyError) as exc:
            self.warnings.add(f"some notes of the core are unreadable ({exc})")

    def _load_nt_file(self, desc) -> None:
        page = desc["page_size"]
        for entry, name in zip(desc["Elf_Nt_File_Entry"], desc["filename"]):
            path = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
            self.file_mappings.append(
                FileMapping(entry["vm_start"], entry["vm_end"], entry["page_offset"] * page, path)
            )

    def executable_path(self) -> Optional[str]:
        """The main executable: the NT_FILE mapping holding the entry point (AT_ENTRY)."""
        entry = self.auxv.get(AT_ENTRY)
        for m in self.file_mappings:
            if entry is not None and m.start <= entry < m.end:
                return m.path
        return self.file_mappings[0].path if self.file_mappings else None

    def build_id_of(self, path: str) -> Optional[str]:
        """GNU build-id of `path` as mapped in the core, read from its dumped ELF headers."""
        bases = [m.start for m in self.file_mappings if m.path == path and m.file_offset == 0]
        for base in bases:
            found = _build_id_from_memory(self.memory, base)
            if found:
                return found
        return None

    def close(self) -> None:
        mm = getattr(self, "_mmap", None)
        if mm is not None:
            memory = getattr(self, "memory", None)
            if memory is not None:
                memory.view.release()
            try:
                mm.close()
            except BufferError:
                pass  # a numpy view still holds it; the OS frees it with the object
        self._file.close()

    def __enter__(self) -> "CoreFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _open_readable(path: str):
    if not os.path.exists(path):
        raise CoreFormatError(path, "no such file")
    if os.path.isdir(path):
        raise CoreFormatError(path, "is a directory, not a core file")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CoreFormatError(path, exc.strerror or str(exc)) from None


def _c_string(raw) -> str:
    if isinstance(raw, bytes):
        raw = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    return str(raw).strip()


def _build_id_from_memory(memory: AddressSpace, base: int) -> Optional[str]:
    header = memory.read(base, 64)
    if header is None or bytes(header[:4]) != b"\x7fELF":
        return None
    phoff, = struct.unpack_from("<Q", header, 32)
    phentsize, phnum = struct.unpack_from("<HH", header, 54)
    for i in range(phnum):
        ph = memory.read(base + phoff + i * phentsize, 56)
        if ph is None:
            return None
        p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", ph)
        if p_type != PT_NOTE:
            continue
        # In a non-PIE binary p_vaddr is absolute; in a PIE it is relative to the base.
        start = p_vaddr if p_vaddr >= base else base + p_vaddr
        notes = memory.read(start, p_filesz)
        if notes is not None:
            found = find_build_id(bytes(notes))
            if found:
                return found
    return None


def find_build_id(notes: bytes) -> Optional[str]:
    """The hex GNU build-id in a block of ELF notes, or None."""
    pos = 0
    while pos + 12 <= len(notes):
        namesz, descsz, kind = struct.unpack_from("<III", notes, pos)
        name_start = pos + 12
        desc_start = name_start + (namesz + 3) // 4 * 4
        desc_end = desc_start + descsz
        if desc_end > len(notes):
            return None
        if kind == NT_GNU_BUILD_ID and notes[name_start : name_start + namesz].rstrip(b"\0") == b"GNU":
            return notes[desc_start:desc_end].hex()
        pos = desc_start + (descsz + 3) // 4 * 4
    return None
