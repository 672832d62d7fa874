"""ELF core files: segments, notes and an address space over the mmapped bytes.

Nothing here knows about V8 or Node.js; this module would serve a C++ program's core as
well. The file is mmapped, never read whole: segment bytes are views into the mapping.
"""

from __future__ import annotations

import bisect
import mmap
import os
import stat
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import Optional

import numpy as np
from .elf import ELF64_PHDR, iter_notes, read_header
from .errors import CoreFormatError, Warnings

AT_ENTRY = 9
ET_EXEC = 2
NT_GNU_BUILD_ID = 3
PT_LOAD = 1
PT_NOTE = 4
_U8, _U16, _U32, _I32, _U64 = (struct.Struct(f) for f in ("<B", "<H", "<I", "<i", "<Q"))
# NT_PRSTATUS (struct elf_prstatus on x86-64): pr_pid, and pr_reg (struct user_regs_struct).
PRSTATUS_PID = 32
PRSTATUS_TIMES = 48  # pr_utime, pr_stime: struct timeval (seconds, microseconds) each
PRSTATUS_REGS = 112
# NT_PRPSINFO (struct elf_prpsinfo on x86-64): pr_pid, pr_fname[16], pr_psargs[80].
PRPSINFO_PID, PRPSINFO_FNAME, PRPSINFO_PSARGS, PRPSINFO_SIZE = 24, 40, 56, 136
NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_FILE = 1, 3, 6, 0x46494C45  # the "CORE" notes
USER_REGS = 27
REG_RSP = 19  # pr_reg: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip
#               cs eflags rsp ss fs_base gs_base ds es fs gs
# The x86-64 user address space is 128 TiB: a segment larger than that is damage.
MAX_SEGMENT = 1 << 47
PAGE = 4096
WILLNEED_CHUNK = 128 << 10  # the kernel's default read-ahead window (read_ahead_kb)


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
class Truncation:
    """A core whose file ends before the bytes its program headers promise."""

    file_size: int
    promised_size: int
    missing: tuple[tuple[int, int], ...]  # (vaddr, size) of memory the file lacks
    notes_cut: bool                       # the notes (process details, mapped files) too

    @property
    def missing_bytes(self) -> int:
        return sum(size for _, size in self.missing)


@dataclass(frozen=True)
class FileMapping:
    """One NT_FILE entry: a file mapped into the process."""

    start: int
    end: int
    file_offset: int
    path: str


@dataclass(frozen=True)
class Thread:
    """One thread of the process (an NT_PRSTATUS note): its id and general registers."""

    tid: int
    registers: tuple[int, ...]  # pr_reg, in user_regs_struct order
    cpu_seconds: float = 0.0    # user + system time; gcore leaves it 0, the kernel does not

    @property
    def stack_pointer(self) -> int:
        return self.registers[REG_RSP]


