"""Per-layer training diagnostics: the options of ``fit(..., diagnostics=...)``, the records fit
collects (``history.diagnostics``), and ``net.diagnose(X, Y)``'s table with its plain-words
flags. The figures are computed by the core's training loop (training/diagnostics.hpp); here
their options, containers and presentation."""

from __future__ import annotations

import math
import numbers
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union, overload

__all__ = ["Diagnostics", "DiagnosticsLog", "Diagnosis", "resolve", "FIGURES"]

#: The figures of each layer in a record, in table order (absent ones are None).
FIGURES = (
    "h_mean",
    "h_std",
    "dead_fraction",
    "saturated_fraction",
    "w_norm",
    "dw_norm",
    "b_norm",
    "db_norm",
    "update_ratio",
)


def _count(value: Any, what: str) -> int:
    if isinstance(value, (bool, float)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"Diagnostics: {what} must be an integer, got {value!r}")
    return int(value)  # its range: the core


class Diagnostics:
    """What ``fit(..., diagnostics=Diagnostics(...))`` records (``diagnostics=True`` is
    ``Diagnostics()``).

    Parameters
    ----------
    every : int, optional
        A record after every ``every``-th epoch (default 1: every epoch), made at the end of
        that epoch's last step.
    every_steps : int, optional
        Instead: a record after every ``every_steps``-th training step of the fit (steps
        counted across epochs; the steps after the last multiple are not recorded). Give
        ``every`` or ``every_steps``, not both.
    histograms : bool
        Also fixed-bin histograms of H, dZ (of the record's last step) and W (after it).
    bins : int
        Bins per histogram (1 to 10000).
    """

    def __init__(
        self,
        every: Optional[int] = None,
        *,
        every_steps: Optional[int] = None,
        histograms: bool = False,
        bins: int = 20,
    ) -> None:
        if every is not None and every_steps is not None:
            raise ValueError("Diagnostics: give every (epochs) or every_steps, not both")
        self.every = 1 if every is None else _count(every, "every")
        self.every_steps = None if every_steps is None else _count(every_steps, "every_steps")
        if not isinstance(histograms, bool):
            raise TypeError(f"Diagnostics: histograms must be True or False, got {histograms!r}")
        self.histograms = histograms
        self.bins = _count(bins, "bins")

    def core_spec(self) -> Tuple[int, int, bool, int]:
        """(every_epochs, every_steps (0: by epoch), histograms, bins) as the core takes it."""
        steps = self.every_steps
        if steps is not None and steps < 1:  # 0 means "by epoch" to the core
            raise ValueError(f"diagnostics: every_steps must be >= 1, got {steps}")
        return (self.every, steps or 0, self.histograms, self.bins)

    def __repr__(self) -> str:
        when = f"every_steps={self.every_steps}" if self.every_steps else f"every={self.every}"
        extra = f", histograms=True, bins={self.bins}" if self.histograms else ""
        return f"Diagnostics({when}{extra})"


def resolve(diagnostics: Any) -> Optional[Diagnostics]:
    """fit's ``diagnostics`` argument: None/False (off), True or a :class:`Diagnostics`."""
    if diagnostics is None or diagnostics is False:
        return None
    if diagnostics is True:
        return Diagnostics()
    if isinstance(diagnostics, Diagnostics):
        return diagnostics
    raise TypeError(
        "diagnostics must be True, False or a chainrule.Diagnostics(every=..., "
        f"histograms=...), got {type(diagnostics).__name__}"
    )


Record = Dict[str, Any]


