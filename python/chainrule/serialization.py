"""Saving and loading networks: one documented, versioned format that never runs code.

A model file is a ``.npz`` archive (a zip of ``.npy`` arrays) holding

* ``header.npy``: a uint8 array of UTF-8 JSON (below);
* one ``<name>.npy`` per parameter, named as ``net.parameters`` names them (``W1.npy``,
  ``b1.npy``, ..., ``WL.npy``, ``bL.npy``: ``W`` (n_in, n_out) and ``b`` (n_out,);
  ``gamma2.npy``, ``beta2.npy`` of a normalisation layer), and one per buffer, named as
  ``net.buffers`` names them (``running_mean2.npy``, ``running_var2.npy``), in the network's
  dtype;
* ``state.<name>.npy``: further arrays of the training state (the optimizer's buffers,
  ``state.opt.<buffer>.<parameter>``), each listed in the header with its shape.

The JSON header::

    {"format": "chainrule.network", "version": 3, "chainrule_version": "0.1.0",
     "dtype": "float64", "layer_sizes": [2, 10, 10, 1],
     "layers": [{"kind": "dense", "params": {"units": 10, "l1": 0.0, "l2": 0.0},
                 "activation": {"name": "leaky_relu", "params": {"alpha": 0.01},
                                "custom": false}},
                {"kind": "dropout", "params": {"p": 0.2}}, ...],
       (a network of dense layers without penalties is written as version 2, with
       "activations": [{"name": "leaky_relu", ...}, ...] in place of "layers")
     "loss": {"name": "mse", "params": {}, "custom": false},
     "state": {...training state: optimizer settings, counters, history, RNG...},
     "state_arrays": {"<name>": [shape...], ...},
     "metadata": {...anything JSON the caller attached, e.g. label names...},
     "feature_names": ["age", "income", ...]}   (only for a network fitted on a DataFrame)

Loading uses only ``json`` and NumPy's ``.npy`` header parser with ``allow_pickle=False``:
no pickle, no code. Every array's dtype and shape must equal what the architecture in the
header implies, the archive's members are checked against their sizes before anything is
allocated, and a network claiming more than ``MAX_PARAMETERS`` parameters is rejected. Custom
Python activations and losses are stored by name with their ``get_params()`` (JSON numbers,
strings, booleans, None and lists) and rebuilt on load as ``cls(**params)`` from the registry
filled by :func:`register_activation` / :func:`register_loss`.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from typing import Any, Dict, Optional, Tuple, Type, Union

import numpy as np

from ._version import __version__
from .activations import Activation, is_builtin as is_builtin_activation, resolve_activation
from .losses import Loss, is_builtin as is_builtin_loss, resolve_loss
from .network import Network
from .layers import Dense, Layer, layer_class as LAYERS_BY_KIND
from .parameters import parameter_layout

__all__ = ["save", "load", "register_activation", "register_loss", "FORMAT", "VERSION",
           "MAX_PARAMETERS"]

FORMAT = "chainrule.network"
#: 3: the architecture is a list of layers (kind, parameters, activation), with buffers
#: (running statistics) beside the parameters; versions 1 and 2 (dense layers from
#: ``layer_sizes`` and ``activations``) load as before. A network of dense layers without
#: penalties is still written as version 2, which older releases read.
#: 2: the optimizer's state arrays are named by parameter (``state.opt.exp_avg.W1``); version 1
#: files (``state.opt.exp_avg.0``, by slot) load as before.
VERSION = 3
#: Networks larger than this (about 16 GB of float64) are refused on load.
MAX_PARAMETERS = 2_000_000_000
_MAX_HEADER_BYTES = 64 << 20
_DEFLATE_MAX_RATIO = 1100  # deflate cannot expand data more than ~1032x

PathLike = Union[str, "os.PathLike[str]"]

_ACTIVATIONS: Dict[str, Type[Activation]] = {}
_LOSSES: Dict[str, Type[Loss]] = {}


def _registered_name(obj: Any) -> str:
    return getattr(obj, "name", "") or type(obj).__name__.lower()


def _register(registry: Dict[str, Any], cls: Any, base: type, name: Optional[str],
              what: str) -> Any:
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"register_{what} takes a {base.__name__} subclass, got {cls!r}")
    key = name or cls.name or cls.__name__.lower()
    if not isinstance(key, str) or not key:
        raise ValueError(f"invalid {what} name {key!r}")
    registry[key] = cls
    return cls


def register_activation(cls: Type[Activation], name: Optional[str] = None) -> Type[Activation]:
    """Registers a custom :class:`~chainrule.Activation` subclass so saved networks using it can
    be loaded: it is found by ``name`` (default: its ``name`` attribute, else the class name in
    lower case) and built as ``cls(**params)`` from its saved ``get_params()``. Usable as a
    decorator."""
    return _register(_ACTIVATIONS, cls, Activation, name, "activation")  # type: ignore[no-any-return]


def register_loss(cls: Type[Loss], name: Optional[str] = None) -> Type[Loss]:
    """Registers a custom :class:`~chainrule.Loss` subclass so saved networks using it can be
    loaded: found by ``name`` like :func:`register_activation` and built as ``cls(**params)``
    from its saved ``get_params()`` (files without parameters: ``cls()``)."""
    return _register(_LOSSES, cls, Loss, name, "loss")  # type: ignore[no-any-return]


# ---- writing ---------------------------------------------------------------------------------

def _json_value(value: Any) -> Any:
    """A parameter value as JSON: numbers (NumPy scalars too), strings, booleans, None and
    lists or tuples of them (tuples come back as lists); anything else raises TypeError."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not np.isfinite(value):
            raise TypeError(f"{value!r} is not finite")
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    raise TypeError(f"{value!r} is a {type(value).__name__}")


