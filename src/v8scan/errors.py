"""The one exception root of v8scan, and the warnings it collects.

Every error a user can cause (a bad file, a missing binary, a mismatched build) is a
`V8ScanError` carrying a one-line message and, where it helps, a hint. The CLI turns these
into one line on stderr and exit code 2; nothing else in the library prints.
"""

from __future__ import annotations


class V8ScanError(Exception):
    """Root of every error v8scan raises on bad input."""

    hint: str = ""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint


class CoreFormatError(V8ScanError):
    """The file is not a usable x86-64 Linux ELF core dump."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


class BinaryError(V8ScanError):
    """The node executable cannot be found, read, or does not match the core."""

    hint = "pass --node PATH to name the node binary the core was taken from"


class BuildIdMismatch(BinaryError):
    """The node binary is not the one the core ran."""

    hint = "pass --node PATH with the exact binary the process ran, or --force to go on anyway"

    def __init__(self, binary: str, binary_id: str, core_id: str) -> None:
        super().__init__(
            f"{binary} has build-id {binary_id}, but the core ran build-id {core_id}"
        )
        self.binary_id = binary_id
        self.core_id = core_id


class LayoutError(V8ScanError):
    """The binary lacks V8 postmortem metadata v8scan needs."""

    def __init__(self, binary: str, missing: list[str]) -> None:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        super().__init__(f"{binary}: V8 postmortem metadata lacks {shown}")
        self.missing = missing


class NoV8HeapError(V8ScanError):
    """The core holds no recognisable V8 heap."""


class NotAnObject(V8ScanError):
    """The address given is not the start of a V8 heap object in the core."""

    hint = "addresses come from `v8scan instances` or `retainers` (0x..., tagged or not)"


class Warnings(list):
    """Non-fatal problems met while reading a dump, each said once."""

    def add(self, message: str) -> None:
        if message not in self:
            self.append(message)
