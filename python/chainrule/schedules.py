"""Learning-rate schedules: the learning rate of every epoch of ``fit``.

Each class mirrors the ``torch.optim.lr_scheduler`` class of the same name with its per-epoch
semantics (the scheduler steps once after every epoch); the arithmetic runs in the core. A
schedule starts from the base learning rate of the fit (fit's ``lr``, else the optimizer's)
at epoch 0 of every ``fit`` call. ``history.lr`` records the rate of each epoch.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Dict, Optional, Tuple

from . import _registry
from ._checks import ParamsRepr, choice, core_params, int_as_real, real_type

__all__ = [
    "LRSchedule",
    "ConstantLR",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "ReduceLROnPlateau",
    "schedule_names",
    "resolve_schedule",
]


class LRSchedule(ParamsRepr):
    """Base class of the built-in schedules (configuration only: the rates come from C++).

    Each built-in is a registry entry of the core (its ``name``), which holds its parameters'
    defaults and ranges; an entry without a class written here gets one generated with the
    entry's parameters (see the end of this module)."""

    name: str = ""
    _entry: ClassVar[_registry.Entry]

    def __init_subclass__(cls, entry: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if entry:
            cls.name = entry
            cls._entry = _registry.SCHEDULES[entry]
            _CLASSES[entry] = cls

    def get_params(self) -> Dict[str, Any]:
        raise NotImplementedError

    def _core_params(self) -> Dict[str, float]:
        raise NotImplementedError

    def _validate(self) -> "LRSchedule":
        self._entry.check(self._core_params())
        return self


#: factory name -> class, filled by LRSchedule.__init_subclass__
_CLASSES: Dict[str, type] = {}


class ConstantLR(LRSchedule, entry="constant"):
    """``lr * factor`` for the first ``total_iters`` epochs, then ``lr`` (torch's ConstantLR).
    The defaults keep the learning rate constant (the schedule ``"constant"``)."""

    def __init__(self, factor: float = 1.0, total_iters: int = 0) -> None:
        self.factor = factor
        self.total_iters = total_iters
        self._validate()

    def get_params(self) -> Dict[str, Any]:
        return {"factor": self.factor, "total_iters": self.total_iters}

    def _core_params(self) -> Dict[str, float]:
        return {
            "factor": real_type(self.factor, "ConstantLR: factor"),
            "total_iters": int_as_real(self.total_iters, "ConstantLR: total_iters"),
        }


class StepLR(LRSchedule, entry="step"):
    """``lr * gamma ** (epoch // step_size)``."""

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = step_size
        self.gamma = gamma
        self._validate()

    def get_params(self) -> Dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma}

    def _core_params(self) -> Dict[str, float]:
        return {
            "step_size": int_as_real(self.step_size, "StepLR: step_size"),
            "gamma": real_type(self.gamma, "StepLR: gamma"),
        }


class ExponentialLR(LRSchedule, entry="exponential"):
    """``lr * gamma ** epoch``."""

    def __init__(self, gamma: float) -> None:
        self.gamma = gamma
        self._validate()

    def get_params(self) -> Dict[str, Any]:
        return {"gamma": self.gamma}

    def _core_params(self) -> Dict[str, float]:
        return {"gamma": real_type(self.gamma, "ExponentialLR: gamma")}


class CosineAnnealingLR(LRSchedule, entry="cosine"):
    """``eta_min + (lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``, periodic past T_max
    as in torch; ``T_max=None`` takes the number of epochs of the fit."""

    def __init__(self, T_max: Optional[int] = None, eta_min: float = 0.0) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        self._validate()

    def get_params(self) -> Dict[str, Any]:
        return {"T_max": self.T_max, "eta_min": self.eta_min}

    def _core_params(self) -> Dict[str, float]:
        params = {"eta_min": real_type(self.eta_min, "CosineAnnealingLR: eta_min")}
        if self.T_max is not None:  # omitted: the core takes the fit's number of epochs
            params["T_max"] = int_as_real(self.T_max, "CosineAnnealingLR: T_max")
        return params


