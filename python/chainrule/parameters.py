"""The parameters of a network as NumPy sees them: live views of the core's memory, by name
(``net.parameters``: W1, b1, W2, ...) and, for the dense layers, as per-layer lists
(``net.weights``, ``net.biases``); assignments copy in after checking shape and values."""

from __future__ import annotations

import numbers
from typing import Any, Callable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ._checks import refuse_masked

__all__ = ["NamedParameters", "ParameterList", "copy_into", "parameter_layout", "real_array"]

ArrayLike = Any


def _in_place_note(value: np.ndarray, target: np.ndarray) -> str:
    """For a refused value that is the live view itself (``net.weights[0] *= np.nan``: NumPy's
    in-place operator wrote through the view before the assignment's check): what the model
    holds now, which no check can take back."""
    if not np.shares_memory(value, target):
        return ""
    return (
        " (an in-place operator such as -= or *= changed the values through the live view "
        "before this check: the network holds them now; assign valid values)"
    )


def real_array(value: ArrayLike, name: str) -> np.ndarray:
    """``value`` as an array of real numbers (bool, int, float), as it is; TypeError naming
    ``name`` for anything else (complex numbers, text, objects, dates), which a conversion to
    float would mangle (drop the imaginary part) or refuse without naming it; ValueError for
    a masked array with masked values (those under the mask are no values)."""
    refuse_masked(value, name)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nesting
        raise TypeError(f"{name} must be a real numeric array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr


def copy_into(
    target: np.ndarray, value: ArrayLike, what: str, name: str, non_negative: bool = False
) -> None:
    """Copies ``value`` into the live parameter view ``target`` after checking its type, shape
    and values (finite, and finite once converted to the network's dtype; >= 0 for a buffer
    the core declares non-negative, a running variance)."""
    arr = real_array(value, name)
    if arr.shape != target.shape:
        raise ValueError(f"{what} must have shape {target.shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or inf" + _in_place_note(arr, target))
    if non_negative and arr.size and np.min(arr) < 0:
        i = int(np.argmin(arr))
        raise ValueError(
            f"{what} is a variance and must be >= 0; got {arr.flat[i]!r} at index "
            f"{np.unravel_index(i, arr.shape) if arr.ndim > 1 else i}" + _in_place_note(arr, target)
        )
    # convert first (a fresh copy, so a view of the target itself is read before it is
    # written) and check again: a value beyond float32's range becomes inf
    with np.errstate(over="ignore"):
        converted = arr.astype(target.dtype, copy=True)
    if not np.all(np.isfinite(converted)):
        raise ValueError(
            f"{what} has values too large for {target.dtype.name} "
            f"(max |value| {float(np.max(np.abs(arr))):.6g})"
        )
    np.copyto(target, converted)


class FrozenList(list):  # type: ignore[type-arg]
    """A list that cannot be changed in place: a network's ``layer_sizes``, ``activations``
    and ``layer_configs`` describe what its core was built with, and an edit would make
    ``summary()`` and the views describe a network that does not exist. It compares, prints,
    copies and serialises as the list it holds."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "this list describes the network as built and cannot be changed: build a new "
            "Network for another architecture"
        )

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self) -> Any:
        return (FrozenList, (list(self),))


def parameter_layout(layer_sizes: Sequence[int]) -> List[Tuple[str, Tuple[int, ...]]]:
    """The names and shapes of the parameters of a network of these layer sizes, in the order
    of ``net.parameters``, without building it: ``[("W1", (n0, n1)), ("b1", (n1,)), ...]`` (a
    model file is checked against it before any memory is allocated)."""
    layout: List[Tuple[str, Tuple[int, ...]]] = []
    for l, (n_in, n_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
        layout += [(f"W{l + 1}", (int(n_in), int(n_out))), (f"b{l + 1}", (int(n_out),))]
    return layout


class NamedParameters(Mapping[str, np.ndarray]):
    """``net.parameters``: every learnable tensor by name, in order (``W1``, ``b1``, ``W2``, ...:
    the parameter's name in its layer, then the layer's number), as live NumPy views of the
    core's memory. ``net.parameters["W1"] = A`` copies A in after checking its shape and values
    (and then calls ``on_assign``: the network drops a forward pass kept for ``backward``; an
    in-place change through a view, ``net.parameters["W1"] -= 0.1``, cannot be seen, so
    ``backward`` after one mixes the kept pass with the new values: call ``forward`` again).
    Everything that walks a model (save and load, the optimizer state, early-stopping
    snapshots, the data-parallel broadcast) goes through this list."""

    def __init__(
        self,
        names: Sequence[str],
        view: Callable[[int], np.ndarray],
        lock: Any,
        non_negative: Sequence[str] = (),
        on_assign: Optional[Callable[[], None]] = None,
    ) -> None:
        self._names: List[str] = list(names)
        self._non_negative = frozenset(non_negative)  # names whose values must be >= 0
        self._index = {name: k for k, name in enumerate(self._names)}
        self._view = view  # k -> the live view of parameter k
        self._lock = lock  # the network's lock: an assignment waits for a running call
        self._on_assign = on_assign  # called after each assignment

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._index:
            raise KeyError(f"no parameter {name!r}; the network has {', '.join(self._names)}")
        return self._view(self._index[name])

    def __setitem__(self, name: str, value: ArrayLike) -> None:
        target = self[name]
        with self._lock:
            copy_into(
                target,
                value,
                f"parameter {name}",
                f"parameters[{name!r}]",
                non_negative=name in self._non_negative,
            )
            if self._on_assign is not None:
                self._on_assign()

    def __repr__(self) -> str:
        return "<parameters: " + ", ".join(f"{k} {self[k].shape}" for k in self._names) + ">"


class ParameterList(Sequence[np.ndarray]):
    """``net.weights`` / ``net.biases``: live NumPy views of the core's parameters.

    ``net.weights[l]`` is a writable view of the l-th dense layer's (l = 0 is the first);
    ``net.weights[l] = A`` copies A in after checking its shape and values, then calls
    ``on_assign``. ``numbers``: each dense layer's number in the network (1-based, as the
    messages name it: with a BatchNorm between, ``weights[1]`` may be layer 3's)."""

    def __init__(
        self,
        numbers: Sequence[int],
        view: Callable[[int], np.ndarray],
        lock: Any,
        kind: str,
        on_assign: Optional[Callable[[], None]] = None,
    ) -> None:
        self._numbers = list(numbers)
        self._n = len(self._numbers)
        self._view = view  # l -> the live view of the l-th dense layer's weight or bias
        self._lock = lock
        self._kind = kind
        self._on_assign = on_assign

    def __len__(self) -> int:
        return self._n

    def _index(self, l: int) -> int:
        if isinstance(l, bool) or not isinstance(l, numbers.Integral):
            raise TypeError(f"layer index must be an integer, got {type(l).__name__}")
        n = len(self)
        if not -n <= l < n:
            raise IndexError(f"layer index {l} out of range for a network with {n} layers")
        return int(l) % n

    def __getitem__(self, l: Any) -> Any:
        if isinstance(l, slice):
            return [self[i] for i in range(*l.indices(len(self)))]
        i = self._index(l)
        return self._view(i)

    def __setitem__(self, l: int, value: ArrayLike) -> None:
        with self._lock:
            self._assign(l, value)
            if self._on_assign is not None:
                self._on_assign()

    def _assign(self, l: int, value: ArrayLike) -> None:
        number = self._numbers[self._index(l)]
        what = f"layer {number}: {'weight' if self._kind == 'weights' else 'bias'}"
        copy_into(self[l], value, what, f"{self._kind}[{l}]")

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return f"<{len(self)} {self._kind}: " + ", ".join(str(a.shape) for a in self) + ">"
