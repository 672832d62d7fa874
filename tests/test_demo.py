"""`v8scan demo`, the README's first command, end to end on the machine's own node."""

from __future__ import annotations

import re

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.slow  # runs node and gcore


def test_demo_finds_the_leak_a_new_object_and_its_holder():
    result = run_cli("demo", "--seconds", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    grew = re.search(r"The leak: RowDataPacket grew by \+([\d,]+) objects", out)
    assert grew and int(grew.group(1).replace(",", "")) > 0
    assert re.search(r"^RowDataPacket \{\n  id: \d+,", out, re.M)  # the inspected sample
    assert re.search(r"held by rowCache in the context of .*leaky_service\.js", out)
