"""Layers: the configuration objects a Network is built from (``Dense(64, "relu", l2=1e-4)``,
``Dropout(0.2)``, ``BatchNorm()``, ``LayerNorm()``, ...), made from the core's layer registry,
and the bound layers ``net.layers[l]`` that show a built layer's tensors by name.

A layer class is made from its registry entry, as the built-in activations are: its
constructor takes the entry's parameters (defaults from the registry, values checked by the
core), so a layer added to the core gets a class here without code of its own. A kind whose
entry has the property ``"activation"`` (Dense) also takes an activation.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from . import _registry
from ._checks import ParamsRepr
from .activations import Activation, resolve_activation
from .activations import core_spec as activation_spec
from .parameters import copy_into

__all__ = [
    "Layer",
    "Dense",
    "BoundLayer",
    "LayerList",
    "layer_names",
    "layer_class",
    "plain_dense",
    "resolve_layers",
    "core_spec",
]

_CLASSES: Dict[str, type] = {}
_MAX_INDEX = 2**62  # counts beyond this do not fit the core's 64-bit indices


class Layer(_registry.EntryBacked, ParamsRepr):
    """A layer's configuration: its kind (the registry's factory name) and parameters. A
    network builds its layers from these; ``net.layers[l]`` then shows the built layer (a
    :class:`BoundLayer`)."""

    _family = _registry.LAYERS
    _classes = _CLASSES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._set_params(args, kwargs)

    @property
    def kind(self) -> str:
        """The layer's factory name in the core's registry ("dense", "dropout", ...)."""
        return self._core_name

    @property
    def takes_activation(self) -> bool:
        return bool(self._entry.properties.get("activation", False))


class Dense(Layer, entry="dense"):
    """A fully-connected layer ``Z = H_prev @ W + b``, ``H = act(Z)`` with ``units`` outputs.

    ``activation``: a name, a built-in object or your own :class:`~chainrule.Activation`;
    None takes the network's default (relu in hidden layers; for the output layer, the one
    the loss needs). ``l1``, ``l2``: penalties on W (Keras' convention) added to the loss,
    ``l1 * sum|W| + l2 * sum(W**2)``, and ``l1 * sign(W) + 2 * l2 * W`` to dW; the bias is
    not penalised."""

    def __init__(
        self, units: int, activation: Any = None, l1: float = 0.0, l2: float = 0.0
    ) -> None:
        self.activation = None if activation is None else resolve_activation(activation)
        self._set_params((), {"units": units, "l1": l1, "l2": l2})

    def get_params(self) -> Dict[str, Any]:
        return {"units": self.units, "activation": self.activation, "l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        parts = [str(self.units)]
        if self.activation is not None:
            parts.append(repr(self.activation))
        parts += [f"{k}={getattr(self, k)!r}" for k in ("l1", "l2") if getattr(self, k)]
        return f"Dense({', '.join(parts)})"


def plain_dense(configs: Sequence[Layer]) -> bool:
    """Whether every layer is a Dense one without penalties: the networks that ``layer_sizes``
    and one activation per layer describe fully (the classic repr, model format 2)."""
    return all(isinstance(c, Dense) and not c.l1 and not c.l2 for c in configs)


def layer_class(kind: str) -> type:
    """The class of a layer kind (or alias): ``layer_class("dropout")`` is ``Dropout``;
    the core's ValueError naming the valid kinds otherwise."""
    return _CLASSES[_registry.LAYERS.lookup(kind).name]


def layer_names() -> List[str]:
    """The kinds of layers the core builds ("batch_norm", "dense", "dropout", ...)."""
    return _registry.LAYERS.names()


def _as_layer(item: Any, position: int) -> Layer:
    if isinstance(item, Layer):
        return item
    if isinstance(item, type) and issubclass(item, Layer) and item is not Dense:
        return item()
    raise TypeError(
        f"layer {position}: expected an int (the width of a dense layer) or a "
        f"layer such as Dense(64, 'relu') or Dropout(0.2), got {item!r}"
    )


def _width(item: Any, where: str) -> int:
    if isinstance(item, bool) or not isinstance(item, numbers.Integral):
        raise TypeError(f"{where} must be an integer, got {item!r}")
    if not -_MAX_INDEX <= item <= _MAX_INDEX:  # beyond the core's 64-bit indices
        raise ValueError(f"{where} must be >= 1 and <= 2**62, got {item}")
    return int(item)


def resolve_layers(
    spec: Sequence[Any], activations: Optional[Sequence[Any]], output_activation: str
) -> Tuple[int, List[Layer]]:
    """``[n0, 64, Dense(32, "tanh"), Dropout(0.2), 3]`` -> (n0, [Dense(64, relu), Dense(32,
    tanh), Dropout(p=0.2), Dense(3, <output>)]): a plain int is a dense layer whose
    activation comes from ``activations`` (one per plain int, in order) or the default; a
    Dense without an activation takes the default (relu, or ``output_activation`` for the
    last layer). Types are checked here, values by the core."""
    if isinstance(spec, (str, bytes)) or not isinstance(spec, (Sequence, np.ndarray)):
        raise TypeError(
            "layer_sizes must be a sequence like [2, 10, 1] or [2, Dense(10, 'relu'), "
            f"Dropout(0.1), 1], got {type(spec).__name__}"
        )
    items = list(spec)
    if not items:
        raise ValueError("layer_sizes needs at least an input and an output size, got []")
    n_in = _width(items[0], "the input size")
    rest = items[1:]
    if not rest:
        raise ValueError(f"layer_sizes needs at least an input and an output size, got {items}")
    plain = [
        i
        for i, item in enumerate(rest)
        if not isinstance(item, Layer) and not (isinstance(item, type) and issubclass(item, Layer))
    ]
    if activations is not None:
        if isinstance(activations, (str, Activation)) or not isinstance(activations, Sequence):
            raise TypeError(
                f"activations must be a list with one activation per layer "
                f"({len(plain)} here), got {activations!r}"
            )
        if len(activations) != len(plain):
            if len(plain) == len(rest):  # the classic form: layer_sizes is all ints
                raise ValueError(
                    f"got {len(activations)} activations for {len(rest)} layers "
                    f"(layer_sizes {[n_in] + rest} has {len(rest)} layers after the "
                    "input)"
                )
            raise ValueError(
                f"got {len(activations)} activations for the {len(plain)} layers "
                "given as plain ints (activations= names the activation of each "
                "int in layer_sizes; give the others in Dense(...))"
            )
    given = dict(zip(plain, activations)) if activations is not None else {}
    layers: List[Layer] = []
    last = len(rest) - 1
    for i, item in enumerate(rest):
        position = i + 1
        default = output_activation if i == last else "relu"
        if i in given or not isinstance(item, (Layer, type)):
            width = _width(item, f"the size of layer {position}")
            act = resolve_activation(given.get(i, default), layer=position)
            try:
                layer: Layer = Dense(width, act)
            except ValueError as exc:  # the core's check of the width, placed
                raise ValueError(f"layer {position}: {exc}") from None
        else:
            layer = _as_layer(item, position)
            if isinstance(layer, Dense) and layer.activation is None:
                layer = Dense(
                    layer.units, resolve_activation(default, layer=position), layer.l1, layer.l2
                )
        layers.append(layer)
    return n_in, layers


def core_spec(layer: Layer) -> tuple:
    """The tuple the core's Network constructor takes for one layer: (kind, parameters,
    activation spec or None)."""
    act = getattr(layer, "activation", None)
    values = layer.core_values()
    return (layer.kind, values, None if act is None else activation_spec(act))


class BoundLayer:
    """``net.layers[l]``: layer ``l`` of a built network (0-based; the derivation's layer
    l + 1). Its parameters (``W``, ``b``; ``gamma``, ``beta``) and buffers (``running_mean``,
    ``running_var``) are live views, settable like ``net.weights[l]``; what the last forward
    pass cached (``Z``, ``H``; a dropout layer's ``mask``) comes as a copy. ``config`` is the
    layer's configuration (``Dense(64, relu)``)."""

    def __init__(
        self,
        tensors: Callable[[str], List[Tuple[str, np.ndarray]]],
        lock: Any,
        index: int,
        config: Layer,
        shape: Tuple[int, int],
        non_negative: Sequence[str] = (),
        on_assign: Optional[Callable[[], None]] = None,
    ) -> None:
        object.__setattr__(self, "_tensors", tensors)  # group -> [(name, array)]
        object.__setattr__(self, "_lock", lock)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "config", config)
        object.__setattr__(self, "shape", shape)  # (n_in, n_out)
        object.__setattr__(self, "_non_negative", frozenset(non_negative))  # running_var
        object.__setattr__(self, "_on_assign", on_assign)  # after a parameter's assignment

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def parameters(self) -> Dict[str, np.ndarray]:
        """The learnable tensors by name, as live views."""
        return dict(self._tensors("parameters"))

    @property
    def buffers(self) -> Dict[str, np.ndarray]:
        """The tensors kept but not learned (running statistics), as live views."""
        return dict(self._tensors("buffers"))

    def _find(self, name: str) -> Tuple[str, np.ndarray]:
        for group in ("parameters", "buffers", "caches"):
            for key, value in self._tensors(group):
                if key == name:
                    return group, value
        raise AttributeError(
            f"layer {self.index + 1} ({self.config!r}) has no tensor {name!r}; "
            f"it has {', '.join(self._names()) or 'none'}"
        )

    def _names(self) -> List[str]:
        return [k for g in ("parameters", "buffers", "caches") for k, _ in self._tensors(g)]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._find(name)[1]
        except AttributeError:
            params = self.config.get_params()
            if name in params:
                return params[name]
            raise

    def __setattr__(self, name: str, value: Any) -> None:
        group, target = self._find(name)
        if group == "caches":
            raise AttributeError(
                f"layer {self.index + 1}: {name} is what the last forward pass "
                "computed; it cannot be set"
            )
        with self._lock:
            copy_into(
                target,
                value,
                f"layer {self.index + 1}: {name}",
                f"layers[{self.index}].{name}",
                non_negative=name in self._non_negative,
            )
            if group == "parameters" and self._on_assign is not None:
                self._on_assign()

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self._names()))

    def __repr__(self) -> str:
        return f"<layer {self.index + 1}: {self.config!r}, {self.shape[0]} -> {self.shape[1]}>"


class LayerList(Sequence[BoundLayer]):
    """``net.layers``: the network's layers in order (index 0 = layer 1)."""

    def __init__(self, make: Callable[[int], BoundLayer], n: int) -> None:
        self._make = make
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, l: Any) -> Any:
        if isinstance(l, slice):
            return [self[i] for i in range(*l.indices(len(self)))]
        if isinstance(l, bool) or not isinstance(l, numbers.Integral):
            raise TypeError(f"layer index must be an integer, got {type(l).__name__}")
        if not -self._n <= l < self._n:
            raise IndexError(f"layer index {l} out of range for a network with {self._n} layers")
        return self._make(int(l) % self._n)

    def __iter__(self) -> Iterator[BoundLayer]:
        return (self[i] for i in range(self._n))

    def __repr__(self) -> str:
        return "[" + ", ".join(repr(layer.config) for layer in self) + "]"


# Kinds of the core without a class above (a new layer needs none): generated from their
# registry entries, exported like the others (cr.Dropout, cr.BatchNorm, cr.LayerNorm).
_registry.export(
    globals(),
    __all__,
    _CLASSES,
    lambda entry: _registry.generated_class(entry, Layer, __name__),
    _registry.LAYERS,
)