def _params_entry(obj: Any, what: str) -> Dict[str, Any]:
    """``obj.get_params()`` as JSON, or a ValueError saying which parameter cannot be stored."""
    try:
        params = obj.get_params()
    except TypeError as exc:
        raise ValueError(f"save: {what} {type(obj).__name__}: {exc}") from None
    out = {}
    for k, v in params.items():
        try:
            out[str(k)] = _json_value(v)
        except TypeError as exc:
            raise ValueError(f"save: {what} {type(obj).__name__}: parameter {k!r} cannot be "
                             f"stored in a model file ({exc}; numbers, strings, booleans, None "
                             "and lists of them can)") from None
    return out


def _activation_entry(act: Activation, layer: int) -> Dict[str, Any]:
    custom = not is_builtin_activation(act)
    return {"name": _registered_name(act) if custom else act.name,
            "params": _params_entry(act, f"layer {layer}: the activation"), "custom": custom}


def _layer_entry(config: Layer, layer: int) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"kind": config.kind,
                             "params": {k: _json_value(v) for k, v in config.get_params().items()
                                        if k != "activation"}}
    act = getattr(config, "activation", None)
    if act is not None:
        entry["activation"] = _activation_entry(act, layer)
    return entry


def _loss_entry(loss: Loss) -> Dict[str, Any]:
    custom = not is_builtin_loss(loss)
    return {"name": _registered_name(loss) if custom else loss.name,
            "params": _params_entry(loss, "the loss"), "custom": custom}


def to_bytes(net: Network, metadata: Optional[Dict[str, Any]] = None) -> bytes:
    """The model file's bytes (what :func:`save` writes)."""
    state, state_arrays = net.get_training_state()
    header: Dict[str, Any] = {
        "format": FORMAT, "version": VERSION,
        "chainrule_version": __version__,
        "dtype": net.dtype.name, "layer_sizes": list(net.layer_sizes)}
    if all(isinstance(c, Dense) and not c.l1 and not c.l2 for c in net.layer_configs):
        # dense layers only: the version 2 layout, which chainrule 0.1 reads too
        header["version"] = 2
        header["activations"] = [_activation_entry(a, l + 1)
                                 for l, a in enumerate(net.activations)]
    else:
        header["layers"] = [_layer_entry(c, l + 1) for l, c in enumerate(net.layer_configs)]
    header.update({
        "loss": _loss_entry(net.loss_function),
        "state": state,
        "state_arrays": {k: list(v.shape) for k, v in state_arrays.items()},
        "metadata": metadata or {},
    })
    if net.feature_names_in_ is not None:
        header["feature_names"] = [str(n) for n in net.feature_names_in_]
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"save: the metadata must be JSON (finite numbers, strings, lists, "
                         f"dicts): {exc}") from None
    arrays: Dict[str, np.ndarray] = {"header": np.frombuffer(text.encode(), dtype=np.uint8)}
    for tensors in (net.parameters, net.buffers):
        for name, value in tensors.items():
            arrays[name] = np.array(value)
    for k, v in state_arrays.items():
        arrays[f"state.{k}"] = np.ascontiguousarray(v)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def save(net: Network, path: PathLike, metadata: Optional[Dict[str, Any]] = None) -> None:
    """Writes ``net`` to ``path`` (conventionally ``.npz``), atomically: a failed save leaves
    any previous file in place."""
    data = to_bytes(net, metadata)
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ---- reading ---------------------------------------------------------------------------------

