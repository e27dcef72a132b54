"""Peak resident memory of one epoch of W2 training, for one system, in a process of its own.

``python memory.py chainrule|torch --samples 60000 --batch 128`` prints JSON: ``maxrss_mb``
(resource.getrusage ru_maxrss), ``hwm_mb`` (VmHWM, the same high-water mark from
/proc/self/status, as a cross-check) and ``import_mb`` (VmRSS after importing the library).

Linux carries the *parent's* high-water mark into ru_maxrss across exec, so the harness starts
this script through a shell that forks (see sec_system.py); a process started by a large parent would
otherwise report the parent's size.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource

import numpy as np


def proc_status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    return float("nan")


def w2_data(samples: int, n_in: int, n_classes: int, seed: int = 0):
    """Random features in [0, 1) and one-hot labels, float32 from the start (no float64 copy)."""
    rng = np.random.default_rng(seed)
    X = rng.random((samples, n_in), dtype=np.float32)
    Y = np.zeros((samples, n_classes), dtype=np.float32)
    Y[np.arange(samples), rng.integers(0, n_classes, samples)] = 1
    return X, Y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=["chainrule", "torch"])
    parser.add_argument("--sizes", default="784,512,256,10")
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    importlib.import_module(args.system)
    import peers  # noqa: E402  (NumPy only; the system itself was imported just above)

    if args.system == "torch":
        import torch

        torch.set_num_threads(args.threads)
    import_mb = proc_status_mb("VmRSS")

    X, Y = w2_data(args.samples, sizes[0], sizes[-1])
    rng = np.random.default_rng(1)
    weights = [
        (rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32)
        for a, b in zip(sizes[:-1], sizes[1:])
    ]
    spec = peers.NetSpec(
        sizes, ["relu"] * (len(sizes) - 2) + ["softmax"], "cross_entropy", "float32"
    )
    peers.make_trainer(
        args.system, spec, weights, X, Y, lr=0.01, epochs=1, batch_size=args.batch
    ).run()

    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    print(
        json.dumps(
            dict(maxrss_mb=maxrss_kb / 1024, hwm_mb=proc_status_mb("VmHWM"), import_mb=import_mb)
        )
    )


if __name__ == "__main__":
    main()
