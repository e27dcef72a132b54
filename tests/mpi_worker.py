"""Run under mpiexec by tests/test_distributed.py: ``mpiexec -n R python mpi_worker.py CASE``.

Each case trains data-parallel with MPI.COMM_WORLD and, on every rank, compares the result
with single-process training of the same network on the concatenated data (computed here,
on every rank, with comm=None). Prints "OK <case> rank <r>" per rank on success; any
mismatch raises, so the process exits non-zero.
"""

import os
import sys
import tempfile

import numpy as np
from mpi4py import MPI

import chainrule as cr
from chainrule.distributed import global_order, shard_rows

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
cr.set_num_threads(1)


def data(n, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    Y = np.tanh(X @ rng.normal(size=(n_in, n_out))) + 0.1 * rng.normal(size=(n, n_out))
    return X, Y


def uneven(n):
    """Shard sizes that differ by more than one row: rank r gets a share growing with r."""
    weights = np.arange(1, size + 1)
    sizes = np.floor(n * weights / weights.sum()).astype(int)
    sizes[-1] += n - sizes.sum()
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return slice(int(offsets[rank]), int(offsets[rank] + sizes[rank]))


def close(got, want, tol, what):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    scale = np.maximum(np.maximum(np.abs(got), np.abs(want)), 1e-3)
    err = float(np.max(np.abs(got - want) / scale)) if got.size else 0.0
    if not err <= tol or got.shape != want.shape:
        raise AssertionError(f"rank {rank}: {what}: max relative difference {err:.3e} > {tol:g}")


def same_everywhere(net, what):
    """Every rank holds bitwise the same parameters, buffers (running statistics), optimizer
    state and dropout stream as rank 0."""
    mine = [np.array(a) for a in list(net.parameters.values()) + list(net.buffers.values())]
    state = net.get_optimizer_state()
    mine += [np.array(a) for per_slot in state["buffers"].values() for a in per_slot]
    theirs = comm.bcast(mine, root=0)
    for a, b in zip(mine, theirs):
        if not np.array_equal(a, b):
            raise AssertionError(
                f"rank {rank}: {what}: weights or optimizer state differ from rank 0"
            )
    if comm.bcast(state["step"], root=0) != state["step"]:
        raise AssertionError(f"rank {rank}: {what}: optimizer step count differs")
    if comm.bcast(net.get_dropout_state(), root=0) != net.get_dropout_state():
        raise AssertionError(f"rank {rank}: {what}: dropout stream differs")


def compare(
    make, X, Y, rows, fit_kwargs, tol, what, order_for_single=None, val=None, w=None, seed=rank
):
    """Distributed fit on X[rows] vs single-process fit on everything: every parameter and
    buffer, the histories and the optimizer state. ``seed``: this rank's network seed (rank
    0's must be 0, the single process's)."""
    dist = make(seed=seed)  # different seeds: the broadcast must fix it
    single = make(seed=0)
    kw = dict(fit_kwargs)
    if val is not None:  # (Xv, Yv, this rank's rows[, validation sample weights])
        Xv, Yv, vrows = val[:3]
        wv = (val[3],) if len(val) > 3 else ()
        kw_d = dict(kw, validation_data=(Xv[vrows], Yv[vrows], *(v[vrows] for v in wv)))
        kw_s = dict(kw, validation_data=(Xv, Yv, *wv))
    else:
        kw_d = kw_s = kw
    if w is not None:
        kw_d = dict(kw_d, sample_weight=w[rows])
    hd = dist.fit(X[rows], Y[rows], comm=comm, **kw_d)
    sizes = comm.allgather(X[rows].shape[0])
    if order_for_single is None and not kw.get("shuffle", False):
        order_for_single = global_order(sizes)
    Xs, Ys = (X, Y) if order_for_single is None else (X[order_for_single], Y[order_for_single])
    if w is not None:
        ws = w if order_for_single is None else w[order_for_single]
        kw_s = dict(kw_s, sample_weight=ws)
    hs = single.fit(Xs, Ys, **kw_s)
    for tensors in ("parameters", "buffers"):
        for name, want in getattr(single, tensors).items():
            close(getattr(dist, tensors)[name], want, tol, f"{what}: {name}")
    close(hd.loss, hs.loss, tol, f"{what}: loss history")
    if val is not None:
        close(hd.val_loss, hs.val_loss, tol, f"{what}: val_loss history")
    for name in kw.get("metrics", ()):
        for key in (name, f"val_{name}") if val is not None else (name,):
            close(hd.history[key], hs.history[key], tol, f"{what}: {key} history")
            if comm.bcast(list(hd.history[key]), root=0) != list(hd.history[key]):
                raise AssertionError(f"rank {rank}: {what}: {key} differs from rank 0")
    sd, ss = dist.get_optimizer_state(), single.get_optimizer_state()
    assert sd["step"] == ss["step"], (sd["step"], ss["step"])
    for name in ss["buffers"]:
        for a, b in zip(sd["buffers"][name], ss["buffers"][name]):
            close(a, b, tol, f"{what}: optimizer {name}")
    if dist.get_dropout_state() != single.get_dropout_state():
        raise AssertionError(f"rank {rank}: {what}: dropout stream differs from single-process")
    same_everywhere(dist, what)
    return dist, hd


def case_exact():
    X, Y = data(103, 5, 2, 1)  # 103 rows, batch 16: 6 full steps and 7 rows
    Xv, Yv = data(29, 5, 2, 2)

    def net(optimizer):
        return lambda seed: cr.Network(
            [5, 12, 7, 2],
            ["tanh", "relu", "linear"],
            optimizer=optimizer,
            seed=seed,
            dtype="float64",
        )

    for opt in ("sgd", "adam"):
        for shuffle in (False, True):
            for rows in (shard_rows(103, size, rank), uneven(103)):
                what = f"{opt} shuffle={shuffle} rows={rows}"
                compare(
                    net(opt),
                    X,
                    Y,
                    rows,
                    dict(
                        epochs=5, batch_size=16, shuffle=shuffle, lr=0.05 if opt == "sgd" else 0.01
                    ),
                    1e-12,
                    what,
                )
    # momentum SGD, sample weights (some 0), sharded validation, a schedule, full batch
    w = np.random.default_rng(3).uniform(0, 2, size=103)
    w[::9] = 0
    compare(
        net(cr.SGD(lr=0.05, momentum=0.9, nesterov=True)),
        X,
        Y,
        uneven(103),
        dict(
            epochs=4,
            batch_size=10,
            shuffle=True,
            lr_schedule=cr.StepLR(step_size=2, gamma=0.5),
            metrics=["r2", "accuracy"],
        ),
        1e-12,
        "momentum weighted validated",
        val=(Xv, Yv, shard_rows(29, size, rank)),
        w=w,
    )
    # weights whose sums overflow float64 (scaled by a power of two, the same on every rank)
    for scale in (2.0**1000, 2.0**-1040):
        compare(
            net("adam"),
            X,
            Y,
            uneven(103),
            dict(epochs=2, batch_size=10, lr=0.01, metrics=["r2"]),
            1e-12,
            f"weights times {scale:g}",
            w=np.round(w * 8) * scale,  # (exact in the subnormals too)
        )
    # a shard whose rows all weigh 0, beside shards that do not: the global fit is valid (the
    # last rank's check of its own sum refused it)
    w0 = w.copy()
    w0[shard_rows(103, size, size - 1)] = 0.0
    compare(
        net("adam"),
        X,
        Y,
        shard_rows(103, size, rank),
        dict(epochs=2, batch_size=10, lr=0.01),
        1e-12,
        "a shard of zero weights",
        w=w0,
    )
    # the same for the validation rows' weights (the last rank's check of its own sum refused
    # them, and every rank with it)
    wv = np.random.default_rng(4).uniform(0.5, 2, size=29)
    wv[shard_rows(29, size, size - 1)] = 0.0
    compare(
        net("sgd"),
        X,
        Y,
        shard_rows(103, size, rank),
        dict(epochs=2, batch_size=10, lr=0.05, metrics=["r2"]),
        1e-12,
        "a validation shard of zero weights",
        val=(Xv, Yv, shard_rows(29, size, rank), wv),
    )
    compare(
        net("rmsprop"),
        X,
        Y,
        shard_rows(103, size, rank),
        dict(epochs=3, batch_size=None),
        1e-12,
        "rmsprop full batch",
    )
    # gradient clipping: of the mean gradient over every rank, as single-process training
    compare(
        net("sgd"),
        X,
        Y,
        uneven(103),
        dict(epochs=4, batch_size=16, shuffle=True, lr=0.05, clip_norm=0.05),
        1e-12,
        "sgd clip_norm",
    )
    compare(
        net("adam"),
        X,
        Y,
        shard_rows(103, size, rank),
        dict(epochs=4, batch_size=16, lr=0.01, clip_norm=0.1, clip_value=0.02),
        1e-12,
        "adam clip_value and clip_norm",
        w=w,
    )
    # with L1/L2 penalties: their gradients join the mean gradient before it is clipped
    compare(
        lambda seed: cr.Network(
            [5, cr.Dense(12, "tanh", l2=1e-2), cr.Dense(7, "relu", l1=1e-3), cr.Dense(2, "linear")],
            optimizer="sgd",
            seed=seed,
        ),
        X,
        Y,
        uneven(103),
        dict(epochs=3, batch_size=16, lr=0.05, clip_norm=0.05),
        1e-12,
        "penalties and clip_norm",
    )
    # float32: same to float32 rounding
    compare(
        lambda seed: cr.Network(
            [5, 12, 2], ["tanh", "linear"], optimizer="sgd", seed=seed, dtype="float32"
        ),
        X,
        Y,
        uneven(103),
        dict(epochs=3, batch_size=16, shuffle=True, lr=0.05, metrics=["r2"]),
        1e-5,
        "float32",
    )


def case_layers():
    """BatchNorm (synchronised: statistics over every rank's rows of a step), Dropout (masks
    per global row), LayerNorm, L1/L2 penalties, clipping, sample weights (ranks whose rows
    of a step weigh 0, steps that weigh 0 everywhere), steps without rows on some ranks, ranks
    built with other seeds or none: all equal single-process training to 1e-12 (the running
    statistics too), and 1 or 2 threads per rank give the same bits."""
    X, Y = data(103, 5, 2, 1)
    X[:, 1] = 3 * X[:, 1] + 2  # a feature far from N(0, 1)
    Xv, Yv = data(29, 5, 2, 2)

    def net(optimizer, width=12, dtype="float64"):
        # no dense layer right before a BatchNorm: the batch's mean takes out most of its
        # bias's gradient (all of it after a linear one), leaving a sum that cancels to a few
        # ulps, which Adam and RMSprop scale up to full steps - any two summation orders,
        # two single-process ones too, would then part ways
        return lambda seed: cr.Network(
            [
                5,
                cr.BatchNorm(),
                cr.Dense(width, "tanh", l2=1e-2),
                cr.Dropout(0.3),
                cr.BatchNorm(momentum=0.3),
                cr.Dense(7, "sigmoid", l1=1e-3),
                cr.LayerNorm(),
                cr.Dense(2, "linear"),
            ],
            optimizer=optimizer,
            seed=seed,
            dtype=dtype,
        )

    for opt, shuffle, rows in (
        ("sgd", False, shard_rows(103, size, rank)),
        ("adam", True, uneven(103)),
    ):
        compare(
            net(opt),
            X,
            Y,
            rows,
            dict(epochs=4, batch_size=16, shuffle=shuffle, lr=0.05 if opt == "sgd" else 0.005),
            1e-12,
            f"layers {opt} shuffle={shuffle}",
        )
    # sample weights (some 0), sharded validation, metrics, clipping by norm and value; the
    # other ranks built without a seed (rank 0's dropout stream is broadcast)
    w = np.random.default_rng(3).uniform(0, 2, size=103)
    w[::7] = 0
    compare(
        net("adam"),
        X,
        Y,
        uneven(103),
        dict(
            epochs=4,
            batch_size=10,
            shuffle=True,
            lr=0.005,
            clip_norm=0.5,
            clip_value=0.05,
            metrics=["r2"],
        ),
        1e-12,
        "layers adam weighted validated clipped",
        val=(Xv, Yv, shard_rows(29, size, rank)),
        w=w,
        seed=0 if rank == 0 else None,
    )
    # 48 rows in batches of 8, rank 0 holding 3 of them (in steps 0, 2, 4 with 2 ranks, 1, 2,
    # 4 with 3): in the other steps it has no row (it takes part in the BatchNorm sums with
    # zeros); its row 0 weighs 0 (in that step its rows weigh 0 but count in the
    # statistics); step 3 weighs 0 on every rank (skipped by all, as by one process)
    sizes = [3] + [len(part) for part in np.array_split(np.arange(45), size - 1)]
    offsets = np.cumsum([0] + sizes)
    rows = slice(int(offsets[rank]), int(offsets[rank + 1]))
    w = np.ones(48)
    w[global_order(sizes)[24:32]] = 0
    w[0] = 0
    compare(
        net("rmsprop"),
        X[:48],
        Y[:48],
        rows,
        dict(epochs=3, batch_size=8, lr=0.002),
        1e-12,
        "layers rmsprop steps without rows, zero-weight steps",
        w=w,
    )
    compare(
        net("sgd", dtype="float32"),
        X,
        Y,
        uneven(103),
        dict(epochs=3, batch_size=16, shuffle=True, lr=0.05),
        1e-5,
        "layers float32",
    )
    # thread counts: the same bits
    results = []
    for threads in (1, 2):
        cr.set_num_threads(threads)
        model = net("adam", width=96)(seed=rank)
        model.fit(X[uneven(103)], Y[uneven(103)], epochs=2, batch_size=32, lr=0.005, comm=comm)
        results.append(
            [np.array(a) for a in list(model.parameters.values()) + list(model.buffers.values())]
        )
    cr.set_num_threads(1)
    for a, b in zip(*results):
        if not np.array_equal(a, b):
            raise AssertionError(f"rank {rank}: 1 and 2 threads per rank differ")


def case_callbacks():
    """Early stopping and callbacks see global figures: the same on every rank and the same
    as single-process; only rank 0 prints progress; save writes on rank 0 only."""
    X, Y = data(90, 4, 1, 5)
    Xv, Yv = data(30, 4, 1, 6)
    seen = []

    def make(seed):
        return cr.Network(
            [4, 32, 1], ["tanh", "linear"], optimizer=cr.SGD(lr=0.2, momentum=0.9), seed=seed
        )

    stopper = cr.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    dist = make(rank)
    h = dist.fit(
        X[uneven(90)],
        Y[uneven(90)],
        epochs=200,
        batch_size=8,
        validation_data=(Xv[shard_rows(30, size, rank)], Yv[shard_rows(30, size, rank)]),
        early_stopping=stopper,
        callbacks=[lambda e, logs, net: seen.append(logs["val_loss"])],
        verbose=2,
        comm=comm,
    )
    single_stop = cr.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    single = make(0)
    order = global_order(comm.allgather(len(X[uneven(90)])))
    hs = single.fit(
        X[order],
        Y[order],
        epochs=200,
        batch_size=8,
        validation_data=(Xv, Yv),
        early_stopping=single_stop,
    )
    assert len(h) == len(hs) < 200, (len(h), len(hs))
    assert stopper.best_epoch == single_stop.best_epoch
    close(seen, hs.val_loss, 1e-12, "callback val_loss")
    all_seen = comm.allgather(seen)
    assert all(s == all_seen[0] for s in all_seen), "ranks saw different logs"
    for l in range(single.n_layers):
        close(dist.weights[l], single.weights[l], 1e-12, f"restored best W{l + 1}")
    same_everywhere(dist, "early stopping")
    path = os.path.join(
        comm.bcast(tempfile.mkdtemp() if rank == 0 else None, root=0), f"model-{rank}.npz"
    )
    assert dist.comm is comm
    dist.save(path)
    comm.Barrier()
    assert os.path.exists(path) == (rank == 0), f"rank {rank}: save wrote {os.path.exists(path)}"
    if rank == 0:
        assert np.array_equal(cr.load(path).predict(Xv), dist.predict(Xv))
    dist.comm = None
    dist.save(path)  # detached: every rank writes its own file again
    assert os.path.exists(path)


def case_checkpoint():
    """ModelCheckpoint with fit(comm=...): rank 0 writes, and last_saved names a file written
    on rank 0 and is None on the other ranks, which write nothing."""
    X, Y = data(40, 3, 1, 7)
    rows = shard_rows(40, size, rank)
    directory = comm.bcast(tempfile.mkdtemp() if rank == 0 else None, root=0)
    ckpt = cr.ModelCheckpoint(
        os.path.join(directory, "ep{epoch}.npz"), monitor="loss", verbose=True
    )
    net = cr.Network([3, 4, 1], ["tanh", "linear"], seed=0)
    net.fit(X[rows], Y[rows], epochs=3, batch_size=8, callbacks=[ckpt], comm=comm)
    comm.Barrier()
    if rank == 0:
        assert ckpt.last_saved == os.path.join(directory, "ep3.npz"), ckpt.last_saved
        assert os.path.exists(ckpt.last_saved)
    else:
        assert ckpt.last_saved is None, f"rank {rank}: last_saved {ckpt.last_saved!r}"
    assert sorted(os.listdir(directory)) == ["ep1.npz", "ep2.npz", "ep3.npz"]
    assert comm.allgather(ckpt.best_epoch) == [ckpt.best_epoch] * size
    assert net.writes_files == (rank == 0)


def expect_error_everywhere(fn, needle, what):
    try:
        fn()
    except ValueError as exc:
        if needle not in str(exc):
            raise AssertionError(f"rank {rank}: {what}: message {exc!s:.300} lacks {needle!r}")
        print(f"rank {rank} {what}: {exc}", flush=True)
        return
    raise AssertionError(f"rank {rank}: {what}: no error")


def case_failure():
    """A bad shard on one rank: every rank raises a ValueError naming it, nobody hangs, and
    the weights are unchanged."""
    X, Y = data(40, 3, 1, 7)
    net = cr.Network([3, 8, 1], ["tanh", "linear"], seed=0)
    before = [np.array(W) for W in net.weights]
    rows = shard_rows(40, size, rank)
    Xr = X[rows].copy()
    if rank == 1:
        Xr[2, 1] = np.nan
    expect_error_everywhere(
        lambda: net.fit(Xr, Y[rows], epochs=3, batch_size=4, comm=comm),
        "non-finite value (nan) at row 2, column 1",
        "NaN on rank 1",
    )
    expect_error_everywhere(
        lambda: net.fit(X[rows][:, : (2 if rank == size - 1 else 3)], Y[rows], epochs=3, comm=comm),
        f"rank {size - 1}",
        "bad shape on the last rank",
    )
    expect_error_everywhere(
        lambda: net.fit(X[rows], Y[rows], epochs=3 + (rank == 1), comm=comm),
        "every rank must pass the same epochs",
        "different epochs",
    )
    clf = cr.Network([3, 4, 1], ["tanh", "sigmoid"], loss="binary_cross_entropy", seed=0)
    labels = (Y[rows] > np.median(Y)).astype(float)
    expect_error_everywhere(
        lambda: clf.fit(X[rows], labels, epochs=1, class_weight={0: 1.0, 1: 2.0 + rank}, comm=comm),
        "every rank must pass the same class_weight",
        "different class weights",
    )
    expect_error_everywhere(
        lambda: net.fit(
            X[rows],
            Y[rows],
            epochs=3,
            early_stopping=cr.EarlyStopping(monitor="loss", patience=1 if rank == 1 else 100),
            comm=comm,
        ),
        "every rank must pass the same early_stopping",
        "other early stopping",
    )
    expect_error_everywhere(
        lambda: net.fit(
            X[rows],
            Y[rows],
            epochs=1,
            sample_weight=np.ones(X[rows].shape[0]) if rank == 1 else None,
            comm=comm,
        ),
        "every rank must pass the same sample_weight",
        "sample weights on one rank only",
    )
    expect_error_everywhere(
        lambda: net.fit(
            X[rows], Y[rows], epochs=1, sample_weight=np.zeros(X[rows].shape[0]), comm=comm
        ),
        "sample_weight sums to 0 over every rank",
        "zero weights on every rank",
    )
    vrows = shard_rows(12, size, rank)
    expect_error_everywhere(
        lambda: net.fit(
            X[rows],
            Y[rows],
            epochs=1,
            validation_data=(X[:12][vrows], Y[:12][vrows], np.zeros(len(X[:12][vrows]))),
            comm=comm,
        ),
        "validation sample_weight sums to 0 over every rank",
        "zero validation weights on every rank",
    )
    expect_error_everywhere(
        lambda: net.fit(
            X[rows],
            Y[rows],
            epochs=1,
            validation_data=(X[:12][vrows], Y[:12][vrows])
            + ((np.ones(len(X[:12][vrows])),) if rank == 1 else ()),
            comm=comm,
        ),
        "every rank must pass the same validation sample_weight",
        "validation weights on one rank only",
    )
    for W, W0 in zip(net.weights, before):
        assert np.array_equal(W, W0)
    # batch normalisation counts the rows of a batch over every rank: 41 rows in batches of
    # 4 leave one row, refused on every rank before anything changes
    X, Y = data(42, 3, 1, 8)
    bn = cr.Network([3, cr.Dense(4, "tanh"), cr.BatchNorm(), cr.Dense(1, "linear")], seed=0)
    before = {k: np.array(v) for k, v in list(bn.parameters.items()) + list(bn.buffers.items())}
    rows = shard_rows(41, size, rank)
    expect_error_everywhere(
        lambda: bn.fit(X[rows], Y[rows], epochs=2, batch_size=4, comm=comm),
        "leaves a batch of 1 row(s) of the 41 rows over every process",
        "one-row batch",
    )
    for k, v in before.items():
        now = bn.parameters[k] if k in bn.parameters else bn.buffers[k]
        assert np.array_equal(now, v), k
    # the ranks must build the same layers (the kinds: their collectives must match)
    other = cr.Network(
        [
            3,
            cr.Dense(4, "tanh"),
            cr.Dropout(0.1) if rank == 1 else cr.BatchNorm(),
            cr.Dense(1, "linear"),
        ],
        seed=0,
    )
    expect_error_everywhere(
        lambda: other.fit(X[rows], Y[rows], epochs=1, comm=comm),
        "every rank must pass the same layers",
        "other layer kinds",
    )
    # 42 rows: batches 4, ..., 4, 2 over every rank, although 21 rows alone (2 ranks) leave 1
    rows = shard_rows(42, size, rank)
    bn.fit(X[rows], Y[rows], epochs=1, batch_size=4, comm=comm)
    # and the same settings of every layer, and the same loss: rank 1 differing in one of
    # them trained silently to weights of no single-process run
    one = rank == 1

    def layers(act="tanh", l2=0.0, momentum=0.1, p=0.1, alpha=0.2):
        return [
            3,
            cr.Dense(4, act, l2=l2),
            cr.BatchNorm(momentum=momentum),
            cr.Dropout(p),
            cr.Dense(4, cr.LeakyReLU(alpha=alpha)),
            cr.Dense(1, "linear"),
        ]

    for what, spec, loss, needle in (
        ("other activation", layers(act="relu" if one else "tanh"), "mse", "same layers"),
        ("other l2", layers(l2=0.1 if one else 0.0), "mse", "same layers"),
        ("other momentum", layers(momentum=0.5 if one else 0.1), "mse", "same layers"),
        ("other dropout", layers(p=0.2 if one else 0.1), "mse", "same layers"),
        ("other alpha", layers(alpha=0.3 if one else 0.2), "mse", "same layers"),
        ("other loss", layers(), "mae" if one else "mse", "same loss"),
    ):
        net = cr.Network(spec, loss=loss, seed=0)
        expect_error_everywhere(
            lambda: net.fit(X[rows], Y[rows], epochs=1, batch_size=8, comm=comm),
            f"every rank must pass the same {needle.split()[1]}",
            what,
        )


def case_broadcast():
    """fit(comm=...) starts from rank 0's parameters, running statistics, optimizer state,
    shuffling generator and dropout stream, whatever each rank built (other seeds, none)
    or did before (local training)."""
    X, Y = data(60, 4, 1, 9)

    def make(seed):
        return cr.Network(
            [4, cr.Dense(16, "tanh"), cr.Dropout(0.2), cr.BatchNorm(), cr.Dense(1, "linear")],
            optimizer="adam",
            seed=seed,
        )

    net = make([0, None, 7][rank % 3])
    net.fit(X[: 10 + 5 * rank], Y[: 10 + 5 * rank], epochs=1 + rank, batch_size=5)  # local
    mine = {
        name: np.array(v) for name, v in list(net.parameters.items()) + list(net.buffers.items())
    }
    state, dropout = net.get_optimizer_state(), net.get_dropout_state()
    rng = net.get_rng_state()
    want = comm.bcast((mine, state, dropout, rng), root=0)
    if rank > 0:  # the ranks did start apart
        assert not np.array_equal(mine["running_mean3"], want[0]["running_mean3"])
        assert dropout != want[2] and state["step"] != want[1]["step"]
    rows = shard_rows(60, size, rank)
    net.fit(X[rows], Y[rows], epochs=0, batch_size=8, comm=comm)  # the broadcast alone
    for name, value in want[0].items():
        now = net.parameters[name] if name in net.parameters else net.buffers[name]
        assert np.array_equal(now, value), f"rank {rank}: {name} differs from rank 0's"
    got = net.get_optimizer_state()
    assert got["step"] == want[1]["step"]
    for name, slots in want[1]["buffers"].items():
        for a, b in zip(got["buffers"][name], slots):
            assert np.array_equal(a, b), f"rank {rank}: optimizer {name} differs from rank 0's"
    assert net.get_dropout_state() == want[2], f"rank {rank}: dropout stream differs"
    assert repr(net.get_rng_state()) == repr(want[3]), f"rank {rank}: generator differs"
    net.fit(X[rows], Y[rows], epochs=2, batch_size=8, shuffle=True, comm=comm)
    same_everywhere(net, "after the broadcast")


def case_abort():
    """An exception on one rank during training aborts every rank (no hang)."""
    X, Y = data(40, 3, 1, 7)
    net = cr.Network([3, 8, 1], ["tanh", "linear"], seed=0)

    def boom(epoch, logs, network):
        if rank == 1 and epoch == 1:
            raise RuntimeError("callback failed on rank 1")

    rows = shard_rows(40, size, rank)
    net.fit(X[rows], Y[rows], epochs=50, batch_size=4, callbacks=[boom], comm=comm)


def case_stop():
    """A callback that stops training on one rank (StopTraining or False) stops every rank
    after the same epoch, also a rank without callbacks: the same weights and history
    everywhere, those of single-process training for that many epochs."""
    X, Y = data(40, 3, 1, 7)
    rows = shard_rows(40, size, rank)
    order = global_order(comm.allgather(X[rows].shape[0]))

    def make():
        return cr.Network([3, 4, 1], ["tanh", "linear"], seed=0)

    single = make()
    hs = single.fit(X[order], Y[order], epochs=2, batch_size=8)
    for stopper, how in ((size - 1, "raise"), (size - 1, "false"), (0, "false")):

        def stop(epoch, logs, network):
            if epoch == 1:
                if how == "raise":
                    raise cr.StopTraining()
                return False
            return None

        what = f"stop on rank {stopper} ({how})"
        net = make()
        callbacks = [stop] if rank == stopper else None  # the other ranks have none
        hd = net.fit(X[rows], Y[rows], epochs=5, batch_size=8, comm=comm, callbacks=callbacks)
        assert len(hd.loss) == 2, (what, rank, len(hd.loss))
        close(hd.loss, hs.loss, 1e-12, f"{what}: loss history")
        for name, want in single.parameters.items():
            close(net.parameters[name], want, 1e-12, f"{what}: {name}")
        same_everywhere(net, what)


def same_records(got, want, tol, what):
    """Diagnostics records alike: counts (dead units, saturated values, histogram counts and
    edges) equal, the other figures to tol."""
    assert len(got) == len(want), (what, len(got), len(want))
    for r, w in zip(got, want):
        assert (r["epoch"], r["step"]) == (w["epoch"], w["step"]), what
        for a, b in zip(r["layers"], w["layers"]):
            where = f"{what}: step {w['step']} layer {b['layer']}"
            for key in ("layer", "kind", "activation", "dead_fraction", "saturated_fraction"):
                if a[key] != b[key]:
                    raise AssertionError(f"rank {rank}: {where}: {key} {a[key]} != {b[key]}")
            for key in (
                "h_mean",
                "h_std",
                "w_norm",
                "dw_norm",
                "b_norm",
                "db_norm",
                "update_ratio",
            ):
                if (a[key] is None) != (b[key] is None):
                    raise AssertionError(f"rank {rank}: {where}: {key} {a[key]} vs {b[key]}")
                if a[key] is not None:
                    close(a[key], b[key], tol, f"{where}: {key}")
            for q, h in (a.get("histograms") or {}).items():
                if h != b["histograms"][q]:
                    raise AssertionError(f"rank {rank}: {where}: histogram of {q} differs")


def case_diagnostics():
    """Per-layer diagnostics of data-parallel training: combined over every rank (rows seen,
    sums, dead units, saturated values, histograms), equal to single-process training's on the
    concatenated data (whose figures test_diagnostics.py checks against NumPy), and the same
    bits on every rank."""
    X, Y = data(103, 5, 2, 1)
    X[:, 1] = 3 * X[:, 1] + 2

    def dense(seed):
        net = cr.Network(
            [5, 12, 7, 6, 2], ["relu", "tanh", "sigmoid", "linear"], seed=seed, optimizer="sgd"
        )
        return net

    def layers(seed):
        return cr.Network(
            [
                5,
                cr.Dense(12, "relu"),
                cr.BatchNorm(),
                cr.Dropout(0.3),
                cr.Dense(7, "tanh"),
                cr.Dense(2, "linear"),
            ],
            seed=seed,
            optimizer="adam",
        )

    spec = cr.Diagnostics(histograms=True, bins=9)
    cases = [
        (
            dense,
            shard_rows(103, size, rank),
            dict(epochs=3, batch_size=16, lr=0.2),
            spec,
            "dense sgd every epoch",
        ),
        (
            dense,
            uneven(103),
            dict(epochs=2, batch_size=10, shuffle=True, lr=0.2, clip_norm=1.0),
            cr.Diagnostics(every_steps=4, histograms=True, bins=5),
            "dense clipped every 4 steps",
        ),
        (
            layers,
            uneven(103),
            dict(epochs=3, batch_size=16, shuffle=True, lr=0.005),
            spec,
            "batchnorm dropout adam",
        ),
    ]
    for make, rows, kw, diag, what in cases:
        kw = dict(kw, diagnostics=diag)
        dist, hd = compare(make, X, Y, rows, kw, 1e-12, what)
        single = make(seed=0)
        order = None if kw.get("shuffle") else global_order(comm.allgather(X[rows].shape[0]))
        Xs, Ys = (X, Y) if order is None else (X[order], Y[order])
        hs = single.fit(Xs, Ys, **kw)
        assert len(hd.diagnostics) > 0
        same_records(list(hd.diagnostics), list(hs.diagnostics), 1e-12, what)
        if comm.bcast(hd.diagnostics.to_json(), root=0) != hd.diagnostics.to_json():
            raise AssertionError(f"rank {rank}: {what}: diagnostics differ from rank 0's")


if __name__ == "__main__":
    case = sys.argv[1]
    globals()[f"case_{case}"]()
    print(f"OK {case} rank {rank}", flush=True)
