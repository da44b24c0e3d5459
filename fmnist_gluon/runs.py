"""Run folders: what ``fmnist-gluon train`` writes, and what evaluate / predict / export read.

A run folder holds everything needed to rebuild and use the trained network, nothing else::

    config.json      format, the canonical spec, input shape, class names, the training
                     settings (optimizer, lr, epochs, ...), the data used, the command
    spec.json        the canonical spec alone (``parse_spec`` and ``summary`` read it)
    model.params     the final weights (written last: its presence means training finished)
    history.json     the per-epoch History (``History.load``), and history.csv the same rows
    curves.png       accuracy and loss per epoch
    checkpoint/      fit's checkpoints; running the same train command again resumes from them
    evaluation.json, confusion_matrix.png, per_class_accuracy.png   written by ``evaluate_run``
    export/          written by ``export_run`` (model.onnx, model-symbol.json, model-0000.params)

Work happens in two steps so that input errors surface before any work: ``plan_run`` checks the
spec, settings, data and folder (every problem is a ValueError naming the option) and returns a
``RunPlan``; ``RunPlan.train()`` then trains and writes the files.
"""
import copy
import json
import math
import numbers
import os
from dataclasses import asdict

import numpy as np

from . import plot
from .data import load_dataset, make_augment, train_val_split
from .distributed import rank_of
from .export import export_mxnet, export_onnx
from .images import load_images
from .ladder import RUNGS
from .model import build_cnn
from .spec import DEFAULT_INPUT_SHAPE, parse_spec
from .train import History, fit, make_lr_scheduler, predict
from .utils import atomic_path, atomic_write_text, machine_info

__all__ = ["RunPlan", "Run", "plan_run", "load_run", "evaluate_run", "predict_files",
           "export_run", "TRAIN_DEFAULTS", "RunError"]

RUN_FORMAT = 1
CONFIG, SPEC, PARAMS = "config.json", "spec.json", "model.params"

# Settings of a spec that is not a rung name (each one a train option).
TRAIN_DEFAULTS = {"optimizer": "adam", "lr": 1e-3, "wd": 1e-6, "epochs": 10, "batch_size": 128,
                  "augment": None, "lr_scheduler": None, "optimizer_params": {},
                  "label_smoothing": 0.0, "init_magnitude": 2.24}
EXPORT_FORMATS = ("mxnet", "onnx")


class RunError(ValueError):
    """A run folder that is missing, incomplete or holds another run (the message says why)."""


def _settings_from(spec, overrides):
    """(spec, training settings, rung name): a rung name's settings, or TRAIN_DEFAULTS, with
    every override that is not None applied. A changed optimizer drops the rung's
    optimizer_params (a rung's momentum means nothing to Adam)."""
    rung = RUNGS.get(spec) if isinstance(spec, str) else None
    if rung is not None:
        settings = {k: copy.deepcopy(v) for k, v in asdict(rung).items() if k in TRAIN_DEFAULTS}
        spec = rung.spec
    else:
        settings = copy.deepcopy(TRAIN_DEFAULTS)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(overrides) - set(TRAIN_DEFAULTS))
    if unknown:
        raise ValueError("unknown training settings %s; expected some of %s"
                         % (unknown, ", ".join(TRAIN_DEFAULTS)))
    if "optimizer" in overrides and overrides["optimizer"] != settings["optimizer"] \
            and "optimizer_params" not in overrides:
        settings["optimizer_params"] = {}
    settings.update(overrides)
    for key in ("augment", "lr_scheduler"):  # "none" switches a rung's default off
        if isinstance(settings[key], str) and settings[key].strip().lower() in ("", "none"):
            settings[key] = None
    return spec, settings, rung.name if rung else None


