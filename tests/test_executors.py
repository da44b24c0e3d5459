"""The ladder on executors: results written by the driver, rungs outside RUNGS, Ray tasks that
equal local runs, and a Ray worker killed mid-task whose retry resumes from the checkpoint.

Ray tests run a local cluster on 127.0.0.1 started inside this process (``ray.init``) and shut
down at the end; every test is bounded in time with ``signal.alarm``.
"""
import concurrent.futures
import contextlib
import json
import re
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import write_signal_idx
from fmnist_gluon import ladder
from fmnist_gluon.executors import make_executor, thread_env

TIMING = ("seconds", "images_per_sec")  # the only History fields that may differ between runs


@contextlib.contextmanager
def time_limit(seconds):
    """Fail the test (instead of hanging CI) when the block takes longer than ``seconds``."""
    def expired(signum, frame):
        raise TimeoutError("test took longer than %d s" % seconds)
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def signal_dir(tmp_path):
    """Fashion-MNIST-shaped files holding a learnable signal: 400 train, 100 test images."""
    return write_signal_idx(tmp_path / "data", 400, 100)


TINY = [ladder.Rung("tiny-a", "conv4k3p1-relu-pool2-dense10", "adam", 1e-3, epochs=1,
                    batch_size=50),
        ladder.Rung("tiny-b", "conv4k3p1-bn-relu-pool2-dense10", "sgd", 0.1, epochs=1,
                    batch_size=50, optimizer_params={"momentum": 0.9})]


def epochs_without_timing(result):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in result["history"]["epochs"]]


def one_thread_reference(rungs, out, signal_dir, repeats=1):
    """The same runs done locally, one after another, with the workers' thread count.

    They run in one spawned process with OMP_NUM_THREADS=1 (``executor="process", workers=1``),
    not in this process: OpenMP reads the thread count once, when MXNet loads, and with MXNet's
    own kernels (MXNET_MKLDNN_ENABLED=0) one and two threads round differently, so only runs on
    the same thread count can be compared bit for bit. (The thread-pool test above compares with
    this process's own runs.)"""
    return ladder.run_ladder(rungs, out=str(out), repeats=repeats, verbose=False,
                             root=str(signal_dir), executor="process", workers=1)


def runs(report):
    """(rung, seed) -> per-epoch rows without timings, from a ladder report."""
    return {(r["rung"], r["seed"]): epochs_without_timing(r)
            for results in report["runs"].values() for r in results}


def test_collect_results_finds_rungs_outside_the_ladder_table(tmp_path):
    for name in ("zz-custom", "adam", "aa-custom"):
        ladder.save_result(str(tmp_path), {"rung": name, "seed": 3})
    assert list(ladder.collect_results(str(tmp_path))) == ["adam", "aa-custom", "zz-custom"]
    assert os.path.exists(tmp_path / "rungs" / "zz-custom" / "seed-3" / "result.json")


def test_make_executor_resolves_names_and_rejects_others():
    assert make_executor(None) == (None, False)
    mine = concurrent.futures.ThreadPoolExecutor(1)
    assert make_executor(mine) == (mine, False)  # the caller's: not shut down by the ladder
    mine.shutdown()
    with pytest.raises(ValueError, match="executor 'dask'.*'ray'"):
        make_executor("dask")
    with pytest.raises(ValueError, match="executor: expected None"):
        make_executor(3)
    assert thread_env(2) == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
                             "OMP_WAIT_POLICY": "PASSIVE"}


