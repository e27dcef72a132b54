"""predict on a few rows (the few-row path of src/kernels/shape_policy.hpp, taken by a layer whose
weights are large, e.g. a one-sample predict of W4's network): the same bits as the same rows
predicted in a batch (the general product), for 1 and 2 threads and call after call (the path
reads the weights in an order that alternates between calls), and the NumPy reference's values."""

import numpy as np
import pytest
import reference as ref
from conftest import ALL_ACTIVATIONS, assert_close, make_pair, ref_activation, rtol_for, spec_id

import chainrule as cr

# n_in x n_out x itemsize >= 128 KB in the first two layers: they take the few-row path
SHAPES = {"float64": [200, 96, 170, 3], "float32": [300, 130, 260, 3]}


@pytest.fixture
def threads():
    before = cr.get_num_threads()
    yield
    cr.set_num_threads(before)


def _check(net, Ws, bs, acts, X, dtype):
    cr.set_num_threads(1)
    batch = net.predict(X)  # 9 rows: the general product
    Hs = ref.forward(Ws, bs, [ref_activation(a) for a in acts], X.astype(np.float64))[1]
    assert_close(batch, Hs[-1], rtol_for(dtype), "batch against the reference")
    for threads in (1, 2):
        cr.set_num_threads(threads)
        for call in range(3):
            for lo, hi in ((0, 1), (3, 5), (5, 8), (1, 5)):  # 1, 2, 3 and 4 rows
                rows = net.predict(X[lo:hi])
                assert np.array_equal(rows, batch[lo:hi]), (
                    f"rows {lo}:{hi}, threads {threads}, call {call}: differ from the batch"
                )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act", ALL_ACTIVATIONS, ids=spec_id)
def test_few_rows_equal_the_batch_and_the_reference(threads, dtype, act):
    sizes = SHAPES[dtype]
    acts = [act, act, "softmax"]
    net, Ws, bs = make_pair(sizes, acts, loss="cross_entropy", dtype=dtype, seed=3)
    X = np.random.default_rng(5).uniform(-1, 1, (9, sizes[0])).astype(dtype)
    _check(net, Ws, bs, acts, X, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_row_of_the_w4_network(threads, dtype):
    """784-512-256-10 relu/relu/softmax (benchmarks' W4), with trained-looking biases."""
    acts = ["relu", "relu", "softmax"]
    net, Ws, bs = make_pair([784, 512, 256, 10], acts, loss="cross_entropy", dtype=dtype, seed=1)
    rng = np.random.default_rng(2)
    for i, b in enumerate(bs):
        b[:] = rng.uniform(-0.1, 0.1, b.shape)
        net.biases[i] = b
    X = rng.uniform(0, 1, (9, 784)).astype(dtype)
    _check(net, Ws, bs, acts, X, dtype)


def test_one_row_after_training_and_from_a_transposed_view(threads):
    """The path reads the weights as they are now (after fit), and a row given as a non-contiguous
    view is converted first, with the same result."""
    net = cr.Network([200, 200, 2], ["tanh", "linear"], loss="mse", seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(64, 200)), rng.normal(size=(64, 2))
    net.fit(X, Y, epochs=2, batch_size=16)
    batch = net.predict(X[:9])
    np.testing.assert_array_equal(net.predict(X[3:4]), batch[3:4])
    np.testing.assert_array_equal(net.predict(np.asfortranarray(X[3:4].T).T), batch[3:4])
