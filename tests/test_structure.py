"""Structure rules the codebase keeps (the import boundaries are import-linter's
contracts in ``pyproject.toml``, run by ``.ci/run``)."""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tunehouse"
MAX_MODULE_LINES = 600


def test_no_module_passes_600_lines() -> None:
    sizes = {path.relative_to(PACKAGE.parent).as_posix(): len(path.read_text().splitlines())
             for path in PACKAGE.rglob("*.py")}
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines (split them): {too_long}"


_GRAPH = grimp.build_graph("tunehouse", exclude_type_checking_imports=True, cache_dir=None)
_PACKAGES = sorted(module for module in _GRAPH.modules if _GRAPH.find_children(module))


@pytest.mark.parametrize("package", _PACKAGES)
def test_no_import_cycle_inside_a_package(package: str) -> None:
    """Among the modules (and sub-packages) of one package the imports run one way: a
    module that needs something of a module importing it asks a lower one (the SDK's
    current task comes from ``sdk/state.py``, not from ``sdk/task.py``). Imports made only
    for type checking do not count; function-level imports do."""
    breakers = _GRAPH.nominate_cycle_breakers(package)
    assert not breakers, f"import cycles in {package}; imports that would break them: " \
                         f"{sorted(breakers)}"


@pytest.fixture(scope="module")
def _shared_by_the_module() -> str:
    return "made once per worker for the tests of this module"


def test_tests_sharing_a_module_fixture_are_one_xdist_group(
        request: pytest.FixtureRequest, _shared_by_the_module: str) -> None:
    """Under ``scripts/test.sh`` (pytest-xdist, ``--dist loadgroup``) a test using a
    module-scoped fixture carries its module as its group (``tests/conftest.py``), so the
    fixture is made on one worker; pytest 9.2 with xdist 3.8 silently lost the groups."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run by pytest-xdist with --dist loadgroup")
    assert request.node.nodeid.endswith("@tests/test_structure.py")
