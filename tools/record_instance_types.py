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

from tests.nodes import NODE_VERSIONS, node_binary, v8_instance_types  # noqa: E402
from v8scan.v8.binary import read_node_binary  # noqa: E402
from v8scan.v8.facts import instance_type_names  # noqa: E402
from v8scan.v8.layout import build_layout  # noqa: E402

TARGET = ROOT / "src" / "v8scan" / "v8" / "instance_types.json"
def missing_names(node: str) -> tuple[str, dict[int, str]]:
    """(V8 major.minor, {type: V8's name} for the types the metadata does not name). The
    layout already holds the names recorded before: those are not the metadata's."""
    layout = build_layout(read_node_binary(node))
    recorded = instance_type_names(layout.v8_version)
    from_metadata = {t for t, n in layout.type_names.items() if recorded.get(t) != n}
    types = v8_instance_types(node)
    if not types:
        raise SystemExit(f"{node} printed no instance types")
    return (".".join(map(str, layout.v8_version[:2])),
            {t: name for t, name in sorted(types.items()) if t not in from_metadata})


def main() -> None:
    versions = sys.argv[1:] or list(NODE_VERSIONS)
    recorded = json.loads(TARGET.read_text()) if TARGET.exists() else {}
    for version in versions:
        v8, names = missing_names(node_binary(version))
        recorded[v8] = {str(t): name for t, name in names.items()}
        print(f"Node {version} (V8 {v8}): {len(names)} instance types the metadata does not "
              "name")
    TARGET.write_text(json.dumps(dict(sorted(recorded.items())), indent=0, sort_keys=False)
                      + "\n")


if __name__ == "__main__":
    main()
