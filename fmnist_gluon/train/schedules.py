"""Learning-rate schedules from shorthands, the optimizer check and the ``gluon.Trainer``."""
import mxnet as mx
from mxnet import gluon

from ..distributed import is_dist

__all__ = ["make_lr_scheduler", "check_optimizer", "make_trainer"]


_SCHEDULES = ("step", "factor", "cosine", "poly")


def make_lr_scheduler(spec, lr, epochs, batches_per_epoch):
    """An MXNet scheduler (sized in iterations) from a shorthand, or the instance unchanged.

    ``spec``: None; an ``mx.lr_scheduler.LRScheduler`` instance (gluoncv's ``LRScheduler`` and
    ``LRSequential`` are subclasses); a name ``"step"`` (x0.1 at 50% and 75% of the epochs),
    ``"cosine"``, ``"poly"``; or a dict with ``type`` plus, all counted in epochs:

    * ``{"type": "step", "epochs": [30, 45], "factor": 0.1}`` -> ``MultiFactorScheduler``
    * ``{"type": "factor", "every": 10, "factor": 0.5}`` -> ``FactorScheduler``
    * ``{"type": "cosine", "final_lr": 0}`` -> ``CosineScheduler`` over all epochs
    * ``{"type": "poly", "power": 2, "final_lr": 0}`` -> ``PolyScheduler`` over all epochs

    and for any type ``warmup_epochs`` (linear warm-up from ``warmup_begin_lr``, default 0).
    """
    if spec is None or isinstance(spec, mx.lr_scheduler.LRScheduler):
        return spec
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or "type" not in spec:
        raise TypeError("lr_scheduler: expected None, a name (%s), a dict with a 'type' key or an "
                        "mx.lr_scheduler.LRScheduler, got %r" % (", ".join(_SCHEDULES), spec))
    spec = dict(spec)
    kind = str(spec.pop("type")).lower()
    ipe = int(batches_per_epoch)
    warmup = int(round(float(spec.pop("warmup_epochs", 0)) * ipe))
    common = {"base_lr": lr, "warmup_steps": warmup,
              "warmup_begin_lr": float(spec.pop("warmup_begin_lr", 0.0))}
    total = max(int(epochs) * ipe, warmup + 1)
    if kind == "step":
        marks = spec.pop("epochs", None)
        if marks is None:
            marks = [max(1, int(epochs * 0.5)), max(2, int(epochs * 0.75))]
        steps = sorted({int(round(float(e) * ipe)) for e in marks})
        if not steps or steps[0] < 1:
            raise ValueError("lr_scheduler step: 'epochs' must be positive epoch numbers, got %r"
                             % (marks,))
        sched = mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=spec.pop("factor", 0.1),
                                                     **common)
    elif kind == "factor":
        every = spec.pop("every", None)
        if every is None:
            raise ValueError("lr_scheduler factor: give 'every' (epochs between decays), e.g. "
                             "{'type': 'factor', 'every': 10, 'factor': 0.5}")
        sched = mx.lr_scheduler.FactorScheduler(step=max(1, int(round(every * ipe))),
                                                factor=spec.pop("factor", 0.1), **common)
    elif kind == "cosine":
        sched = mx.lr_scheduler.CosineScheduler(max_update=total,
                                                final_lr=spec.pop("final_lr", 0.0), **common)
    elif kind == "poly":
        sched = mx.lr_scheduler.PolyScheduler(max_update=total, pwr=spec.pop("power", 2),
                                              final_lr=spec.pop("final_lr", 0.0), **common)
    else:
        raise ValueError("lr_scheduler: unknown type %r; expected one of %s"
                         % (kind, ", ".join(_SCHEDULES)))
    if spec:
        raise ValueError("lr_scheduler %s: unknown keys %s" % (kind, sorted(spec)))
    return sched

def check_optimizer(optimizer, optimizer_params, lr_scheduler):
    if isinstance(optimizer, mx.optimizer.Optimizer):
        if optimizer_params or lr_scheduler is not None:
            raise ValueError("optimizer is an mx.optimizer.Optimizer instance: give it its "
                             "lr_scheduler and parameters when you create it, not through "
                             "lr_scheduler=/optimizer_params=")
        return
    if not isinstance(optimizer, str):
        raise TypeError("optimizer: expected a name ('sgd', 'adam', 'nag', ...) or an "
                        "mx.optimizer.Optimizer, got %r" % (optimizer,))
    if optimizer.lower() not in mx.optimizer.Optimizer.opt_registry:
        raise ValueError("optimizer: unknown name %r; MXNet knows %s"
                         % (optimizer, ", ".join(sorted(mx.optimizer.Optimizer.opt_registry))))


def make_trainer(net, optimizer, lr, wd, optimizer_params, scheduler, kvstore):
    """A gluon.Trainer; a scheduler instance keeps its own base_lr (``lr`` is for shorthands).

    On a dist kvstore the gradients are summed across the workers by
    :class:`~fmnist_gluon.distributed.Workers` before ``step``, and every worker's trainer
    updates locally (no kvstore): the trainer state is each worker's own, so
    ``save_states``/``load_states`` and ``set_learning_rate`` work as on one process.
    """
    if is_dist(kvstore):
        kvstore = None
    if isinstance(optimizer, mx.optimizer.Optimizer):
        return gluon.Trainer(net.collect_params(), optimizer, kvstore=kvstore)
    params = dict(optimizer_params or {})
    params.setdefault("wd", wd)
    if scheduler is not None:
        params["lr_scheduler"] = scheduler
        params.setdefault("learning_rate", scheduler.base_lr)
    else:
        params.setdefault("learning_rate", lr)
    return gluon.Trainer(net.collect_params(), optimizer.lower(), params, kvstore=kvstore)

