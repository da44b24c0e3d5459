"""fmnist_gluon: build, train and compare convolutional networks with MXNet Gluon.

Data flows one way: spec -> network -> data -> training -> report, one module each:
``spec`` (layer specs), ``model`` (build_cnn, summary), ``data`` (Fashion-MNIST/MNIST,
batches, augmentation), ``train`` (fit, evaluate, predict, callbacks, checkpoints),
``history`` (History), ``plot`` and ``ladder``; ``validation`` holds the argument checks they
share.
"""
import sys

if sys.version_info >= (3, 12):  # fail before MXNet does, with a message that says why
    raise ImportError(
        "fmnist_gluon needs Python 3.8-3.11: mxnet 1.9.1, the last MXNet release, does not "
        "run on Python %d.%d. Use a Python 3.11 virtual environment." % sys.version_info[:2]
    )

__version__ = "0.1.0"

# Public API (each module adds its names here).
from .spec import (SpecError, parse_spec, PRESETS, from_seed_tuples, spec_to_json, trace_shapes, seed_spec,
                   pool_before_activation)
from .model import build_cnn, summary
from .data import Dataset, load_dataset, BatchIterator, train_val_split, RandomFlip, RandomCrop, RandomErasing, Compose, make_augment
from .history import History
from .train import fit, evaluate, predict, TrainingDiverged
from . import plot
