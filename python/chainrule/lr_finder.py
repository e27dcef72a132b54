"""What :meth:`Network.lr_find` returns: the learning rates tried, the loss at each, its
smoothed curve, the suggested rate and a plot (the learning-rate range test of Smith, 2017, as
fastai's ``lr_find`` and Lightning's ``Tuner.lr_find``)."""

from __future__ import annotations

import math
import os
from typing import Any, List, Optional, Sequence, Union

import numpy as np

__all__ = ["LRFinderResult", "Smoother", "smooth_losses", "suggest_lr", "steepest_lr"]


class Smoother:
    """The exponential moving average of the losses with its start-up bias removed, as
    fastai and Lightning smooth them: ``avg_i = beta avg_{i-1} + (1 - beta) loss_i``,
    ``smoothed_i = avg_i / (1 - beta^(i+1))`` (``beta = 0``: the losses themselves)."""

    def __init__(self, beta: float) -> None:
        self.beta, self.avg, self.count = beta, 0.0, 0

    def __call__(self, loss: float) -> float:
        """The smoothed value after ``loss``."""
        self.avg = self.beta * self.avg + (1.0 - self.beta) * loss
        self.count += 1
        return self.avg / (1.0 - self.beta**self.count)


def smooth_losses(losses: Sequence[float], beta: float) -> List[float]:
    """Every smoothed value of a sequence of losses (:class:`Smoother`)."""
    smoother = Smoother(beta)
    return [smoother(loss) for loss in losses]


def suggest_lr(lrs: Sequence[float], smoothed: Sequence[float]) -> Optional[float]:
    """The suggested rate, by fastai's "valley" rule: with L the length of the longest
    strictly decreasing subsequence of the smoothed losses and e the step where it ends (the
    first such step), the rate at step ``e - L + int(L / 3) + int(L / 6)``, about L/2 steps
    back from e: inside the stretch where the loss falls, away from both the noise of the
    first steps and the divergence at the end; step 0 at least (fastai's index is -1, the
    last step, when the longest fall is the first two steps). None when the loss never
    falls."""
    n = len(smoothed)
    if n < 2 or len(lrs) != n:
        return None
    length = [1] * n  # length[i]: the longest decreasing subsequence ending at step i
    for i in range(1, n):
        for j in range(i):
            if smoothed[i] < smoothed[j] and length[j] + 1 > length[i]:
                length[i] = length[j] + 1
    e = max(range(n), key=lambda i: (length[i], -i))  # the first of the longest
    L = length[e]
    if L < 2:
        return None
    return float(lrs[max(e - L + int(L / 3) + int(L / 6), 0)])


def steepest_lr(
    lrs: Sequence[float], smoothed: Sequence[float], skip_start: Optional[int] = None
) -> Optional[float]:
    """The rate of steepest descent of the smoothed loss (Lightning's rule, with its start
    skipped): among the points from ``skip_start`` (default: a tenth of them, at most 10)
    up to the lowest smoothed loss, the one where ``d smoothed / d log(lr)``
    (``np.gradient`` over log lr) is most negative. None with fewer than 3 points to
    compare, or when the loss never falls there. Sensitive to the noise of the first steps:
    :func:`suggest_lr` is the default."""
    n = len(lrs)
    if n < 3 or len(smoothed) != n:
        return None
    s = min(10, n // 10) if skip_start is None else max(0, int(skip_start))
    end = min(max(int(np.argmin(smoothed)), s + 2) + 1, n)  # to the minimum, 3 points at least
    if end - s < 3:
        return None
    x = np.log(np.asarray(lrs[s:end], dtype=np.float64))
    y = np.asarray(smoothed[s:end], dtype=np.float64)
    slope = np.gradient(y, x)
    k = int(np.argmin(slope))
    if not slope[k] < 0:
        return None
    return float(lrs[s + k])


class LRFinderResult:
    """The outcome of :meth:`Network.lr_find`.

    Attributes
    ----------
    lrs : list of float
        The learning rate of each step, growing exponentially from ``start_lr``.
    losses : list of float
        Each step's mini-batch loss, measured before that step's update.
    smoothed : list of float
        ``losses`` smoothed (:func:`smooth_losses`).
    suggestion : float or None
        The suggested learning rate: about halfway through the longest stretch over which
        the smoothed loss falls (fastai's "valley" rule, :func:`suggest_lr`). A starting point,
        not a guarantee: look at :meth:`plot`.
    diverged : bool
        Whether the range test stopped early because the loss diverged (the smoothed loss
        exceeded ``diverge_threshold`` times its minimum, or became non-finite).
    """

    def __init__(
        self,
        lrs: Sequence[float],
        losses: Sequence[float],
        smoothed: Sequence[float],
        diverged: bool,
        suggestion: Optional[float],
    ) -> None:
        self.lrs = list(lrs)
        self.losses = list(losses)
        self.smoothed = list(smoothed)
        self.diverged = bool(diverged)
        self.suggestion = suggestion

    @property
    def steepest_lr(self) -> Optional[float]:
        """The rate where the smoothed loss falls fastest against log(lr) (Lightning's rule,
        :func:`steepest_lr`)."""
        return steepest_lr(self.lrs, self.smoothed)

    @property
    def min_loss_lr(self) -> Optional[float]:
        """The rate at the lowest smoothed loss (fastai's ``lr_min`` is a tenth of it)."""
        return None if not self.smoothed else float(self.lrs[int(np.argmin(self.smoothed))])

    def __repr__(self) -> str:
        suggestion = "None" if self.suggestion is None else f"{self.suggestion:.3g}"
        span = f"{self.lrs[0]:.3g} to {self.lrs[-1]:.3g}" if self.lrs else "no steps"
        return (
            f"LRFinderResult({len(self.lrs)} steps, lr {span}, suggestion {suggestion}"
            f"{', diverged' if self.diverged else ''})"
        )

    def plot(
        self,
        path: Union[None, str, "os.PathLike[str]"] = None,
        *,
        ax: Any = None,
        suggest: bool = True,
    ) -> Any:
        """Draw the smoothed loss (and the raw losses, faintly) against the learning rate on a
        log axis, with the suggested rate marked; returns the Figure. Needs matplotlib.
        ``path`` also saves the figure there; ``ax`` draws into an existing Axes."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "LRFinderResult.plot needs matplotlib, which is not installed: "
                "pip install matplotlib"
            ) from None
        if ax is None:
            fig, ax = plt.subplots(figsize=(5, 3.5))
        else:
            fig = ax.figure
        ax.plot(self.lrs, self.losses, alpha=0.3, label="loss")
        ax.plot(self.lrs, self.smoothed, label="smoothed loss")
        if suggest and self.suggestion is not None:
            k = self.lrs.index(self.suggestion)
            ax.plot(
                [self.suggestion],
                [self.smoothed[k]],
                "o",
                color="red",
                label=f"suggestion {self.suggestion:.2g}",
            )
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        finite = [v for v in self.smoothed if math.isfinite(v)]
        if finite:  # the divergence at the end would squash the interesting part
            low, first = min(finite), finite[0]
            ax.set_ylim(
                low - 0.1 * abs(first - low) - 1e-12, first + 0.5 * abs(first - low) + 1e-12
            )
        ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig
