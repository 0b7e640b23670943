"""Which modules travel by value: not installed ones, only while a payload is encoded."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid

import cloudpickle
import pytest

from jupyter_bumps_remote.shared import by_value


@pytest.fixture
def make_module(tmp_path, monkeypatch):
    """Import a fresh module from `folder` (under tmp_path), optionally with a .dist-info
    beside it as pip leaves one."""

    def make(folder: str = "notebooks", *, installed: bool = False, package: bool = False):
        name = f"jbr_bv_{uuid.uuid4().hex[:10]}"
        root = tmp_path / folder
        target = root / name / "__init__.py" if package else root / f"{name}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent("def f(x):\n    return 2 * x\n"))
        if installed:
            info = root / f"{name}-1.0.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        monkeypatch.syspath_prepend(str(root))
        importlib.invalidate_caches()
        module = importlib.import_module(name)
        monkeypatch.setitem(sys.modules, name, module)
        return module

    return make


def test_a_plain_module_travels_by_value(make_module):
    module = make_module()
    assert module.__name__ in by_value.modules_to_send_by_value()


def test_a_plain_package_travels_by_value(make_module):
    module = make_module(package=True)
    assert module.__name__ in by_value.modules_to_send_by_value()


def test_a_module_in_a_folder_of_installed_distributions_travels_by_reference(make_module):
    module = make_module("target", installed=True)
    assert module.__name__ not in by_value.modules_to_send_by_value()


@pytest.mark.parametrize("name", ["json", "sys", "numpy", "bumps", "cloudpickle"])
def test_standard_library_and_site_packages_are_installed(name):
    importlib.import_module(name)
    assert name not in by_value.modules_to_send_by_value()


def test_this_package_always_travels_by_reference():
    # installed editable here (its code outside site-packages): workers always have it
    assert "jupyter_bumps_remote" not in by_value.modules_to_send_by_value()


def test_editable_installs_count_as_installed():
    # `pip install -e .` of this package (hatchling: a .pth adding the source folder)
    assert "jupyter_bumps_remote" in by_value.editable_top_levels()


def test_modules_made_in_memory_are_left_to_cloudpickle():
    import types

    module = types.ModuleType("jbr_in_memory")
    assert by_value.modules_to_send_by_value({"jbr_in_memory": module}) == []


def test_registered_only_while_encoding(make_module):
    module = make_module()
    before = set(cloudpickle.list_registry_pickle_by_value())
    with by_value.sending_local_modules_by_value() as registered:
        assert module.__name__ in registered
        assert module.__name__ in cloudpickle.list_registry_pickle_by_value()
        assert b"_make_function" in cloudpickle.dumps(module.f)
    assert set(cloudpickle.list_registry_pickle_by_value()) == before
    assert b"_make_function" not in cloudpickle.dumps(module.f)


def test_a_module_the_user_registered_stays_registered(make_module):
    module = make_module()
    cloudpickle.register_pickle_by_value(module)
    try:
        with by_value.sending_local_modules_by_value():
            pass
        assert module.__name__ in cloudpickle.list_registry_pickle_by_value()
    finally:
        cloudpickle.unregister_pickle_by_value(module)


def test_a_folder_added_to_the_path_is_looked_at_again(make_module):
    first = make_module("one")
    assert first.__name__ in by_value.modules_to_send_by_value()
    second = make_module("two", installed=True)  # sys.path changed: looked up anew
    found = by_value.modules_to_send_by_value()
    assert first.__name__ in found and second.__name__ not in found