class DiagnosticsLog(Sequence[Record]):
    """The records of a fit, in order: each ``{"epoch": e, "step": s, "layers": [...]}``, one
    dict per layer with ``"layer"`` (its number, as in messages and ``net.layers``),
    ``"kind"``, ``"activation"``, the figures of :data:`FIGURES` and, with histograms,
    ``"histograms": {"H": {"edges": [...], "counts": [...]}, "dZ": ..., "W": ...}``.

    ``epoch`` is the 0-based epoch the record was made in (the callbacks' ``epoch``, an index
    into ``history.loss``) and ``step`` the number of steps fit had run then. While fit runs,
    the network's ``diagnostics`` attribute is this log, so a callback reads the latest record
    as ``network.diagnostics.latest`` at the end of an epoch."""

    def __init__(self, records: Optional[Sequence[Record]] = None) -> None:
        self._records: List[Record] = list(records or [])

    def append(self, record: Record) -> None:
        self._records.append(record)

    @overload
    def __getitem__(self, i: int) -> Record: ...

    @overload
    def __getitem__(self, i: slice) -> List[Record]: ...

    def __getitem__(self, i: Union[int, slice]) -> Union[Record, List[Record]]:
        return self._records[i]

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DiagnosticsLog):
            other = other._records
        return isinstance(other, list) and _same(self._records, other)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"DiagnosticsLog({len(self)} records)"

    @property
    def latest(self) -> Optional[Record]:
        """The last record (None before the first)."""
        return self._records[-1] if self._records else None

    def to_dataframe(self) -> Any:
        """A pandas DataFrame, one row per record and layer: ``epoch``, ``step``, ``layer``,
        ``kind``, ``activation`` and the figures (histograms left out). Needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "DiagnosticsLog.to_dataframe needs pandas, which is not "
                "installed: pip install pandas"
            ) from None
        columns = ["epoch", "step", "layer", "kind", "activation", *FIGURES]
        rows = [
            [r["epoch"], r["step"]] + [layer[c] for c in columns[2:]]
            for r in self._records
            for layer in r["layers"]
        ]
        return pd.DataFrame(rows, columns=columns)

    def to_json(self) -> List[Record]:
        """The records with non-finite numbers as the strings "nan", "inf", "-inf" (a model
        file's JSON has no NaN)."""
        return floats_to_json(self._records)

    @classmethod
    def from_json(cls, records: Any) -> "DiagnosticsLog":
        """The inverse of :meth:`to_json`; ValueError on anything but a list of records."""
        if not isinstance(records, list) or not all(
            isinstance(r, dict)
            and isinstance(r.get("epoch"), int)
            and isinstance(r.get("step"), int)
            and isinstance(r.get("layers"), list)
            and all(
                isinstance(layer, dict) and all(k in layer for k in FIGURES)
                for layer in r["layers"]
            )
            for r in records
        ):
            raise ValueError("invalid diagnostics records")
        try:
            return cls(floats_from_json(records))
        except RecursionError:  # a file's lists nested as deep as json reads them
            raise ValueError("invalid diagnostics records (nested too deeply)") from None


#: How a file's JSON, which has no NaN or infinity, writes such floats
NON_FINITE_JSON = ("nan", "inf", "-inf")


def floats_to_json(x: Any) -> Any:
    """``x`` (nested dicts and lists) with each float that is not finite as the string "nan",
    "inf" or "-inf": the encoding of the diagnostics records and of the training history in a
    model file."""
    return _map_floats(x, lambda v: v if math.isfinite(v) else repr(v))


def floats_from_json(x: Any) -> Any:
    """The inverse of :func:`floats_to_json`."""
    return _map_floats(x, float, strings=NON_FINITE_JSON)


def _map_floats(x: Any, f: Any, strings: Tuple[str, ...] = ()) -> Any:
    if isinstance(x, dict):
        return {k: _map_floats(v, f, strings) for k, v in x.items()}
    if isinstance(x, list):
        return [_map_floats(v, f, strings) for v in x]
    if isinstance(x, float) or (isinstance(x, str) and x in strings):
        return f(x)
    return x


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


# -- net.diagnose: the table and its flags ------------------------------------------------------

#: Thresholds of diagnose's flags (plain words, not a verdict): a layer with more than this
#: fraction of dead units or of saturated values; a weight gradient more than VANISHING times
#: smaller than the largest layer's, or larger than EXPLODING times its weights; an update
#: ratio (with an lr) more than UPDATE_FACTOR times away from ~1e-3.
DEAD, SATURATED, VANISHING, EXPLODING, UPDATE_FACTOR = 0.3, 0.3, 1e-3, 1.0, 10.0


def problems(layers: Sequence[Record], lr: Optional[float] = None) -> List[str]:
    """Plain-words flags for the figures of one batch (see the thresholds above)."""
    out: List[str] = []
    grads = [layer["dw_norm"] for layer in layers if layer["dw_norm"] is not None]
    largest = max((g for g in grads if math.isfinite(g)), default=0.0)
    for layer in layers:
        name = f"layer {layer['layer']}"
        act = layer["activation"]
        dead, sat = layer["dead_fraction"], layer["saturated_fraction"]
        if dead is not None and dead > DEAD:
            out.append(
                f"{name}: {dead:.0%} dead units ({act} outputs 0 for every row: "
                "lower the lr, or try leaky_relu / He initialisation)"
            )
        if sat is not None and sat > SATURATED:
            out.append(
                f"{name}: {sat:.0%} of the {act} outputs are saturated (within 3% of "
                "its bounds, where the gradient vanishes: scale the inputs, or use "
                "smaller initial weights)"
            )
        g, w = layer["dw_norm"], layer["w_norm"]
        if g is None:
            continue
        if not math.isfinite(g):
            out.append(f"{name}: the weight gradient is not finite")
        elif g == 0:
            out.append(f"{name}: ||dW|| is 0: no gradient reaches its weights")
        elif w == 0:  # (the update ratio lr ||dW|| / ||W|| is infinite)
            out.append(
                f"{name}: ||W|| is 0 while ||dW|| = {g:.3g}: the layer ignores its input "
                "(weights set to zero: initialise them randomly)"
            )
        elif w and g > EXPLODING * w:
            out.append(
                f"{name}: exploding gradient: ||dW|| = {g:.3g} is larger than ||W|| = "
                f"{w:.3g} (lower the lr or clip_norm)"
            )
        elif largest > 0 and g < VANISHING * largest:
            out.append(
                f"{name}: vanishing gradient: ||dW|| = {g:.3g}, "
                f"{g / largest:.1e} times the largest layer's"
            )
        ratio = layer["update_ratio"]
        if lr is not None and ratio is not None and math.isfinite(ratio) and ratio > 0:
            if ratio > 1e-3 * UPDATE_FACTOR:
                out.append(
                    f"{name}: update ratio {ratio:.1e} (lr ||dW|| / ||W||) is far above "
                    "~1e-3: the lr may be too large"
                )
            elif ratio < 1e-3 / UPDATE_FACTOR:
                out.append(
                    f"{name}: update ratio {ratio:.1e} (lr ||dW|| / ||W||) is far below "
                    "~1e-3: the lr may be too small"
                )
    return out


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if v == 0 or 1e-3 <= abs(v) < 1e4 else f"{v:.2e}"
    return str(v)


def _percent(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.0%}" if math.isfinite(v) else str(v)


class Diagnosis:
    """What ``net.diagnose(X, Y)`` measured: ``str()`` is the table (one row per layer) and
    the flags; ``layers`` the per-layer dicts (as in a record), ``problems`` the flags,
    ``loss`` is not measured here."""

    def __init__(self, record: Record, lr: Optional[float], rows: int) -> None:
        self.layers: List[Record] = record["layers"]
        self.lr = lr
        self.rows = rows
        self.problems: List[str] = problems(self.layers, lr)

    def __getitem__(self, layer: int) -> Record:
        """The figures of a layer by its number (1-based, as in messages)."""
        for d in self.layers:
            if d["layer"] == layer:
                return d
        raise KeyError(f"no layer {layer}; layers: {[d['layer'] for d in self.layers]}")

    def to_dataframe(self) -> Any:
        return (
            DiagnosticsLog([{"epoch": 0, "step": 0, "layers": self.layers}])
            .to_dataframe()
            .drop(columns=["epoch", "step"])
        )

    def __str__(self) -> str:
        heads = [
            "layer",
            "kind",
            "act",
            "H mean",
            "H std",
            "dead",
            "saturated",
            "||W||",
            "||dW||",
            "||b||",
            "||db||",
            "update" + ("" if self.lr else " (no lr)"),
        ]
        rows = [
            [str(d["layer"]), d["kind"], d["activation"] or "-"]
            + [_percent(d[k]) if k.endswith("_fraction") else _cell(d[k]) for k in FIGURES]
            for d in self.layers
        ]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
        line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths)).rstrip()
        out = [
            f"Diagnosis of one batch of {self.rows} rows"
            + (f" (update ratio for lr={self.lr:g})" if self.lr else ""),
            line(heads),
            line(["-" * w for w in widths]),
        ] + [line(r) for r in rows]
        out.append("")
        out += [f"! {p}" for p in self.problems] or ["no problems seen"]
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)
