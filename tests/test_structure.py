"""Structure rules the codebase keeps (the import boundaries are import-linter's
contracts in ``pyproject.toml``, run by ``.ci/run``)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tunehouse"
MAX_MODULE_LINES = 600


def test_no_module_passes_600_lines() -> None:
    sizes = {path.relative_to(PACKAGE.parent).as_posix(): len(path.read_text().splitlines())
             for path in PACKAGE.rglob("*.py")}
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines (split them): {too_long}"
