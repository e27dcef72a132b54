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
from typing import Any, Dict, Optional, Tuple, Type, Union

import numpy as np

from ._version import __version__
from .activations import Activation, resolve_activation
from .activations import is_builtin as is_builtin_activation
from .layers import Layer, plain_dense
from .layers import layer_class as LAYERS_BY_KIND
from .losses import Loss, resolve_loss
from .losses import is_builtin as is_builtin_loss
from .model_archive import (
    FORMAT,
    MAX_PARAMETERS,
    VERSION,
    PathLike,
    Reader,
    expect,
    parse_header,
    refuse_directory,
)
from .network import Network
from .parameters import parameter_layout

__all__ = [
    "save",
    "load",
    "register_activation",
    "register_loss",
    "FORMAT",
    "VERSION",
    "MAX_PARAMETERS",
]

_ACTIVATIONS: Dict[str, Type[Activation]] = {}
_LOSSES: Dict[str, Type[Loss]] = {}


def _registered_name(obj: Any, registry: Dict[str, Any]) -> str:
    """The name load finds obj's class by: the one register_* gave the class (the latest, if
    several), else its default (its ``name`` attribute, else the class name in lower case)."""
    names = [key for key, cls in registry.items() if cls is type(obj)]
    return names[-1] if names else (getattr(obj, "name", "") or type(obj).__name__.lower())


def _register(
    registry: Dict[str, Any], cls: Any, base: type, name: Optional[str], what: str
) -> Any:
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
            raise ValueError(
                f"save: {what} {type(obj).__name__}: parameter {k!r} cannot be "
                f"stored in a model file ({exc}; numbers, strings, booleans, None "
                "and lists of them can)"
            ) from None
    return out


def _activation_entry(act: Activation, layer: int) -> Dict[str, Any]:
    custom = not is_builtin_activation(act)
    return {
        "name": _registered_name(act, _ACTIVATIONS) if custom else act.name,
        "params": _params_entry(act, f"layer {layer}: the activation"),
        "custom": custom,
    }


def _layer_entry(config: Layer, layer: int) -> Dict[str, Any]:
    entry: Dict[str, Any] = {
        "kind": config.kind,
        "params": {k: _json_value(v) for k, v in config.get_params().items() if k != "activation"},
    }
    act = getattr(config, "activation", None)
    if act is not None:
        entry["activation"] = _activation_entry(act, layer)
    return entry


def _loss_entry(loss: Loss) -> Dict[str, Any]:
    custom = not is_builtin_loss(loss)
    return {
        "name": _registered_name(loss, _LOSSES) if custom else loss.name,
        "params": _params_entry(loss, "the loss"),
        "custom": custom,
    }


def _check_finite(what: str, tensors: Dict[str, np.ndarray], label: Any, hint: str) -> None:
    """ValueError naming the first tensor that holds NaN or inf: a model file cannot hold it,
    since load checks every value as an assignment does (and refuses these)."""
    for name, value in tensors.items():
        if not np.isfinite(value).all():
            raise ValueError(
                f"{what}: {label(name)} contains NaN or inf, which a model file cannot hold "
                f"(load and unpickling refuse non-finite values, as an assignment does); {hint}"
            )


def _optimizer_buffer(key: str) -> str:
    # "opt.exp_avg.W1" (get_training_state's naming) -> "the optimizer's 'exp_avg' of W1"
    _, buffer, param = key.split(".", 2) if key.count(".") >= 2 else ("", key, "?")
    return f"the optimizer's {buffer!r} of {param}"


def to_bytes(net: Network, metadata: Optional[Dict[str, Any]] = None, what: str = "save") -> bytes:
    """The model file's bytes (what :func:`save` writes; ``what`` names the caller in the
    errors, as pickling does). A network with a parameter, a buffer or an optimizer state
    that is not finite (after a step with too large an lr, say) is refused, naming it: load
    would refuse the file."""
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"save: metadata must be a dict, got {type(metadata).__name__}")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"save: the metadata must be JSON (finite numbers, strings, lists, dicts): {exc}"
        ) from None
    restore = "assign finite values first (or load a checkpoint saved before)"
    _check_finite(what, dict(net.parameters), lambda n: f"parameter {n}", restore)
    _check_finite(what, dict(net.buffers), lambda n: f"buffer {n}", restore)
    state, state_arrays = net.get_training_state()
    _check_finite(
        what,
        state_arrays,
        _optimizer_buffer,
        "reset the optimizer's state first (net.optimizer = net.optimizer installs it afresh)",
    )
    header: Dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "chainrule_version": __version__,
        "dtype": net.dtype.name,
        "layer_sizes": list(net.layer_sizes),
    }
    if plain_dense(net.layer_configs):
        # dense layers only: the version 2 layout, which chainrule 0.1 reads too
        header["version"] = 2
        header["activations"] = [_activation_entry(a, l + 1) for l, a in enumerate(net.activations)]
    else:
        header["layers"] = [_layer_entry(c, l + 1) for l, c in enumerate(net.layer_configs)]
    header.update(
        {
            "loss": _loss_entry(net.loss_function),
            "state": state,
            "state_arrays": {k: list(v.shape) for k, v in state_arrays.items()},
            "metadata": metadata or {},
        }
    )
    if net.feature_names_in_ is not None:
        header["feature_names"] = [str(n) for n in net.feature_names_in_]
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:  # the network's own entries (its metadata passed)
        raise ValueError(f"save: the model's header cannot be written as JSON: {exc}") from None
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
    refuse_directory(path, "save:")  # (else the rename below names only its temporary file)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ---- reading ---------------------------------------------------------------------------------