def _check_settings(s):
    """Every training setting checked once, here, before data is loaded or a net is built."""
    import mxnet as mx

    def positive(name, value, kind=numbers.Integral):
        if isinstance(value, bool) or not isinstance(value, kind) or not value > 0 \
                or not math.isfinite(value):
            raise ValueError("%s: expected a positive %s, got %r"
                             % (name, "int" if kind is numbers.Integral else "number", value))
    positive("epochs", s["epochs"])
    positive("batch_size", s["batch_size"])
    positive("lr", s["lr"], numbers.Real)
    if not (isinstance(s["wd"], numbers.Real) and s["wd"] >= 0):
        raise ValueError("wd: expected a number >= 0, got %r" % (s["wd"],))
    if not (isinstance(s["label_smoothing"], numbers.Real) and 0 <= s["label_smoothing"] < 1):
        raise ValueError("label_smoothing: expected a number in [0, 1), got %r"
                         % (s["label_smoothing"],))
    if str(s["optimizer"]).lower() not in mx.optimizer.Optimizer.opt_registry:
        raise ValueError("optimizer: unknown name %r; MXNet knows %s"
                         % (s["optimizer"], ", ".join(sorted(mx.optimizer.Optimizer.opt_registry))))
    make_augment(s["augment"])
    try:
        make_lr_scheduler(s["lr_scheduler"], s["lr"], s["epochs"], 1)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _subset(images, labels, size, seed, what):
    """A stratified subset of ``size`` images (all of them when ``size`` is None or larger)."""
    if size is None or size >= len(labels):
        return images, labels
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError("%s: expected a positive int, got %r" % (what, size))
    _, (x, y) = train_val_split(images, labels, size / len(labels), seed=seed)
    return x, y


def load_test_data(root=None, size=None, seed=0):
    """The Fashion-MNIST test split (``size``: a stratified subset), and the class names."""
    test = load_dataset("fashion-mnist", "test", root=root)
    x, y = _subset(test.images, test.labels, size, seed, "test_size")
    return (x, y), list(test.classes)


def _comparable(config):
    return {k: config.get(k) for k in ("format", "spec", "input_shape", "training", "data")}


def read_config(folder):
    """The config.json of a run folder (RunError when it is not one)."""
    if not os.path.isdir(folder):
        raise RunError("run folder %s not found; create it with fmnist-gluon train SPEC --out %s"
                       % (folder, folder))
    path = os.path.join(folder, CONFIG)
    if not os.path.exists(path):
        raise RunError("%s has no %s, so it is not a run folder written by fmnist-gluon train"
                       % (folder, CONFIG))
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except ValueError as exc:
        raise RunError("%s is not valid JSON (%s); delete the folder and train again"
                       % (path, exc)) from None
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        raise RunError("%s: unknown run format %r (this version reads format %d)"
                       % (path, config.get("format") if isinstance(config, dict) else None,
                          RUN_FORMAT))
    return config


class RunPlan:
    """A checked training run: ``config`` (what config.json will hold), the data, the folder.

    Made by ``plan_run``; ``train()`` does the work.
    """

    def __init__(self, config, out, checkpoint_dir, train, test):
        self.config, self.out, self.checkpoint_dir = config, out, checkpoint_dir
        self.train_data, self.test_data = train, test

    def train(self, ctx=None, verbose=True, callbacks=None, kvstore="device"):
        """Train (resuming from ``checkpoint_dir``) and write the run folder; returns History.

        With a dist ``kvstore`` (a store made by ``distributed.make_kvstore``), every worker
        trains and rank 0 alone writes the folder.
        """
        cfg, s = self.config, self.config["training"]
        writes = rank_of(kvstore) == 0
        if writes:
            os.makedirs(self.out, exist_ok=True)
            atomic_write_text(os.path.join(self.out, CONFIG), json.dumps(cfg, indent=1))
            atomic_write_text(os.path.join(self.out, SPEC), json.dumps(cfg["spec"], indent=1))
        net = build_cnn(cfg["spec"], classes=None, input_shape=tuple(cfg["input_shape"]))
        extra = {} if callbacks is None else {"callbacks": callbacks}
        history = fit(net, self.train_data, val=self.test_data, epochs=s["epochs"],
                      optimizer=s["optimizer"], lr=s["lr"], wd=s["wd"],
                      batch_size=s["batch_size"], ctx=ctx, init_magnitude=s["init_magnitude"],
                      seed=cfg["data"]["seed"], lr_scheduler=s["lr_scheduler"],
                      augment=s["augment"], optimizer_params=s["optimizer_params"] or None,
                      label_smoothing=s["label_smoothing"], checkpoint_dir=self.checkpoint_dir,
                      verbose=verbose, kvstore=kvstore, **extra)
        if not writes:
            return history
        history.save(os.path.join(self.out, "history.json"))
        history.save(os.path.join(self.out, "history.csv"))
        if len(history):
            history.plot(path=os.path.join(self.out, "curves.png"))
        with atomic_path(os.path.join(self.out, PARAMS)) as tmp:
            net.save_parameters(tmp)
        return history


