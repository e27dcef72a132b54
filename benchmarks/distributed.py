"""Data-parallel scaling: W3 training with 2 MPI processes x 1 thread against 1 process x 1 thread.

    python benchmarks/distributed.py              # W3: 1024-4096-4096-1024 relu/relu/linear, MSE,
                                                  # float32, global batch 512, 12 steps, best of 2
    python benchmarks/distributed.py --smoke      # tiny sizes, a few seconds (tests run this)
    python benchmarks/distributed.py --ranks 3 --steps 20

Each configuration runs under ``mpiexec -n R`` (the mpiexec beside this Python, else the one on
PATH); every rank trains on its half of the rows with ``fit(..., comm=MPI.COMM_WORLD)`` and
one chainrule thread. Reported: samples per second of the whole job, the speedup of R ranks
over 1, and the communication time per step - the time spent in the one MPI_Allreduce of the
gradient buffer, measured inside fit (it includes waiting for the slower rank).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

FULL = dict(sizes=[1024, 4096, 4096, 1024], batch=512, steps=12, repeats=2)
SMOKE = dict(sizes=[32, 64, 64, 16], batch=64, steps=4, repeats=1)


def worker(sizes, batch, steps, repeats):
    """One rank: time fit over `steps` global steps; rank 0 prints a JSON line."""
    import numpy as np
    from mpi4py import MPI

    import chainrule as cr
    import chainrule.distributed as dist

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    cr.set_num_threads(1)
    n = batch * steps
    rows = dist.shard_rows(n, size, rank)
    rng = np.random.default_rng(rank)
    X = rng.normal(size=(rows.stop - rows.start, sizes[0])).astype(np.float32)
    Y = rng.normal(size=(rows.stop - rows.start, sizes[-1])).astype(np.float32)
    net = cr.Network(
        sizes, ["relu"] * (len(sizes) - 2) + ["linear"], loss="mse", dtype="float32", seed=0
    )

    comm_time = [0.0]
    calls = [0]
    plain_attach = dist.Context.attach

    def timed_attach(self, network):
        reduce, buffer, detach = plain_attach(self, network)

        def allreduce(buffer):
            t = time.perf_counter()
            reduce(buffer)
            comm_time[0] += time.perf_counter() - t
            calls[0] += 1

        return allreduce, buffer, detach

    dist.Context.attach = timed_attach
    net.fit(
        X[: batch // size], Y[: batch // size], epochs=1, batch_size=batch, lr=1e-4, comm=comm
    )  # warm-up: buffers, threads, MPI connections
    best = None
    for _ in range(repeats):
        comm_time[0], calls[0] = 0.0, 0
        comm.Barrier()
        t = time.perf_counter()
        net.fit(X, Y, epochs=1, batch_size=batch, lr=1e-4, comm=comm)
        comm.Barrier()
        elapsed = time.perf_counter() - t
        if best is None or elapsed < best[0]:
            best = (elapsed, comm_time[0] / max(calls[0], 1))
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    if rank == 0:
        print(
            json.dumps(
                dict(
                    ranks=size,
                    seconds=best[0],
                    samples_per_s=n / best[0],
                    step_s=best[0] / steps,
                    comm_per_step_s=best[1],
                    buffer_mb=(n_params + 2) * 4 / 2**20,
                )
            ),
            flush=True,
        )


def mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        sys.exit("no mpiexec: pip install 'chainrule[mpi]'")
    return found


def launch(ranks, cfg, timeout):
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
    )
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, __file__, "--worker", json.dumps(cfg)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    return json.loads([l for l in r.stdout.splitlines() if l.startswith("{")][-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--ranks", type=int, default=2, help="processes of the parallel run")
    parser.add_argument("--steps", type=int, default=None, help="global steps timed")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(**json.loads(args.worker))
        return
    cfg = dict(SMOKE if args.smoke else FULL)
    if args.steps:
        cfg["steps"] = args.steps
    timeout = 120 if args.smoke else 3600
    print(
        f"W3-style data-parallel training: {'-'.join(map(str, cfg['sizes']))} relu/.../linear, "
        f"MSE, float32, global batch {cfg['batch']}, {cfg['steps']} steps, 1 thread per process, "
        f"best of {cfg['repeats']}; load average before: {os.getloadavg()[0]:.2f}"
    )
    one = launch(1, cfg, timeout)
    many = launch(args.ranks, cfg, timeout)
    print(
        f"  all-reduce: {os.environ.get('CHAINRULE_ALLREDUCE', 'auto')} (auto: shared memory "
        f"on one node; CHAINRULE_ALLREDUCE=mpi: MPI_Allreduce)"
    )
    for r in (one, many):
        print(
            f"  {r['ranks']} process(es): {r['samples_per_s']:10.1f} samples/s, "
            f"{r['step_s'] * 1e3:9.2f} ms/step, communication {r['comm_per_step_s'] * 1e3:8.3f} "
            f"ms/step (one all-reduce of {r['buffer_mb']:.2f} MB)"
        )
    print(
        f"  speedup of {args.ranks} processes over 1: "
        f"{many['samples_per_s'] / one['samples_per_s']:.2f}x; "
        f"load average after: {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
