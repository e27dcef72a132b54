"""Network.fit and Network.evaluate: the arguments checked and converted in Python, then one
call of the core's Trainer (the epoch loop runs in C++ without the GIL). A part of
:class:`~chainrule.Network`, which inherits it."""

from __future__ import annotations

import contextlib
import numbers
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from . import fit_args
from ._checks import check_int as _check_int
from ._checks import optional_real, real_type
from ._core import DivergenceError
from ._sync import serialised
from .callbacks import EarlyStopping, History, ProgressBar
from .dashboard import Dashboard
from .data import feature_names
from .diagnostics import Diagnostics, DiagnosticsLog
from .diagnostics import resolve as resolve_diagnostics
from .distributed import Context, global_order
from .optimizers import Optimizer, resolve_optimizer
from .run_record import RunRecorder, default_every
from .schedules import LRSchedule, resolve_schedule
from .schedules import core_spec as schedule_spec

__all__ = ["Fitting"]

ArrayLike = Any


def _observers(dashboard: Any, log_dir: Any, epochs: int) -> List[Any]:
    """The callbacks of fit's ``dashboard`` and ``log_dir`` arguments."""
    out: List[Any] = []
    if isinstance(dashboard, Dashboard):
        out.append(dashboard)
    elif dashboard is True or (isinstance(dashboard, np.bool_) and dashboard):
        out.append(Dashboard())  # ImportError naming the extra when it is missing
    elif (
        dashboard is not False
        and dashboard is not None
        and not (isinstance(dashboard, np.bool_) and not dashboard)
    ):
        raise TypeError(
            f"dashboard must be True, False or a chainrule.Dashboard, got {dashboard!r}"
        )
    if log_dir is not None:
        out.append(RunRecorder(log_dir, every=default_every(epochs)))
    return out


def _observers_first(cbs: List[Any]) -> List[Any]:
    """fit's callbacks in the order it calls them: the dashboards and run recorders first
    (given ones and fit's own), then the others in their order. Each epoch is then recorded
    before another callback can end the fit by raising, so that the records (the history,
    the snapshots' epochs, ``epochs_done``) hold every epoch the weights have trained."""
    first = [cb for cb in cbs if isinstance(cb, (Dashboard, RunRecorder))]
    return first + [cb for cb in cbs if not isinstance(cb, (Dashboard, RunRecorder))]


