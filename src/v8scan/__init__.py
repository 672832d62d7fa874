"""v8scan: find memory leaks in Node.js from core dumps.

    >>> import v8scan
    >>> with v8scan.open_dump("core.1234") as dump:
    ...     for row in dump.histogram().sorted("count")[:10]:
    ...         print(row.count, row.kind, row.name)

`open_dump` opens a core with the node binary it ran; `Dump.histogram()` counts V8 heap
objects as a heap snapshot names them; `diff(before, after)` compares two histograms.
"""

__version__ = "0.1.0"

from .census import Diff, DiffRow, Histogram, Row, diff  # noqa: E402
from .dump import Dump, DumpInfo, open_dump  # noqa: E402
from .errors import V8ScanError  # noqa: E402

__all__ = ["open_dump", "Dump", "DumpInfo", "Histogram", "Row", "Diff", "DiffRow", "diff",
           "V8ScanError", "__version__"]
