"""The core's GEMM kernels at every dispatch level this CPU supports, threads and fork."""

import multiprocessing as mp

import numpy as np
import pytest

import chainrule as cr
from chainrule import _core

LEVELS = list(_core.kernels.supported_levels())
SIZES = [1, 2, 3, 7, 15, 17, 31, 33, 100, 257]


@pytest.fixture(params=LEVELS)
def level(request):
    before = _core.kernels.active_level()
    _core.kernels.set_kernel_level(request.param)
    yield request.param
    _core.kernels.set_kernel_level(before)


@pytest.fixture
def threads():
    before = cr.get_num_threads()
    yield
    cr.set_num_threads(before)


def _operands(rng, op, m, n, k, dtype):
    A = rng.uniform(-1, 1, (k, m) if op == "tn" else (m, k)).astype(dtype)
    B = rng.uniform(-1, 1, (n, k) if op == "nt" else (k, n)).astype(dtype)
    want = (A.T if op == "tn" else A).astype(np.float64) @ (B.T if op == "nt" else B)
    return A, B, want


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["nn", "tn", "nt"])
def test_matmul_matches_numpy_on_awkward_sizes(level, op, dtype):
    rng = np.random.default_rng(0)
    shapes = [(a, b, c) for a in SIZES[::3] for b in SIZES[1::3] for c in SIZES[2::3]]
    shapes += [(300, 260, 270), (5, 2100, 40), (128, 784, 512)]
    for m, n, k in shapes:
        A, B, want = _operands(rng, op, m, n, k, dtype)
        got = _core.kernels.matmul(A, B, trans_a=op == "tn", trans_b=op == "nt")
        assert got.dtype == dtype and got.shape == (m, n)
        # |error| <= ~k u sum|a||b| for any summation order
        bound = 2 * (k + 2) * np.finfo(dtype).eps * (np.abs(A).max() * np.abs(B).max() * k)
        err = np.abs(got - want).max()
        assert err <= bound, f"{level} {op} {m}x{n}x{k}: error {err:.3g} > bound {bound:.3g}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_op_gives_the_bits_of_nn_on_a_transposed_copy(level, threads, dtype):
    """Packing moves values only and every path sums in the same order, so A.T @ B (TN) and
    A @ B.T (NT) equal NN on contiguous copies bit for bit, at any thread count; the shapes
    take the packed path with full and partial panels, A's rows several pages apart. (The
    portable loops' NT sums as dot products in eight parts: not compared there.)"""
    rng = np.random.default_rng(7)
    for n_threads in (1, 2):
        cr.set_num_threads(n_threads)
        for m, k, n in [(300, 260, 270), (1030, 512, 200), (25, 700, 33), (513, 129, 1025)]:
            A = rng.standard_normal((k, m)).astype(dtype)
            B = rng.standard_normal((n, k)).astype(dtype)
            At, Bt = np.ascontiguousarray(A.T), np.ascontiguousarray(B.T)
            want = _core.kernels.matmul(At, Bt)
            tn = _core.kernels.matmul(A, Bt, trans_a=True)
            nt = _core.kernels.matmul(At, B, trans_b=True)
            assert np.array_equal(tn, want), f"{level} TN {m}x{k}x{n}, {n_threads} threads"
            if level != "portable":
                assert np.array_equal(nt, want), f"{level} NT {m}x{k}x{n}, {n_threads} threads"


def _train(dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 40))
    Y = np.eye(10)[rng.integers(0, 10, 300)]
    net = cr.Network(
        [40, 96, 64, 10], ["relu", "tanh", "softmax"], loss="cross_entropy", dtype=dtype, seed=3
    )
    hist = net.fit(X, Y, epochs=3, lr=0.1, batch_size=64, shuffle=True)
    return [w.copy() for w in net.weights] + [b.copy() for b in net.biases], hist.loss


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_is_bitwise_identical_for_any_thread_count(level, threads, dtype):
    results = []
    for n in (1, 2, 3):
        cr.set_num_threads(n)
        results.append(_train(dtype))
    for params, losses in results[1:]:
        assert losses == results[0][1]
        for a, b in zip(params, results[0][0]):
            np.testing.assert_array_equal(a, b)


