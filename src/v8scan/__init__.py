"""v8scan: find memory leaks in Node.js from core dumps.

    >>> import v8scan
    >>> with v8scan.open_dump("core.1234") as dump:
    ...     for row in dump.histogram().sorted("count")[:10]:
    ...         print(row.count, row.kind, row.name)

`open_dump` opens a core with the node binary it ran; `Dump.histogram()` counts V8 heap
objects as a heap snapshot names them; `diff(before, after)` compares two histograms and
`growth_samples` picks new objects of its rows; `Dump.instances()` lists one row's
objects, `Dump.value()` reads one as a value tree, and `retainer_paths` (with
`targets_named`) says what holds them.
Names are imported on first use, so `import v8scan` (and `v8scan --help`) stay quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_HOMES = {
    "open_dump": "dump", "Dump": "dump", "DumpInfo": "results",
    "Histogram": "results", "Row": "results", "Diff": "results", "DiffRow": "results",
    "diff": "census", "V8ScanError": "errors", "Instance": "results", "Instances": "results",
    "growth_samples": "census",
    "retainer_paths": "retainers", "targets_named": "retainers", "RetainerPath": "results",
}
__all__ = [*_HOMES, "__version__"]

if TYPE_CHECKING:
    from .census import diff, growth_samples  # noqa: F401
    from .dump import Dump, open_dump  # noqa: F401
    from .errors import V8ScanError  # noqa: F401
    from .results import (  # noqa: F401
        Diff, DiffRow, DumpInfo, Histogram, Instance, Instances, RetainerPath, Row)
    from .retainers import retainer_paths, targets_named  # noqa: F401


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'v8scan' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
