"""OpenMP thread defaults for MXNet: one thread per physical core, waiting passively.

MXNet 1.x gives each operator ``omp_get_num_procs() / 2`` OpenMP threads when nothing is set (it
assumes two hyper-threads per core), so on a machine with one thread per core it uses half the
cores. OpenMP reads ``OMP_NUM_THREADS`` and ``OMP_WAIT_POLICY`` once, when MXNet's library
loads; after that no Python call changes the engine's threads. So ``import fmnist_gluon`` calls
``configure()`` before anything imports MXNet, and the command line's ``--threads N`` calls
``use(N)`` before it builds anything.

``configure()`` sets, only when the user set neither ``OMP_NUM_THREADS`` nor
``MXNET_OMP_MAX_THREADS``:

* ``OMP_NUM_THREADS`` = the physical cores this process may run on (``physical_cores()``), and
* ``OMP_WAIT_POLICY=PASSIVE`` (unless set): an idle OpenMP thread sleeps instead of spinning, which
  keeps two threads from running several times slower when another process holds a core
  (docs/performance.md has the figures).

``FMNIST_GLUON_THREADS`` chooses: a number (that many threads), or ``mxnet`` (leave MXNet's own
default alone). Values the user set are never changed. Like any environment variable, the ones
set here are inherited by child processes; a launcher that starts several workers on one machine
should give each ``OMP_NUM_THREADS`` = its share of the cores.
"""
import math
import os
import sys
import warnings

__all__ = ["configure", "use", "physical_cores", "settings", "THREAD_VARS"]

THREAD_VARS = ("OMP_NUM_THREADS", "MXNET_OMP_MAX_THREADS")
CHOICE_VAR = "FMNIST_GLUON_THREADS"

# What configure() did, for settings() and the one-time warning.
_state = {"applied": {}, "reason": None, "warned": False}