class Fitting:
    """Network's fit and evaluate."""

    # set by Network.__init__ (and its other parts)
    _core: Any
    _lock: Any
    _optimizer: Optimizer
    _rng: np.random.Generator
    _forward_X: Optional[np.ndarray]
    dtype: np.dtype
    layer_sizes: List[int]
    history: History
    comm: Any
    feature_names_in_: Optional[np.ndarray]
    _optimizer_snapshot: Callable[[], Any]  # (network_state.TrainingState)
    _restore_optimizer: Callable[[Any], None]
    _install_optimizer: Callable[[Optimizer], None]
    _sync_optimizer: Callable[[], None]

    @serialised
    def fit(
        self,
        X: ArrayLike,
        Y: ArrayLike,
        epochs: int = 100,
        lr: Optional[float] = None,
        batch_size: Optional[int] = None,
        shuffle: bool = False,
        verbose: int = 0,
        *,
        optimizer: Union[None, str, Optimizer] = None,
        lr_schedule: Union[None, str, LRSchedule] = None,
        sample_weight: Optional[ArrayLike] = None,
        validation_data: Optional[Sequence[ArrayLike]] = None,
        validation_split: float = 0.0,
        metrics: Optional[Sequence[str]] = None,
        early_stopping: Optional[EarlyStopping] = None,
        callbacks: Optional[Sequence[Any]] = None,
        comm: Any = None,
        clip_norm: Optional[float] = None,
        clip_value: Optional[float] = None,
        class_weight: Union[None, str, Dict[int, float]] = None,
        dashboard: Union[bool, Dashboard] = False,
        log_dir: Any = None,
        diagnostics: Union[None, bool, Diagnostics] = None,
    ) -> History:
        """Train with mini-batches; the epoch loop runs in C++ without the GIL.

        Parameters
        ----------
        X, Y : arrays (n, n0) and (n, nL)
            Inputs and targets. With a classification loss and several outputs, Y may also be
            integer class labels (n,), exactly equal to their one-hot rows.
        epochs : int
            Passes over the data (>= 0).
        lr : float, optional
            Base learning rate (> 0) for this call; None uses the optimizer's ``lr``.
        batch_size : int, optional
            Rows per step; None uses the whole data set (full-batch gradient descent).
        shuffle : bool
            Visit the rows in a new random order every epoch (from the network's seeded
            Generator).
        verbose : 0, 1, 2 or bool
            0 (False): silent; 1 (True): a progress bar (tqdm) with the epoch, losses and ETA,
            advancing within long epochs too; 2: one line per epoch.
        optimizer : str or Optimizer, optional
            Install this optimizer (fresh state) before training; None continues with the
            network's optimizer and its state.
        lr_schedule : str or LRSchedule, optional
            The learning rate per epoch: ``"constant"``, ``"cosine"``, ``"reduce_on_plateau"``
            or an object (``StepLR(step_size=10, gamma=0.5)``, ``ExponentialLR(0.95)``, ...),
            starting from the base learning rate at epoch 0 of this call.
        sample_weight : array (n,), optional
            Per-row weights >= 0: each batch's loss is ``sum(w_i l_i) / sum(w_i)`` and its
            gradients those of that weighted mean.
        class_weight : dict or "balanced", optional
            Classification losses only: ``{class index: weight}`` (classes not named weigh 1) or
            ``"balanced"``, scikit-learn's ``n / (k * count_c)`` over the k classes present in
            the training rows. Each training row's weight becomes its class's weight (times its
            sample_weight), exactly as if given as sample_weight; a row's class is its integer
            label, the column of its one-hot row, or its 0/1 binary target. As in Keras, it
            weights the training rows only, not the validation data.
        validation_data : (X_val, Y_val) or (X_val, Y_val, sample_weight_val), optional
            Evaluated after every epoch: ``val_loss`` and ``val_<metric>``.
        validation_split : float
            Instead of validation_data: hold out the last ``validation_split`` fraction of
            the rows (before any shuffling), as Keras does.
        metrics : list of str, optional
            Names from ``cr.metric_names()``: ``"accuracy"``, ``"precision"``, ``"recall"``,
            ``"f1"`` (argmax, or threshold 0.5 for one output), ``"r2"``, ``"mae"``,
            ``"rmse"``. Training metrics accumulate over the epoch's batches, each before its
            update.
        early_stopping : EarlyStopping, optional
            Stop when its monitored value stops improving; restores the best weights. It
            runs after the callbacks; the same object also in ``callbacks`` (or any callback
            object given twice) is a ValueError.
        callbacks : list, optional
            Functions ``f(epoch, logs, network)`` or objects with ``on_epoch_end(epoch, logs,
            network)``, called after every epoch (epoch from 0). Returning False or raising
            :class:`StopTraining` ends training after that epoch (with ``comm``, on every rank
            when it happens on any); any other exception reaches the caller with the weights
            of the epoch just finished. A
            :class:`~chainrule.Dashboard` or :class:`~chainrule.RunRecorder` (given here, or
            fit's own of ``dashboard`` and ``log_dir``) is called before the other callbacks
            at every step, so that what it shows or records holds every epoch the weights
            have trained, even when a later callback raises (and it sees the last epoch's
            weights before early stopping restores the best ones).
        dashboard : bool or Dashboard
            True: a live dashboard of this fit, at a local URL printed when training starts
            (see :class:`~chainrule.Dashboard`; needs ``pip install "chainrule[dashboard]"``);
            or a Dashboard object to configure it.
        log_dir : path, optional
            Record the run to this new directory: the history, the diagnostics and a
            snapshot of the weights about every ``epochs / 100`` epochs (format:
            :mod:`chainrule.run_record`; ``RunRecorder(log_dir, every=k)`` as a callback
            chooses k), to open later with ``chainrule dashboard LOG_DIR``.
        comm : mpi4py communicator, optional
            Data-parallel training (:mod:`chainrule.distributed`): X, Y (and sample_weight,
            validation_data) are this rank's shard of the global data, ``batch_size`` counts
            global rows, and every rank ends with the same weights, those of single-process
            training on the global data. Call it on every rank with the same settings.
        clip_norm : float, optional
            Gradient clipping by global norm, as ``torch.nn.utils.clip_grad_norm_`` between
            ``backward()`` and ``step()``: every step, all the gradients are scaled together
            by ``min(clip_norm / (norm + 1e-6), 1)``, ``norm`` being their L2 norm as one
            vector, L1/L2 penalty gradients included (> 0). With ``comm``, the norm of the
            gradient averaged over every rank.
        clip_value : float, optional
            Clamp every gradient value to ``[-clip_value, clip_value]`` (> 0), as
            ``torch.nn.utils.clip_grad_value_``. Given both, values are clamped first, then
            the norm is clipped (the order of Keras 2's ``clipvalue`` and ``clipnorm``); both
            bounds hold. A non-finite gradient is not an error: it makes the weights
            non-finite, which raises :class:`DivergenceError` as below.
        diagnostics : bool or Diagnostics, optional
            Per-layer figures measured by the core's training loop: after every epoch
            (``True``) or as ``Diagnostics(every=k)`` / ``Diagnostics(every_steps=k,
            histograms=True, bins=20)`` say. The records are ``history.diagnostics`` (a
            :class:`~chainrule.diagnostics.DiagnosticsLog`; ``.to_dataframe()``); during fit,
            ``network.diagnostics.latest`` is the newest one (a callback's view at epoch end),
            and a callback with ``on_diagnostics(records)`` receives each as it is made.
            With ``comm``, figures over every rank, the same on each.

        Returns a :class:`History` (``loss``, ``lr``, ``val_loss``, metrics per epoch), also
        ``network.history``; when the callbacks run after every epoch, ``network.history`` is
        this fit's History so far at each epoch end (before the callbacks), also after a fit
        that raised. Ctrl-C stops at a batch boundary with consistent weights and raises
        KeyboardInterrupt. A loss that becomes NaN/inf raises :class:`DivergenceError`, and
        the network goes back to the end of the last finite epoch (its weights, optimizer
        state, shuffling generator and dropout stream). Bad arguments, and a callback's
        ``on_train_begin`` that raises, leave the network as it was (the callbacks whose
        ``on_train_begin`` ran before then get ``on_exception``).
        """
        ctx = None
        if isinstance(verbose, (bool, np.bool_)):
            verbose = int(verbose)  # as Keras: True is the progress bar, False silence
        if comm is not None:
            ctx = Context(comm)
            if ctx.rank != 0 and verbose in (1, 2):
                verbose = 0  # only rank 0 shows progress
        # with a communicator, a bad argument or shard on any rank raises on every rank
        with ctx.agreed("fit") if ctx is not None else contextlib.nullcontext():
            names_in = feature_names(X)
            X, Y = self._X(X, "fit"), self._Y(Y)
            epochs = _check_int(epochs, "epochs", 0)
            new_optimizer = None if optimizer is None else resolve_optimizer(optimizer)
            if new_optimizer is None:
                self._sync_optimizer()  # its hyper-parameters as they are now
            base = new_optimizer or self._optimizer
            lr = real_type(base.lr if lr is None else lr, "lr")  # its value: the core
            bs = 0 if batch_size is None else _check_int(batch_size, "batch_size", 1)
            if not isinstance(verbose, numbers.Integral) or verbose not in (0, 1, 2):
                raise ValueError(
                    "verbose must be 0 (silent), 1 (progress bar) or 2 (one line per "
                    f"epoch), or False/True for 0/1, got {verbose!r}"
                )
            if not isinstance(shuffle, (bool, np.bool_)):
                raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
            schedule = resolve_schedule(lr_schedule)
            diag = resolve_diagnostics(diagnostics)
            diag_spec = None if diag is None else diag.core_spec()
            clipping = {
                "clip_norm": optional_real(clip_norm, "clip_norm"),
                "clip_value": optional_real(clip_value, "clip_value"),
            }  # values: the core
            # float64 when class weights multiply them, so that the product is rounded once
            w = (
                None
                if sample_weight is None
                else fit_args.sample_weights(
                    sample_weight,
                    X.shape[0],
                    "sample_weight",
                    self.dtype if class_weight is None else np.dtype(np.float64),
                )
            )
            X, Y, w, X_val, Y_val, w_val = fit_args.split_validation(
                X,
                Y,
                w,
                validation_data,
                validation_split,
                names_in if self.feature_names_in_ is None else self.feature_names_in_,
                self.dtype,
                self._Y,
            )
            cw = (
                None
                if class_weight is None
                else fit_args.class_weight_spec(class_weight, self.loss_function, comm)
            )
            names = fit_args.metric_names(metrics)
            cbs = _observers_first(
                fit_args.callback_list(callbacks, early_stopping, verbose, epochs)
                + _observers(dashboard, log_dir, epochs)
            )
            fit_args.check_distinct(cbs)
            interval = fit_args.hook_interval(cbs)  # how often the callbacks need calling
            recorded = fit_args.recorded(names, X_val is not None)
            for cb in cbs:  # EarlyStopping, ModelCheckpoint: what they watch is recorded;
                check_logs = getattr(cb, "check_logs", None)  # CSVLogger: a log's columns
                if callable(check_logs):
                    check_logs(recorded)
            schedule_args = None if schedule is None else schedule_spec(schedule)
            core_args = (w, X_val, Y_val, w_val, schedule_args, names)
            # with comm, X is this rank's shard: the batches (their rows for batch
            # normalisation) span every rank and are checked below, once N is known
            check_kwargs = dict(clipping, data_parallel=ctx is not None, diagnostics=diag_spec)
            if cw is not None:
                # the data checked first, then each training row weighted by its class
                self._core.check_fit(X, Y, epochs, lr, bs, *core_args, **check_kwargs)
                w = self._core.class_sample_weight(Y, cw, w, "fit: class_weight")
                core_args = (w,) + core_args[1:]
            new_names = self.feature_names_in_ is None and names_in is not None
            if new_optimizer is not None or new_names or cbs or ctx is not None or diag is not None:
                # before installing an optimizer or the feature names, starting a bar or any
                # collective step
                self._core.check_fit(X, Y, epochs, lr, bs, *core_args, **check_kwargs)
        core_kwargs: Dict[str, Any] = {}
        n = X.shape[0]
        if ctx is not None:
            settings = fit_args.rank_settings(
                self,
                dict(epochs=epochs, lr=lr, batch_size=bs, shuffle=bool(shuffle)),
                (base.name, base.get_params()),
                schedule_args,
                clipping,
                names,
                class_weight,
                core_args,
                diag_spec,
                early_stopping,
            )
            ctx.check_same("fit", settings)
            sizes = ctx.shard_sizes(
                n, [("sample_weight", core_args[0]), ("validation sample_weight", core_args[3])]
            )
            n = int(sum(sizes))
            # the same N, epochs and batch_size everywhere: every rank raises alike, if at all
            self._core.check_batches(n, epochs, bs)
            core_kwargs = {"global_rows": n, "row_offset": int(sum(sizes[: ctx.rank]))}
        # installed only once the whole call is known to be valid; what was there before comes
        # back if a callback's on_train_begin raises (nothing has trained then)
        previous_optimizer = None
        if new_optimizer is not None:
            previous_optimizer = self._optimizer_snapshot()
            self._install_optimizer(new_optimizer)
        if new_names:
            self.feature_names_in_ = np.array(names_in, dtype=object)
        self._forward_X = None
        if ctx is not None:
            ctx.broadcast_model(self)  # rank 0's weights, optimizer state and generator
            self.comm = comm
        rng_before: List[Any] = []  # the generator's state before the last epoch's draw
        permutation: Optional[Callable] = None
        if shuffle:

            def shuffled(epoch: int) -> np.ndarray:
                rng_before[:] = [self._rng.bit_generator.state]
                return self._rng.permutation(n)

            permutation = shuffled
        elif ctx is not None:
            order = global_order(sizes)
            permutation = lambda epoch: order
        # data-parallel: called by the core after every epoch on every rank, callbacks or not
        # (rank 0 alone shows progress), which agree on going on: a stop on any rank stops
        # every rank after the same epoch, with the same weights and history
        agree = None if ctx is None else ctx.all_go_on
        log = DiagnosticsLog()
        # called after every epoch, the hook keeps self.history this fit's so far (a
        # checkpoint holds it; a fit that raises leaves its epochs); else fit's end sets it
        live = History({k: [] for k in recorded}, diagnostics=log)
        on_epoch_end = (
            fit_args.epoch_hook(
                cbs,
                names,
                X_val is not None,
                self,
                agree=agree,
                history=live if interval == 0 or ctx is not None else None,
            )
            if cbs or ctx is not None
            else None
        )
        if cbs and ctx is None:  # (data-parallel: the core calls after every epoch)
            core_kwargs["on_epoch_end_interval"] = interval
        detach: Callable[[], None] = lambda: None
        if ctx is not None:  # the gradient all-reduce (shared memory on one node)
            core_kwargs["allreduce"], core_kwargs["reduce_buffer"], detach = ctx.attach(self)
            core_kwargs["sum_across"] = ctx.sum_across
        if diag is not None:  # each record as the core makes it, before the epoch's callbacks
            listeners = [
                cb.on_diagnostics for cb in cbs if callable(getattr(cb, "on_diagnostics", None))
            ]

            def on_record(record: Dict[str, Any]) -> None:
                log.append(record)
                for listen in listeners:  # the dashboard, the run recorder
                    listen([record])

            core_kwargs["diagnostics"], core_kwargs["on_diagnostics"] = diag_spec, on_record
            self._live_diagnostics = log
        bars = [cb for cb in cbs if isinstance(cb, ProgressBar)]
        if bars:  # called by the core between batches, at most every 250 ms
            core_kwargs["on_progress"] = bars[0].on_progress
        for cb in cbs:  # the dashboard and the recorder keep a sample of the training rows
            if callable(getattr(cb, "set_training_data", None)):
                cb.set_training_data(X, Y, epochs)

        def uninstall() -> None:  # what this fit installed, put back
            if previous_optimizer is not None:
                self._restore_optimizer(previous_optimizer)
            if new_names:
                self.feature_names_in_ = None

        try:
            fit_args.begin_training(cbs, self, uninstall)
            try:
                try:
                    loss, val_loss, lrs, train_m, val_m = self._core.fit(
                        X,
                        Y,
                        epochs,
                        lr,
                        bs,
                        permutation,
                        on_epoch_end,
                        *core_args,
                        **core_kwargs,
                        **clipping,
                    )
                finally:
                    for cb in cbs:
                        if isinstance(cb, ProgressBar):
                            cb.on_train_end(self)
            except BaseException as exc:  # (a divergence, Ctrl-C, a callback's error)
                fit_args.notify_exception(cbs, self, exc)
                raise
            # every epoch (also those a throttled hook did not see), before on_train_end
            self.history = fit_args.history(
                names, loss, train_m, val_loss if X_val is not None else None, val_m, lrs, log
            )
            # every callback's, an error of one raised once all have run
            fit_args.end_training([cb for cb in cbs if not isinstance(cb, ProgressBar)], self)
        except DivergenceError:
            # the core took the network back to the end of the last finite epoch; the
            # generator goes back to before the diverged epoch's shuffle
            if rng_before:
                self._rng.bit_generator.state = rng_before[0]
            raise  # the loss is global: every rank raises it together
        except BaseException as exc:
            if ctx is not None and ctx.size > 1:
                ctx.abort(exc)  # only this rank saw it: end every rank rather than hang them
            raise
        finally:
            detach()
            self.__dict__.pop("_live_diagnostics", None)
        for cb in cbs:
            if callable(getattr(cb, "on_history", None)):
                cb.on_history(self.history)
        return self.history

    @property
    def diagnostics(self) -> DiagnosticsLog:
        """The per-layer diagnostics records of the fit running now (what a callback reads:
        ``network.diagnostics.latest`` at the end of an epoch), else of the last fit
        (``history.diagnostics``)."""
        live = self.__dict__.get("_live_diagnostics")
        return live if live is not None else self.history.diagnostics

    @serialised
    def evaluate(
        self,
        X: ArrayLike,
        Y: ArrayLike,
        metrics: Optional[Sequence[str]] = None,
        sample_weight: Optional[ArrayLike] = None,
        batch_size: Optional[int] = None,
    ) -> Dict[str, float]:
        """The loss and metrics of the network on (X, Y), as Keras' ``evaluate(...,
        return_dict=True)``: ``{"loss": ..., "accuracy": ..., "f1": ...}``.

        Computed by the core in chunks of ``batch_size`` rows (None: up to 1024; the values
        do not depend on it beyond rounding), the loss and metrics weighted by
        ``sample_weight`` when given, as fit's validation pass does. Y takes what fit takes
        (integer class labels too). The model does not change. ``metrics`` are names from
        ``cr.metric_names()``; an unknown one raises the registry's ValueError.
        """
        X, Y = self._X(X, "evaluate"), self._Y(Y)
        names = fit_args.metric_names(metrics)
        w = (
            None
            if sample_weight is None
            else fit_args.sample_weights(
                sample_weight, X.shape[0], "sample_weight", self.dtype, call="evaluate"
            )
        )
        bs = 0 if batch_size is None else _check_int(batch_size, "batch_size", 1)
        self._forward_X = None
        loss, values = self._core.evaluate(X, Y, w, names, bs)
        out: Dict[str, float] = {"loss": float(loss)}
        out.update((name, float(v)) for name, v in zip(names, values))
        return out
