"""The ablation ladder as data, and the runner that trains it resumably.

A *rung* is everything one experiment needs: a spec (a preset name or a canonical list), an
optimizer with its learning rate and weight decay, epochs, batch size, augmentation and an
optional learning-rate schedule.  ``RUNGS`` holds the seed post's four rungs (baseline -> adam
-> bn -> dropout, exactly as in "Classifying Fashion-MNIST with Gluon") and the post's "next
steps" (LeakyReLU, wider filters, augmentation).

The runner keeps one folder per rung and seed (``OUT/rungs/NAME/seed-S``) holding the fit
checkpoints and, once the rung is finished, ``result.json``.  Running again skips finished rungs
and resumes an interrupted one from its last checkpoint; the report (``results.json``,
``results.md`` and the PNGs) is always rebuilt from those folders, so it never disagrees with
them and two processes running disjoint rungs into one folder do not lose each other's work.
"""
import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace


from .data import load_dataset, train_val_split
from .model import build_cnn, summary
from .spec import parse_spec
from .train import evaluate, fit
from .train.evaluation import check_tta
from .validation import check_positive_int, check_seed, did_you_mean
from .utils import atomic_write_text, machine_info

# The seed post's best test accuracies (percent), for the report.
SEED_REFERENCE = {"baseline": 92.42, "adam": 93.05, "bn": 93.31, "dropout": 94.39}


# Fields added after rung folders were first written: left out of a rung's config while they
# hold their default, so folders from before (docs/results/full) still match their rungs.
_ADDED_FIELDS = {"label_smoothing": 0.0, "tta": None}


@dataclass(frozen=True)
class Rung:
    """One experiment of the ladder; every field is plain data so it can be saved as JSON."""

    name: str
    spec: object  # a preset name (see spec.PRESETS) or a canonical spec list
    optimizer: str = "adam"
    lr: float = 1e-3
    wd: float = 1e-6
    epochs: int = 50
    batch_size: int = 128
    augment: object = None  # None, or an augmentation spec for data.make_augment ("flip,crop4")
    lr_scheduler: object = None  # None, or a schedule spec accepted by train.fit
    init_magnitude: float = 2.24  # the seed notebook's Xavier magnitude
    optimizer_params: dict = field(default_factory=dict)
    label_smoothing: float = 0.0
    tta: object = None  # None, or a test-time augmentation (train.TTA_VIEWS) also scored at the end
    description: str = ""

    @property
    def reference(self):
        """The seed post's best test accuracy for this rung, or None if it has none."""
        return SEED_REFERENCE.get(self.name)

    def config(self, epochs=None):
        """The rung as JSON-able data, with ``epochs`` overridden when given."""
        check_tta(self.tta)  # before hours of training, not after
        cfg = asdict(self)
        for key, default in _ADDED_FIELDS.items():  # rung folders written before they existed
            if cfg[key] == default:
                del cfg[key]
        cfg["spec"] = parse_spec(self.spec, classes=10)
        if epochs is not None:
            cfg["epochs"] = int(epochs)
        return cfg


