"""The ``fmnist-gluon`` subcommands: for each, ``configure(parser)`` adds its options and
``run(args)`` does the work and returns the exit status (``COMMANDS`` at the end lists them).

Every ``run`` checks its input (options, spec, files, data, run folder) first, through
``checked``, so that a problem there is a usage error; once the work has started, an exception
keeps its traceback (``train`` also writes it to ``OUT/error.log``).
"""
import argparse
import json
import os
import signal
import sys
import textwrap
import traceback

from .cli_options import (UsageError, checked, input_shape, nonnegative_int, positive_float,
                          positive_int, schedule, sweep_param)
from .spec import PRESETS, parse_spec, spec_to_json

__all__ = ["COMMANDS"]


def configure_summary(parser):
    parser.add_argument("spec", help="a preset name (%s), a .json/" % ", ".join(PRESETS) +
                        ".yaml/.yml file, or a shorthand string such as conv64k3p1-relu-pool2-dense10")
    parser.add_argument("--input-shape", type=input_shape, default=(1, 28, 28), metavar="C,H,W",
                        help="input shape per image (default: 1,28,28)")
    parser.add_argument("--classes", type=positive_int, default=10,
                        help="classifier size appended when the spec does not end in a dense layer "
                             "(default: 10)")
    parser.add_argument("--json", action="store_true",
                        help="print the canonical JSON spec instead of the table")


def run_summary(args):
    """Print each layer's output shape, parameters and MACs for a spec."""
    from .model import summary  # imports mxnet: only after main() applied --threads

    layers = checked(parse_spec, args.spec, args.input_shape, args.classes)
    if args.json:
        print(spec_to_json(layers, args.input_shape))
    else:
        summary(layers, input_shape=args.input_shape, classes=None)
    return 0


def configure_ladder(parser):
    from . import ladder

    parser.add_argument("--rungs", default=",".join(ladder.SEED_LADDER),
                        help="comma-separated rung names (default: %(default)s); see --list")
    parser.add_argument("--epochs", type=positive_int, help="override every rung's epochs")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: %(train_size)d train / %(test_size)d test images, "
                             "%(epochs)d epochs per rung" % ladder.QUICK)
    parser.add_argument("--out", help="output folder (default: runs/ablation, or runs/quick)")
    parser.add_argument("--ctx", help="'cpu', 'gpu' (all), or a list like 'gpu:0,gpu:1' "
                                      "(default: all GPUs if any, else the CPU)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default: %(default)s)")
    parser.add_argument("--repeats", type=positive_int, default=1,
                        help="seeds per rung, reported as mean ± std")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--list", action="store_true", help="list the rungs and exit")
    parser.add_argument("--report", action="store_true",
                        help="only rebuild results.json/results.md/plots in --out")
    parser.add_argument("--ray", nargs="?", const="ray", metavar="ADDRESS",
                        help="run each (rung, seed) as a Ray task: on the cluster at ADDRESS "
                             "(host:port), RAY_ADDRESS, or a local one (docs/distributed.md)")
    parser.add_argument("--workers", type=positive_int,
                        help="with --ray and no cluster: CPUs of the local Ray cluster")
    parser.add_argument("--cpus-per-task", type=positive_int, default=1,
                        help="with --ray: CPUs (and threads) per task (default: %(default)s)")


def _interrupt(signum, frame):
    """SIGTERM (a scheduler's or kill's stop) ends a run like Ctrl-C: cleanly."""
    raise KeyboardInterrupt


