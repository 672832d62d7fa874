"""Record V8's own names of the instance types the postmortem metadata leaves out.

The `v8dbg_type_*` symbols name about half of V8's instance types (TRANSITION_ARRAY_TYPE,
FEEDBACK_METADATA_TYPE, the handlers and hash tables are not among them). V8 itself lists
every one, number and name, when it runs with --trace-gc-object-stats; this asks the
official node binary of each supported version (fetched as the tests fetch them) and
writes the names its metadata lacks to src/v8scan/v8/instance_types.json, keyed by V8
version (major.minor). tests/test_naming_rules.py checks the file against each binary.

    python tools/record_instance_types.py [VERSION ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.nodes import (NODE_VERSIONS, instance_types_metadata_leaves_out,  # noqa: E402
                         node_binary)

TARGET = ROOT / "src" / "v8scan" / "v8" / "instance_types.json"


def main() -> None:
    versions = sys.argv[1:] or list(NODE_VERSIONS)
    recorded = json.loads(TARGET.read_text()) if TARGET.exists() else {}
    for version in versions:
        (major, minor), names = instance_types_metadata_leaves_out(node_binary(version))
        v8 = f"{major}.{minor}"
        recorded[v8] = {str(t): name for t, name in names.items()}
        print(f"Node {version} (V8 {v8}): {len(names)} instance types the metadata does not "
              "name")
    TARGET.write_text(json.dumps(dict(sorted(recorded.items())), indent=0, sort_keys=False)
                      + "\n")


if __name__ == "__main__":
    main()