RUNGS = {
    r.name: r
    for r in (
        Rung("baseline", "baseline", "sgd", 0.1, epochs=50,
             description="seed baseline: 2 conv + 3 dense, ReLU, SGD lr 0.1"),
        Rung("adam", "baseline", "adam", 1e-3, epochs=50,
             description="same network, Adam lr 1e-3"),
        Rung("bn", "bn", "adam", 1e-3, epochs=50,
             description="BatchNorm between every conv/hidden dense and its ReLU"),
        Rung("dropout", "dropout", "adam", 1e-3, epochs=100,
             description="bn network + Dropout 0.3 after each block"),
        Rung("leaky", "leaky", "adam", 1e-3, epochs=100,
             description="dropout rung with LeakyReLU (the post's next step)"),
        Rung("wide", "wide", "adam", 1e-3, epochs=100,
             description="dropout rung with 128 filters per conv"),
        Rung("augment", "dropout", "adam", 1e-3, epochs=100, augment="flip,crop2",
             description="dropout rung + random flips and 2-pixel padded crops"),
        Rung("fast", "fast", "nag", 0.1, wd=5e-4, epochs=11, augment="flip",
             lr_scheduler={"type": "cosine", "warmup_epochs": 1},
             optimizer_params={"momentum": 0.9}, label_smoothing=0.1,
             description="recipe: 94% in under 5 min on 2 cores (OMP_NUM_THREADS=2)"),
        Rung("best-small", "best-small", "nag", 0.1, wd=5e-4, epochs=70, augment="flip,crop2,erase",
             lr_scheduler={"type": "cosine", "warmup_epochs": 2},
             optimizer_params={"momentum": 0.9}, label_smoothing=0.1,
             description="recipe: 6-conv VGG-style net (32/64/128), flips + crops + erasing, "
                         "Nesterov SGD, cosine, label smoothing"),
        Rung("best", "best", "nag", 0.1, wd=5e-4, epochs=60, augment="flip,crop2,erase",
             lr_scheduler={"type": "cosine", "warmup_epochs": 2},
             optimizer_params={"momentum": 0.9}, label_smoothing=0.1, tta="flip",
             description="recipe: 6-conv VGG-style net (64/128/256), flips + crops + erasing, "
                         "Nesterov SGD, cosine, label smoothing; also scored with flip TTA"),
    )
}

# The systems of issue 18 with their training settings (docs/seeds.md: each one's source, and
# what we chose where it was silent: Keras's defaults, i.e. batch 32, no weight decay, Glorot
# uniform weights = Xavier magnitude 3, Adam lr 1e-3, Nadam lr 2e-3).
SEED_SYSTEM_RUNGS = tuple(
    Rung(name, name.replace("-flip", ""), optimizer, lr, wd=0.0, epochs=epochs, batch_size=batch,
         init_magnitude=3.0, augment=augment, description=text)
    for name, optimizer, lr, epochs, batch, augment, text in (
        ("mlp", "adam", 1e-3, 100, 32, None, "MLP 256-512-100, Adam, 100 epochs"),
        ("vgg", "adam", 1e-3, 45, 500, None, "4-conv VGG-style net, Adam, batch 500, 45 epochs"),
        ("dense", "sgd", 1e-3, 5, 32, None, "MLP 300-100, SGD lr 1e-3, 5 epochs"),
        ("cnn1", "nadam", 2e-3, 20, 32, None, "3 convs + dropout 0.5, Nadam"),
        ("cnn2", "adam", 1e-3, 8, 32, None, "3 same convs (He normal first), dropouts, "
                                            "dense 128, Adam, 8 epochs"),
        ("lenet5", "adam", 1e-3, 10, 32, None, "LeNet-5 (tanh, average pools) on 32x32, Adam"),
        ("cnn-dropout", "adam", 1e-3, 20, 32, None, "3 convs, 2 max-pools, 2 dropouts, dense 128, Adam"),
        ("mobilenet", "adam", 1e-3, 50, 64, None, "GluonCV MobileNet 1.0 from scratch on 56x56, "
                                                  "batch 64, 50 epochs"),
        ("mobilenet-flip", "adam", 1e-3, 50, 64, "flip", "mobilenet + random horizontal flips"),
    )
)
# Variants run to explain a system's gap to its published figure (docs/seeds.md): each is the
# system with one change, inserted after it and tested against it in the report (COMPARE_WITH).
_SYSTEMS = {r.name: r for r in SEED_SYSTEM_RUNGS}
GAP_VARIANTS = tuple(
    (base, replace(_SYSTEMS[base], name=name, description=text, **change))
    for base, name, change, text in (
        ("dense", "dense-lr0.01", {"lr": 1e-2},
         "dense at SGD lr 1e-2 (Keras's default): is the published 83.86% a larger step?"),
        ("cnn1", "cnn1-e50", {"epochs": 50}, "cnn1 for 50 epochs: is it still learning at 20?"),
        ("cnn1", "cnn1-adam", {"optimizer": "adam", "lr": 1e-3},
         "cnn1 with Adam lr 1e-3: is Nadam's 2e-3 step too big?"),
        ("cnn1", "cnn1-lr1e-3", {"lr": 1e-3},
         "cnn1 with Nadam at lr 1e-3 (MXNet's default): the step or the optimizer?"),
        ("cnn2", "cnn2-e20", {"epochs": 20},
         "cnn2 for 20 epochs: is it still learning at the source's 'about 8'?"),
        ("cnn-dropout", "cnn-dropout-same",
         {"spec": "conv32k3p1-relu-pool2-drop0.25-conv64k3p1-relu-pool2-drop0.25-conv128k3p1-relu-"
                  "flatten-dense128-relu-dense10"},
         "cnn-dropout with 'same' convs: does a wider flatten close the gap?"),
        ("cnn-dropout", "cnn-dropout-keras",
         {"spec": "conv32k3p1-relu-pool2-conv64k3p1-relu-pool2-conv128k3p1-relu-drop0.25-flatten-"
                  "dense128-relu-drop0.5-dense10"},
         "cnn-dropout with 'same' convs and its two dropouts where Keras's mnist_cnn example puts "
         "them (0.25 after the convs, 0.5 after the dense layer): is the gap where they sit?"),
        ("vgg", "vgg-dropout",
         {"spec": "conv32k3p1-relu-conv64k3p1-relu-pool2-drop0.25-conv128k3p1-relu-conv256k3-relu-"
                  "pool3-drop0.25-flatten-drop0.5-dense10"},
         "vgg with Keras's VGG-like dropouts (0.25 after each pool, 0.5 before the classifier): "
         "is its gap the regularisation its source did not list?"),
    )
)
for _rung in SEED_SYSTEM_RUNGS:
    RUNGS[_rung.name] = _rung
    RUNGS.update((v.name, v) for base, v in GAP_VARIANTS if base == _rung.name)
