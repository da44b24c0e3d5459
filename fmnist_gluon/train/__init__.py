"""Training: ``fit``, ``evaluate``, ``predict``, callbacks and checkpoints.

``fit`` is a d2l-style loop (forward under ``autograd.record``, ``backward``, ``trainer.step``)
with the Keras/Lightning conveniences around it: metrics by name, learning-rate schedules,
callbacks (best epoch, early stopping, progress, a stop on a non-finite loss, your own), a
checkpoint every epoch that a later call resumes exactly, and several devices at once.

One module per concept (docs/training.md has the long form):

* ``loop`` - ``fit`` and the epoch loop;
* ``callbacks`` - ``Callback`` and the built-ins (BestEpoch, EarlyStopping, ProgressBar,
  TerminateOnNaN, CSVLogger, ReduceLROnPlateau);
* ``checkpoint`` - ``Checkpoint``: what is saved after every epoch, and how it is resumed;
* ``evaluation`` - ``evaluate``, ``predict``, test-time augmentation;
* ``params`` - initialisation, snapshots, BatchNorm statistics across devices;
* ``inputs`` - batch iterators and contexts; ``metrics`` - device-side metrics and the
  smoothed loss; ``schedules`` - learning-rate schedules and the trainer.
"""
from ..history import History
from .callbacks import (BestEpoch, Callback, CSVLogger, EarlyStopping, ProgressBar,
                        ReduceLROnPlateau, TerminateOnNaN, TrainingDiverged)
from .checkpoint import Checkpoint, CheckpointError
from .evaluation import TTA_VIEWS, evaluate, predict
from .loop import fit
from .metrics import DeviceAccuracy, MacroF1, make_metrics, smoothed_cross_entropy
from .schedules import make_lr_scheduler

__all__ = ["fit", "evaluate", "predict", "History", "TrainingDiverged", "DeviceAccuracy", "MacroF1",
           "make_metrics", "make_lr_scheduler", "smoothed_cross_entropy", "TTA_VIEWS", "Callback",
           "BestEpoch", "EarlyStopping", "ProgressBar", "TerminateOnNaN", "CSVLogger",
           "ReduceLROnPlateau", "Checkpoint", "CheckpointError"]