class _Reader:
    """Checked access to the members of a model archive."""

    def __init__(self, source: Union[PathLike, bytes], what: str) -> None:
        self.what = what
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes)
                                      else os.fspath(source))
        except FileNotFoundError:
            raise
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
                RuntimeError) as exc:
            raise ValueError(f"{what} is not a chainrule model file (not a valid .npz "
                             f"archive: {exc})") from None
        self.members = {i.filename: i for i in self.zf.infolist()}

    def fail(self, message: str) -> ValueError:
        return ValueError(f"{self.what}: {message}")

    def array(self, name: str, dtype: np.dtype, shape: Tuple[int, ...],
              max_count: Optional[int] = None) -> np.ndarray:
        """Member ``name``.npy, which must hold exactly dtype and shape (shape -1 entries take
        any size up to max_count elements)."""
        info = self.members.get(f"{name}.npy")
        if info is None:
            raise self.fail(f"the array '{name}' is missing")
        limit = (max_count if max_count is not None else int(np.prod(shape))) * dtype.itemsize
        if info.file_size > limit + 65536:
            raise self.fail(f"the array '{name}' takes {info.file_size} bytes, more than "
                            f"its shape allows")
        if info.compress_type != zipfile.ZIP_STORED and \
                info.file_size > _DEFLATE_MAX_RATIO * max(info.compress_size, 1) + 65536:
            raise self.fail(f"the array '{name}' claims an impossible compression ratio")
        try:
            with self.zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(f)
                elif version in ((2, 0), (3, 0)):
                    got_shape, fortran, got_dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise self.fail(f"the array '{name}' has an unknown .npy version {version}")
                if got_dtype != dtype or fortran:
                    raise self.fail(f"the array '{name}' has dtype {got_dtype}"
                                    f"{' (Fortran order)' if fortran else ''}, expected {dtype}")
                want = tuple(g if s == -1 else s for s, g in zip(shape, got_shape))
                if len(got_shape) != len(shape) or tuple(got_shape) != want:
                    raise self.fail(f"the array '{name}' has shape {tuple(got_shape)}, "
                                    f"expected {tuple('any' if s == -1 else s for s in shape)}")
                count = int(np.prod(got_shape))
                if max_count is not None and count > max_count:
                    raise self.fail(f"the array '{name}' has {count} elements, more than "
                                    f"{max_count}")
                data = f.read(count * dtype.itemsize)
                if len(data) != count * dtype.itemsize:
                    raise self.fail(f"the array '{name}' is truncated")
                if f.read(1):
                    raise self.fail(f"the array '{name}' has trailing data")
        except ValueError as exc:
            if str(exc).startswith(self.what):
                raise
            raise self.fail(f"the array '{name}' is corrupted ({exc})") from None
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError,
                RuntimeError) as exc:  # a damaged archive (CRC, compression method, ...)
            raise self.fail(f"the array '{name}' is corrupted ({exc})") from None
        return np.frombuffer(data, dtype=dtype).reshape(got_shape).copy()


def _expect(cond: bool, reader: _Reader, message: str) -> None:
    if not cond:
        raise reader.fail(message)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _valid_params(params: Any, numbers_only: bool) -> bool:
    """A dict of parameters by name: numbers for the built-ins; JSON scalars and lists of them
    for user classes (what :func:`_json_value` writes)."""
    def ok(v: Any, depth: int = 0) -> bool:
        if isinstance(v, bool):
            return not numbers_only
        if isinstance(v, (int, float)):
            return True
        if numbers_only:
            return False
        if v is None or isinstance(v, str):
            return True
        return isinstance(v, list) and depth < 8 and all(ok(x, depth + 1) for x in v)
    return isinstance(params, dict) and all(isinstance(k, str) and ok(v) for k, v in params.items())


