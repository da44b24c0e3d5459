"""``fit``: the epoch loop. Everything around an epoch (best epoch, early stopping, progress,
the NaN guard, user hooks) is a callback; checkpoints are one :class:`Checkpoint`.

* The loop syncs with the host only every ``log_every`` batches and at the end of an epoch:
  losses and the built-in accuracy / macro-F1 counts accumulate as NDArrays on the device;
  callbacks' ``on_batch_end`` runs at those sync points only.
* Exact resume: the shuffle order of epoch ``e`` depends only on ``(seed, e)`` (the iterator's
  ``.epoch``), MXNet's generator is re-seeded from ``(seed, e)`` at the start of every epoch
  (dropout), the trainer state is saved with ``trainer.save_states`` and every callback's
  ``state()`` goes into the checkpoint.
"""
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

from ..distributed import Workers, is_dist, make_kvstore, rank_of
from ..history import History
from .callbacks import BestEpoch, default_callbacks
from .checkpoint import Checkpoint, run_seed
from .evaluation import evaluate_iter
from ..validation import (check_batch_size, check_choice, check_non_negative_int, check_number,
                          check_positive_int, check_seed)
from .inputs import batches, check_fits_network, fit_ctxs, make_iterator
from .metrics import make_metrics, metric_values, smoothed_cross_entropy
from .params import average_statistics, epoch_seed, finish_deferred_init, initialize, make_init
from .schedules import check_optimizer, make_lr_scheduler, make_trainer

__all__ = ["fit"]


