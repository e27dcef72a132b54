"""GEMM cases: chainrule's kernels against numpy.matmul on the same operands and operation.

Operations (C is (m, n), the inner dimension k):
    NN  C = A @ B      A (m, k), B (k, n)
    TN  C = A.T @ B    A (k, m), B (k, n)   (the dW = H_prev.T @ dZ of backpropagation)
    NT  C = A @ B.T    A (m, k), B (n, k)   (the dH = dZ @ W.T of backpropagation)
NumPy gets the transposed views, so OpenBLAS runs the same transposed operation without a copy.

Run as a script (``python gemm.py numpy --threads 2``) it measures NumPy in a process of its
own, so the harness can vary OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE between processes: it writes
a line describing the BLAS that threadpoolctl reports, then reads one case (JSON) a line and
answers each with its result, so that the harness alternates it with chainrule case by case.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import sys
import time
from typing import Callable, Dict, List

import numpy as np
from timing import BackgroundLoad, adaptive_best, run_when_quiet

OPS = ("NN", "TN", "NT")
# untimed calls of each case before its timed ones (measure): long enough for a sleeping
# thread to run again (on this VM a pool worker woken after an idle spell joined after 2-12 ms,
# in steps of the scheduler's 4 ms tick)
WAKE_SECONDS = 0.05


def square_cases(sizes, dtypes=("float32", "float64")) -> List[Dict]:
    return [
        dict(shape=f"{n}", op=op, m=n, k=n, n=n, dtype=dt)
        for dt in dtypes
        for n in sizes
        for op in OPS
    ]


def mlp_cases(batch: int, layer_sizes, dtypes=("float32", "float64")) -> List[Dict]:
    """The three GEMMs of each hidden layer's training step, m = batch rows:
    forward Z = H @ W (NN), dW = H.T @ dZ (TN), dH = dZ @ W.T (NT)."""
    cases = []
    for dt in dtypes:
        for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
            for op, (m, k, n) in (
                ("NN", (batch, n_in, n_out)),
                ("TN", (n_in, batch, n_out)),
                ("NT", (batch, n_out, n_in)),
            ):
                cases.append(dict(shape=f"{m}x{k}x{n}", op=op, m=m, k=k, n=n, dtype=dt))
    return cases


def operands(case: Dict, seed: int = 0):
    rng = np.random.default_rng(seed)
    m, k, n, dt = case["m"], case["k"], case["n"], np.dtype(case["dtype"])
    a_shape = (k, m) if case["op"] == "TN" else (m, k)
    b_shape = (n, k) if case["op"] == "NT" else (k, n)
    return (
        rng.standard_normal(a_shape, dtype=np.float64).astype(dt),
        rng.standard_normal(b_shape, dtype=np.float64).astype(dt),
    )


def numpy_call(case: Dict, A: np.ndarray, B: np.ndarray) -> Callable[[], np.ndarray]:
    op = case["op"]
    if op == "TN":
        return lambda: np.matmul(A.T, B)
    if op == "NT":
        return lambda: np.matmul(A, B.T)
    return lambda: np.matmul(A, B)


def chainrule_call(
    case: Dict, A: np.ndarray, B: np.ndarray, module: str = "chainrule"
) -> Callable[[], np.ndarray]:
    matmul = importlib.import_module(f"{module}._core").kernels.matmul
    ta, tb = case["op"] == "TN", case["op"] == "NT"
    # positional, as numpy.matmul is called: pybind11 takes 0.2 us more to match keywords,
    # 8% of a 64 x 64 product
    return lambda: matmul(A, B, ta, tb)


def caller(backend: str) -> Callable[[Dict, np.ndarray, np.ndarray], Callable[[], np.ndarray]]:
    return {
        "numpy": numpy_call,
        "chainrule": chainrule_call,
        "chainrule-base": functools.partial(chainrule_call, module="chainrule_base"),
    }[backend]


def measure_case(
    make: Callable, case: Dict, load: BackgroundLoad, budget: float = 0.3, max_wait: float = 0.0
) -> Dict:
    """GFLOP/s (2 m n k flops) of one case: the best call, or the single call of a case that
    takes over a second (see timing.adaptive_best). With ``max_wait`` > 0 the case waits for
    a quiet machine first and is measured again (up to 3 times) if it was disturbed;
    ``background`` is the share of the CPUs other processes took (None under 0.2 s),
    ``waited`` the seconds waited, ``host_probe`` the slower host probe around the run."""
    A, B = operands(case)
    call = make(case, A, B)

    def timed():
        # a case's calls first run untimed for WAKE_SECONDS: after the quiet-machine wait
        # before it, the threads of either library have gone to sleep, and waking a vCPU can
        # take milliseconds here
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < WAKE_SECONDS:
            call()
        return adaptive_best(call, budget=budget)

    (seconds, calls), share, waited = run_when_quiet(timed, load, max_wait, window=0.3)
    flops = 2.0 * case["m"] * case["n"] * case["k"]
    return dict(
        seconds=seconds,
        calls=calls,
        gflops=flops / seconds / 1e9,
        background=share,
        waited=waited,
        host_probe=load.last_probe,
    )


def serve(backend: str, budget: float, max_wait: float, stdin=sys.stdin, stdout=sys.stdout):
    """Measure cases as they are asked for, one JSON line in and one out, so that the harness
    can alternate this process's library with its own case by case (sec_gemm.py). The first
    line written describes the BLAS loaded; the process ends at the end of its input."""
    load = BackgroundLoad()
    make = caller(backend)
    if backend == "numpy":
        warm_up_blas_threads()
    print(json.dumps({"blas": blas_info()}), file=stdout, flush=True)
    for line in stdin:
        if line.strip():
            result = measure_case(make, json.loads(line), load, budget, max_wait)
            print(json.dumps(result), file=stdout, flush=True)


def warm_up_blas_threads(seconds: float = 0.3) -> None:
    """Start OpenBLAS's worker threads before timing: the first multi-threaded calls of a
    process can take milliseconds each while the pool wakes up."""
    A = np.ones((512, 512))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        A @ A


def blas_info() -> List[Dict]:
    """threadpoolctl's description of the BLAS NumPy loaded (kernel architecture, threads)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = (
        "user_api",
        "internal_api",
        "prefix",
        "version",
        "architecture",
        "num_threads",
        "threading_layer",
    )
    return [
        dict({k: info.get(k) for k in keys}, library=os.path.basename(info["filepath"]))
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backend", choices=["numpy", "chainrule", "chainrule-base"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=0.3)
    parser.add_argument(
        "--max-wait",
        type=float,
        default=0.0,
        help="seconds to wait for a quiet machine before each case",
    )
    args = parser.parse_args()
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=args.threads)
    except ImportError:
        limiter = None  # the BLAS runs on its own count of threads, which blas_info reports
    serve(args.backend, args.budget, args.max_wait)
    del limiter


if __name__ == "__main__":
    main()
