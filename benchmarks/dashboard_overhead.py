"""What the live dashboard costs the training loop (issue 17): fit with ``dashboard=True``
against the same fit without it, and against a no-op callback (the core's once-per-epoch
return to Python that any callback costs), while a client polls the page's data as the
browser does, from another process (``api/run`` and ``api/frame`` every 0.7 s; a new frame is a forward and backward
pass over the kept rows on the server's thread). Best of ``--repeats`` runs; each run of
the three is timed in turn, so that the machine's drift touches them alike.

    python benchmarks/dashboard_overhead.py [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

import chainrule as cr

POLLER = """
import json, sys, time, urllib.request
base, token = sys.argv[1].split("?token=")
while True:
    for path in ("api/run?", "api/frame?epoch=latest&row=0&"):
        with urllib.request.urlopen(f"{base}{path}token={token}", timeout=10) as r:
            json.loads(r.read())
    print(1, flush=True)
    time.sleep(0.7)
"""


def _time(make, X, Y, fit_kwargs, mode: str) -> tuple:
    """(wall seconds, CPU seconds of this process, polls answered) of one fit."""
    net = make()
    extra: dict = {}
    poller, dash = None, None
    if mode == "dashboard":
        dash = cr.Dashboard(quiet=True)
        make().fit(X, Y, epochs=0, callbacks=[dash])  # starts the server: its URL
        # the browser: another process, as a real one is
        poller = subprocess.Popen(
            [sys.executable, "-c", POLLER, dash.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        time.sleep(1.0)  # its interpreter has started
        extra["callbacks"] = [dash]
    elif mode == "no-op callback":
        extra["callbacks"] = [lambda epoch, logs, network: None]
    t0, c0 = time.perf_counter(), time.process_time()
    net.fit(X, Y, **fit_kwargs, **extra)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    polls = 0
    if poller is not None:
        poller.terminate()
        out, _ = poller.communicate(timeout=10)
        polls = out.count("1")
    if dash is not None:
        dash.close()
    return seconds, cpu, polls


def workloads(quick: bool) -> list:
    rng = np.random.default_rng(0)
    from chainrule.demo import make_data

    X1, Y1 = make_data()
    n2 = 2048 if quick else 8192
    X2 = rng.normal(size=(n2, 784)).astype(np.float32)
    Y2 = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n2)]
    return [
        (
            "W1 tiny 2-10-8-5-1, full batch, float64",
            lambda: cr.Network([2, 10, 8, 5, 1], ["relu", "tanh", "relu", "linear"], seed=0),
            X1,
            Y1,
            dict(epochs=2000 if quick else 20000, lr=0.01),
        ),
        (
            "W2 784-512-256-10 float32, batch 128",
            lambda: cr.Network(
                [784, 512, 256, 10],
                ["relu", "relu", "softmax"],
                loss="cross_entropy",
                dtype="float32",
                seed=0,
            ),
            X2,
            Y2,
            dict(epochs=3 if quick else 8, lr=0.01, batch_size=128),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    args = parser.parse_args()
    modes = ("plain", "no-op callback", "dashboard")
    for title, make, X, Y, kwargs in workloads(args.quick):
        best = {m: float("inf") for m in modes}
        cpu = {m: float("inf") for m in modes}
        polls = 0
        _time(make, X, Y, kwargs, "plain")  # warm-up
        for _ in range(args.repeats):
            for m in modes:
                seconds, c, n = _time(make, X, Y, kwargs, m)
                best[m], cpu[m] = min(best[m], seconds), min(cpu[m], c)
                polls += n
        print(
            f"{title}, {kwargs['epochs']} epochs (best of {args.repeats}; wall clock, and "
            "the CPU time of the training process):"
        )
        for m in modes:
            print(
                f"  {m:<15} {best[m]:8.3f} s {100 * (best[m] / best['plain'] - 1):+6.1f} %"
                f"   CPU {cpu[m]:8.3f} s {100 * (cpu[m] / cpu['plain'] - 1):+6.1f} %"
            )
        print(f"  ({polls} polls of the page's data during the dashboard runs)")


if __name__ == "__main__":
    main()
