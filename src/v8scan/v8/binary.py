"""The node executable: its build-id, versions and every `v8dbg_*` postmortem constant.

pyelftools locates the sections, imported only for that: a build read before needs only
its build-id, which the section headers lead to. The symbol table itself (hundreds of
thousands of entries in a 100 MB binary) is decoded in bulk with numpy, since walking it
symbol by symbol in Python takes seconds. What is read is cached per build-id in the
user's cache directory, so later runs on cores of the same build only read the build-id.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import struct
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..core import CoreFile, file_problem, find_build_id
from ..elf import ELF64_SHDR, ElfHeader, read_header
from ..errors import BinaryError, BuildIdMismatch, V8ScanError, Warnings

V8DBG_PREFIX = b"v8dbg_"
SHT_NOTE = 7
MAX_NOTES = 1 << 20  # bytes of a note section read: a build-id note is 36
# V8 keeps its version in these static members (v8::internal::Version::major_ ...).
VERSION_SYMBOLS = {
    b"_ZN2v88internal7Version6major_E": "major",
    b"_ZN2v88internal7Version6minor_E": "minor",
    b"_ZN2v88internal7Version6build_E": "build",
    b"_ZN2v88internal7Version6patch_E": "patch",
}
# process.release.sourceUrl is compiled into every official build.
NODE_VERSION_PATTERN = re.compile(rb"/download/release/v(\d+\.\d+\.\d+)/node-v")
# Node's V8 names itself "<major>.<minor>.<build>.<patch>-node.<n>" (V8_EMBEDDER_STRING);
# older builds (Node 16, 18) have no Version::major_ symbols, only this string.
V8_VERSION_PATTERN = re.compile(rb"(\d{1,2})\.(\d{1,2})\.(\d{1,4})\.(\d{1,4})-node\.\d+\0")

ELF64_SYM = np.dtype(
    [("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"),
     ("value", "<u8"), ("size", "<u8")]
)


@dataclass
class NodeBinary:
    """What v8scan needs from a node executable."""

    path: str
    build_id: Optional[str]
    node_version: Optional[str]
    v8_version: Optional[tuple[int, int, int, int]]
    constants: dict[str, int] = field(default_factory=dict)

    @property
    def v8_version_string(self) -> str:
        return ".".join(map(str, self.v8_version)) if self.v8_version else "unknown"


# The cache is input like any other: each entry carries its format, the build-id and size
# of the binary it was read from, and a SHA-256 of its content; a value of the wrong type
# or out of bounds makes the entry invalid, and an invalid entry is read again.
CACHE_FORMAT = 2
MAX_CONSTANTS = 100_000
CONSTANT_NAME = re.compile(r"^[A-Za-z0-9_]{1,200}$")
NODE_VERSION = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}$")


def cache_dir() -> str:
    """Where v8scan caches what it read: $V8SCAN_CACHE_DIR, else $XDG_CACHE_HOME/v8scan,
    else ~/.cache/v8scan."""
    explicit = os.environ.get("V8SCAN_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "v8scan")


def read_node_binary(path: str, use_cache: bool = True,
                     warnings: Optional[Warnings] = None,
                     check: Optional[Callable[[NodeBinary], object]] = None) -> NodeBinary:
    """Read build-id, versions and `v8dbg_*` constants of the executable at `path`.

    With `use_cache`, a build read before is taken from the cache (keyed by build-id,
    which names the exact build, and checked as described above) and a new one is added
    to it; a cache entry that fails its checks, or whose reading `check` rejects (by
    raising V8ScanError), is read again, with a warning.
    Raises BinaryError when the file is missing or not a readable ELF executable.
    """
    problem = file_problem(path)
    if problem:
        raise BinaryError(f"node binary {path}: {problem}")
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            elf = read_header(f, size)
            if elf.type not in ("ET_EXEC", "ET_DYN"):
                raise BinaryError(f"{path} is not an executable (ELF type {elf.type})")
            build_id = _build_id(f, elf, size)
            if use_cache and build_id:
                cached = _from_cache(path, build_id, size)
                if isinstance(cached, NodeBinary) and check is not None:
                    try:
                        check(cached)
                    except V8ScanError as exc:
                        cached = f"{exc}"
                if isinstance(cached, NodeBinary):
                    return cached
                if cached and warnings is not None:
                    warnings.add(f"the cached metadata of build {build_id} is invalid "
                                 f"({cached}); read again from the binary")
            binary = _read(path, f, build_id)
    except (struct.error, ValueError) as exc:
        raise BinaryError(f"{path} is not a readable ELF executable ({exc})") from None
    except OSError as exc:
        raise BinaryError(f"cannot read {path}: {exc.strerror or exc}") from None
    # A stripped copy has no metadata to remember, and must not hide the real binary's.
    if use_cache and build_id and binary.constants:
        _to_cache(binary, size)
    return binary


def cache_path(build_id: str) -> str:
    """The cache entry of the build `build_id`."""
    return os.path.join(cache_dir(), "binaries", f"{build_id}.json")


def checksum(entry: dict) -> str:
    """The SHA-256 a cache entry carries: of its content, the checksum left out."""
    content = {k: v for k, v in entry.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _from_cache(path: str, build_id: str, size: int) -> NodeBinary | str:
    """The cached reading of this build; else why there is none ("" if there is no
    entry, a reason if there is one that fails its checks)."""
    entry_path = cache_path(build_id)
    try:
        with open(entry_path, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > 16 << 20:
                return "not a regular file of a plausible size"
            if info.st_uid != os.getuid() or info.st_mode & 0o022:
                return "owned or writable by another user"
            saved = json.loads(f.read())
    except FileNotFoundError:
        return ""
    except (OSError, ValueError) as exc:
        return f"unreadable: {exc}"
    if not isinstance(saved, dict) or saved.get("format") != CACHE_FORMAT:
        return "another format"
    if saved.get("sha256") != checksum(saved):
        return "its checksum does not match"
    if saved.get("build_id") != build_id or saved.get("binary_size") != size:
        return "it describes another file"
    node_version, v8, constants = (saved.get(k) for k in ("node_version", "v8_version",
                                                           "constants"))
    if node_version is not None and not (isinstance(node_version, str)
                                         and NODE_VERSION.match(node_version)):
        return "implausible node version"
    if v8 is not None and not (isinstance(v8, list) and len(v8) == 4 and all(
            type(x) is int and 0 <= x < 1 << 16 for x in v8)):
        return "implausible V8 version"
    if not (isinstance(constants, dict) and 0 < len(constants) <= MAX_CONSTANTS and all(
            isinstance(k, str) and CONSTANT_NAME.match(k) and type(v) is int
            and -(1 << 63) <= v < 1 << 63 for k, v in constants.items())):
        return "implausible constants"
    return NodeBinary(path, build_id, node_version, tuple(v8) if v8 else None, constants)


def _to_cache(binary: NodeBinary, size: int) -> None:
    """Save the reading atomically (a temporary file, then a rename), readable by this user
    only; a cache that cannot be written is simply not used."""
    target = cache_path(binary.build_id or "")
    saved = {"format": CACHE_FORMAT, "build_id": binary.build_id, "binary_size": size,
             "node_version": binary.node_version,
             "v8_version": list(binary.v8_version) if binary.v8_version else None,
             "constants": binary.constants}
    saved["sha256"] = checksum(saved)
    temporary = None
    try:
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".tmp")
        with os.fdopen(fd, "w") as f:  # mkstemp makes it 0600
            json.dump(saved, f)
        os.replace(temporary, target)
    except OSError:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)


def _read(path: str, f, build_id: Optional[str]) -> NodeBinary:
    """Everything but the build-id, from the binary's sections (pyelftools' errors on a
    damaged file raised as ValueError)."""
    from elftools.common.exceptions import ELFError
    from elftools.construct import ConstructError
    try:
        return _read_sections(path, f, build_id)
    except (ELFError, ConstructError) as exc:
        raise ValueError(str(exc)) from None


def _read_sections(path: str, f, build_id: Optional[str]) -> NodeBinary:
    from elftools.elf.elffile import ELFFile
    elf = ELFFile(f)
    sections = list(elf.iter_sections())
    symtab = elf.get_section_by_name(".symtab")
    constants: dict[str, int] = {}
    versions: dict[str, int] = {}
    if symtab is not None:
        strtab = sections[symtab["sh_link"]]
        for name, value in _read_symbols(f, symtab, strtab, sections):
            if name.startswith(V8DBG_PREFIX):
                constants[name[len(V8DBG_PREFIX):].decode()] = value
            elif name in VERSION_SYMBOLS:
                versions[VERSION_SYMBOLS[name]] = value
    rodata = elf.get_section_by_name(".rodata")
    rodata_bytes = rodata.data() if rodata is not None else b""
    if len(versions) == 4:
        v8_version = (versions["major"], versions["minor"], versions["build"], versions["patch"])
    else:
        v8_version = _v8_version(rodata_bytes)
    return NodeBinary(path, build_id, _node_version(rodata_bytes), v8_version, constants)


def _read_symbols(f, symtab, strtab, sections):
    """Yield (name, value) of the wanted symbols, values read from their sections (.bss is 0)."""
    f.seek(symtab["sh_offset"])
    syms = np.frombuffer(f.read(symtab["sh_size"]), dtype=ELF64_SYM)
    f.seek(strtab["sh_offset"])
    names = f.read(strtab["sh_size"])
    wanted = set(_offsets_of(names, V8DBG_PREFIX))
    for mangled in VERSION_SYMBOLS:
        wanted.update(_offsets_of(names, mangled))
    mask = np.isin(syms["name"], np.fromiter(wanted, dtype=np.uint32, count=len(wanted)))
    for sym in syms[mask]:
        start = int(sym["name"])
        name = names[start : names.index(b"\0", start)]
        size = int(sym["size"]) or 4
        if size not in (1, 2, 4, 8) or sym["shndx"] >= len(sections):
            continue
        sec = sections[int(sym["shndx"])]
        if sec["sh_type"] == "SHT_NOBITS":
            yield name, 0
            continue
        f.seek(sec["sh_offset"] + int(sym["value"]) - sec["sh_addr"])
        raw = f.read(size)
        yield name, int.from_bytes(raw, "little", signed=True)


def _build_id(f, elf: ElfHeader, size: int) -> Optional[str]:
    """The GNU build-id in the file's note sections, found from the section headers alone
    (pyelftools' sections cost 0.1 s to make, where the cache needs only this)."""
    count, at = elf.shnum, elf.shoff
    if elf.shentsize != ELF64_SHDR.itemsize or at + count * ELF64_SHDR.itemsize > size:
        raise ValueError("section headers run past the end of the file")
    f.seek(at)
    headers = np.frombuffer(f.read(count * ELF64_SHDR.itemsize), dtype=ELF64_SHDR)
    for offset, length in headers[headers["type"] == SHT_NOTE][["offset", "size"]].tolist():
        if offset + length <= size and length <= MAX_NOTES:
            f.seek(offset)
            found = find_build_id(f.read(length))
            if found:
                return found
    return None


def _offsets_of(names: bytes, prefix: bytes):
    """String-table offsets of every name starting with `prefix`."""
    pos = names.find(prefix)
    while pos != -1:
        if pos == 0 or names[pos - 1] == 0:
            yield pos
        pos = names.find(prefix, pos + 1)


def _node_version(rodata: bytes) -> Optional[str]:
    found = NODE_VERSION_PATTERN.search(rodata)
    return found.group(1).decode() if found else None


def _v8_version(rodata: bytes) -> Optional[tuple[int, int, int, int]]:
    found = V8_VERSION_PATTERN.search(rodata)
    return tuple(int(g) for g in found.groups()) if found else None  # type: ignore[return-value]


def node_of_core(core: CoreFile, node: Optional[str], force: bool, warnings: Warnings,
                 check: Optional[Callable[[NodeBinary], object]] = None
                 ) -> tuple[NodeBinary, Optional[bool]]:
    """The node binary `core` ran: `node` if given, else the path the core records; and
    whether its GNU build-id matches the one mapped in the core (None: not verifiable).

    Raises BinaryError when there is no binary to read, BuildIdMismatch when it is not
    the one the core ran (unless `force`, which warns instead)."""
    recorded = core.executable_path()
    path = node or recorded
    if path is None:
        return _node_on_path(core, warnings, check)
    if node is None and not os.path.exists(path):
        raise BinaryError(f"the core ran {path}, which is not on this machine")
    binary = read_node_binary(path, warnings=warnings, check=check)
    core_id = core.build_id_of(recorded) if recorded else None
    if core_id is None or binary.build_id is None:
        warnings.add("cannot verify that the node binary matches the core (no build-id)")
        return binary, None
    if core_id == binary.build_id:
        return binary, True
    if not force:
        raise BuildIdMismatch(binary.path, binary.build_id, core_id)
    warnings.add(f"--force: {binary.path} does not match the core's build-id")
    return binary, False


def _node_on_path(core: CoreFile, warnings: Warnings,
                  check: Optional[Callable[[NodeBinary], object]]) -> tuple[NodeBinary, bool]:
    """For a core whose notes are lost (a truncated gcore core keeps them at its end): the
    `node` on PATH, if it is the build whose ELF header is in the core's memory."""
    unnamed = f"{core.path}: the core does not say which program it ran"
    core_id, on_path = core.executable_build_id(), shutil.which("node")
    if core_id is None or on_path is None:
        raise BinaryError(unnamed)
    binary = read_node_binary(on_path, warnings=warnings, check=check)
    if binary.build_id != core_id:
        raise BinaryError(f"{unnamed}, and {on_path} is another build")
    warnings.add(f"the core does not say which program it ran; {on_path} is the build "
                 "whose image is in the core's memory")
    return binary, True