def _parse_header(reader: _Reader) -> Dict[str, Any]:
    raw = reader.array("header", np.dtype(np.uint8), (-1,), max_count=_MAX_HEADER_BYTES)
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise reader.fail(f"the header is not valid JSON ({exc})") from None
    _expect(isinstance(header, dict), reader, "the header is not a JSON object")
    _expect(header.get("format") == FORMAT, reader,
            f"not a chainrule model (format {header.get('format')!r})")
    version = header.get("version")
    _expect(_is_int(version), reader, f"invalid format version {version!r}")
    _expect(version <= VERSION, reader,
            f"format version {version} is newer than this chainrule reads ({VERSION}); "
            "upgrade chainrule")
    _expect(version >= 1, reader, f"invalid format version {version}")
    _expect(header.get("dtype") in ("float32", "float64"), reader,
            f"invalid dtype {header.get('dtype')!r}")
    sizes = header.get("layer_sizes")
    _expect(isinstance(sizes, list) and len(sizes) >= 2 and all(_is_int(s) and s >= 1
                                                                   for s in sizes),
            reader, f"invalid layer_sizes {sizes!r}")
    if version >= 3:
        layers = header.get("layers")
        _expect(isinstance(layers, list) and len(layers) == len(sizes) - 1, reader,
                f"expected {len(sizes) - 1} layers, got {layers!r:.200}")
        for i, e in enumerate(layers):
            _expect(isinstance(e, dict) and isinstance(e.get("kind"), str) and
                    _valid_params(e.get("params", {}), numbers_only=True), reader,
                    f"invalid entry for layer {i + 1}: {e!r:.200}")
        acts = [e.get("activation") for e in layers]
    else:  # dense layers: layer_sizes and one activation per layer
        acts = header.get("activations")
        _expect(isinstance(acts, list) and len(acts) == len(sizes) - 1, reader,
                f"expected {len(sizes) - 1} activations, got {acts!r:.200}")
        header["layers"] = [{"kind": "dense", "params": {"units": n}, "activation": a}
                            for n, a in zip(sizes[1:], acts)]
    for i, a in enumerate(acts):
        _expect(a is None or isinstance(a, dict) and isinstance(a.get("name"), str) and
                _valid_params(a.get("params", {}), numbers_only=not a.get("custom")),
                reader, f"invalid activation entry for layer {i + 1}: {a!r:.200}")
    # at most (n_in + 1) n_out values per layer: W and b of a dense layer; the others keep
    # four vectors (gamma, beta and two running statistics) of n_in <= (n_in + 1) n_out
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    _expect(n_params <= MAX_PARAMETERS, reader,
            f"the header claims {n_params} parameters, more than the limit {MAX_PARAMETERS}")
    loss = header.get("loss")
    _expect(isinstance(loss, dict) and isinstance(loss.get("name"), str) and
            _valid_params(loss.get("params", {}), numbers_only=not loss.get("custom")), reader,
            f"invalid loss entry {loss!r:.200}")
    names = header.get("feature_names")
    _expect(names is None or isinstance(names, list) and len(names) == sizes[0] and
            all(isinstance(n, str) for n in names), reader,
            f"invalid feature_names {names!r:.200} for {sizes[0]} input features")
    for key in ("state", "metadata", "state_arrays"):
        _expect(isinstance(header.get(key, {}), dict), reader, f"invalid '{key}' entry")
    state_elements = 0
    for k, shape in header.get("state_arrays", {}).items():
        _expect(isinstance(k, str) and isinstance(shape, list) and
                all(_is_int(s) and s >= 0 for s in shape), reader,
                f"invalid state array entry {k!r}: {shape!r:.100}")
        state_elements += int(np.prod(shape))
    # optimizer state is a few buffers shaped like the parameters
    _expect(state_elements <= 8 * n_params, reader,
            f"the header claims {state_elements} elements of training state for a network of "
            f"{n_params} parameters")
    return header


def _activation_from(entry: Dict[str, Any], layer: int, reader: _Reader) -> Activation:
    name, params = entry["name"], dict(entry.get("params", {}))
    if entry.get("custom"):
        cls = _ACTIVATIONS.get(name)
        if cls is None:
            raise reader.fail(f"layer {layer} uses the custom activation '{name}', which is not "
                              "registered: call chainrule.register_activation(YourClass) "
                              "before loading")
        try:
            return cls(**params)  # type: ignore[call-arg]
        except Exception as exc:
            raise reader.fail(f"layer {layer}: could not build the custom activation '{name}' "
                              f"with {params}: {exc}") from None
    try:
        act = resolve_activation(name, layer=layer)
        if params:
            act = type(act)(**params)  # type: ignore[call-arg]
        return act
    except (TypeError, ValueError) as exc:
        raise reader.fail(f"layer {layer}: invalid activation {name!r} {params}: {exc}") from None