del _rung, _SYSTEMS

# The published test accuracy of each system (issue 18's table), for the seeds report.
PUBLISHED = {"mlp": 89.5, "vgg": 94.0, "dense": 83.86, "cnn1": 91.6, "cnn2": 92.9, "lenet5": 88.9,
             "cnn-dropout": 93.0, "mobilenet": 94.5, "mobilenet-flip": 95.0}

SEED_LADDER = ("baseline", "adam", "bn", "dropout")

# Names that stand for several rungs in get_rungs / --rungs.
RUNG_GROUPS = {"seed": SEED_LADDER, "seeds": tuple(r.name for r in SEED_SYSTEM_RUNGS)}

# Which rung the report tests each rung against (stats.compare_rungs): by default the rung
# before it in the report, as a ladder adds one change per rung; the seed systems are
# independent networks, so each is tested only against its own variant's base.
COMPARE_WITH = {"mobilenet-flip": "mobilenet", **{v.name: base for base, v in GAP_VARIANTS}}
INDEPENDENT = set(RUNG_GROUPS["seeds"]) - set(COMPARE_WITH)

# --quick: a smoke run of the whole pipeline on a stratified subset.
QUICK = {"train_size": 5000, "test_size": 1000, "epochs": 3}


def get_rungs(names=None):
    """The rungs called ``names`` (default: the seed's four), in ladder order."""
    if names is None:
        names = SEED_LADDER
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = [m for n in names for m in RUNG_GROUPS.get(n, (n,))]
    unknown = [n for n in names if n not in RUNGS]
    if unknown:
        raise ValueError("unknown rung %r%s; expected some of %s, or a group (%s)"
                         % (unknown[0], did_you_mean(unknown[0], RUNGS), ", ".join(RUNGS),
                            ", ".join(RUNG_GROUPS)))
    return [RUNGS[n] for n in RUNGS if n in names]


