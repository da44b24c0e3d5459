"""Data-parallel training across worker processes on MXNet's dist_sync kvstore, on 127.0.0.1.

Every job here is started by ``fmnist_gluon.launch.launch`` (scheduler, server and workers as
processes of one group) and bounded in time; tests/dist_child.py is the workers' program.
"""
import json
import os
import subprocess
import sys
import time
import uuid

import mxnet as mx
import numpy as np
import pytest

from conftest import signal_images, write_signal_idx
from fmnist_gluon import cli, fit
from fmnist_gluon.data import BatchIterator
from fmnist_gluon.launch import LaunchError, launch
from fmnist_gluon.train.checkpoint import Checkpoint

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHILD = os.path.join(HERE, "dist_child.py")
JOB_TIMEOUT = 180  # seconds; a job of the tests takes about 10 on 2 cores
ENV = {"PYTHONPATH": ROOT, "MXNET_STORAGE_FALLBACK_LOG_VERBOSE": "0"}


def job(out, *args, workers=2, env=None, marker=None):
    """Run dist_child.py as the workers of a dist_sync job; ``marker`` goes into every
    process's environment (to find them afterwards)."""
    marker = marker or uuid.uuid4().hex
    with open(os.path.join(str(out) + ".log"), "ab") as log:
        launch([sys.executable, CHILD, str(out), "--kvstore", "dist_sync", *map(str, args)],
               num_workers=workers, timeout=JOB_TIMEOUT, stdout=log, stderr=subprocess.STDOUT,
               env=dict(ENV, FMNIST_TEST_JOB=marker, **(env or {})))


def local(out, *args, contexts=2):
    """The same training in one process on ``contexts`` CPU contexts, one thread like a worker."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE", **ENV)
    subprocess.run([sys.executable, CHILD, str(out), "--contexts", str(contexts),
                    *map(str, args)], env=env, check=True, timeout=JOB_TIMEOUT)


def result(out, rank=0):
    with np.load(os.path.join(str(out), "rank-%d.npz" % rank)) as z:
        arrays = {k: z[k] for k in z.files}
    with open(os.path.join(str(out), "rank-%d.json" % rank)) as f:
        return arrays, json.load(f)


def finals(arrays):
    return {k[len("final/"):]: v for k, v in arrays.items() if k.startswith("final/")}


def processes_with(marker):
    """PIDs of live processes whose environment holds this job's marker."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


# Why the bound is what it is: the workers and the one process on two contexts do the same
# arithmetic (the same global batch split in the same halves, gradients summed, BatchNorm
# statistics averaged per epoch), but in different buffers and graphs (one context per process
# with static memory, against two without), so their sums may round differently, and SGD on a
# BatchNorm net carries that forward. The test measures that rounding on the machine it runs
# on: the one-process run against itself started one float32 ulp away (the size of any rounding
# difference in an intermediate result). The workers' trained parameters must land within
# ROUNDING_FACTOR times that spread plus 16 ulps of the weights; a learning rate 2.5% off must
# not. BatchNorm's running statistics are not trained parameters and are left out of this
# comparison: MXNet's two contexts in one process end with statistics about 0.2% away from the
# two workers' (whose weights match them to the bit), while one worker matches one context to
# rounding; every rank's statistics are still checked to be the same to the bit.
ROUNDING_FACTOR = 4.0
ULPS = 16 * np.finfo(np.float32).eps


def beyond_rounding(ours, ref, spread_ref, start):
    return [k for k in ref if not k.endswith(("running_mean", "running_var"))
            and np.abs(ours[k] - ref[k]).max()
            > ROUNDING_FACTOR * np.abs(spread_ref[k] - ref[k]).max()
            + ULPS * max(1.0, np.abs(start[k]).max())]


def test_two_workers_hold_the_same_weights_and_match_one_process(tmp_path):
    job(tmp_path / "dist")
    (a0, r0), (a1, r1) = result(tmp_path / "dist", 0), result(tmp_path / "dist", 1)
    assert r0["meta"]["workers"] == r1["meta"]["workers"] == 2
    assert {r0["meta"]["rank"], r1["meta"]["rank"]} == {0, 1}
    for k in a0:  # the same weights and BatchNorm statistics on every rank, to the bit
        assert np.array_equal(a0[k], a1[k]), k
    assert r0["rows"] == r1["rows"]  # and the same History (train values averaged over ranks)

    local(tmp_path / "ref")
    local(tmp_path / "nudged", "--nudge", 1)
    local(tmp_path / "off", "--lr", 0.1 * 1.025)
    ref, nudged, off = (finals(result(tmp_path / n)[0]) for n in ("ref", "nudged", "off"))
    start = {k[len("start/"):]: v for k, v in a0.items() if k.startswith("start/")}
    ours = finals(a0)
    assert ours.keys() == ref.keys() and any("running_var" in k for k in ours)
    for k in ours:  # it trained (the conv's bias, which BatchNorm subtracts again, barely moves)
        if k.endswith(("weight", "gamma", "beta")):
            assert np.abs(ours[k] - start[k]).max() > 1e-4, k
    assert beyond_rounding(ours, ref, nudged, start) == []
    assert beyond_rounding(off, ref, nudged, start) != []  # the bound can see a small error
    ref_rows = result(tmp_path / "ref")[1]["rows"]
    for ours_row, ref_row in zip(r0["rows"], ref_rows):
        assert ours_row == pytest.approx(ref_row, rel=1e-3, abs=1e-4)