def _layer_from(entry: Dict[str, Any], act: Optional[Activation], layer: int,
                reader: _Reader) -> Layer:
    kind, params = entry["kind"], dict(entry.get("params", {}))
    try:
        cls = LAYERS_BY_KIND(kind)
        if act is not None:
            params["activation"] = act
        return cls(**params)  # type: ignore[no-any-return]
    except (TypeError, ValueError) as exc:
        raise reader.fail(f"layer {layer}: invalid layer {kind!r} {params}: {exc}") from None


def _loss_from(entry: Dict[str, Any], reader: _Reader) -> Loss:
    name = entry["name"]
    if entry.get("custom"):
        cls = _LOSSES.get(name)
        if cls is None:
            raise reader.fail(f"the network uses the custom loss '{name}', which is not "
                              "registered: call chainrule.register_loss(YourClass) before loading")
        params = dict(entry.get("params", {}))
        try:
            return cls(**params)  # type: ignore[call-arg]
        except Exception as exc:
            raise reader.fail(f"could not build the custom loss '{name}' with {params}: "
                              f"{exc}") from None
    params = dict(entry.get("params", {}))
    try:
        loss = resolve_loss(name)
        if params:
            loss = type(loss)(**params)
        return loss
    except (TypeError, ValueError) as exc:
        raise reader.fail(f"invalid loss: {exc}") from None


def read(source: Union[PathLike, bytes], what: str,
         overrides: Optional[Dict[str, Any]] = None) -> Tuple[Network, Dict[str, Any]]:
    """(network, metadata) from a model file or its bytes. ``overrides`` may supply the
    activation and loss objects (pickle uses this for objects it carries itself)."""
    reader = _Reader(source, what)
    with reader.zf:
        header = _parse_header(reader)
        dtype = np.dtype(header["dtype"])
        sizes = header["layer_sizes"]
        overrides = overrides or {}
        acts = overrides.get("activations") or [
            None if e.get("activation") is None else
            _activation_from(e["activation"], l + 1, reader)
            for l, e in enumerate(header["layers"])]
        loss = overrides.get("loss") or _loss_from(header["loss"], reader)
        layers = [_layer_from(e, act, l + 1, reader)
                  for l, (e, act) in enumerate(zip(header["layers"], acts))]
        arrays: Dict[str, np.ndarray] = {}
        if header["version"] <= 2:
            # dense layers: every parameter by name, checked against the architecture before
            # the network exists
            arrays = {name: reader.array(name, dtype, shape)
                      for name, shape in parameter_layout(sizes)}
        state_arrays = {k: reader.array(f"state.{k}", dtype, tuple(shape))
                        for k, shape in header.get("state_arrays", {}).items()}
        try:
            net = Network([sizes[0]] + layers, loss=loss, dtype=dtype.name)
        except (TypeError, ValueError) as exc:
            raise reader.fail(f"inconsistent model: {exc}") from None
        _expect(net.layer_sizes == sizes, reader,
                f"the layers give layer sizes {net.layer_sizes}, the header says {sizes}")
        if header["version"] >= 3:
            # every parameter and buffer by name, each checked against the network's shapes
            # (its size was bounded by MAX_PARAMETERS from layer_sizes before it was built)
            arrays = {name: reader.array(name, dtype, tuple(view.shape))
                      for tensors in (net.parameters, net.buffers)
                      for name, view in tensors.items()}
        try:
            for name, value in arrays.items():
                if name in net.parameters:
                    net.parameters[name] = value
                else:
                    net.buffers[name] = value
            net.set_training_state(header.get("state", {}), state_arrays)
            if header.get("feature_names") is not None:
                net.feature_names_in_ = np.array(header["feature_names"], dtype=object)
        except (TypeError, ValueError, KeyError) as exc:
            raise reader.fail(f"inconsistent model: {exc}") from None
    return net, header.get("metadata", {})


def load(path: PathLike, *, with_metadata: bool = False) -> Any:
    """The network saved at ``path`` (with ``with_metadata=True``: ``(network, metadata)``).
    Raises ValueError naming the problem for a file that is not a valid chainrule model."""
    net, metadata = read(path, f"load({os.fspath(path)!r})")
    return (net, metadata) if with_metadata else net
