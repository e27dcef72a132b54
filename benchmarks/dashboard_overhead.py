"""What the live dashboard costs the training loop (issue 17): fit with ``dashboard=True``
against the same fit without it, and against a no-op callback (the core's once-per-epoch
return to Python that any callback costs), while a client polls the page's data as the
browser does (``api/run`` and ``api/frame`` every 0.7 s, each frame a forward and backward
pass over the kept rows on the server's thread). Best of ``--repeats`` runs; each run of
the three is timed in turn, so that the machine's drift touches them alike.

    python benchmarks/dashboard_overhead.py [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.request

import numpy as np

import chainrule as cr


def _poll(dash: cr.Dashboard, stop: threading.Event, counts: list) -> None:
    while dash.url is None and not stop.is_set():
        time.sleep(0.01)
    base, token = dash.url.split("?token=")
    while not stop.wait(0.7):
        for path in ("api/run", "api/frame?epoch=latest&row=0"):
            sep = "&" if "?" in path else "?"
            with urllib.request.urlopen(f"{base}{path}{sep}token={token}", timeout=10) as r:
                json.loads(r.read())
        counts.append(1)


def _time(make, X, Y, fit_kwargs, mode: str) -> tuple:
    net = make()
    extra: dict = {}
    stop, counts, poller, dash = threading.Event(), [], None, None
    if mode == "dashboard":
        dash = cr.Dashboard(quiet=True)
        extra["callbacks"] = [dash]
        poller = threading.Thread(target=_poll, args=(dash, stop, counts))
        poller.start()
    elif mode == "no-op callback":
        extra["callbacks"] = [lambda epoch, logs, network: None]
    t0 = time.perf_counter()
    net.fit(X, Y, **fit_kwargs, **extra)
    seconds = time.perf_counter() - t0
    if poller is not None:
        stop.set()
        poller.join()
        dash.close()
    return seconds, len(counts)


def workloads(quick: bool) -> list:
    rng = np.random.default_rng(0)
    from chainrule.demo import make_data
    X1, Y1 = make_data()
    n2 = 2048 if quick else 8192
    X2 = rng.normal(size=(n2, 784)).astype(np.float32)
    Y2 = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n2)]
    return [
        ("W1 tiny 2-10-8-5-1, full batch, float64",
         lambda: cr.Network([2, 10, 8, 5, 1], ["relu", "tanh", "relu", "linear"], seed=0),
         X1, Y1, dict(epochs=2000 if quick else 20000, lr=0.01)),
        ("W2 784-512-256-10 float32, batch 128",
         lambda: cr.Network([784, 512, 256, 10], ["relu", "relu", "softmax"],
                            loss="cross_entropy", dtype="float32", seed=0),
         X2, Y2, dict(epochs=3 if quick else 8, lr=0.01, batch_size=128)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    args = parser.parse_args()
    modes = ("plain", "no-op callback", "dashboard")
    for title, make, X, Y, kwargs in workloads(args.quick):
        best = {m: float("inf") for m in modes}
        polls = 0
        _time(make, X, Y, kwargs, "plain")  # warm-up
        for _ in range(args.repeats):
            for m in modes:
                seconds, n = _time(make, X, Y, kwargs, m)
                best[m] = min(best[m], seconds)
                polls += n
        base = best["plain"]
        print(f"{title}, {kwargs['epochs']} epochs (best of {args.repeats}):")
        for m in modes:
            print(f"  {m:<15} {best[m]:8.3f} s  {100 * (best[m] / base - 1):+6.1f} %")
        print(f"  ({polls} polls of the page's data during the dashboard runs)")


if __name__ == "__main__":
    main()
