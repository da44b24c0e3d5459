"""Training: ``fit``, ``evaluate``, ``predict`` and the ``History`` they keep.

``fit`` is a d2l-style loop (forward under ``autograd.record``, ``backward``, ``trainer.step``)
with the Keras/Lightning conveniences around it: metrics by name, learning-rate schedules,
early stopping, restoring the best weights, a checkpoint every epoch that a later call resumes
exactly, a stop on a non-finite loss, a tqdm bar per epoch, and several devices at once.

Choices worth knowing (docs/training.md has the long form):

* The loop syncs with the host only every ``log_every`` batches and at the end of an epoch:
  losses and the built-in accuracy / macro-F1 counts accumulate as NDArrays on the device.
* A non-finite training loss stops training like Keras's ``TerminateOnNaN``; unlike Keras the
  network gets back the weights of the last finished epoch, the last checkpoint is left as it
  was, and ``history.stopped_reason`` says where it happened (``on_nan="raise"`` raises
  ``TrainingDiverged`` instead).
* Exact resume: the shuffle order of epoch ``e`` depends only on ``(seed, e)`` (the iterator's
  ``.epoch``), MXNet's generator is re-seeded from ``(seed, e)`` at the start of every epoch
  (dropout), and the trainer state (momenta, Adam moments, ``num_update`` and the schedule) is
  saved with ``trainer.save_states``.
"""
from ..history import History
from .callbacks import TrainingDiverged
from .evaluation import TTA_VIEWS, evaluate, predict
from .loop import fit
from .metrics import DeviceAccuracy, MacroF1, make_metrics, smoothed_cross_entropy
from .schedules import make_lr_scheduler

__all__ = ["fit", "evaluate", "predict", "History", "TrainingDiverged", "DeviceAccuracy", "MacroF1",
           "make_metrics", "make_lr_scheduler", "smoothed_cross_entropy", "TTA_VIEWS"]
