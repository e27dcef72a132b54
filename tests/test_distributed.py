"""Data-parallel training over MPI (chainrule.distributed).

The MPI tests launch ``mpiexec -n 2`` and ``-n 3`` on tests/mpi_worker.py, which compares
every rank's training with single-process training on the concatenated data (1e-12 in
float64) and checks that all ranks agree bitwise. This process never imports mpi4py (that
would initialise MPI in pytest's process). Without mpi4py or mpiexec (``pip install
.[mpi]``) they skip, except under CI, where they fail.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.distributed import Context, global_order, shard_rows

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _mpi_missing():
    try:
        import importlib.util

        if importlib.util.find_spec("mpi4py") is None:
            return "mpi4py is not installed (pip install '.[mpi]')"
    except ImportError:  # pragma: no cover
        return "mpi4py is not installed"
    if _mpiexec() is None:
        return "no mpiexec (pip install '.[mpi]' brings MPICH's)"
    return None


_missing = _mpi_missing()
if _missing and os.environ.get("CI"):
    raise RuntimeError(f"CI must run the MPI tests: {_missing}")
needs_mpi = pytest.mark.skipif(_missing is not None, reason=str(_missing))


def run_mpi(n, *args, timeout=300, allreduce="auto"):
    """mpiexec -n n python args...; returns the CompletedProcess (never hangs: timeout)."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        CHAINRULE_NUM_THREADS="1",
        # Open MPI refuses root without these; MPICH ignores them
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        CHAINRULE_ALLREDUCE=allreduce,
    )
    cmd = [_mpiexec(), "-n", str(n), sys.executable, *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(HERE)
    )


def worker(n, case, timeout=300, allreduce="auto"):
    return run_mpi(n, str(HERE / "mpi_worker.py"), case, timeout=timeout, allreduce=allreduce)


@needs_mpi
@pytest.mark.parametrize("allreduce", ["auto", "mpi"])  # shared memory (one node), MPI_Allreduce
@pytest.mark.parametrize("ranks", [2, 3])
def test_training_equals_single_process(ranks, allreduce):
    # SGD, Adam, momentum, RMSprop; shuffled and unshuffled; even and uneven shards; batch 16
    # of 103 rows (a short last batch); sample weights, validation, a schedule; float32
    r = worker(ranks, "exact", allreduce=allreduce)
    assert r.returncode == 0, r.stdout + r.stderr
    # ranks' lines may interleave in mpiexec's output
    assert sorted(re.findall(r"OK exact rank (\d+)", r.stdout)) == [str(k) for k in range(ranks)]


@needs_mpi
@pytest.mark.parametrize("allreduce", ["auto", "mpi"])
@pytest.mark.parametrize("ranks", [2, 3])
def test_batch_norm_dropout_layer_norm_equal_single_process(ranks, allreduce):
    # BatchNorm synchronised over the ranks (first and after dropout), Dropout per global row,
    # LayerNorm, L1/L2, clipping, weights (some ranks' rows of a step weigh 0, a step weighs 0
    # everywhere), steps without rows on a rank, seeds None on some ranks, float32, and 1 or
    # 2 threads per rank giving the same bits; running statistics compared too
    r = worker(ranks, "layers", allreduce=allreduce)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(re.findall(r"OK layers rank (\d+)", r.stdout)) == [str(k) for k in range(ranks)]


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_diagnostics_combined_over_ranks_equal_single_process(ranks):
    # per-layer diagnostics (H statistics, dead and saturated units, norms, update ratios,
    # histograms) combined over every rank: single-process training's figures, on every rank
    r = worker(ranks, "diagnostics")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(re.findall(r"OK diagnostics rank (\d+)", r.stdout)) == [
        str(k) for k in range(ranks)
    ]


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_fit_starts_from_rank_0s_whole_state(ranks):
    # parameters, running statistics, optimizer state, generator and dropout stream
    r = worker(ranks, "broadcast")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(re.findall(r"OK broadcast rank (\d+)", r.stdout)) == [
        str(k) for k in range(ranks)
    ]


@needs_mpi
def test_early_stopping_callbacks_progress_and_save():
    r = worker(3, "callbacks")
    assert r.returncode == 0, r.stdout + r.stderr
    # verbose=2 prints on rank 0 only: one progress line per epoch, not three
    epochs = re.findall(r"epoch +(\d+)/200", r.stdout)
    assert epochs and len(epochs) == len(set(epochs)), r.stdout


