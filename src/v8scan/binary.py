"""The node executable: its build-id, versions and every `v8dbg_*` postmortem constant.

pyelftools locates the sections; the symbol table itself (hundreds of thousands of entries
in a 100 MB binary) is decoded in bulk with numpy, since walking it symbol by symbol in
Python takes seconds. What is read is cached per build-id in the user's cache directory,
so later runs on cores of the same build only read the build-id.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from .core import find_build_id
from .errors import BinaryError

V8DBG_PREFIX = b"v8dbg_"
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


CACHE_FORMAT = 1


def cache_dir() -> str:
    """Where v8scan caches what it read: $V8SCAN_CACHE_DIR, else $XDG_CACHE_HOME/v8scan,
    else ~/.cache/v8scan."""
    explicit = os.environ.get("V8SCAN_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "v8scan")


def read_node_binary(path: str, use_cache: bool = True) -> NodeBinary:
    """Read build-id, versions and `v8dbg_*` constants of the executable at `path`.

    With `use_cache`, a build read before is taken from the cache (keyed by build-id,
    which names the exact build) and a new one is added to it.
    Raises BinaryError when the file is missing or not a readable ELF executable.
    """
    if not os.path.isfile(path):
        raise BinaryError(f"node binary {path} does not exist")
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            if elf["e_type"] not in ("ET_EXEC", "ET_DYN"):
                raise BinaryError(f"{path} is not an executable (ELF type {elf['e_type']})")
            sections = list(elf.iter_sections())
            build_id = next(filter(None, (find_build_id(sec.data()) for sec in sections
                                          if sec["sh_type"] == "SHT_NOTE")), None)
            cached = _from_cache(path, build_id) if use_cache and build_id else None
            if cached is not None:
                return cached
            binary = _read(path, f, elf, sections, build_id)
    except (ELFError, struct.error, ValueError) as exc:
        raise BinaryError(f"{path} is not a readable ELF executable ({exc})") from None
    except OSError as exc:
        raise BinaryError(f"cannot read {path}: {exc.strerror or exc}") from None
    if use_cache and build_id:
        _to_cache(binary)
    return binary


def _cache_path(build_id: str) -> str:
    return os.path.join(cache_dir(), "binaries", f"{build_id}.json")


def _from_cache(path: str, build_id: str) -> Optional[NodeBinary]:
    """The cached reading of this build, or None (missing, unreadable or another format)."""
    try:
        with open(_cache_path(build_id)) as f:
            saved = json.load(f)
        if saved.get("format") != CACHE_FORMAT or saved.get("build_id") != build_id:
            return None
        v8 = saved["v8_version"]
        return NodeBinary(path, build_id, saved["node_version"], tuple(v8) if v8 else None,
                          {str(k): int(v) for k, v in saved["constants"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _to_cache(binary: NodeBinary) -> None:
    """Save the reading atomically; a cache that cannot be written is simply not used."""
    target = _cache_path(binary.build_id or "")
    saved = {"format": CACHE_FORMAT, "build_id": binary.build_id,
             "node_version": binary.node_version,
             "v8_version": list(binary.v8_version) if binary.v8_version else None,
             "constants": binary.constants}
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(saved, f)
        os.replace(temporary, target)
    except OSError:
        pass


def _read(path: str, f, elf: ELFFile, sections: list, build_id: Optional[str]) -> NodeBinary:
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
