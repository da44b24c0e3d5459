"""Checkpoints: parameters, trainer state and history after every epoch, resumed exactly."""
import json
import os
import shutil

import numpy as np

from ..history import History, json_default
from ..utils import atomic_path, atomic_write_text

__all__ = ["CHECKPOINT_FILE", "CHECKPOINT_FORMAT", "load_checkpoint", "save_checkpoint", "run_seed"]

CHECKPOINT_FILE = "checkpoint.json"
CHECKPOINT_FORMAT = 1


def load_checkpoint(folder):
    path = os.path.join(folder, CHECKPOINT_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        state = json.load(f)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError("%s: unknown checkpoint format %r" % (path, state.get("format")))
    return state


def _link_atomic(src, dst):
    """Make ``dst`` the same file as ``src`` (a hard link, else a copy), replaced atomically."""
    with atomic_path(dst) as tmp:
        os.remove(tmp)
        try:
            os.link(src, tmp)
        except OSError:  # a file system without hard links
            shutil.copyfile(src, tmp)


def save_checkpoint(folder, net, trainer, state, improved):
    """Parameters, trainer state, then checkpoint.json (which names them), then the links.

    Every file is written under a temporary name and renamed, and checkpoint.json - the only
    file a resume trusts - is replaced after the files it names are complete, so a crash at
    any point leaves a whole checkpoint.  ``last.params`` and ``best.params`` are stable names
    (hard links) for people and other tools; older epoch files are removed.
    """
    os.makedirs(folder, exist_ok=True)
    tag = "epoch-%04d" % state["epoch"]
    params, states = tag + ".params", tag + ".states"
    with atomic_path(os.path.join(folder, params)) as tmp:
        net.save_parameters(tmp)
    with atomic_path(os.path.join(folder, states)) as tmp:
        trainer.save_states(tmp)
    state = dict(state, params=params, states=states)
    atomic_write_text(os.path.join(folder, CHECKPOINT_FILE),
                      json.dumps(state, indent=1, default=json_default))
    _link_atomic(os.path.join(folder, params), os.path.join(folder, "last.params"))
    if improved:
        _link_atomic(os.path.join(folder, params), os.path.join(folder, "best.params"))
    History.from_dict(state["history"]).save(os.path.join(folder, "history.json"))
    for name in os.listdir(folder):  # older epochs, and temporaries of a writer that was killed
        if (name.startswith("epoch-") and name not in (params, states)) or name.startswith(".tmp-"):
            os.remove(os.path.join(folder, name))

def run_seed(seed, saved, batch_size, checkpoint_dir):
    """The run's seed: the checkpoint's when resuming (a different one is an error), else
    ``seed``, else a fresh draw (recorded in the History, so the run can be repeated)."""
    if saved is not None:
        if seed is not None and seed != saved["seed"]:
            raise ValueError("checkpoint_dir %s holds a run with seed=%d, now seed=%d: pass the "
                             "same seed (or seed=None), resume=False to start again, or another "
                             "checkpoint_dir" % (checkpoint_dir, saved["seed"], seed))
        if batch_size != saved["batch_size"]:
            raise ValueError("checkpoint_dir %s holds a run with batch_size=%d, now %d: resuming "
                             "would not continue the same run; pass resume=False to start again "
                             "or another checkpoint_dir"
                             % (checkpoint_dir, saved["batch_size"], batch_size))
        return int(saved["seed"])
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0] % (2 ** 31))
    return int(seed)

