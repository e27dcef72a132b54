"""Network's training state: the optimizer and its state, the shuffling generator, and the
state a resumed training needs (what a model file stores and a data-parallel fit broadcasts).
A part of :class:`~chainrule.Network`, which inherits it; it reaches the core only through
the network's own attributes."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union, cast

import numpy as np

from ._checks import check_int as _check_int
from .callbacks import History
from .diagnostics import NON_FINITE_JSON, DiagnosticsLog, floats_to_json
from .optimizers import Optimizer, checked_lr, resolve_optimizer
from .optimizers import core_spec as optimizer_spec
from .parameters import real_array

__all__ = ["TrainingState", "optimizer_settings"]


def optimizer_settings(opt: Optimizer) -> Dict[str, Any]:
    """An optimizer's hyper-parameters as the core's optimizer holds them: all but lr."""
    return {k: v for k, v in opt.get_params().items() if k != "lr"}


class TrainingState:
    """The optimizer, its state and the training state of a Network (see
    :meth:`get_training_state`)."""

    # set by Network.__init__
    _core: Any
    _lock: Any
    _optimizer: Optimizer
    _installed_params: Dict[str, Any]  # the optimizer's optimizer_settings() when the core took it
    _rng: np.random.Generator
    seed: Optional[int]
    history: History
    dtype: np.dtype

    @property
    def optimizer(self) -> Optimizer:
        """The optimizer's configuration. Assigning a name or an optimizer object installs it
        with fresh state; the state otherwise carries over from one fit or step to the next.
        Changing a hyper-parameter of this object (``net.optimizer.momentum = 0.9``) takes
        effect at the next fit, step or state access, as an edit of torch's ``param_groups``
        does: the state carries over (a buffer the change adds, such as SGD's momentum
        buffer, starts at zeros), and a value out of range raises there. One installed from a
        callback during a fit trains from the fit's next step."""
        return self._optimizer

    @optimizer.setter
    def optimizer(self, spec: Union[str, Optimizer]) -> None:
        with self._lock:
            self._install_optimizer(resolve_optimizer(spec))

    def _install_optimizer(self, opt: Optimizer) -> None:
        """The core's optimizer becomes a fresh one configured as ``opt`` (validated)."""
        self._core.set_optimizer(optimizer_spec(opt))
        self._optimizer = opt
        self._installed_params = optimizer_settings(opt)

    def _sync_optimizer(self) -> None:
        """Hyper-parameters changed on ``net.optimizer`` since it was installed reach the
        core's optimizer, which keeps its step count and the buffers that the new settings
        still have (the others start at zeros); a bad value raises and changes nothing."""
        checked_lr(self._optimizer)  # (lr is not the core optimizer's: checked here, named)
        try:  # (lr is not the core optimizer's: each fit and step passes it)
            same = bool(optimizer_settings(self._optimizer) == self._installed_params)
        except (TypeError, ValueError):  # (an array assigned to a hyper-parameter)
            same = False
        if same:
            return
        opt = resolve_optimizer(self._optimizer)  # (re-validated)
        with self._lock:
            step, buffers = self._core.get_optimizer_state()
            kept = dict(buffers)
            self._install_optimizer(opt)
            _, fresh = self._core.get_optimizer_state()
            self._core.set_optimizer_state(
                step, [(name, kept.get(name, arrays)) for name, arrays in fresh]
            )

    def get_optimizer_state(self) -> Dict[str, Any]:
        """A copy of the optimizer's state: ``{"optimizer": name, "step": steps taken,
        "buffers": {name: [one array per parameter, in the order of net.parameters (W1, b1,
        W2, b2, ...), shaped like it]}}`` (e.g. Adam's ``exp_avg`` and ``exp_avg_sq``; plain SGD
        has none)."""
        with self._lock:
            self._sync_optimizer()
            step, buffers = self._core.get_optimizer_state()
            return {
                "optimizer": self._optimizer.name,
                "step": int(step),
                "buffers": {name: list(arrays) for name, arrays in buffers},
            }

    def _optimizer_snapshot(self) -> Tuple[Optimizer, Dict[str, Any]]:
        """The optimizer and a copy of its state, for _restore_optimizer to put back."""
        with self._lock:
            return self._optimizer, self.get_optimizer_state()

    def _restore_optimizer(self, snapshot: Tuple[Optimizer, Dict[str, Any]]) -> None:
        with self._lock:
            self.optimizer = snapshot[0]
            self.set_optimizer_state(snapshot[1])

    def set_optimizer_state(self, state: Dict[str, Any]) -> None:
        """Restore what :meth:`get_optimizer_state` returned (for an optimizer of the same
        kind on a network of the same shape); checked first, so on error nothing changes.
        Each buffer is a list in the order of ``net.parameters`` or a dict by parameter name
        (``{"W1": ..., "b1": ..., ...}``)."""
        self._sync_optimizer()
        if not isinstance(state, dict) or not {"step", "buffers"} <= set(state):
            raise TypeError(
                "optimizer state must be a dict with 'step' and 'buffers', as "
                "get_optimizer_state() returns"
            )
        name = state.get("optimizer", self._optimizer.name)
        if name != self._optimizer.name:
            raise ValueError(
                f"set_optimizer_state: the state is of optimizer {name!r}, but the "
                f"network uses {self._optimizer.name!r}"
            )
        step = _check_int(state["step"], "set_optimizer_state: step", 0)
        buffers = state["buffers"]
        if not isinstance(buffers, dict):
            raise TypeError("set_optimizer_state: 'buffers' must be a dict name -> list of arrays")
        converted = []
        names = list(self._core.parameter_names())
        for key, arrays in buffers.items():
            if isinstance(arrays, Mapping):  # by parameter name
                # (keys of any type: a stray 0 among the names is reported, not compared)
                unknown = sorted(map(repr, (k for k in arrays if k not in names)))
                missing = [n for n in names if n not in arrays]
                if unknown or missing:
                    raise ValueError(
                        f"set_optimizer_state: buffer {key!r} must have one array per "
                        f"parameter ({', '.join(names)})"
                        + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                        + (f"; missing: {', '.join(missing)}" if missing else "")
                    )
                arrays = [arrays[n] for n in names]
            if isinstance(arrays, np.ndarray) or not isinstance(arrays, Sequence):
                raise TypeError(
                    f"set_optimizer_state: buffer {key!r} must be a list with one array "
                    "per parameter tensor (W1, b1, W2, ...)"
                )
            # complex numbers and text are refused as a parameter's assignment refuses them
            # (a float conversion would drop the imaginary part, or fail naming nothing); the
            # count, the shapes and the values (NaN or inf) are the core's to check
            checked = [
                real_array(
                    a,
                    f"set_optimizer_state: {str(key)!r} of "
                    + (names[k] if k < len(names) else f"array {k}"),
                )
                for k, a in enumerate(arrays)
            ]
            converted.append(
                (str(key), [np.ascontiguousarray(a, dtype=self.dtype) for a in checked])
            )
        with self._lock:
            self._core.set_optimizer_state(step, converted)

    # ---- training state ------------------------------------------------------------------
    # What a resumed or a data-parallel training needs beyond the weights. The model file
    # (chainrule.serialization) stores get_training_state() as it is, and data-parallel fit
    # (chainrule.distributed) broadcasts the generator and the optimizer state and places the
    # gradient buffer: both go through these methods, never the network's private attributes.

    def get_rng_state(self) -> Dict[str, Any]:
        """The state of the generator that draws the shuffling order of ``fit(shuffle=True)``
        (seeded by ``seed``): NumPy's ``bit_generator.state``, a JSON-able dict."""
        with self._lock:
            return cast(Dict[str, Any], self._rng.bit_generator.state)

    def set_rng_state(self, state: Dict[str, Any]) -> None:
        """Restore what :meth:`get_rng_state` returned: later shuffles repeat those of the
        network it came from. ValueError for an invalid state, and then nothing changes."""
        rng = self._generator_from(state)
        with self._lock:
            self._rng = rng

    def get_dropout_state(self) -> Dict[str, int]:
        """The key and the pass count of the layers' random streams (the dropout masks, a
        function of key, pass, layer, row and column): ``{"key": ..., "passes": ...}``."""
        with self._lock:
            key, passes = self._core.get_random_state()
            return {"key": int(key), "passes": int(passes)}

    def set_dropout_state(self, state: Dict[str, int]) -> None:
        """Restore what :meth:`get_dropout_state` returned: later masks repeat those of the
        network it came from."""
        key, passes = self._dropout_from(state)
        with self._lock:
            self._core.set_random_state(key, passes)

    @staticmethod
    def _dropout_from(state: Any) -> Tuple[int, int]:
        ok = isinstance(state, dict) and all(
            isinstance(state.get(k), int)
            and not isinstance(state.get(k), bool)
            and 0 <= state[k] < 2**64
            for k in ("key", "passes")
        )
        if not ok:
            raise ValueError(
                f"invalid dropout state {state!r:.200}: expected "
                "{'key': int, 'passes': int}, both in [0, 2**64)"
            )
        return int(state["key"]), int(state["passes"])

    @staticmethod
    def _generator_from(state: Any) -> np.random.Generator:
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = state
        except (TypeError, ValueError, KeyError, OverflowError) as exc:  # (a negative int)
            raise ValueError(f"invalid random generator state: {exc}") from None
        return rng

    def get_training_state(self) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
        """What a resumed training needs beyond the weights, as ``(state, arrays)``.

        ``state`` is JSON-able::

            {"seed": the constructor's seed,
             "rng": the shuffling generator's state (get_rng_state()),
             "dropout": the dropout stream's key and pass count (get_dropout_state();
                        only for a network with layers that differ in training),
             "history": {"loss": [...], ...}, the History of the last fit (a value that
                        is not finite, such as an infinite validation loss, as the string
                        "nan", "inf" or "-inf", as in the diagnostics records),
             "diagnostics": its diagnostics records (DiagnosticsLog.to_json(); only when
                            there are some),
             "optimizer": {"name": "adam", "params": its get_params() (tuples as lists),
                           "step": steps taken, "buffers": the buffer names, sorted}}

        ``arrays`` holds the optimizer's buffers (get_optimizer_state()), one contiguous
        array per buffer and parameter, named ``"opt.<buffer>.<parameter>"``
        (``"opt.exp_avg.W1"`` is Adam's first moment of W1). A model file holds both as they
        are: its header's ``"state"`` and its ``state.*`` arrays. :meth:`set_training_state`
        restores them (and reads the older layout ``"opt.<buffer>.<slot>"``, slots 0, 1, 2, ...
        in parameter order)."""
        with self._lock:
            opt = self.get_optimizer_state()
            params = {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in self._optimizer.get_params().items()
            }
            state = {
                "seed": self.seed,
                "rng": self.get_rng_state(),
                "history": floats_to_json({k: list(v) for k, v in self.history.history.items()}),
                "optimizer": {
                    "name": self._optimizer.name,
                    "params": params,
                    "step": opt["step"],
                    "buffers": sorted(opt["buffers"]),
                },
            }
            if self._core.has_training_behaviour:  # random layers (dropout) only
                state["dropout"] = self.get_dropout_state()
            if len(self.history.diagnostics):  # fit(..., diagnostics=...)'s records
                state["diagnostics"] = self.history.diagnostics.to_json()
        names = list(self._core.parameter_names())
        arrays = {
            f"opt.{name}.{names[slot]}": np.ascontiguousarray(a)
            for name, per_slot in opt["buffers"].items()
            for slot, a in enumerate(per_slot)
        }
        return state, arrays

    def set_training_state(self, state: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> None:
        """Restore what :meth:`get_training_state` returned (or a model file holds), so that
        training resumes bit for bit: the seed, the shuffling generator, the history, and the
        optimizer, installed from its name and parameters and then given its step count and
        buffers (for a network of the same shape).

        Entries may be absent, as in files written before they existed: without ``"seed"``
        the seed is None, without ``"rng"`` the generator is kept, without ``"history"`` the
        history is empty, and without ``"optimizer"`` the optimizer and its state are kept.
        Everything is checked first: on an error (ValueError naming the entry; TypeError when
        ``state`` is not a dict) the network is unchanged."""
        if not isinstance(state, dict) or not isinstance(arrays, Mapping):
            raise TypeError(
                "set_training_state takes the (state dict, arrays dict) that "
                "get_training_state() returns"
            )
        seed = state.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"invalid seed {seed!r}")
        rng = self._generator_from(state["rng"]) if "rng" in state else None
        dropout = self._dropout_from(state["dropout"]) if "dropout" in state else None
        history = state.get("history", {})
        if not isinstance(history, dict) or not all(
            isinstance(k, str)
            and isinstance(v, list)
            and all(
                (isinstance(x, (int, float)) and not isinstance(x, bool)) or x in NON_FINITE_JSON
                for x in v
            )
            for k, v in history.items()
        ):
            raise ValueError("invalid training history")
        series: Dict[str, List[float]] = {}
        for k, v in history.items():
            try:
                series[k] = [float(x) for x in v]
            except OverflowError:  # an int such as 10**400, which JSON allows
                raise ValueError(
                    f"invalid training history: {k!r} holds a number beyond the float range"
                ) from None
        diagnostics = DiagnosticsLog.from_json(state.get("diagnostics", []))
        opt = state.get("optimizer")
        optimizer, optimizer_state = None, None
        if opt is not None:
            optimizer, optimizer_state = self._optimizer_from(opt, arrays)
        with self._lock:
            if optimizer is not None:
                previous = self._optimizer_snapshot()
                self.optimizer = optimizer
                try:
                    self.set_optimizer_state(cast(Dict[str, Any], optimizer_state))
                except BaseException:  # e.g. a buffer of the wrong shape: put the old one back
                    self._restore_optimizer(previous)
                    raise
            self.seed = seed
            if rng is not None:
                self._rng = rng
            if dropout is not None:
                self._core.set_random_state(*dropout)
            self.history = History(series, diagnostics=diagnostics)

    def _optimizer_from(
        self, opt: Any, arrays: Mapping[str, np.ndarray]
    ) -> Tuple[Optimizer, Dict[str, Any]]:
        """The optimizer and the state (for set_optimizer_state) of a training state's
        ``"optimizer"`` entry and its buffer arrays."""
        if (
            not isinstance(opt, dict)
            or not isinstance(opt.get("name"), str)
            or not isinstance(opt.get("params", {}), dict)
        ):
            raise ValueError(f"invalid optimizer entry {opt!r:.200}")
        params = {
            k: tuple(v) if isinstance(v, list) else v for k, v in opt.get("params", {}).items()
        }
        try:
            optimizer = type(resolve_optimizer(opt["name"]))(**params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid optimizer {opt['name']!r} {params}: {exc}") from None
        names = opt.get("buffers", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("invalid optimizer buffer list")
        buffers = {}
        for name in names:
            per_slot = []
            for slot, param in enumerate(self._core.parameter_names()):
                # named by parameter; files written before that: by slot number
                a = arrays.get(f"opt.{name}.{param}", arrays.get(f"opt.{name}.{slot}"))
                if a is None:
                    raise ValueError(f"the optimizer buffer {name!r} of {param} is missing")
                per_slot.append(a)
            buffers[name] = per_slot
        return optimizer, {"optimizer": opt["name"], "step": opt.get("step", 0), "buffers": buffers}
