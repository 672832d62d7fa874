"""`v8scan demo`: run a small leaking Node.js service, take two cores, show what leaks.

Needs `node` and `gdb` (for gcore) on PATH. Cores go to a temporary directory that is
removed afterwards unless the caller keeps it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from importlib import resources
from typing import Callable

from ..errors import V8ScanError

SCRIPT = "leaky_service.js"


def require_tools() -> tuple[str, str]:
    """Paths of node and gcore, or a V8ScanError naming what is missing."""
    node, gcore = shutil.which("node"), shutil.which("gcore")
    missing = [name for name, path in (("node", node), ("gdb (gcore)", gcore)) if not path]
    if missing:
        raise V8ScanError(f"the demo needs {' and '.join(missing)} on PATH",
                          hint="install them (e.g. apt-get install nodejs gdb) and try again")
    return node, gcore  # type: ignore[return-value]


def take_core(gcore: str, pid: int, prefix: str, sparse: bool = True) -> str:
    """Dump process `pid` with gcore to `prefix.PID`; return the core's path. gcore
    writes V8's reserved, never-touched address ranges out as zeros (most of a node
    core); unless `sparse` is False they are made holes of a sparse file, where
    util-linux's fallocate can."""
    done = subprocess.run([gcore, "-o", prefix, str(pid)], capture_output=True, text=True)
    path = f"{prefix}.{pid}"
    if done.returncode != 0 or not os.path.exists(path):
        raise V8ScanError(f"gcore could not dump process {pid}: {done.stderr.strip()[-300:]}",
                          hint="gcore needs ptrace rights (root, or kernel.yama.ptrace_scope=0)")
    if sparse:
        make_sparse(path)
    return path


def make_sparse(path: str) -> None:
    """Give back the disk blocks of `path` that hold only zeros (its bytes stay the same),
    if fallocate is there and the file system can."""
    fallocate = shutil.which("fallocate")
    if fallocate:
        subprocess.run([fallocate, "--dig-holes", path], capture_output=True)


def run_demo(workdir: str, interval: float, say: Callable[[str], None]) -> tuple[str, str]:
    """Start the leaky service, take two cores `interval` seconds apart, return their paths."""
    node, gcore = require_tools()
    script = resources.files(__name__).joinpath(SCRIPT)
    with resources.as_file(script) as script_path:
        proc = subprocess.Popen([node, str(script_path)], stdout=subprocess.PIPE, text=True)
        try:
            ready = proc.stdout.readline() if proc.stdout else ""
            if not ready.startswith("ready"):
                raise V8ScanError("the demo service did not start")
            say(f"started the leaky service (pid {proc.pid}): it caches every row it fetches")
            time.sleep(1.0)
            first = take_core(gcore, proc.pid, os.path.join(workdir, "core.before"))
            say(f"took core 1: {first}")
            time.sleep(interval)
            second = take_core(gcore, proc.pid, os.path.join(workdir, "core.after"))
            say(f"took core 2: {second} ({interval:g} s later)")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    return first, second