def test_a_killed_worker_stops_the_job_and_the_rerun_resumes(tmp_path):
    ckpt, marker = tmp_path / "ckpt", uuid.uuid4().hex
    t0 = time.monotonic()
    with pytest.raises(LaunchError, match=r"worker [12] of 2 was killed by SIGKILL; stopped"):
        job(tmp_path / "killed", "--epochs", 3, "--checkpoint", ckpt, marker=marker,
            env={"FMNIST_TEST_KILL": "1:2"})  # rank 1 dies at the end of epoch 2
    assert time.monotonic() - t0 < JOB_TIMEOUT / 2  # stopped at once, not at the deadline
    assert processes_with(marker) == []  # the scheduler, server and other worker are gone
    assert Checkpoint(str(ckpt)).load()["epoch"] == 1  # rank 0 never got to write epoch 2

    job(tmp_path / "resumed", "--epochs", 3, "--checkpoint", ckpt)
    job(tmp_path / "whole", "--epochs", 3)
    (resumed, rr), (whole, rw) = result(tmp_path / "resumed"), result(tmp_path / "whole")
    assert rr["saves"] == 2 and result(tmp_path / "resumed", 1)[1]["saves"] == 0  # rank 0 only
    for k in whole:
        if k.startswith("final/"):
            assert np.array_equal(resumed[k], whole[k]), k
    assert [r["val_loss"] for r in rr["rows"]] == [r["val_loss"] for r in rw["rows"]]


def test_cli_launch_trains_a_run_folder(tmp_path, monkeypatch):
    data = write_signal_idx(tmp_path / "data", 40, 20)
    out = tmp_path / "run"
    monkeypatch.setenv("FMNIST_GLUON_DATA", str(data))
    monkeypatch.setenv("PYTHONPATH", ROOT)
    status = cli.main(["launch", "-n", "2", "--timeout", str(JOB_TIMEOUT), "--", "train",
                       "baseline", "--epochs", "1", "--batch-size", "20", "--out", str(out),
                       "--progress", "none"])
    assert status == 0
    history = json.loads((out / "history.json").read_text())
    assert history["meta"]["workers"] == 2 and history["meta"]["kvstore"] == "dist_sync"
    assert (out / "model.params").exists() and (out / "checkpoint").is_dir()


def test_a_failing_worker_is_named(tmp_path):
    with pytest.raises(LaunchError, match=r"worker [12] of 2 exited with status 3"):
        launch([sys.executable, "-c", "import os, sys; sys.exit(3 if os.environ['DMLC_ROLE'] "
                "== 'worker' else 0)"], num_workers=2, timeout=60)


def test_dist_kvstore_outside_a_job_is_refused_with_the_way_to_start_one(monkeypatch, capsys):
    monkeypatch.delenv("DMLC_ROLE", raising=False)
    x, y = signal_images(20, 0)
    with pytest.raises(ValueError, match="not a worker of a distributed job.*fmnist-gluon launch"):
        fit(mx.gluon.nn.Dense(10), (x, y), epochs=1, kvstore="dist_sync", verbose=False)
    with pytest.raises(ValueError, match="dist_async.*synchronous"):
        fit(mx.gluon.nn.Dense(10), (x, y), epochs=1, kvstore="dist_async", verbose=False)
    assert cli.main(["train", "baseline", "--kvstore", "dist_sync", "--epochs", "1"]) == 2
    assert "fmnist-gluon launch" in capsys.readouterr().err


def test_shards_split_each_global_batch_like_split_and_load():
    x, y = signal_images(50, 0)
    whole = BatchIterator(x, y, batch_size=8, shuffle=True, seed=3)
    parts = [BatchIterator(x, y, batch_size=8, shuffle=True, seed=3, shard=(r, 2)) for r in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == len(whole) == 7  # the last batch of 2 splits in 1+1
    for (bx, by), (x0, y0), (x1, y1) in zip(whole, *parts):
        assert np.array_equal(np.concatenate([y0.asnumpy(), y1.asnumpy()]), by.asnumpy())
        assert x0.shape[0] == x1.shape[0] == bx.shape[0] // 2
    three = [BatchIterator(x, y, batch_size=9, shard=(r, 3)) for r in range(3)]
    assert len(three[0]) == 6  # 50 = 5 x 9 + 5: the last batch cut to 3, one image each
    assert [sum(b[0].shape[0] for b in it) for it in three] == [16, 16, 16]
    with pytest.raises(ValueError, match="batch_size 8 is not a multiple of the 3 workers"):
        BatchIterator(x, y, batch_size=8, shard=(0, 3))
    with pytest.raises(ValueError, match="shard index"):
        BatchIterator(x, y, batch_size=8, shard=(2, 2))
    tail = BatchIterator(x[:49], y[:49], batch_size=8, shard=(0, 2))
    assert len(tail) == 6 and len(list(tail)) == 6  # a last batch of 1 gives no batch
