"""Mutations of a real core, and the rule every run of v8scan on a mutated core must keep.

Shared by the fuzz test (tests/test_fuzz.py, Hypothesis, fixed seed) and the long campaign
(tools/fuzz_campaign.py, for as long as asked). The core is a kernel core of a small node
process (tests/scenarios/hostile.js), ~50 MB, so that hundreds of runs fit in minutes;
where the kernel writes no core file (a core_pattern that pipes to a daemon), gcore makes
one instead. Mutations are applied to one scratch copy and undone after each run.

The rule (`verdict`): exit 0 with output, or exit 2 with exactly one `v8scan: error:` line;
never a traceback, a signal, an internal error, a raw terminal escape, more time than
TIME_LIMIT or more memory than `memory_limit`.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

SCENARIO = Path(__file__).parent / "scenarios" / "hostile.js"
TIME_LIMIT = 60.0  # seconds per run; a run takes well under a second on the fuzz core
COMMANDS = (
    ("histogram", "{core}", "--top", "5"),
    ("histogram", "{core}", "--shapes"),
    ("histogram", "{core}", "--all", "--top", "5"),
    ("info", "{core}"),
    ("instances", "{core}", "Session", "--limit", "3"),
    ("retainers", "{core}", "Session", "--hops", "3"),
    ("inspect", "{core}", "{address}", "--depth", "4"),
    ("diff", "{original}", "{core}", "--top", "5"),
)
REGIONS = ("headers", "notes", "heap", "anywhere")
HOSTILE_TITLE = "up\x1b]0;pwned\x07"  # a terminal's window-title sequence


@dataclass
class FuzzCore:
    """A real core and where its parts are in the file."""

    path: str
    node: str
    size: int
    headers: tuple[int, int]               # (file offset, size): ELF header + program headers
    notes: list[tuple[int, int]]           # PT_NOTE segments
    heap: list[tuple[int, int]]            # object areas of V8 heap pages
    address: int                           # a live Session, for inspect
    cache_entry: str = ""                  # the node binary's metadata cache file

    def region(self, name: str) -> list[tuple[int, int]]:
        if name == "headers":
            return [self.headers]
        if name == "notes":
            return self.notes or [self.headers]
        if name == "heap":
            return self.heap
        return [(0, self.size)]


def make_core(node: str, workdir: Path, core_limit: Optional[int] = None) -> str:
    """A kernel core of the hostile scenario (gcore's if the kernel writes none here),
    cut by the kernel at `core_limit` bytes (RLIMIT_CORE, as `ulimit -c` sets it) if given."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MALLOC_ARENA_MAX="1")  # fewer, smaller malloc arenas
    limit = resource.RLIM_INFINITY if core_limit is None else core_limit

    def allow_core() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (limit, limit))
    # The title reaches the core's process name and arguments (NT_PRPSINFO).
    proc = subprocess.Popen([node, f"--title={HOSTILE_TITLE}", "--v8-pool-size=0",
                             str(SCENARIO)], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, text=True, preexec_fn=allow_core)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the hostile scenario did not start")
        if not pattern_writes_files():
            from v8scan.demo import take_core
            return take_core(shutil.which("gcore") or "gcore", proc.pid, str(workdir / "core"))
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for name in ("core", f"core.{proc.pid}"):
        if (workdir / name).is_file():
            from v8scan.demo import make_sparse
            make_sparse(str(workdir / name))
            return str(workdir / name)
    raise RuntimeError(f"the kernel wrote no core into {workdir}")


def pattern_writes_files() -> bool:
    try:
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    except OSError:
        return False
    return pattern in ("core", "core.%p")