def fit(net, train, val=None, epochs=10, *, optimizer="sgd", lr=0.1, wd=0.0, batch_size=128,
        ctx=None, metrics="accuracy", init="xavier", init_magnitude=3.0, seed=None,
        lr_scheduler=None, hybridize=True, checkpoint_dir=None, resume=True, early_stopping=None,
        restore_best=False, monitor="val_accuracy", augment=None, verbose=True,
        optimizer_params=None, on_nan="stop", kvstore="device", log_every=50,
        label_smoothing=0.0, callbacks=None):
    """Train ``net`` with softmax cross-entropy and return its :class:`History`.

    Every parameter after ``epochs`` is keyword-only. Parameters (the less obvious ones):

    train, val : an (images, labels) pair of arrays (train is shuffled with ``seed``, val not)
        or a ``data.BatchIterator`` (used as it is; its contexts when ``ctx`` is None).
    optimizer : an MXNet optimizer name ("sgd", "adam", "nag", ...) with ``lr``, ``wd`` and
        ``optimizer_params`` (e.g. ``{"momentum": 0.9}``), or an ``mx.optimizer.Optimizer``.
    ctx : None (every GPU MXNet sees, else the CPU), a context, or a list of contexts: each
        batch is split across them and the gradients are summed by the kvstore (``kvstore``).
    kvstore : "device" (default), another MXNet kvstore name or an ``mx.kv.KVStore``.
        "dist_sync" trains data-parallel across the worker processes of a job (started with
        ``fmnist-gluon launch``; docs/distributed.md): ``batch_size`` is the global batch, each
        worker computes an equal part of it, gradients are summed over the workers and divided
        by the global batch, and rank 0 alone writes checkpoints.
    metrics : name(s), dict(s) ``{"name": ..., **kwargs}`` or ``mx.metric.EvalMetric``\\ s;
        "accuracy" (default), "top_k_accuracy_5", "ce", "f1" (macro-F1 over all classes).
    init : "xavier" (Glorot uniform, ``init_magnitude`` 3.0 = MXNet's and Keras's default; the
        seed notebook used 2.24), another mx.init name, or an ``mx.init.Initializer``.
        Parameters that are already initialised are kept (continue training).
    seed : makes the run reproducible (init, shuffling, dropout, augmentation); None draws one
        and records it in ``history.meta["seed"]``.
    lr_scheduler : see :func:`make_lr_scheduler` (a shorthand, or an MXNet / gluoncv scheduler
        instance sized in iterations: ``len(batch iterator)`` per epoch).
    hybridize : hybridize the network (static memory on one device; plain on several, where
        MXNet 1.9.1 with static memory loses BatchNorm statistics updates now and then).
    checkpoint_dir : write a checkpoint after every epoch there (last and best parameters,
        trainer state, history); with ``resume=True`` a later call continues from it exactly.
    early_stopping : patience (int) or ``dict(patience=, min_delta=, monitor=)``.
    restore_best : put back the weights of the best ``monitor`` epoch at the end.
    monitor : the key for the best epoch ("val_accuracy", "val_loss", "accuracy", ...).
    verbose : 1/True a tqdm bar per epoch, 2 one line per epoch, 0/False silent.
    on_nan : "stop" (default: stop, keep the last good weights and checkpoint, set
        ``history.stopped_reason``, warn) or "raise" (the same, then raise TrainingDiverged).
    log_every : batches between host syncs (progress bar refresh and the non-finite check).
    label_smoothing : train against labels smoothed by this amount (as Keras's
        ``label_smoothing``: the true class gets ``1 - e + e/K``, the others ``e/K``).
        ``train_loss`` is then the smoothed loss being minimised, as in Keras; ``val_loss``
        stays the plain cross-entropy.
    callbacks : a list of :class:`~fmnist_gluon.train.callbacks.Callback` instances (yours,
        or built-ins such as ``EarlyStopping``, ``CSVLogger``, ``ReduceLROnPlateau``).
        ``early_stopping``, ``restore_best``/``monitor``, ``verbose`` and ``on_nan`` are
        shorthands that build the built-in ``EarlyStopping``, ``BestEpoch``, ``ProgressBar``
        and ``TerminateOnNaN``; a built-in given here replaces the shorthand's.
    """
    batch_size = _check_arguments(epochs, on_nan, seed, log_every, label_smoothing, batch_size)
    check_optimizer(optimizer, optimizer_params, lr_scheduler)
    ctxs = fit_ctxs(ctx, train)
    kvstore = make_kvstore(kvstore)
    workers = Workers(kvstore) if is_dist(kvstore) else None
    checkpoint = Checkpoint(checkpoint_dir) if checkpoint_dir else None
    saved = checkpoint.load() if checkpoint and resume else None
    seed = run_seed(seed, saved, batch_size, checkpoint_dir)
    if workers is not None:
        seed = workers.broadcast_seed(seed)  # one shuffle order for all the workers' shards

    # data, metrics, callbacks (which check their monitor keys before any work)
    train_it = make_iterator(train, "train", batch_size, ctxs, shuffle=True, seed=seed,
                             augment=augment,
                             shard=None if workers is None else (workers.rank, workers.count))
    val_it = None if val is None else make_iterator(val, "val", batch_size, ctxs)
    train_metrics, val_metrics = make_metrics(metrics), make_metrics(metrics)
    cbs = default_callbacks(callbacks, monitor, early_stopping, restore_best, verbose, on_nan,
                            val_it is not None)
    params = _callback_params(epochs, train_it, val_it, train_metrics, log_every, checkpoint_dir)
    for cb in cbs:
        cb.set_params(params)
    best = next(cb for cb in cbs if isinstance(cb, BestEpoch))

    # network, trainer, history; on resume, everything the checkpoint holds
    _prepare_network(net, ctxs, seed, make_init(init, init_magnitude), train_it, val_it,
                     hybridize)
    if saved is not None:
        checkpoint.load_params(net, saved, ctxs)
    if workers is not None:
        workers.broadcast_params(net)  # rank 0's start (or checkpoint) on every worker
    scheduler = make_lr_scheduler(lr_scheduler, lr, epochs, len(train_it))
    trainer = make_trainer(net, optimizer, lr, wd, optimizer_params, scheduler, kvstore)
    history = History(monitor=best.key, meta={
        "seed": int(seed), "batch_size": batch_size,
        "optimizer": optimizer if isinstance(optimizer, str) else type(optimizer).__name__,
        "train_samples": train_it.num_samples})
    if saved is not None:
        checkpoint.load_trainer(trainer, saved)
        history = History.from_dict(saved["history"])
        history.monitor = best.key
    history.meta["contexts"] = [str(c) for c in ctxs]
    if workers is not None:
        history.meta.update(kvstore=kvstore.type, workers=workers.count, rank=workers.rank)
    for cb in cbs:
        cb.net, cb.trainer, cb.history = net, trainer, history
    if saved is not None:
        checkpoint.restore_callbacks(cbs, saved)
    start = 0 if saved is None else epochs if history.stopped_reason else saved["epoch"]
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    train_loss_fn = smoothed_cross_entropy(label_smoothing) if label_smoothing else loss_fn

    try:
        for cb in cbs:
            cb.on_train_begin({"start_epoch": saved["epoch"] if saved else 0,
                               "resumed_from": checkpoint_dir if saved else None,
                               "stopped": history.stopped_reason if saved else None})
        for epoch in range(start + 1, epochs + 1):  # 1-based, as the history's rows
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            mx.random.seed(epoch_seed(seed, epoch - 1))  # dropout: a function of (seed, epoch)
            train_it.epoch = epoch - 1  # shuffle and augmentation: a function of (seed, epoch)
            tic = time.perf_counter()
            row, reason = _train_epoch(net, train_it, trainer, train_loss_fn, train_metrics, cbs,
                                       log_every, workers)
            if reason:  # a callback stopped inside the epoch (e.g. a NaN): no row, no checkpoint
                history.stopped_reason = reason
                break
            if len(ctxs) > 1:
                average_statistics(net)
            if workers is not None:  # every rank evaluates, records and decides the same
                workers.average_statistics(net)
                row = workers.mean_row(row)
            if val_it is not None:
                row.update({"val_" + k: v for k, v in
                            evaluate_iter(net, val_it, val_metrics, loss_fn).items()})
            speed = row.pop("images_per_sec")
            row = {"epoch": epoch, **row, "lr": float(trainer.learning_rate),
                   "seconds": time.perf_counter() - tic, "images_per_sec": speed}
            history.append(row)
            history.stopped_reason = _stop_reason(cbs, "on_epoch_end", epoch, row)
            if workers is not None:
                history.stopped_reason = workers.agree_to_stop(history.stopped_reason)
            if checkpoint is not None and rank_of(kvstore) == 0:  # data-parallel: rank 0 writes
                checkpoint.save(epoch, net, trainer, history, cbs, seed, batch_size,
                                best.improved)
            if history.stopped_reason:
                break
        for cb in cbs:
            cb.on_train_end(history)
    finally:
        for cb in cbs:
            getattr(cb, "close", lambda: None)()  # e.g. a progress bar left open by an error
    return history


