"""Chrome DevTools, the other judge of an exported snapshot: summary.js loads a
.heapsnapshot into the Memory tab of a real headless Chromium (Debian's `chromium`, which
.ci/run installs) and reports its Summary view."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ..nodes import NODE_VERSIONS, node_binary

HERE = Path(__file__).parent
DRIVER_NODE = NODE_VERSIONS[-1]  # a node with a WebSocket client (22 or later)


def chromium() -> str:
    """The Chromium binary: $V8SCAN_CHROMIUM, else the first on PATH."""
    for candidate in (os.environ.get("V8SCAN_CHROMIUM"), "chromium", "chromium-browser",
                      "google-chrome"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    raise RuntimeError("Chromium is needed to judge exports in DevTools "
                       "(apt-get install chromium)")


def devtools_summary(snapshot: str) -> dict:
    """What DevTools' Memory tab shows of `snapshot` (summary.js): {"nodeCount",
    "totalSize", "statistics", "rows": [{"name", "count", "self", "retained"}]}, the
    rows as its Summary view lists them (one per class)."""
    done = subprocess.run([node_binary(DRIVER_NODE), str(HERE / "summary.js"), chromium(),
                           snapshot], capture_output=True, text=True, check=False,
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"DevTools could not load {snapshot}: {done.stderr[-1000:]}")
    return json.loads(done.stdout)