def describe(path: str, node: str) -> FuzzCore:
    """Where the headers, notes and heap pages of the core at `path` are."""
    import numpy as np

    import v8scan
    from v8scan.core import ELF64_PHDR, PT_NOTE
    from v8scan.v8.binary import cache_path

    with v8scan.open_dump(path, node=node) as dump:
        memory = dump.core.memory
        phoff = int.from_bytes(_read(path, 32, 8), "little")
        phnum = int.from_bytes(_read(path, 56, 2), "little")
        headers = np.frombuffer(_read(path, phoff, phnum * ELF64_PHDR.itemsize), ELF64_PHDR)
        notes = [(int(h["offset"]), int(h["filesz"])) for h in headers if h["type"] == PT_NOTE]
        heap = []
        for page in dump.pages:
            seg = memory.segment_at(page.area_start)
            heap.append((seg.offset + page.area_start - seg.vaddr, page.area_end - page.area_start))
        sessions = dump.instances("Session")
        return FuzzCore(path, node, os.path.getsize(path), (0, phoff + len(headers) * 56),
                        notes, heap, sessions[len(sessions) // 2].address,
                        cache_path(dump.binary.build_id))


def _read(path: str, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


@dataclass
class Mutation:
    """One change to the core (or to the binary's metadata cache), as data: it can be
    printed, saved as JSON and applied again."""

    kind: str                     # truncate | flip | flood | cache
    region: str = "anywhere"
    at: float = 0.0               # where in the region, 0..1
    data: str = ""                # hex bytes XORed in (flip)
    fraction: float = 0.0         # share of the region's bytes flipped (flood)
    seed: int = 0
    constant: str = ""            # cache: which value to set ...
    value: object = None          # ... to what
    resign: bool = False          # ... and whether to fix the checksum, as an attacker would


def random_mutation(rng: random.Random) -> Mutation:
    """A mutation drawn from `rng`, for the long campaign."""
    kind = rng.choice(("truncate", "flip", "flip", "flood", "cache"))
    region = rng.choice(REGIONS)
    if kind == "truncate":
        return Mutation("truncate", region, rng.random())
    if kind == "flip":
        return Mutation("flip", region, rng.random(),
                        bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 65))).hex())
    if kind == "flood":
        return Mutation("flood", region, fraction=rng.choice((1e-4, 1e-3, 1e-2, 0.2)),
                        seed=rng.randrange(1 << 30))
    value = rng.choice((-1, 0, 7, 8, 1 << 12, 10 ** 12, -(10 ** 12), 2 ** 63 - 1, "x", None,
                        [1], 1.5))
    return Mutation("cache", constant=rng.choice(CACHE_TARGETS), value=value,
                    resign=rng.random() < 0.5)


CACHE_TARGETS = ("TaggedSize", "class_Map__instance_type__uint16_t", "class_JSObject__elements__Object",
                 "class_FixedArrayBase__length__Object", "kPageAlignment",
                 "type_JSFunction__JS_FUNCTION_TYPE", "FirstNonstringType", "prop_index_mask",
                 "class_HeapObject__map__Map", "(format)", "(build_id)", "(v8_version)",
                 "(constants)", "(garbage)")


class Scratch:
    """One copy of the core that mutations change and `restore` changes back."""

    def __init__(self, target: FuzzCore, workdir: Path) -> None:
        self.target = target
        self.path = str(workdir / "mutated.core")
        self._undo: list[tuple[int, bytes]] = []
        self._whole = False
        _copy(target.path, self.path)
        self._cache = Path(target.cache_entry).read_bytes() if target.cache_entry else b""

    def apply(self, mutation: Mutation) -> None:
        t = self.target
        if mutation.kind == "cache":
            _tamper_cache(t.cache_entry, mutation)
            return
        spans = t.region(mutation.region)
        total = sum(size for _, size in spans)
        if mutation.kind == "truncate":
            self._whole = True
            os.truncate(self.path, _position(spans, int(mutation.at * total)))
            return
        if mutation.kind == "flip":
            patch = bytes.fromhex(mutation.data)
            self._xor(_position(spans, int(mutation.at * total)), patch)
            return
        rng = random.Random(mutation.seed)
        for _ in range(min(int(total * mutation.fraction) + 1, 1 << 20)):
            self._xor(_position(spans, rng.randrange(total)), bytes([rng.randrange(1, 256)]))

    def _xor(self, offset: int, patch: bytes) -> None:
        patch = patch[: max(0, self.target.size - offset)]
        with open(self.path, "r+b") as f:
            f.seek(offset)
            old = f.read(len(patch))
            self._undo.append((offset, old))
            f.seek(offset)
            f.write(bytes(a ^ b for a, b in zip(old, patch)))

    def restore(self) -> None:
        if self._whole:
            _copy(self.target.path, self.path)
        else:
            with open(self.path, "r+b") as f:
                for offset, old in reversed(self._undo):
                    f.seek(offset)
                    f.write(old)
        self._undo, self._whole = [], False
        if self._cache:
            with open(self.target.cache_entry, "wb") as f:  # keeps the entry's 0600
                f.write(self._cache)


