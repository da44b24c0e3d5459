"""``fit``: the epoch loop."""
import math
import numbers
import os
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

from ..history import History
from .callbacks import (Progress, Tracker, TrainingDiverged, early_stopping_config,
                        record_divergence, resolve_monitor)
from .checkpoint import CHECKPOINT_FORMAT, load_checkpoint, run_seed, save_checkpoint
from .evaluation import evaluate_iter
from .inputs import batches, check_batch_size, fit_ctxs, make_iterator
from .metrics import make_metrics, metric_values, smoothed_cross_entropy
from .params import (average_statistics, epoch_seed, finish_deferred_init, initialize, make_init,
                     restore_params, snapshot_params, weights_norm)
from .schedules import check_optimizer, make_lr_scheduler, make_trainer

__all__ = ["fit"]


def _train_epoch(net, it, trainer, loss_fn, metrics, progress, log_every):
    """One pass over ``it``.

    Returns ``(row, None)``, or ``(None, (batch, what))`` when the loss or the weights became
    non-finite (batch: 1-based).  The host syncs only every ``log_every`` batches: the batch
    losses wait on the device until then, and the check looks at all of them at once.
    """
    for m in metrics:
        m.reset()
    ctx0 = next(iter(net.collect_params().values())).list_ctx()[0]
    state = {"pending": [], "total": 0.0, "count": 0}

    def sync(batch):  # batch: 1-based number of the last batch run
        values = nd.concat(*state["pending"], dim=0).asnumpy() if state["pending"] else []
        state["pending"] = []
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            return batch - len(values) + 1 + int(bad[0]), "loss"
        if not math.isfinite(float(weights_norm(net, ctx0).asscalar())):
            return batch, "weights"  # e.g. NaN pixels: ReLU hides them from the loss
        state["total"] += float(np.sum(values))
        progress.show({"loss": state["total"] / max(state["count"], 1),
                       **metric_values(metrics, "")})
        return None

    start = time.perf_counter()
    batch = 0
    for batch, (data, label) in enumerate(batches(it), 1):
        with autograd.record():
            outs = [net(x) for x in data]
            losses = [loss_fn(o, y) for o, y in zip(outs, label)]
        autograd.backward(losses)
        n = sum(x.shape[0] for x in data)
        trainer.step(n)
        state["count"] += n
        sums = [l.sum().as_in_context(ctx0) for l in losses]
        state["pending"].append((nd.add_n(*sums) if len(sums) > 1 else sums[0]).reshape((1,)))
        probs = [nd.softmax(o.detach()) for o in outs]
        for m in metrics:
            m.update(label, probs)
        progress.advance()
        if batch % log_every == 0:
            problem = sync(batch)
            if problem:
                return None, problem
    problem = sync(batch)
    if problem:
        return None, problem
    seconds = time.perf_counter() - start
    row = {"train_loss": state["total"] / max(state["count"], 1),
           **metric_values(metrics, "train_")}
    row["images_per_sec"] = state["count"] / seconds if seconds > 0 else float("nan")
    return row, None


