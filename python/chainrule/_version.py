"""The package's version, in a module of its own: the model file and the ONNX export record it
and the command line prints it, and none of them may import the package's ``__init__``
(which sits above them all). ``chainrule.__version__`` re-exports it."""

__version__ = "0.1.0"
