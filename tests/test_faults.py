"""Faults during training, end to end, in subprocesses: SIGKILL in the middle of an epoch and
during a checkpoint write, then the same call again; the ladder killed partway and rerun.

The child (tests/fault_child.py) kills itself with a real SIGKILL at a chosen point, so no
handler or ``finally`` runs, as with ``kill -9`` or the OOM killer. Resume is exact by design:
epoch ``e``'s shuffle, augmentation and dropout masks are functions of ``(seed, e)`` and the
trainer state is checkpointed, so the rerun must end with the same weights as an uninterrupted
run, bit for bit (the same process-local arithmetic replayed on the same machine), and the
assertions below use exact equality.
"""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from mxnet import nd

TESTS = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(TESTS, "fault_child.py")
EPOCHS = 3
BATCHES_PER_EPOCH = 10  # 320 training images in batches of 32 (fault_child.data)
TIMEOUT = 300  # seconds per child: generous for a loaded 2-core machine; a hang fails the test


def run_child(args, env=None, kill=None):
    env = dict(os.environ, **(env or {}))
    env.pop("FMNIST_TEST_KILL", None)
    if kill:
        env["FMNIST_TEST_KILL"] = kill
    return subprocess.run([sys.executable, CHILD] + [str(a) for a in args], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The folder of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    done = run_child(["fit", out, EPOCHS])
    assert done.returncode == 0, done.stderr
    return out


def weights(path):
    return {k: v.asnumpy() for k, v in nd.load(str(path)).items()}


def assert_same_run(out, reference_out):
    a, b = weights(out / "final.params"), weights(reference_out / "final.params")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert json.loads((out / "history.json").read_text()) == \
        json.loads((reference_out / "history.json").read_text())


def checkpointed_epoch(out):
    return json.loads((out / "ckpt" / "checkpoint.json").read_text())["epoch"]


def leftovers(folder):
    """Temporary files of interrupted writes still lying in ``folder``."""
    return sorted(n for n in os.listdir(folder) if n.startswith(".tmp"))


def test_sigkill_in_the_middle_of_an_epoch_then_the_same_call_resumes(tmp_path, reference):
    killed = run_child(["fit", tmp_path, EPOCHS], kill="step:%d" % (BATCHES_PER_EPOCH + 4))
    assert killed.returncode == -signal.SIGKILL
    assert checkpointed_epoch(tmp_path) == 1  # epoch 2 was under way: epoch 1 is on disk
    done = run_child(["fit", tmp_path, EPOCHS])
    assert done.returncode == 0, done.stderr
    assert_same_run(tmp_path, reference)


@pytest.mark.parametrize("cue", ["write-after:%d" % (2 * BATCHES_PER_EPOCH),
                                 "replace:checkpoint.json:2"])
def test_sigkill_during_the_checkpoint_write_then_the_same_call_resumes(tmp_path, reference, cue):
    """Killed right after epoch 2 ends, while its checkpoint is being written: at its first
    file, or just before the state file (written last) would make it the checkpoint."""
    killed = run_child(["fit", tmp_path, EPOCHS], kill=cue)
    assert killed.returncode == -signal.SIGKILL
    assert checkpointed_epoch(tmp_path) == 1  # epoch 2's checkpoint never became the checkpoint
    done = run_child(["fit", tmp_path, EPOCHS])
    assert done.returncode == 0, done.stderr
    assert_same_run(tmp_path, reference)
    assert leftovers(tmp_path / "ckpt") == []  # the dead writer's temporary was cleaned up


def test_the_ladder_killed_partway_then_rerun_completes_its_report(tmp_path, idx_dir):
    """Two rungs, SIGKILL inside the second; the same command finishes it, and results.md and
    results.json hold both rungs, with the histories of an uninterrupted ladder."""
    env = {"FMNIST_GLUON_DATA": str(idx_dir)}
    args = ["--rungs", "baseline,bn", "--epochs", "2", "--quiet"]
    ref = run_child(["ladder"] + args + ["--out", tmp_path / "ref"], env=env)
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "out"
    batches = 2 * 1  # 60 training images at batch 128: one batch per epoch
    killed = run_child(["ladder"] + args + ["--out", out], env=env, kill="step:%d" % (batches + 2))
    assert killed.returncode == -signal.SIGKILL
    assert (out / "rungs" / "baseline" / "seed-0" / "result.json").exists()
    assert not (out / "rungs" / "bn" / "seed-0" / "result.json").exists()
    done = run_child(["ladder"] + args + ["--out", out], env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "results.json").read_text())
    want = json.loads((tmp_path / "ref" / "results.json").read_text())
    assert sorted(report["summary"]) == ["baseline", "bn"]
    for rung in ("baseline", "bn"):
        rows = [{k: v for k, v in r.items() if k not in ("seconds", "images_per_sec")}
                for run in (report, want) for r in run["runs"][rung][0]["history"]["epochs"]]
        assert rows[:2] == rows[2:], rung
    md = (out / "results.md").read_text()
    assert "| baseline | 2 |" in md and "| bn | 2 |" in md
