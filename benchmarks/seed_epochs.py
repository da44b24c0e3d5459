"""Time one training epoch of every seed system (the "seeds" rungs) and estimate a full run.

    OMP_NUM_THREADS=1 python benchmarks/seed_epochs.py                  # 6,000 images per system
    OMP_NUM_THREADS=1 python benchmarks/seed_epochs.py --images 60000 --rungs vgg,mobilenet

Each system trains with its rung's optimizer, batch size and augmentation on ``--images`` training
images of Fashion-MNIST, plus a validation pass over ``--images // 6`` test images (the full
runs validate 10,000 images after each 60,000-image epoch). The seconds are scaled to a full
epoch (60,000 + 10,000 images) and to the rung's epochs. Prints one line per system and the
machine; numbers on a shared machine are noisy (the load average is printed too).
"""
import argparse
import os
import time

from fmnist_gluon import build_cnn, fit, summary
from fmnist_gluon.ladder import get_rungs, load_ladder_data
from fmnist_gluon.utils import machine_info


def time_rung(rung, train, test, images):
    """Seconds of one epoch (training + validation) on ``images`` training images."""
    xtr, ytr = train
    xte, yte = test
    net = build_cnn(rung.spec)
    start = time.time()
    history = fit(net, (xtr[:images], ytr[:images]), val=(xte[:images // 6], yte[:images // 6]),
                  epochs=1, optimizer=rung.optimizer, lr=rung.lr, wd=rung.wd,
                  batch_size=rung.batch_size, init_magnitude=rung.init_magnitude, seed=0,
                  augment=rung.augment, verbose=False)
    return history.epochs[0]["seconds"], time.time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rungs", default="seeds", help="rungs or groups (default: seeds)")
    parser.add_argument("--images", type=int, default=6000, help="training images timed")
    args = parser.parse_args()
    train, test, _ = load_ladder_data()
    print("machine: %s; load average %s; OMP_NUM_THREADS=%s"
          % (machine_info(), " ".join("%.2f" % v for v in os.getloadavg()),
             os.environ.get("OMP_NUM_THREADS", "unset")))
    print("%-15s %10s %12s %14s %14s" % ("rung", "MACs/image", "s measured", "s/full epoch",
                                          "min/full run"))
    for rung in get_rungs(args.rungs):
        epoch_s, _ = time_rung(rung, train, test, args.images)
        full = epoch_s * 60000 / args.images
        macs = summary(rung.spec, print_fn=None).total_macs
        print("%-15s %10s %12.1f %14.0f %14.1f" % (rung.name, format(macs, ","), epoch_s, full,
                                                   full * rung.epochs / 60), flush=True)


if __name__ == "__main__":
    main()