def test_levels_agree_to_rounding(threads):
    """The dispatch levels differ only in rounding (FMA, summation order)."""
    outs = {}
    before = _core.kernels.active_level()
    try:
        for lv in LEVELS:
            _core.kernels.set_kernel_level(lv)
            outs[lv] = _train("float64")[0]
    finally:
        _core.kernels.set_kernel_level(before)
    for lv in LEVELS[1:]:
        for a, b in zip(outs[lv], outs[LEVELS[0]]):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_thread_pool_stats_count_jobs_and_the_parts_run_by_the_caller(threads):
    A = np.ones((256, 256), np.float32)
    keys = {"jobs", "worker_parts", "worker_parts_run_by_caller"}
    for n_threads in (2, 3):
        cr.set_num_threads(n_threads)
        _core.kernels.matmul(A, A)
        before = cr.runtime.thread_pool_stats()
        assert set(before) == keys and all(type(v) is int and v >= 0 for v in before.values())
        for _ in range(20):
            _core.kernels.matmul(A, A)  # one job or more each, every worker a part
        after = cr.runtime.thread_pool_stats()
        jobs = after["jobs"] - before["jobs"]
        parts = after["worker_parts"] - before["worker_parts"]
        taken = after["worker_parts_run_by_caller"] - before["worker_parts_run_by_caller"]
        assert jobs >= 20 and parts == jobs * (n_threads - 1) and 0 <= taken <= parts
    cr.set_num_threads(1)  # no pool: nothing counted
    before = cr.runtime.thread_pool_stats()
    _core.kernels.matmul(A, A)
    assert cr.runtime.thread_pool_stats() == before


def test_thread_api_validates():
    with pytest.raises(ValueError, match="n must be >= 1"):
        cr.set_num_threads(0)
    with pytest.raises(TypeError):
        cr.set_num_threads(1.5)
    with pytest.raises(ValueError, match="unknown kernel level"):
        _core.kernels.set_kernel_level("sse9")
    info = cr.cpu_info()
    assert info["kernel"] in info["supported"] and info["threads"] >= 1


def _child_work(q):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 64))
    Y = rng.normal(size=(256, 8))
    net = cr.Network([64, 128, 8], ["relu", "linear"], seed=0)
    net.fit(X, Y, epochs=2, lr=0.01, batch_size=64)
    q.put(float(net.loss(X, Y)))


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_child_process_after_threaded_training(threads, method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"start method {method} unavailable here")
    cr.set_num_threads(2)
    _child_work(mp.SimpleQueue())  # the parent's pool is running
    ctx = mp.get_context(method)
    q = ctx.SimpleQueue()
    p = ctx.Process(target=_child_work, args=(q,))
    p.start()
    p.join(timeout=120)
    if p.is_alive():
        p.kill()
        pytest.fail(f"{method} child hung after the parent trained with 2 threads")
    assert p.exitcode == 0
    assert np.isfinite(q.get())


@pytest.mark.parametrize("bad", [0, -1, 1025, 3000, 10**9])
def test_thread_count_out_of_range_is_refused(bad):
    before = cr.get_num_threads()
    with pytest.raises((ValueError, OverflowError, TypeError)):
        cr.set_num_threads(bad)
    assert cr.get_num_threads() == before


def test_many_threads_work_and_give_the_same_bits():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 300))
    net = cr.Network([300, 400, 5], ["relu", "linear"], seed=0)
    cr.set_num_threads(2)
    want = net.predict(X)
    try:
        cr.set_num_threads(64)
        assert np.array_equal(net.predict(X), want)
    finally:
        cr.set_num_threads(2)


def test_changing_the_thread_count_while_another_thread_computes():
    """A pool in use is kept alive until its call ends, even when another thread installs a
    pool of another size meanwhile: no crash, no hang, the same results."""
    import threading

    rng = np.random.default_rng(1)
    X = rng.normal(size=(700, 300))
    net = cr.Network([300, 300, 3], ["tanh", "linear"], seed=0)
    want = net.predict(X)
    stop = threading.Event()
    errors = []

    def flip():
        try:
            k = 0
            while not stop.is_set():
                cr.set_num_threads(1 + k % 4)
                k += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=flip)
    t.start()
    try:
        for _ in range(30):
            assert np.array_equal(net.predict(X), want)
    finally:
        stop.set()
        t.join(timeout=60)
        cr.set_num_threads(2)
    assert not t.is_alive() and not errors


def _predict_in_child(net, X, q):
    q.put(float(net.predict(X).sum()))


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_can_use_a_network_another_parent_thread_held():
    """Forked while another thread held the network's lock (fitting it), the child waited for
    ever on a lock whose holder it does not have."""
    import threading

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("fork unavailable here")
    net = cr.Network([3, 8, 1], seed=0)
    X = np.ones((4, 3))
    held, done = threading.Event(), threading.Event()

    def hold():
        with net._lock:  # as a fit in this thread would
            held.set()
            done.wait(60)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(60)
    try:
        ctx = mp.get_context("fork")
        q = ctx.SimpleQueue()
        p = ctx.Process(target=_predict_in_child, args=(net, X, q))
        p.start()
        p.join(timeout=60)
        if p.is_alive():
            p.kill()
            pytest.fail("the forked child hung on the network's lock")
        assert p.exitcode == 0
    finally:
        done.set()
        t.join()
    assert q.get() == float(net.predict(X).sum())  # the parent's lock is its own again