def load_ladder_data(quick=False, seed=0, root=None):
    """Fashion-MNIST train and test sets; ``quick`` takes stratified subsets of both."""
    train = load_dataset("fashion-mnist", "train", root=root)
    test = load_dataset("fashion-mnist", "test", root=root)
    xtr, ytr, xte, yte = train.images, train.labels, test.images, test.labels
    if quick:
        _, (xtr, ytr) = train_val_split(xtr, ytr, QUICK["train_size"] / len(ytr), seed=seed)
        _, (xte, yte) = train_val_split(xte, yte, QUICK["test_size"] / len(yte), seed=seed)
    return (xtr, ytr), (xte, yte), train.classes


def rung_dir(out, name, seed):
    """The folder holding one rung's checkpoints and result for one seed."""
    return os.path.join(out, "rungs", name, "seed-%d" % seed)


class RungBusy(RuntimeError):
    """Another process is training this rung into the same folder right now."""


@contextlib.contextmanager
def _rung_lock(folder):
    """Hold an exclusive lock on a rung folder for as long as this process trains it.

    Two commands may share one --out (say one runs ``--rungs dropout`` while the other runs the
    rest); the lock makes sure they never train the same rung at once.  The lock goes with the
    process, so a killed run never leaves a stale one behind.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        yield
        return
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".lock"), "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RungBusy("%s is being trained by another process; it is skipped here (run "
                           "the command again once that one is done to get it in the report)"
                           % folder) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def check_config(folder, cfg):
    """Refuse to mix runs: a rung folder belongs to exactly one configuration."""
    path = os.path.join(folder, "config.json")
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        if saved != cfg:
            diff = sorted(k for k in set(saved) | set(cfg) if saved.get(k) != cfg.get(k))
            raise ValueError(
                "%s holds a run of rung %r with different settings (%s differ: saved %s, now %s). "
                "Use another --out folder, or delete that folder to start the rung again."
                % (folder, cfg["name"], ", ".join(diff),
                   {k: saved.get(k) for k in diff}, {k: cfg.get(k) for k in diff}))
    else:
        os.makedirs(folder, exist_ok=True)
        atomic_write_text(path, json.dumps(cfg, indent=1, sort_keys=True))


def run_rung(rung, train, test, out, epochs=None, seed=0, ctx=None, verbose=True, write=True):
    """Train one rung for one seed (resuming if interrupted) and return its result dict.

    ``write=False`` leaves writing ``result.json`` to the caller (:func:`save_result`): a task
    on another machine returns its result to the driver, which writes it.
    """
    folder = rung_dir(out, rung.name, seed)
    cfg = rung.config(epochs)
    with _rung_lock(folder):
        check_config(folder, cfg)
        done = finished_result(out, rung.name, seed)
        if done is not None:
            return done
        result = _train_rung(rung, cfg, train, test, folder, seed, ctx, verbose)
        if write:
            save_result(out, result)
        return result


def finished_result(out, name, seed):
    """The result dict of a finished (rung, seed) under ``out``, or None."""
    path = os.path.join(rung_dir(out, name, seed), "result.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def save_result(out, result):
    """Write a run's result dict as ``OUT/rungs/NAME/seed-S/result.json`` (atomically)."""
    folder = rung_dir(out, result["rung"], result["seed"])
    os.makedirs(folder, exist_ok=True)
    atomic_write_text(os.path.join(folder, "result.json"), json.dumps(result, indent=1))


