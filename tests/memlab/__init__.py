"""memlab (npm `@memlab/heap-analysis`, `@memlab/api`), the judge of v8scan's retained sizes
and exports: it computes the dominator tree and retained sizes of a .heapsnapshot as
DevTools does, and finds leaks between snapshots by their objects' ids. Installed once,
at the version package.json pins, into the cache beside the node binaries (tests/nodes.py),
without the browser its puppeteer dependency would otherwise download.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..nodes import DEFAULT_VERSION, cache_dir, node_binary

HERE = Path(__file__).parent
PINNED = json.loads((HERE / "package.json").read_text())["dependencies"]


def memlab_modules() -> Path:
    """The node_modules directory holding the pinned memlab, installed if needed (a cache
    directory per set of pins)."""
    pins = "-".join(f"{name.split('/')[-1]}{version}" for name, version in sorted(PINNED.items()))
    target = cache_dir().parent / f"memlab-{pins}"
    if all((target / "node_modules" / name).is_dir() for name in PINNED):
        return target / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install memlab")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".memlab-"))
    try:
        shutil.copy(HERE / "package.json", tmp)
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
             "--cache", str(tmp / ".npm")], cwd=tmp, capture_output=True, text=True,
            env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"})
        if done.returncode != 0:
            raise RuntimeError(f"npm install of memlab failed: {done.stderr[-500:]}")
        shutil.rmtree(tmp / ".npm", ignore_errors=True)
        os.rename(tmp, target)  # atomic: a half-installed memlab is never cached
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target / "node_modules"


def memlab_retained(snapshot: str) -> dict:
    """What memlab computes of `snapshot` (retained.js): {"rows": [{"type", "name",
    "count", "self", "retained"}], "top": [[retained, type, name, self size]]}."""
    return _run("retained.js", snapshot)


def memlab_leaks(baseline: str, target: str, final: str) -> list[list[dict]]:
    """The leak traces memlab's own leak finder reports from three snapshots (leaks.js):
    per trace, its steps from the root, each {"edge", "edgeType", "name", "type",
    "leaked"}."""
    return _run("leaks.js", baseline, target, final)["leaks"]


def _run(script: str, *snapshots: str) -> dict:
    modules = memlab_modules()
    with tempfile.TemporaryDirectory(prefix="v8scan-memlab-") as scratch:
        # memlab keeps its working files in os.tmpdir()/memlab: they go with `scratch`
        done = subprocess.run([node_binary(DEFAULT_VERSION), str(HERE / script), *snapshots],
                              capture_output=True, text=True, check=False,
                              env={**os.environ, "NODE_PATH": str(modules), "TMPDIR": scratch,
                                   "MEMLAB_WORK": scratch})
    if done.returncode != 0:
        raise RuntimeError(f"memlab failed on {snapshots}: {done.stderr[-1000:]}")
    return json.loads(done.stdout)
