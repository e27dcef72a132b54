"""Network's learning-rate finder (the range test of Smith, 2017, as fastai's and Lightning's
``lr_find``). A part of :class:`~chainrule.Network`, which inherits it. Each step is one
call of the core's training loop on one mini-batch (which checks the data and the rate); the
loop over the steps, the smoothing and the suggestion are here."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import numpy as np

from . import _core
from ._checks import check_int, real_type
from ._core import DivergenceError
from ._sync import serialised
from .lr_finder import LRFinderResult, Smoother, suggest_lr

__all__ = ["LRFind"]

ArrayLike = Any


class LRFind:
    """Network's :meth:`lr_find`."""

    # set by Network.__init__ and its other parts
    _core: Any
    _rng: np.random.Generator
    _forward_X: Optional[np.ndarray]
    _X: Any
    _Y: Any
    parameters: Any
    buffers: Any
    get_optimizer_state: Any
    set_optimizer_state: Any
    get_rng_state: Any
    set_rng_state: Any
    get_dropout_state: Any
    set_dropout_state: Any

    @serialised
    def lr_find(
        self,
        X: ArrayLike,
        Y: ArrayLike,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        num: int = 100,
        batch_size: int = 32,
        *,
        shuffle: bool = True,
        smooth: float = 0.98,
        diverge_threshold: Optional[float] = 4.0,
    ) -> LRFinderResult:
        """Train on mini-batches with a learning rate growing exponentially from ``start_lr``
        to ``end_lr`` over ``num`` steps, record the loss, and put the network back as it was.

        Step i uses ``lr_i = start_lr (end_lr / start_lr)^(i / (num - 1))`` with the
        network's optimizer (its state carries on from step to step) on the next mini-batch
        of ``batch_size`` rows (a new random order after each pass over the data with
        ``shuffle``; a pass's last, smaller batch is skipped so that every step sees as many
        rows). The recorded loss of a step is its batch's loss before its update. The test
        stops early when the loss diverges: when the smoothed loss exceeds
        ``diverge_threshold`` times its minimum (None: never) or a loss is not finite.

        Afterwards the parameters, the buffers (BatchNorm's running statistics), the
        optimizer's state, the shuffling generator and the dropout stream are exactly what
        they were, whether the test finished, stopped early or raised.

        Parameters
        ----------
        X, Y : arrays
            Training data, as :meth:`fit` takes it.
        start_lr, end_lr : float
            The first and last learning rates (``0 < start_lr < end_lr``).
        num : int
            The number of steps (>= 2).
        batch_size : int
            Rows per step (at most the number of rows).
        smooth : float
            The smoothing factor ``beta`` in [0, 1) of the loss's moving average.
        diverge_threshold : float or None
            Stop when the smoothed loss exceeds this multiple (> 1) of its minimum.

        Returns a :class:`~chainrule.lr_finder.LRFinderResult`: ``lrs``, ``losses``,
        ``smoothed``, ``suggestion`` (halfway through the longest stretch over which the
        smoothed loss falls: fastai's "valley" rule), ``steepest_lr``, ``min_loss_lr`` and
        ``plot()``.
        """
        X, Y = self._X(X, "lr_find"), self._Y(Y)
        start = real_type(start_lr, "lr_find: start_lr")
        end = real_type(end_lr, "lr_find: end_lr")
        for value, name in ((start, "start_lr"), (end, "end_lr")):
            try:
                _core.check_lr(value)
            except ValueError as exc:
                raise ValueError(f"lr_find: {name}: {exc}") from None
        if not start < end:
            raise ValueError(
                f"lr_find: start_lr must be below end_lr, got start_lr={start_lr!r}"
                f", end_lr={end_lr!r}"
            )
        num = check_int(num, "lr_find: num", 2)
        n = X.shape[0]
        bs = min(check_int(batch_size, "lr_find: batch_size", 1), n)
        beta = real_type(smooth, "lr_find: smooth")
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"lr_find: smooth must be in [0, 1), got {smooth!r}")
        if diverge_threshold is not None:
            threshold = real_type(diverge_threshold, "lr_find: diverge_threshold")
            if not (math.isfinite(threshold) and threshold > 1.0):
                raise ValueError(
                    f"lr_find: diverge_threshold must be a finite number > 1 or "
                    f"None, got {diverge_threshold!r}"
                )
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"lr_find: shuffle must be True or False, got {shuffle!r}")
        if math.isfinite(end / start):
            lrs = [start * (end / start) ** (i / (num - 1)) for i in range(num)]
        else:  # a ratio beyond float64 (1e-200 to 1e200; a subnormal start): in logarithms
            low, high = math.log(start), math.log(end)
            lrs = [math.exp(low + (high - low) * i / (num - 1)) for i in range(num)]
            lrs[0], lrs[-1] = start, end
        used = bs * (n // bs)  # the rows of whole batches
        try:  # the core's checks of the data and the batches, once, before anything changes
            self._core.check_fit(X, Y, 1, start, 0, None, None, None, None, None, [])
            # the batches (batch normalisation's rows per batch)
            self._core.check_fit(X[:used], Y[:used], 1, start, bs, None, None, None, None, None, [])
        except ValueError as exc:
            message = str(exc)
            raise ValueError(
                "lr_find: " + (message[5:] if message.startswith("fit: ") else message)
            ) from None

        saved = self._snapshot()
        tried: List[float] = []
        losses: List[float] = []
        smoothed: List[float] = []
        diverged = False
        try:
            order = self._rng.permutation(n) if shuffle else None
            pos = 0
            smoother, best = Smoother(beta), math.inf
            for lr in lrs:
                if pos + bs > n:  # a new pass over the data
                    pos = 0
                    if shuffle:
                        order = self._rng.permutation(n)
                rows = slice(pos, pos + bs) if order is None else order[pos : pos + bs]
                pos += bs
                try:  # one step of the core's training loop on this batch, at rate lr
                    loss = self._core.fit(
                        X[rows], Y[rows], 1, lr, 0, None, None, None, None, None, None, None, []
                    )[0][0]
                except DivergenceError:
                    diverged = True
                    break
                loss = float(loss)
                value = smoother(loss)
                tried.append(lr)
                losses.append(loss)
                smoothed.append(value)
                if not math.isfinite(value):
                    diverged = True
                    break
                best = min(best, value)
                if diverge_threshold is not None and value > threshold * best:
                    diverged = True
                    break
        finally:
            self._restore(saved)
        return LRFinderResult(tried, losses, smoothed, diverged, suggest_lr(tried, smoothed))

    def _snapshot(self) -> Dict[str, Any]:
        """Everything a training step changes (copies)."""
        return {
            "parameters": {k: np.array(v, copy=True) for k, v in self.parameters.items()},
            "buffers": {k: np.array(v, copy=True) for k, v in self.buffers.items()},
            "optimizer": self.get_optimizer_state(),
            "rng": self.get_rng_state(),
            "dropout": self.get_dropout_state(),
        }

    def _restore(self, saved: Dict[str, Any]) -> None:
        parameters, buffers = self.parameters, self.buffers
        for name, value in saved["parameters"].items():
            parameters[name] = value
        for name, value in saved["buffers"].items():
            buffers[name] = value
        self.set_optimizer_state(saved["optimizer"])
        self.set_rng_state(saved["rng"])
        self.set_dropout_state(saved["dropout"])
        self._forward_X = None
