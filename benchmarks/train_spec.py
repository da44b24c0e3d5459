"""Train one spec on the full Fashion-MNIST training set and print its test accuracy per epoch.

The tool behind the recipe search in docs/performance.md: every candidate there is one line of
this script, so each figure can be repeated. It is ``fit`` with the options spelled out on the
command line; the finished recipes live as ladder rungs (``examples/ablation.py --rungs fast``).

    python benchmarks/train_spec.py SPEC [--opt nag --mom 0.9 --lr 0.1 --wd 5e-4 --epochs 11
                                          --sched '{"type":"cosine","warmup_epochs":1}'
                                          --aug flip --smoothing 0.1 --seed 0
                                          --checkpoint-dir runs/ckpt/NAME --epoch-lines
                                          --tta flip]

It prints one line: the settings, the final and best test accuracy, the final training accuracy,
fit's time and the process's wall time, and the test accuracy of every epoch. With ``--tta flip``
the line also gives the final network's test accuracy with flip test-time augmentation
(``evaluate(..., tta="flip")``); rerun a finished run's command with ``--checkpoint-dir`` and
``--tta`` to get it without training again.
"""
import argparse
import json
import time

START = time.time()

from fmnist_gluon import build_cnn, evaluate, fit, load_dataset  # noqa: E402  (after START: import time counts)
from fmnist_gluon.train import TTA_VIEWS  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("spec", help="preset name, shorthand or .json/.yaml file")
    p.add_argument("--opt", default="adam", help="MXNet optimizer name (default: adam)")
    p.add_argument("--mom", type=float, help="momentum, for sgd/nag")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--wd", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--sched", default="cosine",
                   help="'none', a schedule name, or a JSON dict for fit's lr_scheduler")
    p.add_argument("--aug", help="augmentation, e.g. flip or flip,crop2 (default: none)")
    p.add_argument("--bs", type=int, default=128, help="batch size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init-magnitude", type=float, default=2.24)
    p.add_argument("--smoothing", type=float, default=0.0, help="label smoothing (default: 0)")
    p.add_argument("--checkpoint-dir", help="checkpoint each epoch here; rerunning resumes")
    p.add_argument("--epoch-lines", action="store_true",
                   help="print one line per epoch while training (for logs of long runs)")
    p.add_argument("--tta", choices=sorted(TTA_VIEWS),
                   help="also report the final test accuracy with this test-time augmentation")
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    sched = None if a.sched == "none" else (json.loads(a.sched) if a.sched.startswith("{") else a.sched)
    net = build_cnn(a.spec)
    history = fit(net, (train.images, train.labels), val=(test.images, test.labels),
                  epochs=a.epochs, optimizer=a.opt, lr=a.lr, wd=a.wd, batch_size=a.bs,
                  lr_scheduler=sched, augment=a.aug, seed=a.seed, init_magnitude=a.init_magnitude,
                  optimizer_params={"momentum": a.mom} if a.mom is not None else None,
                  label_smoothing=a.smoothing, checkpoint_dir=a.checkpoint_dir,
                  verbose=2 if a.epoch_lines else False)
    val = [round(100 * e["val_accuracy"], 2) for e in history.epochs]
    tta = ""
    if a.tta:
        tta = " | tta=%s %.2f" % (a.tta, 100 * evaluate(net, (test.images, test.labels),
                                                         tta=a.tta)["accuracy"])
    print("%s | opt=%s mom=%s lr=%g wd=%g epochs=%d sched=%s aug=%s ls=%g bs=%d seed=%d "
          "| final %.2f best %.2f%s | train %.2f | fit %.0f s, wall %.0f s | %s"
          % (a.spec, a.opt, a.mom, a.lr, a.wd, a.epochs, a.sched, a.aug, a.smoothing, a.bs,
             a.seed, val[-1], max(val), tta, 100 * history.epochs[-1]["train_accuracy"],
             sum(e["seconds"] for e in history.epochs), time.time() - START, val), flush=True)
    return history


if __name__ == "__main__":
    main()
