"""chainrule calls right after a NumPy call, and NumPy calls right after a chainrule call, against
the same calls alone: how much each library's idle threads cost the other's next call.

OpenBLAS's threads keep spinning for a while after each multi-threaded NumPy product, and
chainrule's pool workers spin for a while after each call: a call that needs the other core
then shares it. Run as a script (``python neighbours.py --threads 2 --calls 300``) it measures
in a process of its own and prints the results as JSON, so that nothing else the harness
loaded (PyTorch, JAX) has threads of its own running.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from typing import Callable, Dict, List

import numpy as np

# A NumPy product large enough for OpenBLAS to use every thread (its threads then spin).
NUMPY_N = 300
GEMM_N = 256


def median_us(call: Callable[[], object], before: Callable[[], object], calls: int) -> float:
    """Median time of ``call`` in µs, each call timed right after ``before``."""
    times: List[float] = []
    for _ in range(calls):
        before()
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


def warm_up(call: Callable[[], object], seconds: float = 0.1) -> None:
    """Untimed calls for ``seconds``: buffers allocated, and the pool's worker awake (woken
    after an idle spell, it can take 2-12 ms to run on this VM; timed meanwhile, a call runs
    at one thread's speed)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        call()


def measure(threads: int, calls: int, module: str = "chainrule") -> Dict:
    cr = importlib.import_module(module)
    kernels = importlib.import_module(f"{module}._core").kernels
    cr.set_num_threads(threads)
    rng = np.random.default_rng(0)
    N = rng.standard_normal((NUMPY_N, NUMPY_N))
    A = rng.standard_normal((GEMM_N, GEMM_N)).astype(np.float32)
    net = cr.Network([784, 512, 256, 10], ["relu", "relu", "softmax"], dtype="float32", seed=0)
    x = rng.standard_normal((1, 784)).astype(np.float32)

    def numpy_call():
        return N @ N

    def nothing():
        return None

    def gemm():
        return kernels.matmul(A, A)

    chainrule_calls = {
        f"kernels.matmul, {GEMM_N} x {GEMM_N} float32": gemm,
        "one-row predict, W2's network (W4)": lambda: net.predict(x),
    }
    # alone first, before any NumPy product has started OpenBLAS's threads
    alone = {}
    for label, call in chainrule_calls.items():
        warm_up(call)
        alone[label] = median_us(call, nothing, calls)
    numpy_alone = median_us(numpy_call, nothing, calls)
    rows = []
    for label, call in chainrule_calls.items():
        after = median_us(call, numpy_call, calls)
        cr.set_num_threads(1)
        one_thread = median_us(call, numpy_call, calls)
        cr.set_num_threads(threads)
        rows.append(
            dict(
                label=label,
                alone=alone[label],
                after_numpy=after,
                one_thread_after_numpy=one_thread,
            )
        )
    numpy_row = dict(
        label=f"numpy matmul, {NUMPY_N} x {NUMPY_N} float64",
        alone=numpy_alone,
        after_chainrule=median_us(numpy_call, gemm, calls),
    )
    return dict(threads=threads, calls=calls, chainrule=rows, numpy=numpy_row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument(
        "--module", default="chainrule", help="chainrule, or chainrule_base (baseline.py)"
    )
    args = parser.parse_args()
    print(json.dumps(measure(args.threads, args.calls, args.module)))


if __name__ == "__main__":
    main()
