"""The machine a benchmark ran on: CPU model, cores, versions, thread settings, load, memory.

Every benchmark prints these beside its figures, since the machines are shared and differ.
"""
import os
import platform
import resource
import subprocess
import sys

import numpy as np

import fmnist_gluon  # noqa: F401  (first: it may set thread defaults before MXNet loads)

import mxnet as mx  # noqa: E402

ENV_KEYS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MXNET_OMP_MAX_THREADS",
            "MXNET_CPU_WORKER_NTHREADS", "MXNET_ENGINE_TYPE", "MXNET_MKLDNN_ENABLED",
            "MXNET_SUBGRAPH_BACKEND", "MXNET_EXEC_BULK_EXEC_TRAIN", "KMP_AFFINITY")



def lscpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    info = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def machine():
    """CPU model, cores, library versions, MXNet features and the thread settings in force."""
    cpu = lscpu()
    features = mx.runtime.Features()
    return {
        "cpu": cpu.get("Model name") or platform.processor(),
        "logical_cpus": os.cpu_count(),
        "cores_per_socket": cpu.get("Core(s) per socket"),
        "threads_per_core": cpu.get("Thread(s) per core"),
        "python": platform.python_version(),
        "mxnet": mx.__version__,
        "numpy": np.__version__,
        "mkldnn": features.is_enabled("MKLDNN"),
        "blas": [k for k in ("BLAS_OPEN", "BLAS_MKL", "BLAS_ATLAS", "BLAS_APPLE")
                 if features.is_enabled(k)],
        "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
    }


def mxnet_omp_threads():
    """How many OpenMP threads MXNet 1.x gives an operator, and why (src/engine/openmp.cc)."""
    if "MXNET_OMP_MAX_THREADS" in os.environ:
        return "%s OpenMP threads (MXNET_OMP_MAX_THREADS)" % os.environ["MXNET_OMP_MAX_THREADS"]
    if "OMP_NUM_THREADS" in os.environ:
        return "%s OpenMP threads (OMP_NUM_THREADS)" % os.environ["OMP_NUM_THREADS"]
    return ("%d OpenMP thread(s): MXNet's default is half the logical CPUs, assuming "
            "hyper-threading" % max(1, (os.cpu_count() or 2) // 2))


def loadavg():
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def peak_rss_mb():
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_script(path, mode, env_extra, args_extra=()):
    """Run the benchmark script ``path`` again as ``--child MODE`` in a fresh process (thread and
    engine settings are read when MXNet loads), with ``env_extra`` added to this environment."""
    env = dict(os.environ)
    env.update(env_extra)
    cmd = [sys.executable, os.path.abspath(path), "--child", mode] + list(args_extra)
    return subprocess.run(cmd, env=env, capture_output=True, text=True)
