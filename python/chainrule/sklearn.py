"""scikit-learn estimators: :class:`MLPRegressor` and :class:`MLPClassifier`.

Drop-in counterparts of ``sklearn.neural_network.MLPRegressor``/``MLPClassifier`` (same
parameter names where the meaning is the same) that train a :class:`chainrule.Network`. They
work in ``Pipeline``, ``GridSearchCV`` and ``cross_val_score`` and pass
``sklearn.utils.estimator_checks.check_estimator``. scikit-learn is an optional dependency
(``pip install chainrule[sklearn]``); importing this module without it raises ImportError.

As in scikit-learn, ``fit`` stops once the training loss (with ``early_stopping``: the loss
on the held-out ``validation_fraction``) has not fallen below its best so far minus ``tol`` for
more than ``n_iter_no_change`` epochs in a row, and warns with scikit-learn's
``ConvergenceWarning`` when it runs all ``max_iter`` epochs without stopping so
(``partial_fit`` never warns).

Differences from scikit-learn's MLP:

* ``solver`` is one of chainrule's optimizers (``chainrule.optimizer_names()``): ``"adam"``
  (default), ``"sgd"`` (with ``momentum``/``nesterovs_momentum``), ``"adamw"``, ``"rmsprop"``;
  there is no ``"lbfgs"``.
* ``alpha`` is scikit-learn's L2 penalty ``alpha / (2 batch) * ||W||^2`` per batch, applied as
  the optimizer's weight decay ``alpha / batch_size`` (on biases too); so ``loss_curve_`` and
  ``best_loss_`` are the data loss, without scikit-learn's ``alpha / (2 n) ||W||^2`` term.
* There are no ``learning_rate`` / ``power_t`` schedules for ``"sgd"`` (a ``Network.fit``
  takes ``lr_schedule``); X must be dense (sparse X raises TypeError, as the estimator tags
  say); ``coefs_`` and ``intercepts_`` are copies of the network's weights (``network_``
  holds the live ones); with ``dtype="float32"`` ``predict`` returns float32.
* ``activation`` may name any chainrule activation (scikit-learn's ``"identity"`` and
  ``"logistic"`` are accepted too) and may be a list with one entry per hidden layer.
* ``dtype`` chooses float64 (default) or float32 arithmetic.
* ``early_stopping`` watches the validation loss (``validation_scores_`` holds its negative),
  where scikit-learn watches the validation ``score`` (accuracy or R^2).
* ``dropout`` (default 0): the rate of a :class:`chainrule.Dropout` layer after each hidden
  layer (on in training, off in ``predict``; ``random_state`` seeds its masks).
* ``warm_start=True``: as scikit-learn's, ``fit`` continues from the fitted network's
  weights with a new optimizer (built from the parameters as they are now: change
  ``learning_rate_init`` or ``max_iter`` between calls), ``loss_curve_`` goes on and
  ``n_iter_`` counts the call's epochs; the stopping rule starts afresh each call (scikit-learn
  carries its count of epochs without improvement over, so that a warm fit after one that
  stopped stops after its first epoch unless that epoch improves on the best loss). The
  features, outputs or classes and the network the parameters describe must be those of the
  fitted model, else ``fit`` raises ValueError.
* ``MLPRegressor`` fitted on ``y`` of shape (n, 1) predicts shape (n, 1), as it was given;
  scikit-learn's turns such ``y`` into one dimension, with a ``DataConversionWarning``.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

try:
    from sklearn.base import ClassifierMixin, RegressorMixin
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import column_or_1d
except ImportError as exc:  # pragma: no cover - exercised when scikit-learn is absent
    raise ImportError("chainrule.sklearn needs scikit-learn: pip install scikit-learn") from exc

from .sklearn_base import BaseMLP, keeps_state_on_error
from .sklearn_base import sample_weights as _weights
from .sklearn_base import validate_data as _validate_data  # scikit-learn's, or its fallback

__all__ = ["MLPRegressor", "MLPClassifier"]


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regression (squared error) trained by chainrule.

    Parameters as ``sklearn.neural_network.MLPRegressor``; see the module docstring for the
    differences. After ``fit``: ``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_``,
    ``best_loss_``, ``n_features_in_``, ``n_outputs_`` and ``network_`` (the
    :class:`chainrule.Network`)."""

    @keeps_state_on_error
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "MLPRegressor":
        warm = self._warm()
        X, y = _validate_data(
            self,
            X,
            y,
            multi_output=True,
            y_numeric=True,
            reset=not warm,
            dtype=[np.float64, np.float32],
        )
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if warm and Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"warm_start=True: y has {Y.shape[1]} outputs, but the model was fitted with "
                f"{self.n_outputs_}"
            )
        self._y_1d = y.ndim == 1
        w = _weights(sample_weight, X)
        self._train(X, Y.astype(np.float64), w, self.max_iter, incremental=False)
        return self

    @keeps_state_on_error
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> "MLPRegressor":
        """One epoch on (X, y), continuing from the current weights and optimizer state."""
        first = not hasattr(self, "network_")
        X, y = _validate_data(
            self,
            X,
            y,
            multi_output=True,
            y_numeric=True,
            reset=first,
            dtype=[np.float64, np.float32],
        )
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if first:
            self._y_1d = y.ndim == 1
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} outputs, but the model was fitted with {self.n_outputs_}"
            )
        self._train(X, Y.astype(np.float64), _weights(sample_weight, X), 1, incremental=True)
        return self

    def predict(self, X: Any) -> np.ndarray:
        out = self._forward(X)
        return out.ravel() if self._y_1d else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier trained by chainrule: softmax + cross-entropy for
    several classes, sigmoid + binary cross-entropy for two classes and for multi-label
    targets (an indicator matrix).

    Parameters as ``sklearn.neural_network.MLPClassifier``, plus ``class_weight`` as in
    scikit-learn's linear classifiers: None, ``{label: weight}`` (other classes weigh 1) or
    ``"balanced"`` (``n / (k * bincount(y))`` over the rows trained on, without early
    stopping's validation rows), times the sample weights, passed to ``Network.fit``; with
    ``early_stopping``, the validation rows are weighted by class too (as SGDClassifier's), so
    that the loss that picks the best epoch weighs the classes as training does. Not for
    multi-label targets, and ``partial_fit`` takes a dict only. ``alpha``'s scale is the mean
    *sample* weight, class weights left out. After ``fit`` also ``classes_``."""

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
        class_weight: Any = None,
    ) -> None:
        super().__init__(
            hidden_layer_sizes,
            activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            dtype=dtype,
            dropout=dropout,
            warm_start=warm_start,
        )
        self.class_weight = class_weight

    def _class_weight(self, incremental: bool) -> Any:
        """``class_weight`` as Network.fit takes it: a dict's labels become class indices (their
        position in ``classes_``); "balanced" and other values go through, for fit to check."""
        cw = self.class_weight
        if cw is not None and self._kind == "multilabel":
            raise ValueError("class_weight is not supported for multi-label targets")
        if incremental and isinstance(cw, str) and cw == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit: pass "
                "sklearn.utils.class_weight.compute_class_weight's as a dict"
            )
        if not isinstance(cw, dict):
            return cw
        index = {c: i for i, c in enumerate(self.classes_)}
        unknown = [k for k in cw if k not in index]
        if unknown:
            raise ValueError(
                f"class_weight: the label(s) {unknown} are not classes of y ({list(self.classes_)})"
            )
        return {index[k]: v for k, v in cw.items()}

    def _output_activation(self, n_outputs: int) -> str:
        return "softmax" if self._kind == "multiclass" else "sigmoid"

    def _loss_for(self, n_outputs: int) -> str:
        return "cross_entropy" if self._kind == "multiclass" else "binary_cross_entropy"

    def _encode(self, y: np.ndarray, fit_labels: bool) -> np.ndarray:
        if fit_labels:
            self._binarizer = LabelBinarizer()
            self._binarizer.fit(y)
            self.classes_ = self._binarizer.classes_
            target = type_of_target(y)
            self._kind = (
                "multilabel"
                if target == "multilabel-indicator"
                else "binary"
                if len(self.classes_) <= 2
                else "multiclass"
            )
        elif not set(np.unique(y)).issubset(set(self.classes_)) and self._kind != "multilabel":
            unseen = sorted(set(np.unique(y)) - set(self.classes_))
            raise ValueError(f"y contains classes not seen in the first call: {unseen}")
        Y = self._binarizer.transform(y).astype(np.float64)
        return Y

    @keeps_state_on_error
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "MLPClassifier":
        warm = self._warm()
        X, y = _validate_data(
            self, X, y, multi_output=True, reset=not warm, dtype=[np.float64, np.float32]
        )
        check_classification_targets(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if warm:
            self._check_warm_classes(y)
        Y = self._encode(y, fit_labels=not warm)
        if len(self.classes_) < 2 and self._kind != "multilabel":
            raise ValueError(
                f"MLPClassifier needs samples of at least 2 classes in y; got "
                f"1 class ({self.classes_[0]!r})"
            )
        self._train(
            X,
            Y,
            _weights(sample_weight, X),
            self.max_iter,
            incremental=False,
            stratify=y if y.ndim == 1 else None,
            class_weight=self._class_weight(incremental=False),
        )
        return self

    def _check_warm_classes(self, y: np.ndarray) -> None:
        """As scikit-learn's: a ``warm_start`` fit takes the classes of the fitted model."""
        if (type_of_target(y) == "multilabel-indicator") != (self._kind == "multilabel"):
            raise ValueError(
                f"warm_start=True: y is {type_of_target(y)}, but the model was fitted on "
                f"{'multi-label' if self._kind == 'multilabel' else 'single-label'} targets"
            )
        if self._kind == "multilabel":
            if y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"warm_start=True: y has {y.shape[1]} labels, but the model was fitted "
                    f"with {len(self.classes_)}"
                )
            return
        classes = np.unique(y)
        if set(classes) != set(self.classes_):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the previous "
                f"call to fit. Previously got {self.classes_}, `y` has {classes}"
            )

    @keeps_state_on_error
    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> "MLPClassifier":
        """One epoch on (X, y); the first call needs ``classes`` (all labels that will occur)."""
        first = not hasattr(self, "network_")
        X, y = _validate_data(
            self, X, y, multi_output=True, reset=first, dtype=[np.float64, np.float32]
        )
        check_classification_targets(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        if first and type_of_target(y) == "multilabel-indicator":
            # multi-label: the classes are y's columns, as scikit-learn's partial_fit takes them
            if not np.array_equal(np.unique(np.asarray(classes)), np.arange(y.shape[1])):
                raise ValueError(
                    f"classes={classes!r}: a multi-label y's classes are its column indices, "
                    f"0 to {y.shape[1] - 1}"
                )
            self._encode(y, fit_labels=True)
        elif first:
            all_classes = np.unique(np.asarray(classes))
            if len(all_classes) < 2:
                raise ValueError(
                    f"MLPClassifier needs at least 2 classes; classes={classes!r} has "
                    f"{len(all_classes)}"
                )
            self._binarizer = LabelBinarizer().fit(all_classes)
            self.classes_ = self._binarizer.classes_
            self._kind = "binary" if len(self.classes_) <= 2 else "multiclass"
        elif classes is not None and not np.array_equal(
            np.unique(np.asarray(classes)), self.classes_
        ):
            raise ValueError(f"classes={classes!r} differs from the first call's {self.classes_!r}")
        Y = self._encode(y, fit_labels=False)
        self._train(
            X,
            Y,
            _weights(sample_weight, X),
            1,
            incremental=True,
            class_weight=self._class_weight(incremental=True),
        )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in ``classes_`` order."""
        out = self._forward(X)
        if self._kind == "binary":
            p = out[:, 0]
            return np.column_stack([1 - p, p])
        return out

    def predict_log_proba(self, X: Any) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        out = self._forward(X)
        if self._kind == "multilabel":
            return (out > 0.5).astype(int)
        if self._kind == "binary":
            return self.classes_[(out[:, 0] > 0.5).astype(int)]
        return self.classes_[np.argmax(out, axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