def _allowed_cpus():
    """Logical CPUs this process may run on (its affinity mask; all online CPUs without one)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def _core_key_sysfs(sysfs, cpu):
    base = os.path.join(sysfs, "cpu%d" % cpu, "topology")
    try:
        with open(os.path.join(base, "physical_package_id")) as f:
            package = f.read().strip()
        with open(os.path.join(base, "core_id")) as f:
            core = f.read().strip()
    except OSError:
        return None
    return package, core


def _core_keys_cpuinfo(path):
    """{processor: (physical id, core id)} from /proc/cpuinfo (x86 style); {} when absent."""
    keys, block = {}, {}
    try:
        with open(path) as f:
            lines = f.read().splitlines() + [""]
    except OSError:
        return {}
    for line in lines:
        if not line.strip():
            if "processor" in block and "core id" in block:
                keys[int(block["processor"])] = (block.get("physical id", "0"), block["core id"])
            block = {}
            continue
        name, _, value = line.partition(":")
        block[name.strip()] = value.strip()
    return keys


def _read_ints(path):
    with open(path) as f:
        return f.read().split()


def _cgroup_cpu_limit(cgroup):
    """CPUs allowed by a cgroup quota (v2 cpu.max or v1 cfs files), rounded up; None if none."""
    try:
        quota, period = _read_ints(os.path.join(cgroup, "cpu.max"))[:2]
        return max(1, math.ceil(int(quota) / int(period))) if quota != "max" else None
    except (OSError, ValueError):
        pass
    try:
        quota = int(_read_ints(os.path.join(cgroup, "cpu", "cpu.cfs_quota_us"))[0])
        period = int(_read_ints(os.path.join(cgroup, "cpu", "cpu.cfs_period_us"))[0])
        return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None
    except (OSError, ValueError, IndexError):
        return None


def physical_cores(cpus=None, sysfs="/sys/devices/system/cpu", cpuinfo="/proc/cpuinfo",
                   cgroup="/sys/fs/cgroup"):
    """Physical cores this process may use.

    Counts the distinct (package, core) pairs among ``cpus`` (default: this process's affinity
    mask, ``os.sched_getaffinity``), read from sysfs topology as lscpu does, else from
    /proc/cpuinfo's 'physical id' / 'core id'; the number of allowed logical CPUs when neither
    tells. A cgroup CPU quota (containers) caps the count. The paths are parameters for tests.
    """
    cpus = sorted(cpus) if cpus is not None else _allowed_cpus()
    keys = [_core_key_sysfs(sysfs, c) for c in cpus]
    if None in keys:
        info = _core_keys_cpuinfo(cpuinfo)
        keys = [info.get(c) for c in cpus]
    cores = len(set(keys)) if keys and None not in keys else len(cpus)
    limit = _cgroup_cpu_limit(cgroup)
    return max(1, min(cores, limit) if limit else cores)


def _user_choice():
    """FMNIST_GLUON_THREADS: None (auto), 'mxnet' (leave alone) or a positive int."""
    text = os.environ.get(CHOICE_VAR, "").strip().lower()
    if text in ("", "auto"):
        return None
    if text == "mxnet":
        return "mxnet"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError("%s=%r: expected a positive number of threads, 'auto' or 'mxnet'"
                         % (CHOICE_VAR, os.environ[CHOICE_VAR]))
    return value


def _set(name, value):
    os.environ[name] = str(value)
    _state["applied"][name] = str(value)


def configure():
    """Set OMP_NUM_THREADS (physical cores) and OMP_WAIT_POLICY=PASSIVE for MXNet when the user
    set no thread count; returns the variables it set ({} when it left everything alone).

    Called by ``import fmnist_gluon``. When MXNet was imported first it is too late: OpenMP has
    read its settings. Then nothing is set and a warning (once per process) says so, if MXNet's
    own default uses fewer threads than there are cores.
    """
    if any(name in os.environ for name in THREAD_VARS):
        _state["reason"] = "set by the user"
        return {}
    choice = _user_choice()
    if choice == "mxnet":
        _state["reason"] = "%s=mxnet: MXNet's own default" % CHOICE_VAR
        return {}
    threads = choice or physical_cores()
    if "mxnet" in sys.modules:
        _state["reason"] = "MXNet was imported before fmnist_gluon: MXNet's own default"
        mxnet_default = max(1, (os.cpu_count() or 2) // 2)
        if threads != mxnet_default and not _state["warned"]:
            _state["warned"] = True
            warnings.warn(
                "mxnet was imported before fmnist_gluon, so its OpenMP threads are already fixed "
                "at its default (%d here, not the %d physical cores). Import fmnist_gluon "
                "first, or set OMP_NUM_THREADS=%d OMP_WAIT_POLICY=PASSIVE before starting "
                "Python." % (mxnet_default, threads, threads), RuntimeWarning, stacklevel=3)
        return {}
    _set("OMP_NUM_THREADS", threads)
    if "OMP_WAIT_POLICY" not in os.environ:
        _set("OMP_WAIT_POLICY", "PASSIVE")
    _state["reason"] = ("%s=%d" % (CHOICE_VAR, threads) if choice else
                        "fmnist_gluon's default: one per physical core")
    return dict(_state["applied"])


def use(threads):
    """Run MXNet's operators on ``threads`` OpenMP threads (the CLI's ``--threads``).

    Must run before MXNet is imported; afterwards it raises ``RuntimeError`` unless ``threads``
    is already the count in force, since OpenMP reads its settings only when MXNet loads.
    """
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError("threads: expected a positive int, got %r" % (threads,))
    if "mxnet" in sys.modules:
        if os.environ.get("OMP_NUM_THREADS") == str(threads):
            return
        raise RuntimeError(
            "cannot switch MXNet to %d threads: mxnet is already imported and OpenMP read its "
            "thread count when it loaded. Set OMP_NUM_THREADS=%d before starting Python, or "
            "choose the threads before importing anything that imports mxnet."
            % (threads, threads))
    os.environ.pop("MXNET_OMP_MAX_THREADS", None)
    _set("OMP_NUM_THREADS", threads)
    if "OMP_WAIT_POLICY" not in os.environ:
        _set("OMP_WAIT_POLICY", "PASSIVE")
    _state["reason"] = "--threads %d" % threads


def settings():
    """The thread settings in force and where they came from, e.g. for a report:
    {'OMP_NUM_THREADS': '2', 'OMP_WAIT_POLICY': 'PASSIVE', 'source': "fmnist_gluon's default..."}."""
    out = {name: os.environ[name] for name in THREAD_VARS + ("OMP_WAIT_POLICY",)
           if name in os.environ}
    out["source"] = _state["reason"] or "not configured"
    return out
