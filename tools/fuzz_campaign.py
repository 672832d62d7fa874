"""The long fuzz campaign: random mutations of a real core, as long as asked.

Makes a kernel core of tests/scenarios/hostile.js (or takes --core with --node), then
loops: draw a mutation and a command (tests/fuzzing.py), run the command on the mutated
core, check the rule (`fuzzing.verdict`), undo the mutation. A failing input is saved in
--out (the mutated core and a JSON record of the mutation, the command and its stderr).
Prints a line per failure and, at the end, the runs per mutation kind, command and
outcome. Exit code 1 if anything failed.

    python tools/fuzz_campaign.py --minutes 60 --out /tmp/fuzz-failures [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import fuzzing  # noqa: E402
from tests.nodes import DEFAULT_VERSION, node_binary  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--out", default="fuzz-failures", help="where failing inputs go")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--core", help="a core to mutate (default: a new kernel core)")
    parser.add_argument("--node", help="the node binary --core ran")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="v8scan-fuzz-"))
    cache = workdir / "cache"
    os.environ["V8SCAN_CACHE_DIR"] = str(cache)
    try:
        node = args.node or node_binary(DEFAULT_VERSION)
        target = fuzzing.describe(args.core or fuzzing.make_core(node, workdir / "made"), node)
        scratch = fuzzing.Scratch(target, workdir)
        limit = 600 * 2**20 + 4 * target.size
        rng = random.Random(args.seed)
        tally: Counter = Counter()
        failures = 0
        slowest = 0.0
        peak = 0
        stop = time.monotonic() + 60 * args.minutes
        print(f"fuzzing {target.path} ({target.size:,} bytes), seed {args.seed}, "
              f"{args.minutes:g} min", flush=True)
        while time.monotonic() < stop:
            mutation = fuzzing.random_mutation(rng)
            command = rng.choice(fuzzing.COMMANDS)
            scratch.apply(mutation)
            try:
                outcome = fuzzing.run_v8scan(fuzzing.command_for(command, target, scratch.path),
                                             str(cache), limit)
                why = fuzzing.verdict(outcome, limit)
                if why is not None:
                    failures += 1
                    saved = fuzzing.save_failure(Path(args.out), target, mutation, outcome, why)
                    print(f"FAIL {why}: {mutation} {command[0]} -> {saved}", flush=True)
            finally:
                scratch.restore()
            slowest, peak = max(slowest, outcome.seconds), max(peak, outcome.max_rss)
            tally[(mutation.kind, command[0],
                   "fail" if why else f"exit {outcome.returncode}")] += 1
        runs = sum(tally.values())
        print(f"\n{runs:,} runs, {failures:,} failures; slowest run {slowest:.2f} s, "
              f"peak memory {peak / 2**20:.0f} MiB (limit {limit / 2**20:.0f} MiB)")
        for kind in sorted({k for k, _, _ in tally}):
            outcomes = Counter()
            for (k, _, result), n in tally.items():
                if k == kind:
                    outcomes[result] += n
            print(f"  {kind:<9} {sum(outcomes.values()):>7,} runs: " + ", ".join(
                f"{result} {n:,}" for result, n in sorted(outcomes.items())))
        by_command = Counter()
        for (_, command_name, _), n in tally.items():
            by_command[command_name] += n
        print("  by command: " + ", ".join(f"{c} {n:,}" for c, n in sorted(by_command.items())))
        return 1 if failures else 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