class AddressSpace:
    """Reads the dumped process memory by virtual address, and keeps account of which
    bytes of the file it has handed out (`touched_bytes`): every read goes through here,
    bulk reads for the scanner through `reading`."""

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
        # Per page of the file, whether a read touched it: as small as the file's page
        # count however many reads there are (a log of them grew with every read).
        self._touched = np.zeros(len(buffer) // PAGE + 1, dtype=bool)
        self._asked: set[tuple[int, int]] = set()     # file ranges asked for ahead

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
        if pos is None:
            return None
        self._touched[pos // PAGE:(pos + size + PAGE - 1) // PAGE] = True
        return self.view[pos : pos + size]

    def _unpack(self, fmt: struct.Struct, address: int) -> Optional[int]:
        pos = self._position(address, fmt.size)
        if pos is None:
            return None
        self._touched[pos // PAGE] = True
        self._touched[(pos + fmt.size - 1) // PAGE] = True
        return fmt.unpack_from(self.buffer, pos)[0]

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
        at = positions[found]
        self._touched[at // PAGE] = True
        self._touched[(at + 7) // PAGE] = True
        if not (positions & 7).any():  # aligned, as V8's fields are: one gather
            gathered = self._words[positions >> 3]
        else:
            gathered = self.as_array()[positions[:, None] + np.arange(8)].copy().view("<u8").ravel()
        return np.where(found, gathered, 0).astype(np.uint64), found

    @cached_property
    def _words(self) -> np.ndarray:
        """The file as 64-bit words (a view), for aligned reads."""
        return np.frombuffer(self.buffer, dtype="<u8", count=len(self.buffer) // 8)

    def segment_table(self) -> np.ndarray:
        """Segments as an (n, 3) uint64 array of vaddr, file offset, byte count."""
        table = np.zeros((len(self.segments), 3), dtype=np.uint64)
        for i, s in enumerate(self.segments):
            table[i] = (s.vaddr, s.offset, s.filesz)
        return table

    def as_array(self) -> np.ndarray:
        """The whole file as a read-only uint8 array (a view, not a copy). Bulk readers
        get it from `reading`, which accounts for what they read."""
        return np.frombuffer(self.buffer, dtype=np.uint8)

    def reading(self, rows: np.ndarray) -> np.ndarray:
        """The file as an array (`as_array`) for a reader of the (vaddr, file offset, size)
        `rows`: those bytes are accounted as touched, and asked of the kernel ahead
        (MADV_WILLNEED), since the mapping is read at random otherwise (CoreFile)."""
        rows = np.asarray(rows, dtype=np.uint64).reshape(-1, 3)
        if len(rows):
            ranges = np.stack([rows[:, 1], rows[:, 1] + rows[:, 2]], axis=1)
            for start, end in ranges.tolist():
                self._touched[start // PAGE:(end + PAGE - 1) // PAGE] = True
            if isinstance(self.buffer, mmap.mmap) and hasattr(mmap, "MADV_WILLNEED"):
                self._ask_ahead(_merged(ranges, PAGE))
        return self.as_array()

    def _ask_ahead(self, ranges: np.ndarray) -> None:
        """MADV_WILLNEED over file `ranges`, WILLNEED_CHUNK bytes a call (the kernel reads
        at most its read-ahead window per call and drops the rest of a larger one); each
        range once (3.5 us a call adds up over an 8 GB heap's sweeps)."""
        assert isinstance(self.buffer, mmap.mmap)
        for start, end in ranges.tolist():
            if (start, end) in self._asked:
                continue
            self._asked.add((start, end))
            for at in range(start, end, WILLNEED_CHUNK):
                try:
                    self.buffer.madvise(mmap.MADV_WILLNEED, at, min(WILLNEED_CHUNK, end - at))
                except (OSError, ValueError):  # advice only: reads work without it
                    return

    def touched_bytes(self) -> int:
        """Bytes of the file read so far through this address space, counted in whole
        pages (what the kernel reads at least)."""
        return int(np.count_nonzero(self._touched)) * PAGE

    @property
    def total_bytes(self) -> int:
        return sum(s.filesz for s in self.segments)


def _merged(ranges: np.ndarray, page: int) -> np.ndarray:
    """(start, end) `ranges` widened to whole pages, overlapping ones merged, in order."""
    if len(ranges) == 0:
        return np.zeros((0, 2), dtype=np.uint64)
    unit = np.uint64(page)
    starts = ranges[:, 0] // unit * unit
    ends = (ranges[:, 1] + unit - np.uint64(1)) // unit * unit
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], np.maximum.accumulate(ends[order])
    first = np.ones(len(starts), dtype=bool)
    first[1:] = starts[1:] > ends[:-1]  # (the running maximum of ends: a new run starts)
    last = np.append(first[1:], True)
    return np.stack([starts[first], ends[last]], axis=1)


class CoreFile:
    """An x86-64 Linux ELF core dump, opened read-only and mmapped.

    The program headers are untrusted: a segment whose sizes cannot be true is dropped as
    damaged, parts that overlap another segment (in memory or in the file) are cut away,
    and a segment is cut to the bytes the file really holds (`truncation` says what is
    missing), so that no read through the mapping can pass the end of the file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.warnings = Warnings()
        self.truncation: Optional[Truncation] = None
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
            elf = read_header(self._file, size)
        except (struct.error, ValueError) as exc:
            raise CoreFormatError(self.path, f"unreadable ELF header ({exc})") from None
        if elf.type != "ET_CORE":
            raise CoreFormatError(self.path, f"an ELF file of type {elf.type}, not a core dump")
        if elf.machine != "EM_X86_64" or elf.elf_class != 64 or not elf.little_endian:
            raise CoreFormatError(
                self.path,
                f"a core dump for {elf.machine} ({elf.elf_class}-bit); only x86-64 is supported")
        self.file_size = size
        if hasattr(os, "posix_fadvise"):  # the headers and notes are read as a file
            os.posix_fadvise(self._file.fileno(), 0, 0, os.POSIX_FADV_RANDOM)
        self._mmap = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        # Most of a core is never read (only heap pages are scanned): the kernel's
        # read-ahead around each small read (up to MBs) would read most of the file.
        # Bulk readers ask for their bytes ahead instead (AddressSpace.reading).
        if hasattr(mmap, "MADV_RANDOM"):
            try:
                self._mmap.madvise(mmap.MADV_RANDOM)
            except OSError:
                pass
        # Decoded in bulk: a core has thousands of program headers.
        count, at = elf.phnum, elf.phoff
        if elf.phentsize != ELF64_PHDR.itemsize or at + count * ELF64_PHDR.itemsize > size:
            raise CoreFormatError(self.path, "unreadable program headers (they run past the "
                                  "end of the file)")
        headers = np.frombuffer(self._mmap, dtype=ELF64_PHDR, count=count, offset=at)
        segments, missing, promised = self._segments(headers[headers["type"] == PT_LOAD])
        if not segments:
            raise CoreFormatError(self.path, "the core holds no memory segments")
        self.memory = AddressSpace(self._mmap, segments)
        self.file_mappings: list[FileMapping] = []
        self.process_name = ""
        self.process_args = ""
        self.pid: Optional[int] = None
        self.auxv: dict[int, int] = {}
        self.threads: list[Thread] = []
        notes_cut = False
        for header in headers[headers["type"] == PT_NOTE].tolist():
            offset, filesz = header[2], header[5]
            if offset + filesz > size:
                notes_cut = True
                promised = max(promised, offset + filesz)
            else:
                self._file.seek(offset)  # as a file: the mapping is read at random
                self._load_notes(self._file.read(filesz))
        if missing or notes_cut:
            self.truncation = Truncation(size, promised, tuple(missing), notes_cut)

    def _segments(self, loads: np.ndarray) -> tuple[list[Segment], list[tuple[int, int]], int]:
        """The PT_LOAD segments as far as they can be true and the file holds them; the
        (vaddr, size) of memory they describe that the file lacks; and the file size they
        describe."""
        damaged = 0
        kept: list[Segment] = []
        for _type, flags, offset, vaddr, _paddr, filesz, memsz, _align in loads.tolist():
            if filesz == 0:
                continue
            if filesz > memsz or memsz > MAX_SEGMENT or vaddr + memsz > 1 << 64 \
                    or offset + filesz > 1 << 63:
                damaged += 1
                continue
            kept.append(Segment(vaddr, memsz, offset, filesz, flags))
        # In a real core no two segments share memory or file bytes; cut away what does.
        segments, cut_in_memory = without_overlaps(kept, "vaddr", "memsz")
        segments, cut_in_file = without_overlaps(segments, "offset", "filesz")
        overlapping = cut_in_memory + cut_in_file
        if damaged or overlapping:
            self.warnings.add(
                f"the core's program headers are damaged: {damaged:,} describe sizes or "
                f"addresses that cannot be true (skipped), {overlapping:,} overlap another "
                "(the overlap is ignored)")
        # The file may end before the bytes its headers promise: cut to what exists.
        present, missing = [], []
        for seg in segments:
            available = max(0, min(seg.filesz, self.file_size - seg.offset))
            if available < seg.filesz:
                missing.append((seg.vaddr + available, seg.filesz - available))
            if available:
                present.append(Segment(seg.vaddr, seg.memsz, seg.offset, available, seg.flags))
        return present, missing, max((s.offset + s.filesz for s in segments), default=0)

    def _load_notes(self, notes: bytes) -> None:
        try:
            for name, kind, desc in iter_notes(notes):
                if name != b"CORE":
                    continue
                if kind == NT_FILE:
                    self._load_nt_file(desc)
                elif kind == NT_PRPSINFO and len(desc) >= PRPSINFO_SIZE:
                    self.process_name = _c_string(desc[PRPSINFO_FNAME:PRPSINFO_PSARGS])
                    self.process_args = _c_string(desc[PRPSINFO_PSARGS:PRPSINFO_SIZE])
                    self.pid = _U32.unpack_from(desc, PRPSINFO_PID)[0]
                elif kind == NT_PRSTATUS and len(desc) >= PRSTATUS_REGS + 8 * USER_REGS:
                    regs = np.frombuffer(desc, dtype="<u8", count=USER_REGS,
                                         offset=PRSTATUS_REGS)
                    times = np.frombuffer(desc, dtype="<u8", count=4, offset=PRSTATUS_TIMES)
                    seconds = float(times[0] + times[2]) + float(times[1] + times[3]) / 1e6
                    self.threads.append(Thread(_U32.unpack_from(desc, PRSTATUS_PID)[0],
                                               tuple(regs.tolist()), seconds))
                elif kind == NT_AUXV:
                    words = np.frombuffer(desc[: len(desc) // 16 * 16], dtype="<u8")
                    self.auxv = {int(k): int(v) for k, v in words.reshape(-1, 2)}
        except (struct.error, ValueError) as exc:
            self.warnings.add(f"some notes of the core are unreadable ({exc})")

    def _load_nt_file(self, desc: bytes) -> None:
        """The files mapped into the process: a count and a page size, (start, end, page
        offset) per file, then the files' names."""
        count, page = struct.unpack_from("<QQ", desc)
        if count > (len(desc) - 16) // 24:
            raise ValueError(f"an NT_FILE note lists {count:,} files but holds fewer")
        entries = np.frombuffer(desc, dtype="<u8", count=3 * count, offset=16).reshape(-1, 3)
        names = desc[16 + 24 * count:].split(b"\0")
        for (start, end, page_offset), name in zip(entries.tolist(), names):
            self.file_mappings.append(FileMapping(start, end, page_offset * page,
                                                  name.decode("utf-8", "replace")))

    def executable_path(self) -> Optional[str]:
        """The main executable: the NT_FILE mapping holding the entry point (AT_ENTRY)."""
        entry = self.auxv.get(AT_ENTRY)
        for m in self.file_mappings:
            if entry is not None and m.start <= entry < m.end:
                return m.path
        return self.file_mappings[0].path if self.file_mappings else None

    def executable_build_id(self) -> Optional[str]:
        """GNU build-id of the main executable as mapped in the core, found without the
        notes: the first segment that starts with the ELF header of an ET_EXEC file."""
        for seg in self.memory.segments:
            header = self.memory.read(seg.vaddr, 64)
            if header is not None and bytes(header[:4]) == b"\x7fELF" and \
                    _U16.unpack_from(header, 16)[0] == ET_EXEC:
                return _build_id_from_memory(self.memory, seg.vaddr)
        return None

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
                memory.__dict__.pop("_words", None)
            try:
                mm.close()
            except BufferError:
                pass  # a numpy view still holds it; the OS frees it with the object
        self._file.close()

    def __enter__(self) -> "CoreFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def without_overlaps(segments: list[Segment], start: str,
                      size: str) -> tuple[list[Segment], int]:
    """`segments` in order of `start` ("vaddr" or "offset"), each cut to begin where the
    ones before it end (by `size`, "memsz" or "filesz"), and how many were cut."""
    result: list[Segment] = []
    reach = cut_count = 0
    for seg in sorted(segments, key=lambda s: (getattr(s, start), s.vaddr)):
        cut = reach - getattr(seg, start)
        if cut > 0:
            cut_count += 1
            if cut >= seg.filesz:
                continue
            seg = Segment(seg.vaddr + cut, seg.memsz - cut, seg.offset + cut, seg.filesz - cut,
                          seg.flags)
        result.append(seg)
        reach = getattr(seg, start) + getattr(seg, size)
    return result, cut_count


def _open_readable(path: str):
    problem = file_problem(path)
    if problem:
        raise CoreFormatError(path, problem)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CoreFormatError(path, exc.strerror or str(exc)) from None


def file_problem(path: str) -> Optional[str]:
    """Why `path` cannot be read as an input file, or None. Only regular files are
    read: a FIFO would block and a device never end, so those are refused unopened."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return exc.strerror or str(exc)
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return f"is {name}, not a regular file"
    return "is not a regular file"


def _c_string(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


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
    try:
        for name, kind, desc in iter_notes(notes):
            if kind == NT_GNU_BUILD_ID and name == b"GNU":
                return desc.hex()
    except ValueError:
        pass
    return None
