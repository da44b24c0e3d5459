"""A child process for tests/test_faults.py: trains, and can kill itself with SIGKILL on cue.

    python tests/fault_child.py fit OUT EPOCHS          # fit with OUT/ckpt; final weights to OUT
    python tests/fault_child.py ladder ARGS...          # fmnist_gluon.cli.main(["ladder", ...])

``FMNIST_TEST_KILL`` sets the cue (the process gets a real SIGKILL: no handler, no cleanup):

    step:N            before the N-th ``gluon.Trainer.step`` call (in the middle of an epoch)
    write-after:N     before the first ``os.replace`` after the N-th step (at the first file of
                      the checkpoint written when the epoch ending with step N is over)
    replace:NAME:N    before the N-th ``os.replace`` onto a file called NAME
"""
import json
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _kill():
    os.kill(os.getpid(), signal.SIGKILL)


def install_cue(cue):
    """Patch Trainer.step or os.replace so that the process dies where ``cue`` says."""
    from mxnet import gluon

    kind, _, rest = (cue or "").partition(":")
    counts = {"n": 0, "steps": 0}
    step = gluon.Trainer.step

    def counted_step(self, *args, **kwargs):
        counts["steps"] += 1
        if kind == "step" and counts["steps"] == int(rest):
            _kill()
        return step(self, *args, **kwargs)
    gluon.Trainer.step = counted_step
    replace = os.replace

    def watched_replace(src, dst, *args, **kwargs):
        name = os.path.basename(os.fspath(dst))
        if kind == "write-after" and counts["steps"] >= int(rest):
            _kill()
        if kind == "replace":
            target, _, limit = rest.rpartition(":")
            if name == target:
                counts["n"] += 1
                if counts["n"] == int(limit):
                    _kill()
        return replace(src, dst, *args, **kwargs)
    os.replace = watched_replace


def data():
    from conftest import signal_images

    return signal_images(320, 0), signal_images(80, 1)


def run_fit(out, epochs):
    import mxnet as mx
    from fmnist_gluon import build_cnn, fit

    train, val = data()
    net = build_cnn("conv8k3-bn-relu-pool2-dropout0.2-dense32-relu")
    history = fit(net, train, val=val, epochs=epochs, optimizer="adam", lr=0.01, batch_size=32,
                  seed=0, ctx=mx.cpu(), verbose=0, checkpoint_dir=os.path.join(out, "ckpt"))
    net.save_parameters(os.path.join(out, "final.params"))
    rows = [{k: v for k, v in r.items() if k not in ("seconds", "images_per_sec")}
            for r in history.epochs]
    with open(os.path.join(out, "history.json"), "w") as f:
        json.dump(rows, f)


def main(argv):
    install_cue(os.environ.get("FMNIST_TEST_KILL"))
    if argv[0] == "fit":
        run_fit(argv[1], int(argv[2]))
        return 0
    from fmnist_gluon.cli import main as cli_main

    return cli_main(["ladder"] + argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
