"""Shared helpers: networks paired with a reference copy of their weights, data, tolerances."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402
import reference as ref  # noqa: E402

import chainrule as cr  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _temporary_files_under_pytest(tmp_path_factory: Any) -> Iterator[None]:
    """What the tests' code creates through tempfile (the docs' examples call mkdtemp, as a user
    would) and what their subprocesses put in TMPDIR (the typing example, the benchmarks'
    probes) goes under pytest's own temporary folder, which pytest prunes (it keeps the last
    three sessions), not into the system's, where every run left more. (MPICH's mpiexec writes
    its topology file to /tmp whatever TMPDIR says.)"""
    folder = str(tmp_path_factory.mktemp("tempfile"))
    patch = pytest.MonkeyPatch()
    patch.setenv("TMPDIR", folder)
    patch.setattr(tempfile, "tempdir", folder)
    yield
    patch.undo()


@contextlib.contextmanager
def general_path() -> Iterator[None]:
    """Within the block, fit takes the general per-layer path (never the fused small-network
    step); the switch is restored afterwards."""
    before = cr.runtime.small_network_path()
    cr.runtime.set_small_network_path(False)
    try:
        yield
    finally:
        cr.runtime.set_small_network_path(before)


@pytest.fixture(params=["fused", "general"])
def network_path(request: Any) -> Iterator[str]:
    """Runs a training test twice: with the fused small-network step allowed (fit takes it
    where the shape policy chooses it) and on the general path alone."""
    if request.param == "general":
        with general_path():
            yield request.param
    else:
        yield request.param


#: Relative tolerance per dtype (docs/design.md section 5).
RTOL = {"float64": 1e-12, "float32": 1e-5}


def rtol_for(dtype: Any) -> float:
    return RTOL[np.dtype(dtype).name]


def assert_close(
    actual: Any, expected: Any, rtol: float, what: str = "", scale: Optional[float] = None
) -> None:
    """Assert ``max|a - b| <= rtol * S + tiny`` with ``S = max|b|`` (or ``scale``).

    The error is measured against the magnitude of the whole array, not entry by entry: an entry
    of ``dW = H.T @ dZ / m`` is a sum of m terms of both signs, so its rounding error is about
    ``eps * sum|terms|``, which for an entry that nearly cancels can exceed the entry itself even
    when both implementations are correct. Relative to the largest entry the error stays within a
    small multiple of eps. ``tiny`` (1000 times the smallest normal number of the dtype of the
    expected array) only lets an all-zero expectation (dead ReLU units) accept an actual that is
    zero up to underflow; it is far below any meaningful value.
    """
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != expected {b.shape}"
    assert np.all(np.isfinite(a)), f"{what}: non-finite values in {a}"
    S = float(np.max(np.abs(b))) if b.size and scale is None else float(scale or 0.0)
    dtype = np.asarray(expected).dtype
    tiny = 1000 * float(np.finfo(dtype if dtype.kind == "f" else np.float64).tiny)
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    bound = rtol * S + tiny
    assert err <= bound, (
        f"{what}: max |actual - expected| = {err:.3e} > {bound:.3e} "
        f"(rtol {rtol:g} x max|expected| {S:.3e})"
    )


def ref_activation(spec: Any) -> Any:
    """The reference activation matching a chainrule activation spec (name or built-in object)."""
    if isinstance(spec, str):
        return ref.activation(spec)
    if isinstance(spec, cr.Activation) and type(spec).__module__.startswith("chainrule"):
        return ref.activation(spec.name, **spec.get_params())
    return spec  # a test's own object with forward/backward


def ref_loss(spec: Any) -> Any:
    """The reference loss matching a chainrule loss spec (name, alias or built-in object)."""
    if isinstance(spec, str):
        return ref.loss(cr.losses.resolve_loss(spec).name)
    if isinstance(spec, cr.Loss) and type(spec).__module__.startswith("chainrule"):
        return ref.loss(spec.name, **spec.get_params())
    return spec  # a test's own object with value/gradient


# ---- the built-ins, from the core's registries ---------------------------------------------
# Tests parametrise over these, so a new entry of a registry is covered without editing them.


def _moved(default: Any) -> Any:
    """A value clearly off a parameter's default: half of it, or 20 times a small one (alpha
    0.01 -> 0.2, 1.0 -> 0.5)."""
    return default * 20 if 0 < abs(default) < 0.1 else default * 0.5 if default else 0.5


def _builtins(family: Any, resolve: Any) -> List[Any]:
    """Every entry of a registry by name, then, for each entry with parameters, its class with
    every parameter moved off its default."""
    specs: List[Any] = list(family)
    for entry in family.entries():
        if entry.params:
            cls = type(resolve(entry.name))
            specs.append(cls(**{p.name: _moved(p.default) for p in entry.params}))
    return specs


from chainrule import _registry  # noqa: E402

#: Every built-in activation (names, then objects with non-default parameters).
ALL_ACTIVATIONS: List[Any] = _builtins(_registry.ACTIVATIONS, cr.activations.resolve_activation)
#: Every built-in loss (names, then objects with non-default parameters).
ALL_LOSSES: List[Any] = _builtins(_registry.LOSSES, cr.losses.resolve_loss)


def spec_id(spec: Any) -> str:
    """A test id for a name or an object."""
    return spec if isinstance(spec, str) else repr(spec)


def required_output(loss: Any) -> str:
    """The output activation a loss needs, or "" when it takes any."""
    return (
        cr.losses.resolve_loss(loss).required_activation if isinstance(loss, (str, cr.Loss)) else ""
    )


def make_pair(
    sizes: Sequence[int],
    acts: Sequence[Any],
    loss: Any = "mse",
    dtype: str = "float64",
    seed: int = 0,
) -> Tuple[cr.Network, List[np.ndarray], List[np.ndarray]]:
    """A network and float64 copies of its initial weights and biases (for the reference)."""
    net = cr.Network(list(sizes), list(acts), loss=loss, dtype=dtype, seed=seed)
    Ws = [np.array(W, dtype=np.float64, copy=True) for W in net.weights]
    bs = [np.array(b, dtype=np.float64, copy=True) for b in net.biases]
    return net, Ws, bs


def snapshot(net: cr.Network) -> List[np.ndarray]:
    """Copies of every W and b (W1, b1, W2, b2, ...)."""
    out = []
    for W, b in zip(net.weights, net.biases):
        out += [np.array(W, copy=True), np.array(b, copy=True)]
    return out


def assert_unchanged(net: cr.Network, before: List[np.ndarray]) -> None:
    after = snapshot(net)
    for i, (a, b) in enumerate(zip(after, before)):
        np.testing.assert_array_equal(a, b, err_msg=f"{'Wb'[i % 2]}{i // 2 + 1} changed")


def make_data(
    sizes: Sequence[int], loss: Any, n: int = 60, seed: int = 1, x_scale: float = 1.5
) -> Tuple[np.ndarray, np.ndarray]:
    """X (n, n0) ~ N(0, x_scale^2) and targets valid for the loss: one-hot rows mixed with soft
    distributions for cross-entropy (a loss fused with softmax), values in [0, 1] (some exactly
    0 or 1) for binary cross-entropy (fused with sigmoid), N(0, 1) otherwise."""
    rng = np.random.default_rng(seed)
    n0, nL = sizes[0], sizes[-1]
    X = rng.normal(0.0, x_scale, size=(n, n0))
    need = required_output(loss)  # the targets a fused loss takes
    if need == "softmax":
        Y = np.eye(nL)[rng.integers(0, nL, size=n)]
        soft = rng.dirichlet(np.ones(nL), size=n)
        Y[::3] = soft[::3]
    elif need == "sigmoid":
        Y = rng.uniform(0, 1, size=(n, nL))
        Y[::2] = np.round(Y[::2])
    else:
        Y = rng.normal(0.0, 1.0, size=(n, nL))
    return X, Y


def edit_model_header(src: Any, dst: Any, edit: Any) -> None:
    """Copies the model file ``src`` to ``dst`` with its JSON header changed by ``edit(header)``
    (a function that modifies the dict in place): old or hostile files made from new ones."""
    import io
    import json
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "header.npy":
                header = json.loads(np.load(io.BytesIO(data)).tobytes())
                edit(header)
                buf = io.BytesIO()
                np.save(buf, np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
                data = buf.getvalue()
            zout.writestr(info, data)


# ---- hypothesis profiles ---------------------------------------------------------------------
# Plain `pytest` (CI) runs the property-based suites small and derandomized, so a run is
# reproducible and writes no example database; `pytest -m fuzz` runs them at full size
# (>= 10,000 examples in all), with the database kept to replay failures.
try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "ci",
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile(
        "fuzz",
        max_examples=2500,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    settings = None


def pytest_configure(config: Any) -> None:
    if settings is not None:
        fuzz = "fuzz" in (config.getoption("markexpr", "") or "")
        settings.load_profile("fuzz" if fuzz else "ci")