def _train_rung(rung, cfg, train, test, folder, seed, ctx, verbose):
    """Train the rung into ``folder`` (resuming from its checkpoint) and return its result."""
    net = build_cnn(cfg["spec"])
    start = time.time()
    history = fit(
        net, train, val=test, epochs=cfg["epochs"], optimizer=rung.optimizer, lr=rung.lr,
        wd=rung.wd, batch_size=rung.batch_size, ctx=ctx, init_magnitude=rung.init_magnitude,
        seed=seed, lr_scheduler=rung.lr_scheduler, augment=rung.augment,
        optimizer_params=dict(rung.optimizer_params) or None, label_smoothing=rung.label_smoothing,
        checkpoint_dir=os.path.join(folder, "checkpoint"), verbose=verbose,
    )
    last = history.epochs[-1]
    result = {
        "rung": rung.name,
        "seed": seed,
        "config": cfg,
        "best_epoch": history.best_epoch,
        "best_val_accuracy": history.best_value,
        "final_val_accuracy": last.get("val_accuracy"),
        "final_train_accuracy": last.get("train_accuracy"),
        "train_seconds": float(sum(e["seconds"] for e in history.epochs)),
        "session_seconds": time.time() - start,
        "params": summary(cfg["spec"], print_fn=None).total_params,
        "train_size": len(train[1]),
        "val_size": len(test[1]),
        "machine": machine_info(),  # where it trained: a report rebuilt elsewhere still says so
        "history": history.to_dict(),
    }
    if rung.tta:  # the final network once more, with test-time augmentation
        result["final_val_accuracy_tta"] = evaluate(net, test, ctx=ctx, tta=rung.tta)["accuracy"]
    return result


def run_ladder(rungs=None, out="runs/ladder", epochs=None, quick=False, seed=0, repeats=1,
               ctx=None, verbose=True, command=None, root=None, executor=None, address=None,
               workers=None, cpus_per_task=1):
    """Run ``rungs`` (names or Rung objects) for ``repeats`` seeds and write the report.

    Finished rungs are skipped and an interrupted one resumes from its checkpoint. On Ctrl-C the
    report is rebuilt from what has finished and the KeyboardInterrupt propagates.

    ``executor`` runs each (rung, seed) as a task elsewhere: "process" (``workers`` local
    processes), "ray" (the cluster at ``address``/RAY_ADDRESS, or a local one of ``workers``
    CPUs), a Ray head address "host:port", or any ``concurrent.futures.Executor``; each task
    gets ``cpus_per_task`` CPUs and as many threads. See fmnist_gluon.executors and
    docs/distributed.md. None (default): one after the other in this process.
    """
    rungs = [r if isinstance(r, Rung) else get_rungs([r])[0] for r in (rungs or SEED_LADDER)]
    seed, repeats = check_seed(seed, allow_none=False), check_positive_int(repeats, "repeats")
    if epochs is not None:
        epochs = check_positive_int(epochs, "epochs")
    if quick and epochs is None:
        epochs = QUICK["epochs"]
    train, test, _ = load_ladder_data(quick=quick, seed=seed, root=root)
    if executor is not None or address:
        from .executors import make_executor, run_rungs
        pool, owned = make_executor(executor, address, workers, cpus_per_task)
        try:
            run_rungs(pool, rungs, range(seed, seed + repeats), train, test, out, epochs, ctx,
                      verbose)
        finally:
            if owned:
                pool.shutdown()
            result = write_report(out, command=command)
        return result
    try:
        for rung in rungs:
            for s in range(seed, seed + repeats):
                try:
                    run_rung(rung, train, test, out, epochs=epochs, seed=s, ctx=ctx,
                             verbose=verbose)
                except RungBusy as busy:
                    print("skipping: %s" % busy, file=sys.stderr)
    finally:
        result = write_report(out, command=command)
    return result


# The report's functions (fmnist_gluon/report.py, which reads this module's rung tables) are
# also reachable from here: ladder.write_report, ladder.collect_results, ...
_REPORT_NAMES = ("collect_results", "comparison_pairs", "comparisons",
                 "results_markdown", "epoch_summary")


def write_report(out, command=None):
    """Rebuild results.json, results.md and the plots in ``out``: :func:`report.write_report`."""
    from .report import write_report as write

    return write(out, command=command)


def __getattr__(name):
    if name in _REPORT_NAMES:
        from . import report

        return getattr(report, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