def test_any_executor_gives_the_local_runs_and_the_driver_writes_results(signal_dir, tmp_path):
    """A thread pool stands for any concurrent.futures engine: same histories as in-process."""
    with time_limit(240):
        local = ladder.run_ladder(TINY, out=str(tmp_path / "local"), repeats=2, verbose=False,
                                  root=str(signal_dir))
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            pooled = ladder.run_ladder(TINY, out=str(tmp_path / "pool"), repeats=2,
                                       verbose=False, root=str(signal_dir), executor=pool)
    assert sorted(runs(pooled)) == [("tiny-a", 0), ("tiny-a", 1), ("tiny-b", 0), ("tiny-b", 1)]
    assert runs(pooled) == runs(local)
    report = (tmp_path / "pool" / "results.md").read_text()
    assert len(re.findall(r"^\| tiny-[ab] \| \d+ \| [\d,]+ \|", report, re.M)) == 2  # the table
    assert len(re.findall(r"^\| tiny-[ab] \| [01] \| \d+\.\d\d \| \d+ \|", report, re.M)) == 4  # per seed
    saved = json.loads((tmp_path / "pool" / "results.json").read_text())
    assert list(saved["summary"]) == ["tiny-a", "tiny-b"]  # the driver's report holds both


def test_process_executor_runs_rungs_in_spawned_workers_with_one_thread(signal_dir, tmp_path):
    """executor="process": spawned workers (OMP_NUM_THREADS=1 each), results as in-process;
    the driver's own environment is put back after the workers started."""
    before = os.environ.get("OMP_NUM_THREADS")
    with time_limit(300):
        local = one_thread_reference(TINY, tmp_path / "local", signal_dir)
        spawned = ladder.run_ladder(TINY, out=str(tmp_path / "proc"), verbose=False,
                                    root=str(signal_dir), executor="process", workers=2)
    assert runs(spawned) == runs(local)
    assert os.environ.get("OMP_NUM_THREADS") == before