def run_ladder(args):
    """Run the ablation ladder resumably and write results.json, results.md and plots."""
    from . import ladder
    from .distributed import parse_ctx

    if args.list:
        for r in ladder.RUNGS.values():
            print("%-9s %-7s lr %-6g %3d epochs  %s"
                  % (r.name, r.optimizer, r.lr, r.epochs, r.description))
        return 0
    rungs, ctx = checked(ladder.get_rungs, args.rungs), checked(parse_ctx, args.ctx)
    out = args.out or ("runs/quick" if args.quick else "runs/ablation")
    if not args.report:
        for rung in rungs:
            checked(rung.config, args.epochs)
        checked(ladder.load_ladder_data, quick=args.quick, seed=args.seed)  # cached for the run
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            ladder.run_ladder(rungs, out=out, epochs=args.epochs, quick=args.quick,
                              seed=args.seed, repeats=args.repeats, ctx=ctx,
                              verbose=not args.quiet, command=args.command_line,
                              executor=args.ray, workers=args.workers,
                              cpus_per_task=args.cpus_per_task)
        except KeyboardInterrupt:
            print("\ninterrupted: finished rungs are in %s/results.md; run the same command "
                  "again to resume" % out, file=sys.stderr)
            return 130
    else:
        checked(ladder.write_report, out)
    with open("%s/results.md" % out, encoding="utf-8") as f:
        print(f.read())
    print("wrote %s/results.json, results.md and plots" % out)
    return 0


def configure_sweep(parser):
    parser.add_argument("--param", type=sweep_param, action="append", required=True,
                        metavar="NAME=V1,V2", help="a rung field and its values (repeatable), "
                        "e.g. --param lr=0.1,0.01 --param spec=bn,dropout")
    parser.add_argument("--base", default="adam", help="the rung the trials start from "
                        "(default: %(default)s; see fmnist-gluon ladder --list)")
    parser.add_argument("--search", choices=("grid", "random"), default="grid")
    parser.add_argument("--samples", type=positive_int, default=8,
                        help="trials drawn by --search random (default: %(default)s)")
    parser.add_argument("--epochs", type=positive_int, help="override the trials' epochs")
    parser.add_argument("--quick", action="store_true", help="the ladder's --quick subsets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/sweep", help="output folder (default: %(default)s)")
    parser.add_argument("--ray", nargs="?", const="ray", metavar="ADDRESS",
                        help="run the trials with Ray Tune (ASHA): on the cluster at ADDRESS, "
                             "RAY_ADDRESS, or a local one")
    parser.add_argument("--workers", type=positive_int, help="with --ray and no cluster: CPUs")
    parser.add_argument("--cpus-per-task", type=positive_int, default=1)
    parser.add_argument("--no-asha", action="store_true", help="with --ray: no early stopping")
    parser.add_argument("--grace-period", type=positive_int, default=1,
                        help="with --ray: epochs before ASHA may stop a trial")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run_sweep_command(args):
    """Grid or random search over rung fields, locally or on Ray Tune; writes sweep.md/json/png."""
    from . import sweep

    space = dict(args.param)
    checked(sweep.trials, space, args.base, args.search, args.samples, args.seed)  # fail early
    sweep.run_sweep(space, base=args.base, search=args.search,
                    num_samples=args.samples, out=args.out, epochs=args.epochs, seed=args.seed,
                    quick=args.quick, executor=args.ray, workers=args.workers,
                    cpus_per_task=args.cpus_per_task, asha=not args.no_asha,
                    grace_period=args.grace_period, verbose=not args.quiet,
                    command=args.command_line)
    with open("%s/sweep.md" % args.out, encoding="utf-8") as f:
        print(f.read())
    print("wrote %s/sweep.json, sweep.md and sweep_val_accuracy.png" % args.out)
    return 0


def _add_data_options(parser, what):
    parser.add_argument("--data", metavar="DIR",
                        help="folder holding the Fashion-MNIST IDX files (default: "
                             "$FMNIST_GLUON_DATA, MXNet's cache, /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--test-size", type=positive_int, metavar="N",
                        help="%s a stratified subset of N test images (default: all 10,000)" % what)