class ReduceLROnPlateau(LRSchedule, entry="reduce_on_plateau"):
    """Multiply the learning rate by ``factor`` once the monitored loss has not improved for
    more than ``patience`` epochs (torch's ReduceLROnPlateau, stepped after every epoch).

    ``monitor="val_loss"`` (the default) needs validation data in fit; ``"loss"`` watches the
    training loss. Improvement means ``< best * (1 - threshold)`` (mode "min", relative
    threshold) or ``< best - threshold`` (``threshold_mode="abs"``); "max" mirrors it."""

    def __init__(
        self,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
        monitor: str = "val_loss",
    ) -> None:
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.eps = eps
        self.monitor = monitor
        self._validate()

    def get_params(self) -> Dict[str, Any]:
        return {
            "mode": self.mode,
            "factor": self.factor,
            "patience": self.patience,
            "threshold": self.threshold,
            "threshold_mode": self.threshold_mode,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
            "eps": self.eps,
            "monitor": self.monitor,
        }

    def _core_params(self) -> Dict[str, float]:
        o = "ReduceLROnPlateau"
        return {
            "mode_max": float(choice(self.mode, f"{o}: mode", ("min", "max")) == "max"),
            "factor": real_type(self.factor, f"{o}: factor"),
            "patience": int_as_real(self.patience, f"{o}: patience"),
            "threshold": real_type(self.threshold, f"{o}: threshold"),
            "threshold_abs": float(
                choice(self.threshold_mode, f"{o}: threshold_mode", ("rel", "abs")) == "abs"
            ),
            "cooldown": int_as_real(self.cooldown, f"{o}: cooldown"),
            "min_lr": real_type(self.min_lr, f"{o}: min_lr"),
            "eps": real_type(self.eps, f"{o}: eps"),
            "monitor_validation": float(
                choice(self.monitor, f"{o}: monitor", ("val_loss", "loss")) == "val_loss"
            ),
        }


class _Generated(LRSchedule):
    """A schedule of the core without a class written above, made from its registry entry:
    its parameters are the entry's (None: the default, or the core's choice)."""

    _signature: ClassVar[inspect.Signature]

    def __init_subclass__(cls, entry: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(entry=entry, **kwargs)
        if entry:
            cls._signature = cls._entry.signature()
            cls.__signature__ = cls._signature  # type: ignore[attr-defined]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for name, value in _registry.bind(
            self._signature, type(self).__name__, args, kwargs
        ).items():
            setattr(self, name, value)
        self._validate()

    def get_params(self) -> Dict[str, Any]:
        return {p.name: getattr(self, p.name) for p in self._entry.params}

    def _core_params(self) -> Dict[str, float]:
        return core_params(self._entry, self.get_params())


def schedule_names() -> list:
    """Names of the built-in schedules."""
    return _registry.SCHEDULES.names()


def core_spec(schedule: LRSchedule) -> Tuple[str, Dict[str, float]]:
    """What the core's schedule factory takes: ``(name, parameters)``."""
    return (schedule.name, schedule._core_params())


def resolve_schedule(spec: Any) -> Optional[LRSchedule]:
    """None, or an :class:`LRSchedule` from a name or an instance (re-validated)."""
    if spec is None:
        return None
    if isinstance(spec, LRSchedule):
        return spec._validate()
    if isinstance(spec, str):
        entry = _registry.SCHEDULES.lookup(spec)  # the core's ValueError lists the valid names
        if any(p.required for p in entry.params):  # a name alone cannot build it
            try:
                entry.check({})
            except ValueError as exc:  # "lr_schedule 'step' needs step_size", with an example
                example = entry.properties.get("example")
                raise ValueError(
                    f"{exc} (e.g. cr.{entry.class_name}({example}))" if example else str(exc)
                ) from None
        return _CLASSES[entry.name]()  # type: ignore[no-any-return]
    raise TypeError(
        "lr_schedule must be a name ('cosine', ...) or a schedule object like "
        f"chainrule.StepLR(step_size=10), got {type(spec).__name__}"
    )


# Built-ins of the core without a class above: generated from their registry entries.
_registry.export(
    globals(),
    __all__,
    _CLASSES,
    lambda entry: _registry.generated_class(entry, _Generated, __name__),
    _registry.SCHEDULES,
)
