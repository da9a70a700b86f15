"""``-m "not e2e"`` selects no end-to-end test and no notebook (the README's fast command)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def collected(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if "::" in line or line.endswith(".ipynb")]


def test_not_e2e_selects_no_end_to_end_test_and_no_notebook():
    fast = collected("-m", "not e2e")
    assert fast, "the fast selection is empty"
    assert not [n for n in fast if n.startswith("tests/e2e") or ".ipynb" in n]


def test_e2e_selects_every_end_to_end_test_and_notebook():
    slow = collected("-m", "e2e")
    files = {n.split("::")[0] for n in slow}
    assert {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests/e2e").glob("test_*.py")} <= files
    assert {p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("*.ipynb")} <= files