def configure_train(parser):
    from .ladder import RUNGS

    parser.add_argument("spec", help="a ladder rung (%s: its spec and training settings), a preset "
                        "(%s), a .json/.yaml file or a shorthand string"
                        % (", ".join(RUNGS), ", ".join(PRESETS)))
    parser.add_argument("--out", help="run folder (default: runs/SPEC for a name, else runs/custom)")
    group = parser.add_argument_group("training settings (default: the rung's, else Adam lr 1e-3, "
                                      "wd 1e-6, 10 epochs, batch 128)")
    group.add_argument("--epochs", type=positive_int)
    group.add_argument("--optimizer", help="an MXNet optimizer name: sgd, nag, adam, ... (a "
                                           "different one drops the rung's momentum)")
    group.add_argument("--lr", type=positive_float, help="learning rate")
    group.add_argument("--wd", type=float, help="weight decay")
    group.add_argument("--momentum", type=float, help="momentum, for sgd/nag")
    group.add_argument("--batch-size", type=positive_int)
    group.add_argument("--aug", help="augmentation, e.g. flip or flip,crop2,erase ('none': off)")
    group.add_argument("--schedule", type=schedule,
                       help="learning-rate schedule: none, step, cosine, poly, or a JSON dict "
                            "such as '{\"type\": \"cosine\", \"warmup_epochs\": 1}'")
    group.add_argument("--label-smoothing", type=float)
    group.add_argument("--seed", type=nonnegative_int, default=0,
                       help="seed of the init, shuffles, dropout and subsets (default: 0)")
    group.add_argument("--train-size", type=positive_int, metavar="N",
                       help="train on a stratified subset of N images (default: all 60,000)")
    _add_data_options(parser, "validate on")
    parser.add_argument("--ctx", help="'cpu', 'gpu' (all), or a list like 'gpu:0,gpu:1' "
                                      "(default: all GPUs if any, else the CPU)")
    parser.add_argument("--checkpoint-dir",
                        help="checkpoint every epoch here (default: OUT/checkpoint); the same "
                             "command again resumes from it")
    parser.add_argument("--kvstore", default="auto",
                        help="MXNet kvstore: device, local, dist_sync, ... (default: auto = "
                             "dist_sync in a job started by `fmnist-gluon launch`, else device)")
    parser.add_argument("--tensorboard", metavar="LOGDIR",
                        help="also write per-epoch TensorBoard scalars and the graph there "
                             "(pip install .[tensorboard]; view with tensorboard --logdir LOGDIR)")
    parser.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                        help="a bar per epoch, one line per epoch, or nothing (default: auto = "
                             "a bar on a terminal, lines otherwise)")


def _progress(choice):
    """fit's verbose for --progress."""
    if choice == "auto":
        return 1 if sys.stderr.isatty() else 2
    return {"bar": 1, "lines": 2, "none": 0}[choice]