def test_a_config_mismatch_fails_in_the_driver_before_any_task(signal_dir, tmp_path):
    out = str(tmp_path / "out")
    ladder.check_config(ladder.rung_dir(out, "tiny-a", 0), TINY[0].config(epochs=5))

    class NoTasks(concurrent.futures.ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            raise AssertionError("a task was submitted")

    with time_limit(60), NoTasks(1) as pool, pytest.raises(ValueError, match="epochs differ"):
        ladder.run_ladder(TINY[:1], out=out, root=str(signal_dir), executor=pool, verbose=False)


# ---------------------------------------------------------------------------------- Ray

@pytest.fixture(scope="module")
def ray_cluster():
    """A local two-CPU Ray cluster on loopback, started and shut down by this module."""
    ray = pytest.importorskip("ray")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    # a cluster an earlier test started in this process (Ray Tune's) may have left its address
    # behind; this module's cluster is its own
    os.environ.pop("RAY_ADDRESS", None)
    if ray.is_initialized():
        ray.shutdown()
    with time_limit(120):
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_ladder_equals_the_same_runs_done_locally(ray_cluster, signal_dir, tmp_path):
    """Two tiny rungs x two seeds as Ray tasks (one CPU, one thread each) = the same runs done
    locally on one thread."""
    with time_limit(300):
        local = one_thread_reference(TINY, tmp_path / "local", signal_dir, repeats=2)
        on_ray = ladder.run_ladder(TINY, out=str(tmp_path / "ray"), repeats=2, verbose=False,
                                   root=str(signal_dir), executor="ray")
    assert sorted(runs(on_ray)) == [("tiny-a", 0), ("tiny-a", 1), ("tiny-b", 0), ("tiny-b", 1)]
    assert runs(on_ray) == runs(local)
    assert ray_cluster.is_initialized()  # the test's cluster: the ladder did not shut it down
    again = ladder.run_ladder(TINY, out=str(tmp_path / "ray"), repeats=2, verbose=False,
                              root=str(signal_dir), executor="ray")  # all finished: no task
    assert runs(again) == runs(on_ray)


def _lock_holder(path):
    """The PID holding an flock on ``path``, from /proc/locks (None when nobody holds it)."""
    inode = os.stat(path).st_ino
    with open("/proc/locks") as f:
        for line in f:
            parts = line.split()
            if parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(inode):
                return int(parts[4])
    return None


def test_a_killed_ray_worker_is_retried_and_resumes_from_its_checkpoint(ray_cluster, signal_dir,
                                                                       tmp_path):
    rung = ladder.Rung("tiny-kill", "conv8k3p1-relu-pool2-dense10", "adam", 1e-3, epochs=6,
                       batch_size=20)
    out = str(tmp_path / "ray")
    folder = ladder.rung_dir(out, rung.name, 0)
    state = {}

    def kill_after_first_epoch():
        """Kill the worker training the rung (the process holding its lock) once epoch 1 is
        checkpointed; remember that epoch's row to check the retry continued from it."""
        checkpoint = os.path.join(folder, "checkpoint", "checkpoint.json")
        deadline = time.time() + 200
        while time.time() < deadline and not os.path.exists(checkpoint):
            time.sleep(0.02)
        with open(checkpoint) as f:
            state["row"] = json.load(f)["history"]["epochs"][0]
        state["pid"] = _lock_holder(os.path.join(folder, ".lock"))
        os.kill(state["pid"], signal.SIGKILL)

    killer = threading.Thread(target=kill_after_first_epoch, daemon=True)
    with time_limit(300):
        killer.start()
        report = ladder.run_ladder([rung], out=out, verbose=False, root=str(signal_dir),
                                   executor="ray")
        killer.join(10)
    assert state["pid"] and state["pid"] != os.getpid()
    (result,) = report["runs"]["tiny-kill"]
    assert len(result["history"]["epochs"]) == 6
    # the retry resumed: epoch 1 is the killed worker's row, timing included (a restart would
    # have measured it again), and the run equals one that was never interrupted
    assert result["history"]["epochs"][0] == state["row"]
    with time_limit(200):
        local = one_thread_reference([rung], tmp_path / "local", signal_dir)
    assert runs(report) == runs(local)


def test_cli_ladder_joins_a_head_node_on_loopback(signal_dir, tmp_path):
    """`ray start --head` on 127.0.0.1 (stopped by its process group, never `ray stop`), then
    `fmnist-gluon ladder --ray 127.0.0.1:PORT`: the command docs/distributed.md gives."""
    pytest.importorskip("ray")
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, FMNIST_GLUON_DATA=str(signal_dir),
               RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    for key in ("RAY_ADDRESS", "RAY_AUTH_MODE"):
        env.pop(key, None)
    port = _free_port()
    head = subprocess.Popen(
        [os.path.join(bin_dir, "ray"), "start", "--head", "--node-ip-address=127.0.0.1",
         "--port=%d" % port, "--num-cpus=2", "--include-dashboard=false", "--block",
         "--disable-usage-stats"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    out = tmp_path / "out"
    try:
        _wait_for_port(port, 120)
        env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")  # the command sets what it needs itself
        done = subprocess.run(
            [os.path.join(bin_dir, "fmnist-gluon"), "ladder", "--rungs", "baseline,adam",
             "--epochs", "1", "--repeats", "2", "--out", str(out), "--quiet",
             "--ray", "127.0.0.1:%d" % port], env=env, capture_output=True, text=True,
            timeout=420)  # generous: CI machines may be loaded
    finally:
        _stop_group(head)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "results.json").read_text())
    assert sorted(runs(report)) == [("adam", 0), ("adam", 1), ("baseline", 0), ("baseline", 1)]
    assert "--ray 127.0.0.1:%d" % port in report["command"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                time.sleep(3)  # the GCS listens before the raylet is up
                return
        time.sleep(0.5)
    raise TimeoutError("the Ray head did not listen on 127.0.0.1:%d within %d s" % (port, seconds))


def _stop_group(proc):
    """Stop the head started by this test: its own process group, TERM then KILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


# -------------------------------------------------------------------------------- sweep

SPACE = {"lr": [1e-3, 3e-2], "spec": ["conv4k3p1-relu-pool2-dense10"]}


def test_sweep_trials_grid_random_and_bad_fields():
    from fmnist_gluon.sweep import trials

    grid = trials({"lr": [0.1, 0.01], "batch_size": [32, 64]})
    assert [(r.name, r.lr, r.batch_size) for r in grid] == [
        ("trial-00", 0.1, 32), ("trial-01", 0.01, 32), ("trial-02", 0.1, 64),
        ("trial-03", 0.01, 64)]  # parameters in name order, the last one varying fastest
    picked = trials({"lr": [0.1, 0.01], "batch_size": [32, 64]}, search="random",
                    num_samples=2, seed=1)
    assert len(picked) == 2 and picked == trials({"lr": [0.1, 0.01], "batch_size": [32, 64]},
                                                 search="random", num_samples=2, seed=1)
    with pytest.raises(ValueError, match="'learning_rate' is not a rung field.*lr"):
        trials({"learning_rate": [0.1]})


def test_sweep_locally_writes_table_plot_and_resumes(signal_dir, tmp_path):
    from fmnist_gluon.sweep import run_sweep

    out = str(tmp_path / "sweep")
    with time_limit(240):
        rows = run_sweep(SPACE, epochs=2, out=out, root=str(signal_dir), verbose=False)
        again = run_sweep(SPACE, epochs=2, out=out, root=str(signal_dir), verbose=False)
    assert sorted(r["params"]["lr"] for r in rows) == [1e-3, 3e-2]
    assert all(r["epochs_run"] == 2 and not r["stopped_early"] for r in rows)
    assert again == rows  # finished trials are read back, not trained again
    table = (tmp_path / "sweep" / "sweep.md").read_text()
    assert table.count("| trial-0") == 2 and "| lr | spec |" in table
    assert (tmp_path / "sweep" / "sweep_val_accuracy.png").stat().st_size > 0
    assert set(ladder.collect_results(out)) == {"trial-00", "trial-01"}


def test_sweep_on_ray_tune_matches_local_epochs(ray_cluster, signal_dir, tmp_path):
    """Ray Tune trials (ASHA off) report every epoch; their rows equal the local trials'."""
    from fmnist_gluon.sweep import run_sweep

    with time_limit(300):
        local = run_sweep(SPACE, epochs=2, out=str(tmp_path / "local"), root=str(signal_dir),
                          verbose=False)
        tuned = run_sweep(SPACE, epochs=2, out=str(tmp_path / "tune"), root=str(signal_dir),
                          executor="ray", asha=False)
    strip = lambda rows: {r["trial"]: [{k: v for k, v in e.items() if k not in TIMING}  # noqa
                                       for e in r["epochs"]] for r in rows}
    assert strip(tuned) == strip(local)
    assert (tmp_path / "tune" / "sweep.md").exists()


def test_cli_sweep_parses_params_and_writes_the_table(signal_dir, tmp_path, capsys,
                                                     monkeypatch):
    from fmnist_gluon.cli import main

    monkeypatch.setenv("FMNIST_GLUON_DATA", str(signal_dir))
    out = tmp_path / "sweep"
    with time_limit(200):
        status = main(["sweep", "--param", "lr=0.001,0.03", "--param",
                       'spec=["conv4k3p1-relu-pool2-dense10"]', "--epochs", "1", "--out",
                       str(out), "--quiet"], prog="fmnist-gluon")
    assert status == 0
    assert "| trial-00 |" in capsys.readouterr().out
    saved = json.loads((out / "sweep.json").read_text())
    assert sorted(t["params"]["lr"] for t in saved["trials"]) == [0.001, 0.03]
    assert saved["command"].startswith("fmnist-gluon sweep --param lr=0.001,0.03")
    with pytest.raises(SystemExit) as bad:
        main(["sweep", "--param", "lr"])
    assert bad.value.code == 2 and "expected NAME=VALUE" in capsys.readouterr().err
    assert main(["sweep", "--param", "learning_rate=0.1", "--out", str(out)]) == 2
    assert "'learning_rate' is not a rung field" in capsys.readouterr().err