def _copy(source: str, target: str) -> None:
    subprocess.run(["cp", "--sparse=always", source, target], check=True)


def _position(spans: list[tuple[int, int]], index: int) -> int:
    """The file offset of byte `index` of the concatenated spans."""
    for offset, size in spans:
        if index < size:
            return offset + index
        index -= size
    return spans[-1][0] + spans[-1][1] - 1 if spans else 0


def _tamper_cache(entry: str, mutation: Mutation) -> None:
    """Change the cache entry the way damage or an attacker would."""
    from v8scan.v8.binary import checksum
    with open(entry) as f:
        saved = json.load(f)
    name = mutation.constant
    if name == "(garbage)":
        with open(entry, "w") as f:
            f.write('{"format": 2, "constants": {"TaggedSize": 8')
        return
    if name.startswith("("):
        saved[name.strip("()")] = mutation.value
    else:
        saved["constants"][name] = mutation.value
    if mutation.resign:
        saved["sha256"] = checksum(saved)
    with open(entry, "w") as f:
        json.dump(saved, f)


@dataclass
class Outcome:
    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss: int               # bytes
    timed_out: bool = False
    mutation: Optional[Mutation] = field(default=None)


def run_v8scan(args: list[str], cache_dir: str, memory_limit: int) -> Outcome:
    """`python -m v8scan ARGS` with an address-space cap well above `memory_limit`: its
    time, its own peak memory (from wait4) and its exit status."""
    env = dict(os.environ, V8SCAN_CACHE_DIR=cache_dir)

    def cap_memory() -> None:
        cap = 4 * memory_limit
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "v8scan", *args], stdout=out,
                                stderr=err, env=env, preexec_fn=cap_memory)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > TIME_LIMIT:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                timed_out = True
                break
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    return Outcome(args, proc.returncode, stdout.decode("utf-8", "replace"),
                   stderr.decode("utf-8", "replace"), time.monotonic() - start,
                   usage.ru_maxrss * 1024, timed_out)


def verdict(outcome: Outcome, memory_limit: int) -> Optional[str]:
    """What is wrong with a run, or None if it kept the rule."""
    if outcome.timed_out:
        return f"hang: no answer within {TIME_LIMIT:.0f} s"
    if outcome.returncode < 0:
        return f"killed by signal {-outcome.returncode}"
    if outcome.max_rss > memory_limit:
        return f"memory: {outcome.max_rss:,} bytes at peak"
    if "Traceback" in outcome.stderr:
        return "traceback"
    if "\x1b" in outcome.stdout + outcome.stderr:
        return "a raw terminal escape reached the output"
    if "internal error" in outcome.stderr:
        return "internal error: " + outcome.stderr.strip().splitlines()[-1]
    lines = [line for line in outcome.stderr.splitlines()
             if not line.startswith("v8scan: warning: ")]
    if outcome.returncode == 0:
        return None if outcome.stdout.strip() and not lines else "exit 0 without output, or stray stderr"
    if outcome.returncode == 2:
        return None if len(lines) == 1 and lines[0].startswith("v8scan: error: ") \
            else f"exit 2 with {len(lines)} lines of error"
    return f"exit code {outcome.returncode}"


def command_for(template: tuple[str, ...], target: FuzzCore, mutated: str) -> list[str]:
    values = {"core": mutated, "original": target.path, "address": f"{target.address:#x}"}
    return [part.format(**values) for part in template] + ["--node", target.node]


def save_failure(directory: Path, target: FuzzCore, mutation: Mutation, outcome: Outcome,
                 why: str) -> Path:
    """Keep a failing input: the mutated core (if it is one) and what was done to it."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"failure-{int(time.time() * 1000)}"
    record = {"why": why, "mutation": asdict(mutation), "command": outcome.command,
              "returncode": outcome.returncode, "stderr": outcome.stderr[-4000:],
              "original": target.path}
    Path(f"{stem}.json").write_text(json.dumps(record, indent=1))
    if mutation.kind != "cache":
        _copy(outcome.command[1] if outcome.command[0] != "diff" else outcome.command[2],
              f"{stem}.core")
    return Path(f"{stem}.json")