def run_train(args):
    """Train a spec into a run folder (weights, history, curves); run it again to resume.

    example:
      fmnist-gluon train fast --epochs 2 --out runs/t        # the fast recipe, 2 epochs
      fmnist-gluon train bn --optimizer sgd --lr 0.1 --train-size 5000 --out runs/bn-sgd
    """
    from .distributed import make_kvstore, parse_ctx, rank_of
    from .runs import plan_run

    ctx = checked(parse_ctx, args.ctx)
    kvstore = args.kvstore
    if kvstore == "auto":
        kvstore = "dist_sync" if os.environ.get("DMLC_ROLE") == "worker" else "device"
    kvstore = checked(make_kvstore, kvstore)  # joins the job: from here on, the same on all ranks
    rank = rank_of(kvstore)
    out = args.out or os.path.join("runs", args.spec if args.spec.replace("-", "").isalnum()
                                   else "custom")
    plan = checked(
        plan_run, args.spec, out, epochs=args.epochs, optimizer=args.optimizer, lr=args.lr,
        wd=args.wd, batch_size=args.batch_size, augment=args.aug, lr_scheduler=args.schedule,
        optimizer_params=None if args.momentum is None else {"momentum": args.momentum},
        label_smoothing=args.label_smoothing, seed=args.seed, train_size=args.train_size,
        test_size=args.test_size, root=args.data, checkpoint_dir=args.checkpoint_dir,
        command=args.command_line)
    callbacks = None
    if args.tensorboard and rank == 0:
        from .tensorboard import TensorBoardLogger

        callbacks = [checked(TensorBoardLogger, args.tensorboard, graph=True)]
    cfg = plan.config
    if rank != 0:  # rank 0 reports and writes the folder; the other workers train quietly
        plan.train(ctx=ctx, verbose=0, kvstore=kvstore)
        return 0
    print("training %s (%d layers) on %d images, validating on %d, for %d epochs into %s"
          % (cfg["rung"] or args.spec, len(cfg["spec"]), cfg["data"]["train_size"],
             cfg["data"]["test_size"], cfg["training"]["epochs"], out), flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        history = plan.train(ctx=ctx, verbose=_progress(args.progress), callbacks=callbacks,
                             kvstore=kvstore)
    except KeyboardInterrupt:
        print("\ninterrupted: the last finished epoch is checkpointed in %s; run the same "
              "command again to resume" % plan.checkpoint_dir, file=sys.stderr)
        return 130
    except Exception:
        log = os.path.join(out, "error.log")
        with open(log, "a", encoding="utf-8") as f:
            f.write("%s\n%s\n" % (args.command_line, traceback.format_exc()))
        print("training failed (not an input error; the traceback follows and is in %s). "
              "Finished epochs are checkpointed in %s: the same command resumes from them."
              % (log, plan.checkpoint_dir), file=sys.stderr)
        raise
    best = history.best
    if best is not None:
        print("best %s %.4f at epoch %d; last epoch: %s" % (
            history.monitor_key, history.best_value, history.best_epoch,
            ", ".join("%s %.4f" % (k, v) for k, v in history.epochs[-1].items()
                      if k.endswith(("accuracy", "loss")))))
    print("wrote %s: model.params, history.json, history.csv, curves.png, config.json" % out)
    return 0


def _add_tta(parser):
    from .train import TTA_VIEWS

    parser.add_argument("--tta", choices=sorted(TTA_VIEWS),
                        help="test-time augmentation: average each image's and its mirror's "
                             "probabilities")


def configure_evaluate(parser):
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by fmnist-gluon train")
    _add_tta(parser)
    _add_data_options(parser, "score")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run_evaluate(args):
    """Score a run on the test set: accuracy, loss, per-class accuracy, confusion matrix.

    example:
      fmnist-gluon evaluate runs/t
      fmnist-gluon evaluate runs/t --tta flip      # also writes confusion_matrix-tta-flip.png
    """
    from .runs import evaluate_run, load_run, load_test_data

    run = checked(load_run, args.run_dir)
    checked(load_test_data, args.data, args.test_size)  # data problems are input errors
    result = evaluate_run(run, tta=args.tta, root=args.data, test_size=args.test_size)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print("%s on %d test images%s: accuracy %.2f%%, loss %.4f"
          % (args.run_dir, result["images"], " (tta %s)" % args.tta if args.tta else "",
             100 * result["accuracy"], result["loss"]))
    width = max(len(c) for c in result["per_class_accuracy"])
    for name, acc in result["per_class_accuracy"].items():
        print("  %-*s  %s" % (width, name, "n/a" if acc is None else "%6.2f%%" % (100 * acc)))
    print("wrote %s" % ", ".join(result["files"].values()))
    return 0


def configure_predict(parser):
    from .images import HOW

    parser.description = textwrap.fill((parser.description or "") + " The " + HOW + ".", 79)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by fmnist-gluon train")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="PNG or JPEG files, any size")
    parser.add_argument("--top", type=positive_int, default=3,
                        help="classes shown per image (default: 3)")
    _add_tta(parser)
    parser.add_argument("--onnx", nargs="?", const="", metavar="MODEL.onnx",
                        help="run the exported ONNX file in onnxruntime instead of MXNet "
                             "(default file: RUN_DIR/export/model.onnx)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run_predict(args):
    """Classify image files with a trained run and print the classes and probabilities.

    example:
      fmnist-gluon predict runs/t shirt.jpg boot.png
      fmnist-gluon predict runs/t shirt.jpg --onnx     # the same through onnxruntime
    """
    from .export import onnx_predict, onnx_session
    from .images import load_images
    from .runs import load_run
    from .train import predict

    run = checked(load_run, args.run_dir)
    images = checked(load_images, args.images)
    if args.onnx is not None:
        if args.tta:
            raise UsageError("--tta works with MXNet only; leave it out with --onnx")
        path = args.onnx or os.path.join(args.run_dir, "export", "model.onnx")
        if not os.path.exists(path):
            raise UsageError("%s not found; write it with: fmnist-gluon export %s --format onnx"
                             % (path, args.run_dir))
        checked(onnx_session, path)
        probs = onnx_predict(path, images)
    else:
        probs = predict(run.net, images, tta=args.tta)[0]
    rows = []
    for path, p in zip(args.images, probs):
        order = p.argsort()[::-1][:args.top]
        rows.append({"image": path, "class": run.classes[order[0]],
                     "top": [[run.classes[k], float(p[k])] for k in order]})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        print("%s: %s" % (row["image"], "  ".join("%s %.1f%%" % (name, 100 * q)
                                                   for name, q in row["top"])))
    return 0


def configure_export(parser):
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by fmnist-gluon train")
    parser.add_argument("--format", choices=("mxnet", "onnx"), default="onnx",
                        help="onnx: one .onnx file (needs pip install .[onnx]); mxnet: "
                             "PREFIX-symbol.json + PREFIX-0000.params (default: onnx)")
    parser.add_argument("--out", help="file (onnx) or prefix (mxnet) to write (default: "
                                      "RUN_DIR/export/model.onnx or RUN_DIR/export/model)")


def run_export(args):
    """Export a run's network for another runtime: ONNX, or MXNet symbol + params.

    example:
      fmnist-gluon export runs/t --format onnx          # runs/t/export/model.onnx
      fmnist-gluon export runs/t --format mxnet --out model   # model-symbol.json, model-0000.params
    The ONNX input is 'data', float32 N x 1 x 28 x 28, pixels / 255; the output is the logits.
    """
    from .export import ExportError
    from .runs import export_run, load_run

    run = checked(load_run, args.run_dir)
    if args.format == "onnx":
        try:
            import onnx  # noqa: F401
        except ImportError:
            raise UsageError("--format onnx needs the onnx package: pip install "
                             "'fmnist_gluon[onnx]' (or --format mxnet)") from None
    try:
        paths = export_run(run, args.format, args.out)
    except ExportError as exc:  # a layer without a conversion: the user's choice of format
        raise UsageError(str(exc)) from exc
    print("wrote %s" % ", ".join(paths))
    return 0


def configure_launch(parser):
    parser.add_argument("-n", "--workers", type=positive_int, default=2,
                        help="worker processes (default: %(default)s)")
    parser.add_argument("--servers", type=positive_int, default=1,
                        help="parameter-server processes (default: %(default)s)")
    parser.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                        help="stop the job after this long (default: no limit)")
    parser.add_argument("--worker-threads", type=positive_int, metavar="N",
                        help="OpenMP threads per worker (default: the physical cores divided "
                             "among the workers, or OMP_NUM_THREADS when set)")
    parser.add_argument("job", nargs=argparse.REMAINDER,
                        help="after --: a fmnist-gluon command (train ...) or any command line")


def run_launch(args):
    """Run a command as the workers of a data-parallel job on this machine (dist_sync).

    example:
      fmnist-gluon launch -n 2 -- train fast --epochs 2 --out runs/fast-2w
      fmnist-gluon launch -n 2 -- python my_training.py    # it calls fit(..., kvstore="dist_sync")
    Every worker trains on its part of each global batch (--batch-size stays the global batch);
    rank 0 writes the run folder. A worker that dies stops the whole job with an error.
    """
    from .launch import LaunchError, launch

    job = args.job[1:] if args.job[:1] == ["--"] else args.job
    if not job:
        raise UsageError("launch: give the workers' command after --, e.g. "
                         "fmnist-gluon launch -n 2 -- train fast --epochs 2")
    if job[0] in COMMANDS:
        job = [sys.executable, "-m", "fmnist_gluon"] + job
    try:
        launch(job, num_workers=args.workers, num_servers=args.servers, timeout=args.timeout,
               threads=args.worker_threads)
    except LaunchError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: stopped the job's processes", file=sys.stderr)
        return 130
    return 0


# name -> (configure(parser), run(args) -> exit status); run's first docstring line is the help,
# the rest (an example) is printed at the end of the command's --help.
COMMANDS = {
    "summary": (configure_summary, run_summary),
    "train": (configure_train, run_train),
    "evaluate": (configure_evaluate, run_evaluate),
    "predict": (configure_predict, run_predict),
    "export": (configure_export, run_export),
    "ladder": (configure_ladder, run_ladder),
    "sweep": (configure_sweep, run_sweep_command),
    "launch": (configure_launch, run_launch),
}

