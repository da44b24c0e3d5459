"""Smoke runs of benchmarks/bench_peers.py and bench_threads.py on tiny subsets: every installed
framework trains and evaluates, a missing one is skipped with a message, and the table's ratios
are the ones its rows imply. Timings are printed, never asserted."""
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import BENCHMARKS, REAL_DIR, load_benchmark

needs_real_data = pytest.mark.skipif(not os.path.exists(os.path.join(REAL_DIR, "t10k-labels-idx1-ubyte.gz")),
                                     reason="needs the real Fashion-MNIST files (dataset-fashion-mnist)")
THREAD_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MXNET_OMP_MAX_THREADS", "FMNIST_GLUON_THREADS")


PEERS_PYTHON = os.path.join(os.path.dirname(BENCHMARKS), ".venv-peers", "bin", "python")


def peer_installed(module):
    """Whether the peers' Python (.venv-peers, else this one) can import ``module``."""
    python = PEERS_PYTHON if os.path.exists(PEERS_PYTHON) else sys.executable
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec(%r) is None)" % module
    return subprocess.run([python, "-c", code], capture_output=True, timeout=60).returncode == 0


def clean_env():
    """The caller's environment without the thread settings this test process got on import."""
    return {k: v for k, v in os.environ.items() if k not in THREAD_VARS}


@needs_real_data
def test_bench_peers_smoke_run_trains_every_installed_framework(tmp_path):
    out = tmp_path / "peers.json"
    cmd = [sys.executable, os.path.join(BENCHMARKS, "bench_peers.py"), "--subset", "512", "--test-subset",
           "512", "--reps", "1", "--json", str(out)]
    if os.path.exists(PEERS_PYTHON):  # made by scripts/setup-env.sh, so CI runs the peers too
        cmd += ["--peers-python", PEERS_PYTHON]
    proc = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    summary = result["summary"]
    for name, module in (("pytorch", "torch"), ("keras", "keras")):
        if not peer_installed(module):
            assert "skipped %s: %s is not importable" % (name, module) in proc.stdout
            assert name in result["skipped"] and name not in summary
        else:
            assert name in summary
    assert {"fmnist_gluon", "fmnist_gluon-old"} <= set(summary)
    for name, s in summary.items():
        run = result["runs"][name][0]
        assert run["train_images"] == 512 and run["test_images"] == 512
        assert 0.0 <= s["test_accuracy"] <= 1.0 and s["peak_rss_mb"] > 50
        assert run["mxnet_loaded"] == name.startswith("fmnist_gluon")  # peers never load mxnet
        row = re.search(r"^%s\s+([\d.]+)\s+([\d.]+)\s" % re.escape(name), proc.stdout, re.M)
        assert row, proc.stdout
        ref = summary["fmnist_gluon"]["epoch_seconds"]
        assert float(row.group(2)) == pytest.approx(s["epoch_seconds"] / ref, abs=0.006)
    # fmnist_gluon on its defaults, the "old" row on MXNet's own default threads.
    assert summary["fmnist_gluon"]["threads"]["source"].startswith("fmnist_gluon's default")
    assert summary["fmnist_gluon-old"]["threads"]["source"].startswith("FMNIST_GLUON_THREADS=mxnet")
    if "pytorch" in summary:
        assert "torch.get_num_threads()" in summary["pytorch"]["threads"]


def test_bench_peers_rejects_bad_options(capsys):
    bench = load_benchmark("bench_peers")
    for argv, message in ((["--frameworks", "caffe"], "unknown caffe"), (["--reps", "0"], "--reps"),
                          (["--subset", "100"], "at least 512")):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)
        assert message in capsys.readouterr().err


def test_bench_threads_smoke_run_measures_every_setting_alone_and_beside_a_busy_core(tmp_path):
    bench = load_benchmark("bench_threads")
    lines = []
    result = bench.run(images=256, rounds=1, out=lines.append)
    assert set(result) == {"%s | %s" % (label, c) for label in bench.SETTINGS for c in ("alone", "busy")}
    assert all(len(v) == 1 and v[0] > 0 for v in result.values())
    text = "\n".join(lines)
    assert "beside a busy core" in text and "Load average at end" in text