def plan_run(spec, out, *, epochs=None, optimizer=None, lr=None, wd=None, batch_size=None,
             augment=None, lr_scheduler=None, optimizer_params=None, label_smoothing=None,
             init_magnitude=None, seed=0, train_size=None, test_size=None, root=None,
             checkpoint_dir=None, command=None):
    """Check everything a training run needs and return its ``RunPlan`` (nothing written yet).

    ``spec``: any ``parse_spec`` form, or a ladder rung name (``fast``, ``best``, ``bn``, ...):
    a rung gives its spec and its training settings as defaults (options given here win; "none"
    turns off a rung's ``augment`` or ``lr_scheduler``); any other spec starts from
    ``TRAIN_DEFAULTS``. ``train_size``/``test_size``: stratified
    subsets (seeded by ``seed``). An ``out`` folder that holds another run is refused; one
    holding this run is resumed.
    """
    spec, settings, rung = _settings_from(spec, dict(
        epochs=epochs, optimizer=optimizer, lr=lr, wd=wd, batch_size=batch_size, augment=augment,
        lr_scheduler=lr_scheduler, optimizer_params=optimizer_params,
        label_smoothing=label_smoothing, init_magnitude=init_magnitude))
    _check_settings(settings)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError("seed: expected an int >= 0, got %r" % (seed,))
    for name, size in (("train_size", train_size), ("test_size", test_size)):
        if size is not None and (isinstance(size, bool) or not isinstance(size, numbers.Integral)
                                 or size < 1):
            raise ValueError("%s: expected a positive int, got %r" % (name, size))
    layers = parse_spec(spec, DEFAULT_INPUT_SHAPE, classes=10)
    train_set = load_dataset("fashion-mnist", "train", root=root)
    train = _subset(train_set.images, train_set.labels, train_size, seed, "train_size")
    test, classes = load_test_data(root, test_size, seed)
    config = {"format": RUN_FORMAT, "spec": layers, "input_shape": list(DEFAULT_INPUT_SHAPE),
              "classes": classes, "dataset": "fashion-mnist", "rung": rung,
              "training": settings,
              "data": {"seed": int(seed), "train_size": len(train[1]), "test_size": len(test[1])},
              "command": command, "machine": machine_info()}
    try:
        json.dumps(config)
    except TypeError as exc:
        raise ValueError("training settings must be plain data (numbers, strings, lists, "
                         "dicts): %s" % exc) from None
    if os.path.exists(os.path.join(out, CONFIG)):
        saved = read_config(out)
        old, new = _comparable(saved), _comparable(config)
        if old != new:
            diff = _differences(old, new)
            raise RunError("%s holds another run (%s); use another --out, or delete %s to "
                           "start again" % (out, "; ".join(diff), out))
    elif os.path.exists(out) and not os.path.isdir(out):
        raise RunError("--out %s is a file; give a folder" % out)
    return RunPlan(config, out, checkpoint_dir or os.path.join(out, "checkpoint"), train, test)


def _differences(old, new):
    flat = lambda d: {"%s.%s" % (k, kk) if isinstance(v, dict) else k: vv  # noqa: E731
                      for k, v in d.items()
                      for kk, vv in (v.items() if isinstance(v, dict) else [(None, v)])}
    a, b = flat(old), flat(new)
    return ["%s was %s, now %s" % (k, json.dumps(a.get(k)), json.dumps(b.get(k)))
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)][:4]


