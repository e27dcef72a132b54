"""Data-parallel training over MPI: ``net.fit(X_shard, Y_shard, ..., comm=MPI.COMM_WORLD)``.

Every process (rank) holds a shard of the rows; together, in rank order, they form the global
data set. ``fit`` with a communicator trains exactly as one process would on that global data
(to rounding): rank 0's weights, optimizer state and shuffling generator are broadcast first,
then every step

1. each rank runs forward and backward on its rows of the step (the core's C++ loop, without
   the GIL),
2. the core scales its ``[dW; db]`` gradients - one contiguous buffer holding every layer -
   by its batch weight and appends its weighted loss sum and weight,
3. that buffer is summed over the ranks with **one** all-reduce, called from the C++ loop
   with the GIL taken for that call only: ``MPI_Allreduce`` (mpi4py), or, when every rank runs
   on one node, a reduction in place in an MPI shared-memory window that holds every rank's
   buffer (no messages and no copies; ``CHAINRULE_ALLREDUCE=mpi`` forces MPI_Allreduce), and
4. every rank divides by the global batch weight and applies the same optimizer update, so all
   ranks keep identical weights and optimizer state.

Batch normalisation is synchronised, as ``torch.nn.SyncBatchNorm``: in a training step its mean
and variance are those of the step's rows on every rank, and so are the means its backward
pass uses; each BatchNorm layer sums a few values per feature over the ranks (two sums in the
forward pass, one in the backward pass, through :meth:`Context.sum_across`), and a rank without
rows in the step takes part with zeros. The running statistics are therefore the same on every
rank and equal single-process training's. Dropout needs no message: its masks are drawn per
global row of the step, so the ranks together draw what one process would.

The batch split
---------------
``batch_size`` counts *global* rows. Each epoch orders the global rows by one permutation,
the same on every rank, and step ``k`` takes positions ``[k * batch_size, (k + 1) *
batch_size)`` of it (the last step may be short); a rank contributes the rows of the step that
it holds, possibly none. Every rank therefore takes the same number of steps,
``ceil(N / batch_size)`` for ``N`` global rows, whatever its shard size.

- ``shuffle=True``: the permutation is ``rng.permutation(N)`` from the network's generator,
  which rank 0 broadcasts before training - exactly the permutation a single process with the
  same generator would draw, so the run equals single-process ``fit(..., shuffle=True)`` on the
  concatenated data.
- ``shuffle=False``: the permutation is :func:`global_order`, which interleaves the shards in
  proportion to their sizes (row ``i`` of a shard of ``n`` rows is at ``(i + 0.5) / n`` of the
  epoch), so that every step draws on every rank. The run equals single-process
  ``fit(X_all[order], Y_all[order], shuffle=False)``.

Validation data, when given, is also sharded: each rank passes its own (at least one row),
and ``val_loss`` is the loss over all of it. ``validation_split`` holds out the last fraction
of each shard. The training loss, validation loss, ``metrics`` (training and validation),
learning-rate schedules, early stopping and callbacks see global figures, identical on every
rank. Only rank 0 shows progress (``verbose``); callbacks run on every rank, after every
epoch, and the ranks then agree on going on (one ``allgather`` of a flag): a callback that
stops training (``StopTraining`` or ``False``, early stopping) on any rank stops every rank
after the same epoch, with the same weights and history. After ``fit(comm=...)``,
``net.comm`` is that communicator, and ``net.save`` on any other rank than 0 writes nothing
(returns without touching the file); set ``net.comm = None`` to save from every rank again.

Failures
--------
Every argument and shard is checked on every rank and the outcome is exchanged before any
training step (one ``allgather``): a bad shard on one rank (wrong shape, NaN) makes *every*
rank raise a ValueError naming that rank, instead of leaving the others waiting in the
all-reduce. The ranks must also agree on the settings (epochs, batch size, lr, optimizer,
schedule, shuffle, validation, early stopping's settings, dtype, loss, and the layers with
all their settings); a mismatch is reported the same way. An error that happens on one rank
*during* training (a callback raising, Ctrl-C) cannot be agreed on without a message per
step, so that rank prints it and aborts the communicator (``MPI_Abort``), which ends every
rank. A diverging loss is global, so every rank raises the same :class:`DivergenceError`.

Install with ``pip install chainrule[mpi]`` (mpi4py and MPICH's runtime from PyPI, with
``mpiexec``); a system MPI works too.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
import traceback
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["global_order", "shard_rows"]


def global_order(shard_sizes: Sequence[int]) -> np.ndarray:
    """The unshuffled order of the global rows in data-parallel training.

    ``shard_sizes[r]`` is rank r's row count; global row ``offset_r + i`` is row ``i`` of rank
    ``r``'s shard (``offset_r`` the sum of the shards before it). Rows are ordered by ``(i +
    0.5) / shard_sizes[r]``, ties by rank, so each shard is spread evenly over the epoch and
    every step takes rows from every rank, in proportion to its size.

    >>> global_order([2, 2]).tolist()
    [0, 2, 1, 3]
    """
    sizes = [int(n) for n in shard_sizes]
    if not sizes or any(n < 1 for n in sizes):
        raise ValueError(f"every shard needs at least one row, got sizes {sizes}")
    keys = np.concatenate([(np.arange(n) + 0.5) / n for n in sizes])
    ranks = np.concatenate([np.full(n, r) for r, n in enumerate(sizes)])
    return np.lexsort((ranks, keys)).astype(np.intp)


def shard_rows(n: int, size: int, rank: int) -> slice:
    """Rows of rank ``rank`` when ``n`` rows are split over ``size`` ranks as evenly as possible
    (the first ``n % size`` ranks get one more): ``X[shard_rows(len(X), size, rank)]``."""
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"rank {rank} is not in a communicator of size {size}")
    base, extra = divmod(int(n), size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


# an object's address in a repr (" at 0x7f..."): not a setting, and not the same on every rank
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("fit(comm=...) needs mpi4py: pip install 'chainrule[mpi]'") from exc
    return MPI


class Context:
    """What fit needs of a communicator: rank, size, and the collective steps."""

    def __init__(self, comm: Any) -> None:
        if not all(
            hasattr(comm, name)
            for name in ("Get_rank", "Get_size", "Allreduce", "allgather", "bcast", "Bcast")
        ):
            raise TypeError(
                "comm must be an mpi4py communicator such as MPI.COMM_WORLD, got "
                f"{type(comm).__name__}"
            )
        self.comm = comm
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())

    @contextlib.contextmanager
    def agreed(self, what: str) -> Iterator[None]:
        """Runs the block on every rank, then exchanges the outcome: if it raised anywhere,
        it raises everywhere (the failing rank its own exception, the others a ValueError
        naming the failing rank and its message)."""
        error: Optional[BaseException] = None
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - reported to every rank, then re-raised
            error = exc
        failures = self.comm.allgather(
            None if error is None else f"{type(error).__name__}: {error}"
        )
        if error is not None:
            if isinstance(error, (ValueError, TypeError)) and self.size > 1:
                raise type(error)(f"rank {self.rank} of {self.size}: {error}") from error
            raise error
        failed = [(r, msg) for r, msg in enumerate(failures) if msg is not None]
        if failed:
            detail = "; ".join(f"rank {r}: {msg}" for r, msg in failed)
            raise ValueError(f"{what} failed on {len(failed)} of {self.size} ranks ({detail})")

    def check_same(self, what: str, settings: List[Tuple[str, Any]]) -> None:
        """Raises on every rank unless every rank passed the same settings, compared by their
        repr without the addresses that differ between processes (``<function f at
        0x...>`` in a custom activation's parameters)."""
        every = self.comm.allgather(settings)
        for r, theirs in enumerate(every):
            for (name, mine), (_, other) in zip(every[0], theirs):
                if _ADDRESS.sub("", repr(mine)) != _ADDRESS.sub("", repr(other)):
                    raise ValueError(
                        f"{what}: every rank must pass the same {name}; rank 0 has "
                        f"{mine!r}, rank {r} has {other!r}"
                    )

    def shard_sizes(
        self, rows: int, weights: Sequence[Tuple[str, Optional[np.ndarray]]]
    ) -> List[int]:
        """Every rank's rows, in rank order; ValueError on every rank when weights given
        (``(what, this rank's weights or None)``, alike on every rank) sum to 0 over every
        rank: one shard's rows may all weigh 0, not every shard's."""
        sizes = [int(r) for r in self.comm.allgather(rows)]
        for what, w in weights:
            if w is not None:
                weight = sum(self.comm.allgather(float(np.sum(w, dtype=np.float64))))
                if not weight > 0:
                    raise ValueError(
                        f"fit: {what} sums to 0 over every rank: at least one row needs a "
                        "positive weight"
                    )
        return sizes

    def all_go_on(self, go_on: bool) -> bool:
        """Whether every rank goes on (after an epoch: a callback on any rank may stop
        training, and then every rank stops)."""
        return all(self.comm.allgather(bool(go_on)))

    def allreduce_hook(self) -> Callable[[np.ndarray], None]:
        """MPI_Allreduce(MPI_SUM) of the buffer in place."""
        MPI = _mpi()
        comm = self.comm
        in_place = MPI.IN_PLACE
        total = MPI.SUM

        def allreduce(buffer: np.ndarray) -> None:
            comm.Allreduce(in_place, buffer, op=total)

        return allreduce

    def sum_across(self, values: np.ndarray) -> None:
        """Sums a few float64 values (the metrics' accumulators, batch normalisation's sums per
        feature) over every rank in place, in rank order, so every rank gets bitwise the same
        totals. One ``Allgather`` of the values (no pickling: batch normalisation calls this
        three times per layer and step)."""
        parts = np.empty((self.size, values.size), dtype=np.float64)
        self.comm.Allgather(np.ascontiguousarray(values, dtype=np.float64), parts)
        total = parts[0].copy()
        for part in parts[1:]:
            total += part
        values[...] = total

    def attach(
        self, net: Any
    ) -> Tuple[Callable[[np.ndarray], None], Optional[np.ndarray], Callable[[], None]]:
        """The all-reduce of a fit of ``net``, the buffer it sums (None: the core's own) and a
        function that undoes its set-up (collective). ``net`` is the
        :class:`~chainrule.Network` being fitted, reached through its public
        ``reduction_buffer_size``.

        When every rank runs on one node, the buffer of each step's sums (the gradients, the
        loss sum and the weight) is an MPI shared-memory window, summed in place without
        messages (:meth:`_shared`); otherwise, or with the environment variable
        ``CHAINRULE_ALLREDUCE=mpi``, it is MPI_Allreduce."""
        MPI = _mpi()
        mode = os.environ.get("CHAINRULE_ALLREDUCE", "auto")
        if mode not in ("auto", "mpi"):
            raise ValueError(f"CHAINRULE_ALLREDUCE must be 'auto' or 'mpi', got {mode!r}")
        if self.size > 1 and mode == "auto":
            node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
            one_node = node.Get_size() == self.size
            node.Free()
            if one_node:
                return self._shared(net, MPI)
        return self.allreduce_hook(), None, lambda: None

    def _shared(
        self, net: Any, MPI: Any
    ) -> Tuple[Callable[[np.ndarray], None], np.ndarray, Callable[[], None]]:
        """Every rank's gradient buffer lives in one shared-memory window. To sum a range of it,
        rank r adds up its r-th part of the range over every rank's buffer, in rank order, and
        writes the sum into all of them (no other rank reads or writes that part), between two
        barriers: each value is summed once, in the same order for all, and no copies are made.
        """
        comm, R, rank = self.comm, self.size, self.rank
        dtype = np.dtype(net.dtype)
        n = net.reduction_buffer_size()
        win = MPI.Win.Allocate_shared(n * dtype.itemsize, dtype.itemsize, comm=comm)
        buffers = [np.frombuffer(win.Shared_query(k)[0], dtype=dtype, count=n) for k in range(R)]
        base = buffers[rank].ctypes.data
        parts: dict = {}

        # this rank's part of a range, in chunks of 64 Ki values: each chunk's sum is copied
        # out to the other buffers while it is still in cache (the parts are tens of MB)
        chunk = 1 << 16

        def views(offset: int, count: int) -> List[Tuple[np.ndarray, List[np.ndarray]]]:
            lo = offset + count * rank // R
            hi = offset + count * (rank + 1) // R
            return [
                (
                    buffers[0][a : min(a + chunk, hi)],
                    [b[a : min(a + chunk, hi)] for b in buffers[1:]],
                )
                for a in range(lo, hi, chunk)
            ]

        def allreduce(buffer: np.ndarray) -> None:
            key = ((buffer.ctypes.data - base) // dtype.itemsize, buffer.size)
            if key not in parts:
                parts[key] = views(*key)
            comm.Barrier()  # every rank's values are in place
            for out, others in parts[key]:
                for other in others:  # in rank order: every value is summed in the same order
                    np.add(out, other, out=out)
                for other in others:
                    np.copyto(other, out)
            comm.Barrier()  # every part is summed everywhere

        def detach() -> None:
            parts.clear()
            buffers.clear()
            win.Free()

        return allreduce, buffers[rank], detach

    def broadcast_model(self, net: Any) -> None:
        """Rank 0's parameters, buffers, optimizer state, shuffling generator and dropout
        stream, on every rank (through the network's public ``parameters``, ``buffers``,
        ``get/set_optimizer_state``, ``get/set_rng_state`` and
        ``get/set_dropout_state``)."""
        for view in list(net.parameters.values()) + list(net.buffers.values()):
            self.comm.Bcast(view, root=0)  # live views: received in place
        state = self.comm.bcast(net.get_optimizer_state() if self.rank == 0 else None, root=0)
        rng = self.comm.bcast(net.get_rng_state() if self.rank == 0 else None, root=0)
        dropout = self.comm.bcast(net.get_dropout_state() if self.rank == 0 else None, root=0)
        if self.rank != 0:
            net.set_optimizer_state(state)
            net.set_rng_state(rng)
            net.set_dropout_state(dropout)

    def abort(self, exc: BaseException) -> None:  # pragma: no cover - ends the process
        """Reports an error that only this rank saw during training and ends every rank."""
        sys.stderr.write(
            f"chainrule.distributed: rank {self.rank} of {self.size} failed during "
            f"training; aborting every rank.\n{''.join(traceback.format_exception(type(exc), exc, exc.__traceback__))}"
        )
        sys.stderr.flush()
        time.sleep(1.0)  # let mpiexec forward the message before MPI_Abort tears down its I/O
        self.comm.Abort(1)
