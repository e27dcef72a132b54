"""The registries as Python sees them: every entry of every family has a class with the
entry's name, parameters and defaults; unknown names and bad values are rejected by the core
in the same words in every family; properties drive initialisation and early stopping;
gradients of every activation and loss pass a finite-difference check; the maths guide's tables
list every entry. All parametrised over the registries, so a new entry is covered here
without editing a list."""

from __future__ import annotations

import importlib
import math
import pathlib
import re
from typing import Any, Dict, List

import numpy as np
import pytest
from conftest import ALL_ACTIVATIONS, ALL_LOSSES, make_data, required_output, spec_id

import chainrule as cr
from chainrule import _core, _registry
from chainrule._checks import core_params

FAMILIES = {
    "activations": (_registry.ACTIVATIONS, cr.activations.resolve_activation),
    "losses": (_registry.LOSSES, cr.losses.resolve_loss),
    "optimizers": (_registry.OPTIMIZERS, cr.optimizers.resolve_optimizer),
    "schedules": (_registry.SCHEDULES, cr.schedules.resolve_schedule),
}
ENTRIES = [(key, e) for key, (family, _) in FAMILIES.items() for e in family.entries()]
ALL_ENTRIES = ENTRIES + [("metrics", e) for e in _registry.METRICS.entries()]


def _id(item: Any) -> str:
    key, entry = item
    return f"{key}-{entry.name}"


def _example(entry: _registry.Entry) -> Dict[str, Any]:
    """Values for the parameters an entry needs (its "example" property: "step_size=10")."""
    kwargs: Dict[str, Any] = {}
    for part in filter(None, (entry.properties.get("example") or "").split(",")):
        name, value = part.split("=")
        kwargs[name.strip()] = entry.param(name.strip()).from_core(float(value))
    return kwargs


def _module(key: str) -> Any:
    return importlib.import_module(f"chainrule.{key}")


def _instance(key: str, entry: _registry.Entry) -> Any:
    """The entry's object: from its name, or its class with the example's values when the
    name alone cannot build it."""
    if any(p.required for p in entry.params):
        return getattr(_module(key), entry.class_name)(**_example(entry))
    return FAMILIES[key][1](entry.name)


@pytest.mark.parametrize("item", ENTRIES, ids=_id)
def test_every_entry_has_its_class_with_the_registry_defaults(item: Any) -> None:
    key, entry = item
    obj = _instance(key, entry)
    cls = type(obj)
    assert cls.__name__ == entry.class_name and obj.name == entry.name
    assert getattr(cr, entry.class_name) is cls  # exported, generated classes included
    assert cls.__module__ == f"chainrule.{key}" and getattr(_module(key), entry.class_name) is cls
    for alias in entry.aliases:
        assert type(FAMILIES[key][1](alias)) is cls
    if key in ("activations", "losses"):
        assert obj.get_params() == entry.defaults()
        args = ", ".join(f"{k}={v!r}" for k, v in entry.defaults().items())
        assert repr(obj) == f"{entry.class_name}({args})"
    else:  # hand-written signatures (lr, betas, mode strings): their defaults are the entry's
        core = obj._core_params()
        for p in entry.params:
            if p.name in _example(entry):
                continue
            if p.default is None:
                assert p.name not in core, f"{entry.name}: optional {p.name} given by default"
            else:
                assert core[p.name] == p.default, f"{cls.__name__} default of {p.name}"
        if key == "optimizers":
            assert obj.lr == entry.properties["lr"]


@pytest.mark.parametrize("item", ALL_ENTRIES, ids=_id)
def test_unknown_names_and_parameters_are_rejected_in_the_same_words(item: Any) -> None:
    key, entry = item
    family = getattr(_registry, key.upper())
    with pytest.raises(ValueError) as e:
        family.lookup("no_such_" + entry.name)
    message = str(e.value)
    assert message.startswith(f"unknown {family.noun} 'no_such_{entry.name}'; valid names: ")
    for name in family.names(with_aliases=True):
        assert re.search(rf"\b{name}\b", message), f"{name} not listed in {message}"
    with pytest.raises(ValueError, match=f"{family.noun} '{entry.name}' has no parameter 'bogus'"):
        _core.registry_check(key, entry.name, {"bogus": 1.0})


PARAMS = [(key, e, p) for key, e in ALL_ENTRIES for p in e.params]


@pytest.mark.parametrize("item", PARAMS, ids=lambda i: f"{i[0]}-{i[1].name}-{i[2].name}")
def test_values_out_of_range_are_rejected_naming_the_class_and_parameter(item: Any) -> None:
    key, entry, param = item
    given = _example(entry)
    core = core_params(entry, given)
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError) as e:
            _core.registry_check(key, entry.name, {**core, param.name: bad})
        assert f"{entry.class_name}: {param.label} must be {param.range}" in str(e.value)
    if key in ("activations", "losses"):  # the Python class passes the core's message on
        cls = type(FAMILIES[key][1](entry.name))
        with pytest.raises(ValueError, match=re.escape(f"{entry.class_name}: {param.label}")):
            cls(**{param.name: math.nan})
        with pytest.raises(TypeError, match=re.escape(f"{entry.class_name}: {param.label}")):
            cls(**{param.name: "1"})


