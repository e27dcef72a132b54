"""The package's version, in a module of its own: the model file and the ONNX export record it
and the command line prints it, and none of them may import the package's ``__init__``
(which sits above them all). ``chainrule.__version__`` re-exports it.

There is one version number, ``pyproject.toml``'s: scikit-build-core passes it to CMake, which
compiles it into the C++ core (``chainrule._core.__version__``), and this module reads it from
there. So the Python files and the core they run cannot disagree, it costs nothing at import
time (the core is loaded anyway; ``importlib.metadata`` would scan the installed
distributions), and it is right without installed metadata too (a build tree on
``PYTHONPATH``). tests/test_version.py checks that pyproject.toml, the core, this module and
the installed metadata agree."""

from ._core import __version__

__all__ = ["__version__"]