def _activation_from(entry: Dict[str, Any], layer: int, reader: Reader) -> Activation:
    name, params = entry["name"], dict(entry.get("params", {}))
    if entry.get("custom"):
        cls = _ACTIVATIONS.get(name)
        if cls is None:
            raise reader.fail(
                f"layer {layer} uses the custom activation '{name}', which is not "
                "registered: call chainrule.register_activation(YourClass) "
                "before loading"
            )
        try:
            return cls(**params)  # type: ignore[call-arg]
        except Exception as exc:
            raise reader.fail(
                f"layer {layer}: could not build the custom activation '{name}' "
                f"with {params}: {exc}"
            ) from None
    try:
        act = resolve_activation(name, layer=layer)
        if params:
            act = type(act)(**params)  # type: ignore[call-arg]
        return act
    except (TypeError, ValueError) as exc:
        raise reader.fail(f"layer {layer}: invalid activation {name!r} {params}: {exc}") from None


def _layer_from(
    entry: Dict[str, Any], act: Optional[Activation], layer: int, reader: Reader
) -> Layer:
    kind, params = entry["kind"], dict(entry.get("params", {}))
    try:
        cls = LAYERS_BY_KIND(kind)
        if act is not None:
            params["activation"] = act
        return cls(**params)  # type: ignore[no-any-return]
    except (TypeError, ValueError) as exc:
        raise reader.fail(f"layer {layer}: invalid layer {kind!r} {params}: {exc}") from None


def _loss_from(entry: Dict[str, Any], reader: Reader) -> Loss:
    name = entry["name"]
    if entry.get("custom"):
        cls = _LOSSES.get(name)
        if cls is None:
            raise reader.fail(
                f"the network uses the custom loss '{name}', which is not "
                "registered: call chainrule.register_loss(YourClass) before loading"
            )
        params = dict(entry.get("params", {}))
        try:
            return cls(**params)  # type: ignore[call-arg]
        except Exception as exc:
            raise reader.fail(
                f"could not build the custom loss '{name}' with {params}: {exc}"
            ) from None
    params = dict(entry.get("params", {}))
    try:
        loss = resolve_loss(name)
        if params:
            loss = type(loss)(**params)
        return loss
    except (TypeError, ValueError) as exc:
        raise reader.fail(f"invalid loss: {exc}") from None


def read(
    source: Union[PathLike, bytes], what: str, overrides: Optional[Dict[str, Any]] = None
) -> Tuple[Network, Dict[str, Any]]:
    """(network, metadata) from a model file or its bytes. ``overrides`` may supply the
    activation and loss objects (pickle uses this for objects it carries itself)."""
    reader = Reader(source, what)
    with reader.zf:
        header = parse_header(reader)
        dtype = np.dtype(header["dtype"])
        sizes = header["layer_sizes"]
        overrides = overrides or {}
        acts = overrides.get("activations") or [
            None
            if e.get("activation") is None
            else _activation_from(e["activation"], l + 1, reader)
            for l, e in enumerate(header["layers"])
        ]
        loss = overrides.get("loss") or _loss_from(header["loss"], reader)
        layers = [
            _layer_from(e, act, l + 1, reader)
            for l, (e, act) in enumerate(zip(header["layers"], acts))
        ]
        arrays: Dict[str, np.ndarray] = {}
        if header["version"] <= 2:
            # dense layers: every parameter by name, checked against the architecture before
            # the network exists
            arrays = {
                name: reader.array(name, dtype, shape) for name, shape in parameter_layout(sizes)
            }
        state_arrays = {
            k: reader.array(f"state.{k}", dtype, tuple(shape))
            for k, shape in header.get("state_arrays", {}).items()
        }
        try:
            net = Network([sizes[0]] + layers, loss=loss, dtype=dtype.name)
        except (TypeError, ValueError) as exc:
            raise reader.fail(f"inconsistent model: {exc}") from None
        expect(
            net.layer_sizes == sizes,
            reader,
            f"the layers give layer sizes {net.layer_sizes}, the header says {sizes}",
        )
        if header["version"] >= 3:
            # every parameter and buffer by name, each checked against the network's shapes
            # (its size was bounded by MAX_PARAMETERS from layer_sizes before it was built)
            arrays = {
                name: reader.array(name, dtype, tuple(view.shape))
                for tensors in (net.parameters, net.buffers)
                for name, view in tensors.items()
            }
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
