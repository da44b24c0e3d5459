"""Thread defaults: `import fmnist_gluon` (and the CLI's --threads) set MXNet's OpenMP threads
before MXNet loads, unless the user set them. Each case runs in a fresh Python, since OpenMP reads
its settings once; the child reports what OpenMP itself read (OMP_DISPLAY_ENV)."""
import json
import os
import re
import subprocess
import sys

import pytest

from fmnist_gluon import threads
from fmnist_gluon.threads import physical_cores

CLEAN = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MXNET_OMP_MAX_THREADS", "FMNIST_GLUON_THREADS")

CHILD = r"""
import json, os, sys, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    if sys.argv[1] == "mxnet-first":
        import mxnet
    import fmnist_gluon
    import mxnet
    from mxnet import nd
    nd.ones((2, 2)).asnumpy()
print(json.dumps({"env": {k: os.environ.get(k) for k in %r},
                  "settings": fmnist_gluon.threads.settings(),
                  "warnings": [str(w.message) for w in caught if "fmnist_gluon" in str(w.message)]}))
""" % (CLEAN,)


def run_child(env_extra=(), mode="plain", args=None):
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env.update(dict(env_extra), OMP_DISPLAY_ENV="TRUE")
    cmd = [sys.executable] + (args if args is not None else ["-c", CHILD, mode])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    return proc


def openmp_read(proc):
    """The ICVs libgomp printed at start-up (OMP_DISPLAY_ENV): what MXNet's OpenMP really uses."""
    return dict(re.findall(r"^\s+(OMP_NUM_THREADS|OMP_WAIT_POLICY) = '([^']*)'", proc.stderr, re.M))


def report(proc):
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_clean_environment_gets_one_thread_per_physical_core_waiting_passively():
    proc = run_child()
    out = report(proc)
    cores = str(physical_cores())
    assert out["env"]["OMP_NUM_THREADS"] == cores
    assert out["env"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert openmp_read(proc) == {"OMP_NUM_THREADS": cores, "OMP_WAIT_POLICY": "PASSIVE"}
    assert out["settings"]["source"].startswith("fmnist_gluon's default")
    assert out["warnings"] == []


@pytest.mark.parametrize("user", [{"OMP_NUM_THREADS": "1"}, {"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE"},
                                  {"MXNET_OMP_MAX_THREADS": "1"}])
def test_user_settings_are_kept(user):
    proc = run_child(user)
    out = report(proc)
    for name in CLEAN:
        assert out["env"][name] == user.get(name), name  # nothing added, nothing changed
    assert out["settings"]["source"] == "set by the user"
    if "OMP_NUM_THREADS" in user:
        assert openmp_read(proc)["OMP_NUM_THREADS"] == user["OMP_NUM_THREADS"]


def test_a_user_wait_policy_is_kept_beside_the_default_thread_count():
    proc = run_child({"OMP_WAIT_POLICY": "ACTIVE"})
    assert openmp_read(proc) == {"OMP_NUM_THREADS": str(physical_cores()), "OMP_WAIT_POLICY": "ACTIVE"}


def test_fmnist_gluon_threads_chooses_a_count_or_mxnets_default():
    proc = run_child({"FMNIST_GLUON_THREADS": "3"})
    assert openmp_read(proc) == {"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "PASSIVE"}
    out = report(run_child({"FMNIST_GLUON_THREADS": "mxnet"}))
    assert out["env"]["OMP_NUM_THREADS"] is None and out["env"]["OMP_WAIT_POLICY"] is None
    bad = run_child({"FMNIST_GLUON_THREADS": "many"})
    assert bad.returncode != 0
    assert "FMNIST_GLUON_THREADS='many': expected a positive number of threads" in bad.stderr


def test_importing_mxnet_first_warns_once_and_changes_nothing():
    out = report(run_child(mode="mxnet-first"))
    assert out["env"]["OMP_NUM_THREADS"] is None
    mxnet_default = max(1, (os.cpu_count() or 2) // 2)
    if physical_cores() != mxnet_default:
        assert len(out["warnings"]) == 1 and "import fmnist_gluon first" in out["warnings"][0].lower()
    else:
        assert out["warnings"] == []


def test_importing_the_package_and_its_cli_does_not_load_mxnet():
    code = "import sys, fmnist_gluon, fmnist_gluon.cli; print('mxnet' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


@pytest.mark.parametrize("where", ["after", "before"])
def test_cli_threads_flag_is_applied_before_mxnet_loads(where):
    flag = ["--threads", "1"]
    args = ["-m", "fmnist_gluon"] + (["summary", "baseline"] + flag if where == "after" else
                                     ["summary"] + flag + ["baseline"])
    proc = run_child({"OMP_NUM_THREADS": "2"}, args=args)  # the flag beats the environment
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "total" in proc.stdout
    assert openmp_read(proc)["OMP_NUM_THREADS"] == "1"


def test_cli_threads_flag_refuses_a_change_once_mxnet_is_loaded(capsys):
    import mxnet  # noqa: F401  (loaded: too late to change OpenMP's threads)
    from fmnist_gluon.cli import main

    current = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
    assert main(["summary", "baseline", "--threads", str(current + 7)]) == 2
    assert "cannot switch MXNet to %d threads" % (current + 7) in capsys.readouterr().err


def test_use_rejects_bad_counts():
    for bad in (0, -1, "2", 1.5, True):
        with pytest.raises(ValueError, match="threads: expected a positive int"):
            threads.use(bad)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_physical_cores_counts_cores_not_hyperthreads(tmp_path):
    # 2 packages x 2 cores x 2 threads = 8 logical CPUs, as /proc/cpuinfo lists them.
    blocks = []
    for cpu in range(8):
        package, core = cpu // 4, (cpu // 2) % 2
        blocks.append("processor\t: %d\nphysical id\t: %d\ncore id\t\t: %d\n" % (cpu, package, core))
    write(tmp_path / "cpuinfo", "\n".join(blocks))
    none = str(tmp_path / "missing")
    count = lambda cpus, cgroup=none: physical_cores(cpus, sysfs=none, cpuinfo=str(tmp_path / "cpuinfo"),
                                                      cgroup=cgroup)
    assert count(range(8)) == 4
    assert count([0, 1]) == 1          # two hyper-threads of one core (affinity)
    assert count([0, 2, 4]) == 3
    write(tmp_path / "cg" / "cpu.max", "150000 100000\n")  # a container quota of 1.5 CPUs
    assert count(range(8), cgroup=str(tmp_path / "cg")) == 2
    write(tmp_path / "cg2" / "cpu.max", "max 100000\n")
    assert count(range(8), cgroup=str(tmp_path / "cg2")) == 4
    # sysfs topology, as lscpu reads it, wins over cpuinfo; no topology at all: logical CPUs.
    for cpu in range(4):
        write(tmp_path / "sys" / ("cpu%d" % cpu) / "topology" / "physical_package_id", "0\n")
        write(tmp_path / "sys" / ("cpu%d" % cpu) / "topology" / "core_id", "%d\n" % (cpu % 2))
    assert physical_cores(range(4), sysfs=str(tmp_path / "sys"), cpuinfo=none, cgroup=none) == 2
    assert physical_cores(range(3), sysfs=none, cpuinfo=none, cgroup=none) == 3


def test_physical_cores_of_this_machine_is_within_its_cpus():
    assert 1 <= physical_cores() <= len(os.sched_getaffinity(0))
