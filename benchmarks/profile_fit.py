"""Run chainrule's fit of one small workload (W1, W1b, W1m) over and over, for a sampling
profiler to see where its time goes:

    perf record -e cpu-clock -F 20000 -o /tmp/w1.perf python benchmarks/profile_fit.py W1
    perf report -i /tmp/w1.perf --no-children --sort symbol

Hardware counters are not needed (cpu-clock is a software event). The core's symbols show
only in an unstripped build, e.g. ``pip install -e . -C cmake.build-type=RelWithDebInfo -C
"cmake.define.CMAKE_CXX_FLAGS_RELWITHDEBINFO=-O3 -g -DNDEBUG"``. Prints the best and the
median fit time and, with two threads, the median of the thread pool's jobs per fit (the
steps that ran on two threads).
"""

from __future__ import annotations

import argparse
import statistics
import time

from harness import Config
from sec_training import W1_SPEC, W1B_SPEC, W1M_LR, W1M_SPEC, w1m_data

import chainrule as cr

WORKLOADS = {"W1": (W1_SPEC, 0.01), "W1b": (W1B_SPEC, 0.1), "W1m": (W1M_SPEC, W1M_LR)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=200, help="fits (default 200)")
    parser.add_argument("--threads", type=int, default=1, help="chainrule's threads (default 1)")
    args = parser.parse_args()
    cfg = Config()
    spec, lr = WORKLOADS[args.workload]
    cr.set_num_threads(args.threads)
    if args.workload == "W1m":
        X, Y = w1m_data(cfg.w1m_rows)
        fit = dict(epochs=cfg.w1m_epochs, batch_size=cfg.w1m_batch, shuffle=True)
        optimizer = cr.Adam(lr=lr)
    else:
        from chainrule.demo import make_data

        X, Y = make_data()
        fit = dict(epochs=cfg.w1_epochs, lr=lr)
        optimizer = "sgd"
    times, jobs = [], []
    for _ in range(args.repeats):
        net = cr.Network(
            spec.sizes,
            spec.activations,
            loss=spec.loss,
            dtype=spec.dtype,
            seed=0,
            optimizer=optimizer,
        )
        jobs_before = cr.runtime.thread_pool_stats()["jobs"]
        start = time.perf_counter()
        net.fit(X, Y, **fit)
        times.append(time.perf_counter() - start)
        jobs.append(cr.runtime.thread_pool_stats()["jobs"] - jobs_before)
    pool = (
        f"; the thread pool's jobs per fit, median: {statistics.median(jobs):.0f} (a step on "
        f"two threads is one job, two with a split update)"
        if args.threads > 1
        else ""
    )
    print(
        f"{args.workload}: best of {args.repeats} fits {min(times) * 1e3:.3f} ms, median "
        f"{statistics.median(times) * 1e3:.3f} ms ({args.threads} "
        f"thread{'s' if args.threads > 1 else ''}){pool}"
    )


if __name__ == "__main__":
    main()
