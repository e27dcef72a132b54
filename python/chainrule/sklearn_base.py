"""The part the scikit-learn estimators share (:mod:`chainrule.sklearn`): their parameters,
the network and optimizer they build, and the training loop over Network.fit."""

from __future__ import annotations

import functools
import numbers
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

import numpy as np

try:
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.utils.class_weight import compute_class_weight
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # pragma: no cover - exercised when scikit-learn is absent
    raise ImportError("chainrule.sklearn needs scikit-learn: pip install scikit-learn") from exc

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def validate_data(est: Any, *args: Any, **kwargs: Any) -> Any:
        return est._validate_data(*args, **kwargs)


from . import _core, _registry
from . import callbacks as _callbacks
from . import optimizers as _optimizers
from ._checks import core_number, real_type
from .data import resolve_dtype
from .layers import core_spec as layer_spec
from .layers import layer_class, resolve_layers
from .network import Network

__all__ = ["BaseMLP", "NoImprovement", "keeps_state_on_error", "sample_weights"]

_Method = TypeVar("_Method", bound=Callable[..., Any])


def keeps_state_on_error(method: _Method) -> _Method:
    """fit and partial_fit: a call that raises leaves the estimator as it was: its attributes
    (a fitted estimator keeps its network, coefs_, classes_ and n_features_in_, not the fresh
    network a failed refit built) and the state of the network itself, which a warm fit or
    partial_fit trains in place (its weights, running statistics, optimizer, generator,
    dropout stream and history, from before the call)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        saved = dict(self.__dict__)
        net = saved.get("network_")
        snapshot = None
        if net is not None:  # copies of its arrays: a fraction of a step's cost
            values = {k: np.array(v) for k, v in (*net.parameters.items(), *net.buffers.items())}
            snapshot = (net.get_training_state(), values)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            if snapshot is not None:
                (state, arrays), values = snapshot
                net.set_training_state(state, arrays)
                for k, v in values.items():
                    (net.parameters if k in net.parameters else net.buffers)[k] = v
            raise

    return wrapper  # type: ignore[return-value]


Dropout = layer_class("dropout")


def _split_class_weight(
    Y: np.ndarray, tr: np.ndarray, va: np.ndarray, class_weight: Any
) -> Tuple[Dict[int, float], np.ndarray]:
    """early_stopping with class_weight: each class's weight as a dict for the training rows
    ("balanced": counted over them, as Network.fit counts the rows it trains on) and the
    validation rows' weights, so that the loss that picks the best epoch weighs the classes as
    training does (as scikit-learn's SGDClassifier weighs its validation rows)."""
    labels = np.argmax(Y, axis=1) if Y.shape[1] > 1 else (Y[:, 0] > 0.5).astype(np.intp)
    if isinstance(class_weight, str):  # "balanced" (Network.fit refuses anything else)
        present = np.unique(labels[tr])
        weights = compute_class_weight(class_weight, classes=present, y=labels[tr])
        per_class = {int(c): float(w) for c, w in zip(present, weights)}
    else:
        per_class = {int(c): w for c, w in dict(class_weight).items()}
    return per_class, np.array([per_class.get(int(c), 1.0) for c in labels[va]], float)


_SKLEARN_ACTIVATION_NAMES = {"identity": "linear", "logistic": "sigmoid"}
_SKLEARN_NAME_OF = {ours: theirs for theirs, ours in _SKLEARN_ACTIVATION_NAMES.items()}


class BaseMLP(BaseEstimator):
    """Parameters and the training loop shared by the regressor and the classifier."""

    _loss = "mse"

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: Any = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: Any = "auto",
        learning_rate_init: float = 0.001,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Optional[int] = None,
        tol: float = 1e-4,
        verbose: Any = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        dtype: str = "float64",
        dropout: float = 0.0,
        warm_start: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype
        self.dropout = dropout
        self.warm_start = warm_start

    # ---- configuration -------------------------------------------------------------------

    def _hidden(self) -> List[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = [sizes]
        try:
            sizes = list(sizes)
        except TypeError:
            raise TypeError(
                f"hidden_layer_sizes must be an int or a sequence of ints, got "
                f"{self.hidden_layer_sizes!r}"
            ) from None
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
                raise ValueError(
                    f"hidden_layer_sizes must contain integers >= 1, got "
                    f"{self.hidden_layer_sizes!r}"
                )
        return [int(s) for s in sizes]

    def _hidden_activations(self, n_hidden: int) -> List[Any]:
        acts = self.activation
        if isinstance(acts, (str, bytes)) or not isinstance(acts, Sequence):
            acts = [acts] * n_hidden
        acts = list(acts)
        if len(acts) != n_hidden:
            raise ValueError(f"activation has {len(acts)} entries for {n_hidden} hidden layers")
        return [_SKLEARN_ACTIVATION_NAMES.get(a, a) if isinstance(a, str) else a for a in acts]

    def _batch(self, n: int) -> int:
        if isinstance(self.batch_size, str):
            if self.batch_size != "auto":
                raise ValueError(
                    f"batch_size must be 'auto' or an int >= 1, got {self.batch_size!r}"
                )
            return min(200, n)
        if (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, numbers.Integral)
            or self.batch_size < 1
        ):
            raise ValueError(f"batch_size must be 'auto' or an int >= 1, got {self.batch_size!r}")
        return min(int(self.batch_size), n)

    def _optimizer(self, batch: float) -> Any:
        """The optimizer; ``batch`` is the expected weight of a batch (rows times the mean
        sample weight), so that alpha penalises like scikit-learn's alpha / (2 batch) ||W||^2
        and weighting a row by k equals repeating it k times.

        Any optimizer of the core is a solver: each takes, of scikit-learn's parameters,
        those its registry entry has (``_SOLVER_PARAMS``), checked against the entry's ranges
        under scikit-learn's names."""
        solvers = _registry.OPTIMIZERS.names()
        if self.solver not in _registry.OPTIMIZERS:
            raise ValueError(
                f"solver must be one of {', '.join(map(repr, solvers))}, got "
                f"{self.solver!r}"
                + (" (L-BFGS is not available in chainrule)" if self.solver == "lbfgs" else "")
            )
        entry = _registry.OPTIMIZERS[self.solver]
        # converted outside the try: its errors name learning_rate_init already
        lr = real_type(self.learning_rate_init, "learning_rate_init")
        try:
            _core.check_lr(lr)
        except ValueError as exc:
            raise ValueError(f"learning_rate_init: {exc}") from None
        params = {}
        for param, (shown_as, value) in self._solver_params().items():
            if any(p.name == param for p in entry.params):
                entry.check_value(
                    param, core_number(entry.param(param).kind, value, shown_as), shown_as
                )
                params[param] = value
        if "weight_decay" in params:
            params["weight_decay"] = float(self.alpha) / batch
        return _optimizers.from_core_params(self.solver, self.learning_rate_init, params)

    def _solver_params(self) -> Dict[str, Any]:
        """Optimizer parameter -> (scikit-learn's name, value)."""
        return {
            "beta1": ("beta_1", self.beta_1),
            "beta2": ("beta_2", self.beta_2),
            "eps": ("epsilon", self.epsilon),
            "momentum": ("momentum", self.momentum),
            # Nesterov momentum needs momentum
            "nesterov": ("nesterovs_momentum", bool(self.nesterovs_momentum) and self.momentum > 0),
            "weight_decay": ("alpha", self.alpha),
        }

    def _check_params(self) -> None:
        for name in ("max_iter", "n_iter_no_change"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not (0 < real_type(self.validation_fraction, "validation_fraction") < 1):
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}"
            )
        if not (np.isfinite(real_type(self.tol, "tol")) and self.tol >= 0):
            raise ValueError(f"tol must be a finite number >= 0, got {self.tol!r}")
        # scikit-learn's ranges, narrower than the optimizers' own (torch's)
        if not (0 <= real_type(self.momentum, "momentum") <= 1):
            raise ValueError(f"momentum must be in [0, 1], got {self.momentum!r}")
        if not (real_type(self.epsilon, "epsilon") > 0):
            raise ValueError(f"epsilon must be > 0, got {self.epsilon!r}")

    def _seed(self) -> Optional[int]:
        rs = self.random_state
        if rs is None or isinstance(rs, numbers.Integral):
            return rs
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(np.iinfo(np.int32).max))
        raise ValueError(f"random_state must be None, an int or a RandomState, got {rs!r}")

    # ---- training ------------------------------------------------------------------------

    def _layers(self, n_features: int, n_outputs: int) -> Tuple[List[Any], List[Any]]:
        """The network's ``layer_sizes`` and ``activations``, as Network takes them."""
        hidden = self._hidden()
        acts = self._hidden_activations(len(hidden)) + [self._output_activation(n_outputs)]
        layers: List[Any] = [n_features]
        for n in hidden:  # dropout after each hidden layer (the core checks the rate)
            layers += [n] + ([Dropout(real_type(self.dropout, "dropout"))] if self.dropout else [])
        return layers + [n_outputs], acts

    def _new_network(self, n_features: int, n_outputs: int, seed: Optional[int]) -> Network:
        layers, acts = self._layers(n_features, n_outputs)
        return Network(layers, acts, self._loss_for(n_outputs), dtype=self.dtype, seed=seed)

    def _warm(self) -> bool:
        """Whether ``fit`` continues from the fitted network (``warm_start``)."""
        return bool(self.warm_start) and hasattr(self, "network_")

    def _check_warm_network(self, n_features: int, n_outputs: int) -> None:
        """A ``warm_start`` fit trains the fitted network: the parameters must still describe
        it (its layers, activations, dropout and dtype), else fit raises rather than train a
        network other than the one they name."""
        net = self.network_
        n_in, layers = resolve_layers(*self._layers(n_features, n_outputs), "linear")
        dtype = np.dtype(resolve_dtype(self.dtype))
        now = [n_in] + [layer_spec(c) for c in layers], dtype
        if now != ([net.layer_sizes[0]] + [layer_spec(c) for c in net.layer_configs], net.dtype):
            raise ValueError(
                f"warm_start=True continues the fitted network ({net.layer_sizes[0]} -> "
                f"{net.layer_configs}, {net.dtype}), but the parameters now describe another "
                f"({n_in} -> {layers}, {dtype}): set warm_start=False to fit a new network"
            )

    def _output_activation(self, n_outputs: int) -> str:
        return "linear"

    def _loss_for(self, n_outputs: int) -> str:
        return self._loss

    def _train(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        sample_weight: Optional[np.ndarray],
        epochs: int,
        incremental: bool,
        stratify: Optional[np.ndarray] = None,
        class_weight: Any = None,
    ) -> None:
        self._check_params()
        if incremental and self.early_stopping:  # as scikit-learn's
            raise ValueError("partial_fit does not support early_stopping=True")
        seed = self._seed()
        n = X.shape[0]
        warm = not incremental and self._warm()
        if warm:  # as scikit-learn's: the weights go on, with a new optimizer
            self._check_warm_network(X.shape[1], Y.shape[1])
            self.n_iter_ = 0
            if self.early_stopping and self.validation_scores_ is None:
                self.validation_scores_ = []
            new_optimizer = True
        elif not incremental or not hasattr(self, "network_"):
            self.network_ = self._new_network(X.shape[1], Y.shape[1], seed)
            self.loss_curve_: List[float] = []
            self.validation_scores_: Optional[List[float]] = [] if self.early_stopping else None
            self.n_iter_ = 0
            self.t_ = 0
            self.best_loss_: Optional[float] = None
            new_optimizer = True
        else:
            new_optimizer = False
        batch = self._batch(n)
        kwargs: Dict[str, Any] = dict(
            batch_size=batch, shuffle=bool(self.shuffle), verbose=2 if self.verbose else 0
        )
        if new_optimizer:
            mean_weight = (
                1.0
                if sample_weight is None or sample_weight.sum() <= 0
                else float(np.mean(sample_weight))
            )
            kwargs["optimizer"] = self._optimizer(batch * mean_weight)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        if class_weight is not None:  # the training rows only, as Network.fit
            kwargs["class_weight"] = class_weight
        if self.early_stopping and not incremental:
            split = train_test_split(
                np.arange(n),
                test_size=self.validation_fraction,
                random_state=seed,
                stratify=stratify
                if stratify is not None and _can_stratify(stratify, self.validation_fraction)
                else None,
            )
            tr, va = split
            w_va = None if sample_weight is None else sample_weight[va]
            if class_weight is not None:
                kwargs["class_weight"], cw_va = _split_class_weight(Y, tr, va, class_weight)
                w_va = cw_va if w_va is None else cw_va * w_va
            kwargs["validation_data"] = (X[va], Y[va]) if w_va is None else (X[va], Y[va], w_va)
            if sample_weight is not None:
                kwargs["sample_weight"] = sample_weight[tr]
            X, Y = X[tr], Y[tr]
            monitor = "val_loss"
        else:
            monitor = "loss"
        stopper = None
        if not incremental:
            stopper = NoImprovement(
                monitor,
                self.n_iter_no_change,
                float(self.tol),
                restore_best_weights=bool(self.early_stopping),
            )
            kwargs["early_stopping"] = stopper
        history = self.network_.fit(X, Y, epochs=epochs, **kwargs)
        if stopper is not None and stopper.stopped_epoch is None and len(history.loss) == epochs:
            # as scikit-learn's MLP: every iteration ran and the loss (or the validation
            # score) still improved by more than tol within the last n_iter_no_change
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({epochs}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,  # (the user's call, past fit and keeps_state_on_error)
            )
        self.loss_curve_ += list(history.loss)
        if self.validation_scores_ is not None and getattr(history, "val_loss", None):
            self.validation_scores_ += [-v for v in history.val_loss]
        self.n_iter_ = len(history.loss)  # this call's epochs (partial_fit: 1), as scikit-learn
        self.t_ += len(history.loss) * X.shape[0]
        if self.loss_curve_:
            self.best_loss_ = min(self.loss_curve_)
        net = self.network_
        self.coefs_ = [np.array(W) for W in net.weights]
        self.intercepts_ = [np.array(b) for b in net.biases]
        self.n_layers_ = len(self.coefs_) + 1  # the dense layers and the input (not Dropout)
        self.n_outputs_ = net.layer_sizes[-1]
        out = net.activations[-1].name
        self.out_activation_ = _SKLEARN_NAME_OF.get(out, out)  # "identity", "logistic", ...

    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.network_.predict(X)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