@needs_mpi
def test_checkpoint_last_saved_on_every_rank():
    # rank 0 writes; last_saved named a file never written on rank 1
    r = worker(2, "checkpoint", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(re.findall(r"OK checkpoint rank (\d+)", r.stdout)) == ["0", "1"]
    assert len(re.findall(r"saved .*ep\d\.npz", r.stdout)) == 3, r.stdout  # rank 0 alone


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_bad_shard_raises_on_every_rank(ranks):
    r = worker(ranks, "failure", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    for k in range(ranks):
        assert f"OK failure rank {k}" in r.stdout
        assert f"rank {k} NaN on rank 1:" in r.stdout  # every rank saw the error
        assert f"rank {k} one-row batch:" in r.stdout  # batch normalisation's global batches
        assert f"rank {k} other layer kinds:" in r.stdout
        assert f"rank {k} other early stopping:" in r.stdout  # its settings, not only presence
        # every layer's settings and the loss, not only the layers' kinds
        for what in ("activation", "l2", "momentum", "dropout", "alpha", "loss"):
            assert f"rank {k} other {what}:" in r.stdout


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_stop_on_one_rank_stops_every_rank(ranks):
    # a callback's StopTraining or False on one rank: every rank stops after that epoch
    r = worker(ranks, "stop", timeout=120)  # hung before the ranks agreed on stopping
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(re.findall(r"OK stop rank (\d+)", r.stdout)) == [str(k) for k in range(ranks)]


@needs_mpi
def test_error_during_training_aborts_every_rank():
    r = worker(2, "abort", timeout=120)  # would hang without the abort
    assert r.returncode != 0
    assert "callback failed on rank 1" in r.stderr
    assert "rank 1 of 2 failed during training; aborting every rank" in r.stderr
    assert "OK abort" not in r.stdout


@needs_mpi
def test_benchmark_smoke():
    r = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "distributed.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "speedup" in r.stdout and "communication" in r.stdout, r.stdout


@needs_mpi
def test_guide_example_under_mpiexec(tmp_path):
    guide = ROOT / "docs" / "guide" / "distributed.md"
    block = re.search(r"```py\n(# train.py.*?)```", guide.read_text(), re.S)
    assert block, "the data-parallel guide's train.py example is missing"
    script = tmp_path / "train.py"
    script.write_text(block.group(1))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run(
        [_mpiexec(), "-n", "2", sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(tmp_path),
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(re.findall(r"epoch +10/10", r.stdout)) == 1, r.stdout  # rank 0 prints alone
    assert (tmp_path / "model.npz").exists()
    assert cr.load(tmp_path / "model.npz").layer_sizes == [20, 64, 64, 64, 1]


def test_global_order():
    assert global_order([2, 2]).tolist() == [0, 2, 1, 3]
    assert global_order([3]).tolist() == [0, 1, 2]
    order = global_order([1, 4, 3])
    assert sorted(order.tolist()) == list(range(8))
    # each shard's rows keep their order and are spread over the epoch in proportion
    assert [i for i in order.tolist() if 1 <= i < 5] == [1, 2, 3, 4]
    # keys (i + 0.5) / n: 0.125 (rank 1), 1/6 (rank 2), 0.375, 0.5 (rank 0, then rank 2), 0.625, ...
    assert order.tolist() == [1, 5, 2, 0, 6, 3, 7, 4]
    with pytest.raises(ValueError, match="at least one row"):
        global_order([3, 0])


def test_shard_rows():
    parts = [shard_rows(10, 3, r) for r in range(3)]
    assert parts == [slice(0, 4), slice(4, 7), slice(7, 10)]
    with pytest.raises(ValueError, match="rank 3 is not in a communicator of size 3"):
        shard_rows(10, 3, 3)


class _Gathered:
    """A communicator of 2 ranks whose allgather returns the given values (no MPI)."""

    def __init__(self, values):
        self.values = values

    def Get_rank(self):
        return 0

    def Get_size(self):
        return len(self.values)

    def allgather(self, value):
        return self.values

    Allreduce = bcast = Bcast = None


def test_settings_compared_without_addresses():
    # a custom activation holding a function: its repr's address differs between processes,
    # its setting does not
    def act(address):
        return [("layers", [f"Dense(4, Scaled(k=2.0, f=<function f at {address}>))"])]

    Context(_Gathered([act("0x7f00aa"), act("0x7f11bb")])).check_same("fit", act("0x7f00aa"))
    other = [("layers", ["Dense(4, Scaled(k=3.0, f=<function f at 0x7f11bb>))"])]
    with pytest.raises(ValueError, match="every rank must pass the same layers; rank 0 has"):
        Context(_Gathered([act("0x7f00aa"), other])).check_same("fit", act("0x7f00aa"))


def test_comm_must_be_a_communicator():
    net = cr.Network([2, 3, 1], seed=0)
    before = np.array(net.weights[0])
    with pytest.raises(TypeError, match="comm must be an mpi4py communicator"):
        net.fit(np.zeros((4, 2)), np.zeros((4, 1)), comm=object())
    assert np.array_equal(net.weights[0], before)