class Run:
    """A finished run folder, loaded: ``net`` (weights in), ``config``, ``classes``,
    ``input_shape``, ``folder``."""

    def __init__(self, folder, config, net):
        self.folder, self.config, self.net = folder, config, net
        self.classes = list(config["classes"])
        self.input_shape = tuple(config["input_shape"])

    def history(self):
        """The History of training (history.json)."""
        return History.load(os.path.join(self.folder, "history.json"))

    def __repr__(self):
        return "Run(%r, %d layers, %s)" % (self.folder, len(self.config["spec"]),
                                           self.config.get("rung") or "custom")


def load_run(folder, ctx=None):
    """The run in ``folder`` with its trained network loaded (RunError if incomplete)."""
    import mxnet as mx

    config = read_config(folder)
    params = os.path.join(folder, PARAMS)
    if not os.path.exists(params):
        raise RunError("%s has no %s: its training has not finished. Run its train command "
                       "again to resume it (%s)" % (folder, PARAMS,
                                                   config.get("command") or "see config.json"))
    net = build_cnn(config["spec"], classes=None, input_shape=tuple(config["input_shape"]))
    net.load_parameters(params, ctx=ctx or mx.cpu())
    return Run(folder, config, net)


def evaluate_run(run, tta=None, root=None, test_size=None, seed=0):
    """Accuracy, loss (the mean cross-entropy of the predicted probabilities, as ``evaluate``)
    and per-class accuracy on the test set; writes evaluation[-tta].json,
    confusion_matrix[-tta].png and per_class_accuracy[-tta].png into the run folder."""
    (x, y), classes = load_test_data(root, test_size, seed)
    probs, pred = predict(run.net, x, tta=tta)  # one pass gives the loss and every count
    picked = probs[np.arange(len(y)), y].astype(np.float64)
    scores = {"accuracy": float(np.mean(pred == y)),
              "loss": float(np.mean(-np.log(np.maximum(picked, np.finfo(np.float32).tiny))))}
    counts = np.bincount(y, minlength=len(classes))
    hits = np.bincount(y[pred == y], minlength=len(classes))
    per_class = {c: (float(h / n) if n else None) for c, h, n in zip(classes, hits, counts)}
    suffix = "" if tta is None else "-tta-" + tta
    paths = {"confusion_matrix": os.path.join(run.folder, "confusion_matrix%s.png" % suffix),
             "per_class_accuracy": os.path.join(run.folder, "per_class_accuracy%s.png" % suffix)}
    plot.plot_confusion_matrix(y, pred, classes, path=paths["confusion_matrix"])
    plot.plot_per_class_accuracy(y, pred, classes, path=paths["per_class_accuracy"])
    result = {"accuracy": float(scores["accuracy"]), "loss": float(scores["loss"]),
              "per_class_accuracy": per_class, "images": int(len(y)), "tta": tta,
              "files": paths}
    paths["evaluation"] = os.path.join(run.folder, "evaluation%s.json" % suffix)
    atomic_write_text(paths["evaluation"], json.dumps(result, indent=1))
    return result


def predict_files(run, paths, tta=None):
    """(probabilities N x C, labels N, the 28x28 images the network saw) for image files."""
    images = load_images(paths)
    probs, labels = predict(run.net, images, tta=tta)
    return probs, labels, images


def export_run(run, fmt, out=None):
    """Export the run's network as ``fmt`` ("mxnet" or "onnx") into ``out`` (default
    RUN/export/model.onnx, or the prefix RUN/export/model); returns the written paths."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError("format: expected one of %s, got %r" % (", ".join(EXPORT_FORMATS), fmt))
    if fmt == "onnx":
        path = out or os.path.join(run.folder, "export", "model.onnx")
        return [export_onnx(run.net, path, run.input_shape)]
    prefix = out or os.path.join(run.folder, "export", "model")
    return list(export_mxnet(run.net, prefix, run.input_shape))
