"""The accuracy table of retained sizes: v8scan's against memlab's, from V8's own heap
snapshot of the same process state, for each Node version (what tests/test_retained.py
checks, with the figures printed).

For each version, makes the census scenario's core (tests/scenarios/census.js, taken right
after v8.writeHeapSnapshot()), then prints one Markdown row:
  - the retained bytes of the scenario's class rows, v8scan / memlab;
  - how many objects retain a megabyte or more in each, and the worst difference between
    them, one by one in order;
  - the live heap (the root's retained size).
The cores are deleted as it goes.

    python tools/retained_accuracy.py [VERSION ...]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import v8scan  # noqa: E402
from tests.conftest import make_census_cores  # noqa: E402
from tests.memlab import memlab_retained  # noqa: E402
from tests.nodes import NODE_VERSIONS  # noqa: E402
from v8scan.retainers import top_dominators  # noqa: E402

CLASSES = ("Visit", "Survivor", "Album", "Track")
HOLDER_BYTES = 1 << 20


def percent(got: int, want: int) -> str:
    return f"{100 * (got - want) / want:+.2f}%"


def row(version: str, workdir: Path) -> str:
    cores = make_census_cores(workdir / version, version, grow=False)
    with v8scan.open_dump(cores.before) as dump:
        ours = {(r.kind, r.name): r.retained for r in dump.histogram(retained=True).rows}
        big = [d.retained for d in top_dominators(dump, 12, hops=2)
               if d.retained >= HOLDER_BYTES]
        live = int(dump.dominators().retained[-1])
    memlab = memlab_retained(cores.snapshot_path)
    theirs = {(r["type"], r["name"]): r["retained"] for r in memlab["rows"]}
    holders = [size for size, kind, _, _ in memlab["top"]
               if kind != "synthetic" and size >= HOLDER_BYTES]
    worst = max((abs(a - b) / b for a, b in zip(big, holders)), default=0.0)
    root = memlab["top"][0][0]  # the synthetic root retains the most
    cells = [f"{name} {ours[('object', name)]:,} / {theirs[('object', name)]:,} "
             f"({percent(ours[('object', name)], theirs[('object', name)])})"
             for name in CLASSES]
    return (f"| {version} | " + " | ".join(cells) + f" | {len(big)} / {len(holders)}, worst "
            f"{100 * worst:.2f}% | {live:,} / {root:,} ({percent(live, root)}) |")


def main() -> None:
    versions = sys.argv[1:] or NODE_VERSIONS
    workdir = Path(tempfile.mkdtemp(prefix="v8scan-retained-"))
    try:
        print("| Node | " + " | ".join(f"{name} row" for name in CLASSES)
              + " | holders of 1 MB+ | live heap |")
        print("|---" * (len(CLASSES) + 3) + "|")
        for version in versions:
            print(row(version, workdir), flush=True)
            shutil.rmtree(workdir / version, ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