def _callback_params(epochs, train_it, val_it, metrics, log_every, checkpoint_dir):
    """What callbacks see as ``self.params``: fit's settings and the row keys it records."""
    names = list(metric_values(metrics, ""))
    keys = ["train_loss"] + ["train_" + n for n in names]
    if val_it is not None:
        keys += ["val_loss"] + ["val_" + n for n in names]
    return {"epochs": int(epochs), "batches_per_epoch": len(train_it), "keys": keys,
            "has_val": val_it is not None, "log_every": int(log_every),
            "checkpoint_dir": checkpoint_dir}


def _prepare_network(net, ctxs, seed, init, train_it, val_it, hybridize):
    """Initialise what is not yet (a function of ``seed``), on ``ctxs``, check that the data
    fit the network, and hybridize."""
    mx.random.seed(int(seed))
    initialize(net, init, ctxs)
    for it, name in ((train_it, "train"), (val_it, "val")):
        if it is not None:
            check_fits_network(net, it, name)
    finish_deferred_init(net, train_it)
    if hybridize and isinstance(net, gluon.HybridBlock):
        # static memory is ~5-30% faster on one device; on several, MXNet 1.9.1 sometimes
        # loses a BatchNorm statistics update with it (docs/training.md), so plain there
        static = len(ctxs) == 1
        net.hybridize(static_alloc=static, static_shape=static)


