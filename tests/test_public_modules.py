"""Every public module of the package says what it exports (``__all__``), and exports only
names it defines itself: ``from chainrule.callbacks import *`` brings History and friends, not
the helpers they import."""

import importlib
import inspect
import pkgutil

import pytest

import chainrule as cr

OPTIONAL = {"sklearn": "sklearn"}  # modules that need an optional package to import

PUBLIC = sorted(m.name for m in pkgutil.iter_modules(cr.__path__) if not m.name.startswith("_"))


def test_the_list_of_public_modules_is_complete():
    assert {"network", "callbacks", "activations", "losses", "serialization", "cli"} <= set(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_module_exports_only_its_own_names(name):
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
    module = importlib.import_module(f"chainrule.{name}")
    assert hasattr(module, "__all__"), f"chainrule.{name} has no __all__"
    exported = list(module.__all__)
    assert len(set(exported)) == len(exported), f"chainrule.{name}.__all__ repeats a name"
    for attr in exported:
        assert hasattr(module, attr), f"chainrule.{name}.__all__ lists {attr!r}, not defined"
        obj = getattr(module, attr)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == module.__name__, (
                f"chainrule.{name} exports {attr!r}, which is defined in {obj.__module__}"
            )
    star: dict = {}
    exec(f"from chainrule.{name} import *", star)
    assert set(star) - {"__builtins__"} == set(exported)


def test_top_level_all_is_the_api():
    for attr in cr.__all__:
        assert hasattr(cr, attr), attr


def test_import_leaves_the_optional_machinery_unloaded():
    """`import chainrule` stays light (benchmarks/RESULTS.md tracks its time and memory): the
    dashboard's server, the plotting and the optional integrations load when first used."""
    import subprocess
    import sys

    heavy = ["asyncio", "socket", "ssl", "tornado", "matplotlib", "torch", "onnx", "tensorboardX"]
    code = f"import sys, chainrule; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
