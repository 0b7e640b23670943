"""The test tree's layout: helpers shared by test modules live in tests/support, so that no
test module imports another (importing one runs its module body and ties the two together;
pytest may also collect the imported tests under a second name)."""

from __future__ import annotations

import ast
from pathlib import Path

from ..support.tiers import SLOW, tiers

TESTS = Path(__file__).resolve().parents[1]


def is_test_module(name: str) -> bool:
    """`name` is a dotted module path: its last part names a test module (test_*.py)."""
    return name.rsplit(".", 1)[-1].startswith("test_")


def imported_test_modules(path: Path) -> list[str]:
    """The test modules `path` imports, as written there (relative or absolute)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if is_test_module(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.module and is_test_module(node.module):
                found.append(module)
            # `from . import test_x` and `from ..server import test_x`
            prefix = module if module.endswith(".") else module + "."
            found += [prefix + alias.name for alias in node.names if is_test_module(alias.name)]
    return found


def test_the_checker_finds_every_spelling_of_a_test_module_import(tmp_path):
    module = tmp_path / "test_example.py"
    module.write_text(
        "import tests.server.test_jobs_api\n"
        "from .test_embedded import our_processes\n"
        "from ..integration.test_worker_progress_cancel import LONG_DREAM\n"
        "from . import test_routing\n"
        "from ..support.waiting import wait_until\n"
        "import pytest\n"
    )
    assert imported_test_modules(module) == [
        "tests.server.test_jobs_api",
        ".test_embedded",
        "..integration.test_worker_progress_cancel",
        ".test_routing",
    ]  # tests/support/waiting.py and pytest are not test modules


def test_no_test_module_imports_another():
    offenders = {
        str(path.relative_to(TESTS)): names
        for path in sorted(TESTS.rglob("*.py"))
        if "__pycache__" not in path.parts and (names := imported_test_modules(path))
    }
    assert not offenders, (
        f"these import test modules: {offenders}; move what they share into a module of "
        "tests/support (fixtures: a conftest.py)"
    )


def test_every_slow_entry_names_a_test_that_exists():
    """A renamed or moved test would silently leave the slow tier (tests/support/tiers.py)."""
    for entry in SLOW:
        module, _, name = entry.partition("::")
        path = TESTS / module
        assert path.is_file(), f"{entry}: no such test module"
        functions = {
            node.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        assert not name or name.split("[")[0] in functions, f"{entry}: no such test"


def test_tiers_by_directory_fixture_and_list():
    assert tiers(TESTS / "unit" / "test_jobs.py", "test_x", []) == ["unit"]
    assert tiers(TESTS / "ui" / "test_sidebar.py", "test_x", ["page", "browser"]) == [
        "browser",
        "slow",
    ]
    assert tiers(TESTS / "kernel" / "test_notebooks.py", "test_real_world", ["remote"]) == ["slow"]
    assert tiers(TESTS / "kernel" / "test_docs_code.py", "test_python_blocks[README.md]", []) == [
        "slow"
    ]
    assert tiers(TESTS / "kernel" / "test_docs_code.py", "test_python_blocks[docs/x.md]", []) == []
