"""The network's lock (chainrule._core.NetworkLock, ``net._lock``): threading.RLock's behaviour,
taken by every method of the network in Python and by predict's fast path in the core, where
a call that finds it held by another thread falls back to waiting for it in Python."""

import math
import signal
import threading
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import _core


def _holder(lock):
    """A thread that holds ``lock`` until the returned event is set."""
    taken, release = threading.Event(), threading.Event()

    def hold():
        with lock:
            taken.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(10)
    return thread, release


def test_the_lock_behaves_as_threading_rlock():
    lock = _core.NetworkLock()
    assert lock.acquire() and lock.acquire(blocking=False) and lock.acquire(timeout=0.01)
    for _ in range(3):
        lock.release()
    with pytest.raises(RuntimeError, match="un-acquired"):
        lock.release()
    with pytest.raises(ValueError, match="non-blocking"):
        lock.acquire(False, 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        lock.acquire(timeout=-2)
    with pytest.raises(ValueError, match="NaN"):
        lock.acquire(timeout=math.nan)
    with pytest.raises(KeyError):
        with lock:
            raise KeyError("inside")  # the with-statement gives the lock back and re-raises
    lock.__enter__()
    lock.__exit__(None, None, None)  # as contextlib.ExitStack and friends call it
    thread, release = _holder(lock)
    try:
        assert not lock.acquire(blocking=False)
        start = time.perf_counter()
        assert not lock.acquire(timeout=0.1)
        assert time.perf_counter() - start >= 0.09
        with pytest.raises(RuntimeError, match="un-acquired"):
            lock.release()  # held, but by the other thread
    finally:
        release.set()
        thread.join()
    assert lock.acquire(timeout=5)
    lock.release()


def test_predict_takes_the_lock_in_the_core_or_waits_for_it():
    net = cr.Network([3, 5, 2], ["tanh", "linear"], seed=0)
    X = np.random.default_rng(0).normal(size=(4, 3))
    want = net.predict(X)
    np.testing.assert_array_equal(net._core.predict_ready(X, net._lock), want)
    with net._lock:  # reentrant: the thread holding it predicts through the core
        np.testing.assert_array_equal(net._core.predict_ready(X, net._lock), want)
        np.testing.assert_array_equal(net.predict(X), want)
    thread, release = _holder(net._lock)
    try:
        assert net._core.predict_ready(X, net._lock) is None  # held by another thread
        done = []
        waiter = threading.Thread(target=lambda: done.append(net.predict(X)))
        waiter.start()
        waiter.join(0.2)
        assert not done  # predict waits for the holder
    finally:
        release.set()
        thread.join()
    waiter.join(10)
    np.testing.assert_array_equal(done[0], want)
    assert net._lock.acquire(blocking=False)  # and every call gave it back
    net._lock.release()


def test_predict_drops_a_kept_forward_pass():
    net = cr.Network([3, 5, 2], ["tanh", "linear"], seed=0)
    X = np.random.default_rng(1).normal(size=(4, 3))
    net.forward(X)
    net.predict(X)
    assert net._forward_X is None
    with pytest.raises(ValueError, match="forward"):
        net.backward(np.zeros((4, 2)))


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")
def test_a_signal_handler_interrupts_a_wait_for_the_lock():
    """Waiting for the lock (the GIL released) still runs the main thread's signal handlers,
    within ~50 ms, and what a handler raises ends the wait (Ctrl-C: KeyboardInterrupt)."""

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted()

    lock = _core.NetworkLock()
    previous = signal.signal(signal.SIGUSR1, handler)
    thread, release = _holder(lock)
    timer = threading.Timer(
        0.2, lambda: signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
    )
    try:
        timer.start()
        start = time.perf_counter()
        with pytest.raises(Interrupted):
            lock.acquire(timeout=20)
        assert time.perf_counter() - start < 5
    finally:
        timer.cancel()
        release.set()
        thread.join()
        signal.signal(signal.SIGUSR1, previous)


def test_a_fit_callback_may_predict_on_the_fitting_thread():
    """The fitting thread holds the lock; a callback's predict takes it again (reentrant), in
    the core's fast path, and sees the parameters of that epoch."""
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    seen = []

    class Probe(cr.Callback):
        def on_epoch_end(self, epoch, logs, network):
            params = [np.array(p) for p in list(network.weights) + list(network.biases)]
            seen.append((network.predict(X), params))

    net = cr.Network([3, 5, 2], ["tanh", "linear"], seed=0)
    net.fit(X, Y, epochs=3, lr=0.1, callbacks=[Probe()])
    assert len(seen) == 3
    assert not np.array_equal(seen[0][0], seen[-1][0])  # the epochs moved the network
    for out, params in seen:
        twin = cr.Network([3, 5, 2], ["tanh", "linear"], seed=0)
        for p, v in zip(list(twin.weights) + list(twin.biases), params):
            p[...] = v
        np.testing.assert_array_equal(out, twin.predict(X))
    np.testing.assert_array_equal(seen[-1][0], net.predict(X))