def fit(net, train, val=None, epochs=10, optimizer="sgd", lr=0.1, wd=0.0, batch_size=128,
        ctx=None, metrics="accuracy", init="xavier", init_magnitude=3.0, seed=None,
        lr_scheduler=None, hybridize=True, checkpoint_dir=None, resume=True, early_stopping=None,
        restore_best=False, monitor="val_accuracy", augment=None, verbose=True,
        optimizer_params=None, on_nan="stop", kvstore="device", log_every=50,
        label_smoothing=0.0):
    """Train ``net`` with softmax cross-entropy and return its :class:`History`.

    Parameters (the less obvious ones):

    train, val : an (images, labels) pair of arrays (train is shuffled with ``seed``, val not)
        or a ``data.BatchIterator`` (used as it is; its contexts when ``ctx`` is None).
    optimizer : an MXNet optimizer name ("sgd", "adam", "nag", ...) with ``lr``, ``wd`` and
        ``optimizer_params`` (e.g. ``{"momentum": 0.9}``), or an ``mx.optimizer.Optimizer``.
    ctx : None (every GPU MXNet sees, else the CPU), a context, or a list of contexts: each
        batch is split across them and the gradients are summed by the kvstore (``kvstore``).
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
    """
    if not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError("epochs: expected a non-negative integer, got %r" % (epochs,))
    if on_nan not in ("stop", "raise"):
        raise ValueError("on_nan: expected 'stop' or 'raise', got %r" % (on_nan,))
    if seed is not None and (not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError("seed: expected None or a non-negative integer, got %r" % (seed,))
    if not isinstance(log_every, numbers.Integral) or log_every < 1:
        raise ValueError("log_every: expected a positive integer, got %r" % (log_every,))
    if not (isinstance(label_smoothing, numbers.Real) and 0 <= label_smoothing < 1):
        raise ValueError("label_smoothing: expected a number in [0, 1), e.g. 0.1, got %r"
                         % (label_smoothing,))
    batch_size = check_batch_size(batch_size)
    check_optimizer(optimizer, optimizer_params, lr_scheduler)
    progress = Progress(verbose, int(epochs))
    ctxs = fit_ctxs(ctx, train)
    saved = load_checkpoint(checkpoint_dir) if checkpoint_dir and resume else None
    seed = run_seed(seed, saved, batch_size, checkpoint_dir)

    # data, metrics, what to monitor
    train_it = make_iterator(train, "train", batch_size, ctxs, shuffle=True, seed=seed,
                         augment=augment)
    val_it = None if val is None else make_iterator(val, "val", batch_size, ctxs)
    train_metrics, val_metrics = make_metrics(metrics), make_metrics(metrics)
    names = list(metric_values(train_metrics, ""))
    keys = lambda m: resolve_monitor(m, val_it is not None, names)  # noqa: E731
    if val_it is None and monitor.startswith("val_") and not (restore_best or early_stopping):
        monitor = monitor[4:]  # no validation data: the best epoch is the training one's
    tracker = Tracker(keys(monitor), early_stopping_config(early_stopping, monitor, keys),
                       restore_best)

    # network and trainer
    mx.random.seed(int(seed))
    initialize(net, make_init(init, init_magnitude), ctxs)
    finish_deferred_init(net, train_it)
    if hybridize and isinstance(net, gluon.HybridBlock):
        # static memory is ~5-30% faster on one device; on several, MXNet 1.9.1 sometimes
        # loses a BatchNorm statistics update with it (docs/training.md), so plain there
        static = len(ctxs) == 1
        net.hybridize(static_alloc=static, static_shape=static)
    if saved is not None:
        net.load_parameters(os.path.join(checkpoint_dir, saved["params"]), ctx=ctxs)
    scheduler = make_lr_scheduler(lr_scheduler, lr, epochs, len(train_it))
    trainer = make_trainer(net, optimizer, lr, wd, optimizer_params, scheduler, kvstore)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    train_loss_fn = smoothed_cross_entropy(label_smoothing) if label_smoothing else loss_fn

    history = History(monitor=tracker.key, meta={
        "seed": int(seed), "batch_size": batch_size,
        "optimizer": optimizer if isinstance(optimizer, str) else type(optimizer).__name__,
        "train_samples": train_it.num_samples})
    start = 0
    if saved is not None:
        trainer.load_states(os.path.join(checkpoint_dir, saved["states"]))
        history = History.from_dict(saved["history"])
        history.monitor = tracker.key
        tracker.load(saved, history, checkpoint_dir)
        start = epochs if history.stopped_reason else saved["epoch"]
        progress.say("resumed from %s after epoch %d%s" % (
            checkpoint_dir, saved["epoch"],
            " (the run had stopped: %s)" % history.stopped_reason if start == epochs else ""))
    history.meta["contexts"] = [str(c) for c in ctxs]

    # the loop
    try:
        for epoch in range(start, epochs):
            last_good = snapshot_params(net)
            mx.random.seed(epoch_seed(seed, epoch))  # dropout: a function of (seed, epoch)
            train_it.epoch = epoch  # shuffle and augmentation: a function of (seed, epoch)
            progress.start(epoch + 1, len(train_it))
            tic = time.perf_counter()
            row, problem = _train_epoch(net, train_it, trainer, train_loss_fn, train_metrics,
                                        progress, log_every)
            if problem:
                progress.close()
                record_divergence(net, history, last_good, epoch + 1, problem, checkpoint_dir, on_nan)
                break
            if len(ctxs) > 1:
                average_statistics(net)
            if val_it is not None:
                row.update({"val_" + k: v for k, v in
                            evaluate_iter(net, val_it, val_metrics, loss_fn).items()})
            speed = row.pop("images_per_sec")
            row = {"epoch": epoch + 1, **row, "lr": float(trainer.learning_rate),
                   "seconds": time.perf_counter() - tic, "images_per_sec": speed}
            history.append(row)
            improved, history.stopped_reason = tracker.update(row, net)
            progress.end(row)
            if checkpoint_dir:
                save_checkpoint(checkpoint_dir, net, trainer, dict(
                    tracker.state(), format=CHECKPOINT_FORMAT, epoch=epoch + 1, seed=int(seed),
                    batch_size=batch_size, iterator_epoch=epoch + 1,
                    history=history.to_dict()), improved)
            if history.stopped_reason:
                progress.say(history.stopped_reason)
                break
    finally:
        progress.close()
    if restore_best and tracker.snapshot is not None:
        restore_params(net, tracker.snapshot)
        history.meta["restored_epoch"] = history.best_epoch
    if on_nan == "raise" and history.meta.get("diverged"):
        d = history.meta["diverged"]
        raise TrainingDiverged(history.stopped_reason, d["epoch"], d["batch"], history)
    return history