class NoImprovement(_callbacks.EarlyStopping):
    """scikit-learn's MLP stopping rule (``_update_no_improvement_count``) on a value that is
    lower when better (the training loss, or the validation loss for ``early_stopping``):
    an epoch counts as no improvement when its value exceeds the best so far minus ``tol``
    (any other resets the count), the best follows every decrease, and training stops once
    more than ``n_iter_no_change`` epochs in a row did not improve. With
    ``restore_best_weights`` the weights of the best epoch are put back at the end."""

    def __init__(
        self, monitor: str, n_iter_no_change: int, tol: float, restore_best_weights: bool
    ) -> None:
        super().__init__(
            monitor=monitor,
            patience=n_iter_no_change,
            min_delta=tol,
            restore_best_weights=restore_best_weights,
            mode="min",
        )

    def on_epoch_end(self, epoch: int, logs: Dict[str, float], network: Any) -> Optional[bool]:
        value = logs[self.monitor]
        self._wait = self._wait + 1 if value > self.best - self.min_delta else 0
        if value < self.best:
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self._best_weights = {
                    name: np.array(p, copy=True)
                    for tensors in (network.parameters, network.buffers)
                    for name, p in tensors.items()
                }
        if self._wait > self.patience:
            self.stopped_epoch = epoch
            return False
        return True


def _can_stratify(y: np.ndarray, fraction: float) -> bool:
    _, counts = np.unique(y, return_counts=True)
    n_val = int(np.ceil(fraction * len(y)))
    return bool(counts.min() >= 2 and n_val >= len(counts) and len(y) - n_val >= len(counts))


def sample_weights(sample_weight: Any, X: np.ndarray) -> Optional[np.ndarray]:
    if sample_weight is None:
        return None
    from sklearn.utils.validation import _check_sample_weight

    return _check_sample_weight(sample_weight, X, dtype=np.float64)
