"""The scikit-learn peer: MLPRegressor, or MLPClassifier for a softmax cross-entropy network,
as a scikit-learn user would train it (peers.make_trainer("sklearn", ...)). scikit-learn has
one activation for every hidden layer and draws its own initial weights and shuffling order,
so its final loss is close to the others' but not equal.
"""

from __future__ import annotations

import warnings

from peers import NetSpec, Trainer
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor


def sklearn_activation(spec: NetSpec) -> str:
    """scikit-learn's one activation for every hidden layer: the spec's when they all agree,
    relu otherwise."""
    hidden = set(spec.activations[:-1])
    names = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic"}
    return names[hidden.pop()] if len(hidden) == 1 and hidden <= set(names) else "relu"


def make_trainer(spec, weights, X, Y, lr, epochs, batch_size, shuffle_seed=None) -> Trainer:
    """MLPRegressor / MLPClassifier with plain SGD or Adam: one activation for every hidden
    layer, its own Glorot-uniform initialisation and shuffling order, float64/float32 as
    given."""
    solver = dict(solver="adam") if spec.optimizer == "adam" else dict(solver="sgd", momentum=0.0)
    common = dict(
        hidden_layer_sizes=tuple(spec.sizes[1:-1]),
        activation=sklearn_activation(spec),
        batch_size=X.shape[0] if batch_size is None else batch_size,
        learning_rate_init=lr,
        alpha=0.0,
        max_iter=epochs,
        shuffle=shuffle_seed is not None,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=0,
        **solver,
    )
    if spec.loss == "cross_entropy":
        model, target = MLPClassifier(**common), Y.argmax(axis=1)
        predict = model.predict_proba
    else:
        model, target = MLPRegressor(**common), (Y.ravel() if Y.shape[1] == 1 else Y)
        predict = lambda Xp: model.predict(Xp).reshape(len(Xp), -1)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, target)

    return Trainer(run=run, predict=predict)