def _stop_reason(cbs, hook, *args):
    """Call ``hook`` on every callback; the first stop request as a reason (or None)."""
    reason = None
    for cb in cbs:
        asked = getattr(cb, hook)(*args)
        if asked and reason is None:
            reason = asked if isinstance(asked, str) else "stopped by %s (%s, %s %d)" % (
                type(cb).__name__, hook, "epoch" if hook == "on_epoch_end" else "batch", args[0])
    return reason


def _check_arguments(epochs, on_nan, seed, log_every, label_smoothing, batch_size):
    """The scalar arguments, checked before any work (validation's shared checks)."""
    check_non_negative_int(epochs, "epochs")
    check_choice(on_nan, "on_nan", ("stop", "raise"))
    check_seed(seed)
    check_positive_int(log_every, "log_every")
    check_number(label_smoothing, "label_smoothing", 0.0, 1.0, high_open=True, hint=", e.g. 0.1")
    return check_batch_size(batch_size)


def _train_epoch(net, it, trainer, loss_fn, metrics, cbs, log_every, workers=None):
    """One pass over ``it``: ``(row, None)``, or ``(None, reason)`` when a callback stopped it.

    The host syncs only every ``log_every`` batches: the batch losses wait on the device until
    then, and the callbacks' ``on_batch_end`` (the NaN guard among them) sees all of them. With
    ``workers`` (a dist kvstore), the step divides by the global batch and the workers agree on
    stopping at every sync point.
    """
    for m in metrics:
        m.reset()
    params = list(net.collect_params().values())
    ctx0 = params[0].list_ctx()[0]
    state = {"pending": [], "total": 0.0, "count": 0}

    def sync(batch):  # batch: 1-based number of the last batch run
        values = nd.concat(*state["pending"], dim=0).asnumpy() if state["pending"] else []
        values = np.asarray(values, dtype=np.float32)
        state["pending"] = []
        state["total"] += float(np.sum(values))
        logs = {"loss": state["total"] / max(state["count"], 1), **metric_values(metrics, ""),
                "batch_losses": values}
        reason = _stop_reason(cbs, "on_batch_end", batch, logs)
        return reason if workers is None else workers.agree_to_stop(reason)

    start = time.perf_counter()
    batch = 0
    for batch, (data, label) in enumerate(batches(it), 1):
        with autograd.record():
            outs = [net(x) for x in data]
            losses = [loss_fn(o, y) for o, y in zip(outs, label)]
        autograd.backward(losses)
        n = sum(x.shape[0] for x in data)
        if workers is not None:  # equal parts per worker: the global batch is n * count
            workers.sum_gradients(params)
        trainer.step(n if workers is None else n * workers.count)
        state["count"] += n
        sums = [l.sum().as_in_context(ctx0) for l in losses]
        state["pending"].append((nd.add_n(*sums) if len(sums) > 1 else sums[0]).reshape((1,)))
        probs = [nd.softmax(o.detach()) for o in outs]
        for m in metrics:
            m.update(label, probs)
        if batch % log_every == 0:
            reason = sync(batch)
            if reason:
                return None, reason
    reason = sync(batch)
    if reason:
        return None, reason
    seconds = time.perf_counter() - start
    row = {"train_loss": state["total"] / max(state["count"], 1),
           **metric_values(metrics, "train_")}
    row["images_per_sec"] = state["count"] / seconds if seconds > 0 else float("nan")
    return row, None
