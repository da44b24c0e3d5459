"""fmnist_gluon: build, train and compare convolutional networks with MXNet Gluon.

Data flows one way: spec -> network -> data -> training -> report, one module each:
``spec`` (layer specs), ``model`` (build_cnn, summary), ``data`` (Fashion-MNIST/MNIST,
batches, augmentation), ``train`` (fit, evaluate, predict, callbacks, checkpoints),
``history`` (History), ``plot`` and ``ladder``; ``validation`` holds the argument checks they
share.

``import fmnist_gluon`` first sets MXNet's OpenMP threads to one per physical core
(``fmnist_gluon.threads``; nothing is changed when the user set them), then the public names
load on first use, so that nothing imports MXNet before the thread settings are in place.
"""
import importlib
import sys

if sys.version_info >= (3, 12):  # fail before MXNet does, with a message that says why
    raise ImportError(
        "fmnist_gluon needs Python 3.8-3.11: mxnet 1.9.1, the last MXNet release, does not "
        "run on Python %d.%d. Use a Python 3.11 virtual environment." % sys.version_info[:2]
    )

from . import threads  # noqa: E402  (before anything imports mxnet)

threads.configure()

__version__ = "0.1.0"

# Public API: name -> the module that defines it (each module adds its names here). They are
# imported on first use (PEP 562), so `import fmnist_gluon` alone does not load MXNet.
_API = {
    "spec": ("SpecError", "parse_spec", "PRESETS", "from_seed_tuples", "spec_to_json",
             "trace_shapes", "seed_spec", "pool_before_activation"),
    "model": ("build_cnn", "summary"),
    "data": ("Dataset", "load_dataset", "BatchIterator", "train_val_split", "RandomFlip",
             "RandomCrop", "RandomErasing", "Compose", "make_augment"),
    "history": ("History",),
    "train": ("fit", "evaluate", "predict", "TrainingDiverged", "Callback"),
}
_WHERE = {name: module for module, names in _API.items() for name in names}
__all__ = sorted(_WHERE) + ["plot", "threads"]


def __getattr__(name):
    """Load a public name (or a submodule such as ``plot``) the first time it is used."""
    if name.startswith("__"):
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    if name in _WHERE:
        value = getattr(importlib.import_module("." + _WHERE[name], __name__), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module("." + name, __name__)
    except ModuleNotFoundError as exc:
        if exc.name != "%s.%s" % (__name__, name):
            raise
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def __dir__():
    return sorted(set(globals()) | set(__all__))