def test_properties_drive_initialisation_and_early_stopping() -> None:
    assert set(cr.initializers.HE_ACTIVATIONS) == {
        e.name for e in _registry.ACTIVATIONS.entries() if e.properties.get("he_init")
    }
    assert {"relu", "leaky_relu"} <= set(cr.initializers.HE_ACTIVATIONS)
    for entry in _registry.METRICS.entries():
        mode = "max" if entry.properties.get("higher_is_better") else "min"
        assert cr.EarlyStopping(monitor=entry.name, mode="auto").mode == mode
        assert cr.EarlyStopping(monitor="val_" + entry.name, mode="auto").mode == mode
    assert cr.metric_names() == list(_registry.METRICS)
    assert cr.EarlyStopping(monitor="val_loss").mode == "min"


@pytest.mark.parametrize("act", ALL_ACTIVATIONS, ids=spec_id)
def test_every_activation_passes_the_gradient_check(act: Any) -> None:
    sizes = [3, 5, 4, 2]
    X, Y = make_data(sizes, "mse", n=12, seed=7, x_scale=1.0)
    net = cr.Network(sizes, [act, act, "linear"], seed=3)
    assert net.gradient_check(X, Y) < 1e-7


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act", ALL_ACTIVATIONS, ids=spec_id)
def test_every_activation_passes_nan_through(act: Any, dtype: str) -> None:
    # a NaN that reaches an activation (from a custom layer below, say) stays NaN, as in
    # torch: max(z, 0) once turned it into 0, and the loss that followed could look finite
    a = cr.activations.resolve_activation(act)
    z = np.array([[np.nan, -1.0, 0.0, 2.0]] * 3, dtype=dtype)  # (softmax: a row of 4)
    h = a.forward(z)
    assert np.all(np.isnan(h[:, 0])), h
    if a.name != "softmax":  # elementwise: the other values are unaffected
        assert np.all(np.isfinite(h[:, 1:])), h


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=spec_id)
def test_every_loss_passes_the_gradient_check(loss: Any) -> None:
    sizes = [3, 5, 4]
    X, Y = make_data(sizes, loss, n=12, seed=7)
    net = cr.Network(sizes, ["tanh", required_output(loss) or "linear"], loss, seed=3)
    assert net.gradient_check(X, Y) < 1e-7


def test_every_optimizer_is_a_scikit_learn_solver() -> None:
    sklearn = pytest.importorskip("chainrule.sklearn")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    from sklearn.exceptions import ConvergenceWarning

    for name in cr.optimizer_names():
        with pytest.warns(ConvergenceWarning):  # 2 iterations: as scikit-learn's MLP would
            model = sklearn.MLPRegressor(
                hidden_layer_sizes=(4,), solver=name, max_iter=2, random_state=0
            ).fit(X, y)
        assert model.network_.optimizer.name == name
    with pytest.raises(ValueError) as e:
        sklearn.MLPRegressor(solver="lbfgs").fit(X, y)
    for name in cr.optimizer_names():
        assert repr(name) in str(e.value)


MATHS_GUIDE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "guide" / "maths.md"


def _table_rows(section: str) -> List[str]:
    """The rows of the first table under a heading of the maths guide."""
    text = MATHS_GUIDE.read_text()
    start = text.index(f"\n{section}\n")
    rows: List[str] = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return rows


@pytest.mark.parametrize("entry", _registry.ACTIVATIONS.entries(), ids=lambda e: e.name)
def test_the_activation_table_lists_every_activation(entry: _registry.Entry) -> None:
    args = ", ".join(f"{k}={v!r}" for k, v in entry.defaults().items())
    row = f"| `{entry.name}` | `cr.{entry.class_name}({args})` |"
    assert any(r.startswith(row) for r in _table_rows("## Activations")), (
        f"docs/guide/maths.md's activation table has no row starting {row!r}"
    )


@pytest.mark.parametrize("entry", _registry.LOSSES.entries(), ids=lambda e: e.name)
def test_the_loss_table_lists_every_loss(entry: _registry.Entry) -> None:
    rows = [r for r in _table_rows("### Losses") if r.startswith(f'| `"{entry.name}"`')]
    assert rows, f"docs/guide/maths.md's loss table has no row for {entry.name!r}"
    for p in entry.params:
        assert f"{p.name}={p.default!r}" in rows[0], f"{entry.name}: {p.name}'s default"
