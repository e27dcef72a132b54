"""predict's two ways in: an ndarray that already is what the core reads (exactly an ndarray, of
the network's dtype, C-contiguous, 2-D, not empty) goes straight to the core, which returns
None for anything else; everything else is converted and checked in Python first. Both ways give
the same values and the same errors, and a large predict lets other Python threads run."""

import sys
import threading
import time

import numpy as np
import pytest

import chainrule as cr


class Sub(np.ndarray):
    pass


def _net(dtype):
    return cr.Network([3, 5, 2], ["tanh", "linear"], dtype=dtype, seed=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_only_a_ready_array_takes_the_core_path(dtype):
    net = _net(dtype)
    X = np.random.default_rng(0).normal(size=(4, 3)).astype(dtype)
    ready = net._core.predict_ready(X, net._lock)
    assert ready is not None and ready.dtype == dtype and ready.shape == (4, 2)
    other = "float32" if dtype == "float64" else "float64"
    for name, x in {
        "another dtype": X.astype(other),
        "ints": X.astype(np.int64),
        "a subclass": X.view(Sub),
        "Fortran order": np.asfortranarray(X),
        "a strided view": np.repeat(X, 2, axis=1)[:, ::2],
        "1-D": X[0],
        "3-D": X[None],
        "empty": X[:0],
        "a list": X.tolist(),
        "None": None,
    }.items():
        assert net._core.predict_ready(x, net._lock) is None, name


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_both_paths_give_the_same_values(dtype):
    net = _net(dtype)
    X = np.random.default_rng(1).normal(size=(4, 3)).astype(dtype)
    expected = net._core.predict(X)
    np.testing.assert_array_equal(net.predict(X), expected)
    for x in (np.asfortranarray(X), X.view(Sub), X.tolist(), np.repeat(X, 2, axis=1)[:, ::2]):
        out = net.predict(x)
        assert type(out) is np.ndarray and out.dtype == dtype
        np.testing.assert_array_equal(out, expected)
    other = X.astype("float32" if dtype == "float64" else "float64")
    np.testing.assert_array_equal(net.predict(other), net._core.predict(other.astype(dtype)))


def test_inputs_the_core_does_not_take_still_get_their_errors():
    net = _net("float64")
    with pytest.raises(ValueError, match="X"):
        net.predict(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="3"):
        net.predict(np.zeros((2, 4)))  # a ready array of the wrong width: the core's check
    with pytest.raises(TypeError, match="X"):
        net.predict(None)
    with pytest.raises(TypeError, match="X"):
        net.predict(np.array([["a", "b", "c"]]))
    assert net.predict(np.zeros((1, 3))).shape == (1, 2)  # and the lock was given back


def test_a_large_predict_lets_other_python_threads_run():
    """A predict of much work releases the GIL (a small one keeps it: giving it up and taking it
    back is a sizeable part of such a call; whether another thread ran in so short a call is a
    race, not tested). A Python thread counts, giving the GIL up after each step; with a switch
    interval far longer than the test, it only runs while the main thread is in the core if the
    core released the GIL."""
    net = cr.Network([512, 512, 512, 1], ["tanh", "tanh", "linear"], seed=0)
    X = np.random.default_rng(2).normal(size=(4000, 512))
    stop = threading.Event()
    count = [0]

    def counter():
        while not stop.is_set():
            count[0] += 1
            time.sleep(0)  # gives the GIL up: the main thread goes on when it wants it

    interval = sys.getswitchinterval()
    sys.setswitchinterval(60.0)
    thread = threading.Thread(target=counter)
    thread.start()
    try:
        while count[0] == 0:
            time.sleep(0.001)
        moved = []
        for _ in range(5):
            before = count[0]
            net.predict(X)
            moved.append(count[0] - before)
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert max(moved) > 0, moved
