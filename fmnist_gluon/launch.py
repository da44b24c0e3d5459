"""Start a data-parallel job on this machine: MXNet's parameter-server roles as processes.

A dist_sync job is one scheduler, one or more servers and N workers, all told where the
scheduler listens through ``DMLC_*`` variables (MXNet's ``tools/launch.py`` does the same over
ssh; docs/distributed.md shows both). :func:`launch` starts them here, on 127.0.0.1, in one
process group of their own, and watches them: if any of them dies, the others would wait for
it forever in the next gradient exchange, so the launcher stops the whole group at once and
raises :class:`LaunchError` naming the process and its exit status.
"""
import os
import signal
import socket
import subprocess
import sys
import time

from .executors import thread_env
from .threads import physical_cores

__all__ = ["launch", "LaunchError", "job_environment"]

_SERVER_CODE = "import mxnet"  # with DMLC_ROLE=server/scheduler, importing MXNet runs the role


class LaunchError(RuntimeError):
    """A process of a launched job failed or the job ran out of time; the rest were stopped."""


def free_port(host="127.0.0.1"):
    """A TCP port that was free on ``host`` a moment ago (for the scheduler)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def job_environment(num_workers, num_servers=1, host="127.0.0.1", port=None):
    """The ``DMLC_*`` variables every process of a job shares (without ``DMLC_ROLE``)."""
    return {"DMLC_PS_ROOT_URI": host, "DMLC_PS_ROOT_PORT": str(port or free_port(host)),
            "DMLC_NUM_WORKER": str(num_workers), "DMLC_NUM_SERVER": str(num_servers),
            "DMLC_NODE_HOST": host}


def _worker_threads(num_workers, threads):
    """Worker thread settings: ``threads``, the user's OMP_NUM_THREADS, else a share of the
    physical cores (two workers with two threads each on two cores run several times slower)."""
    if threads is None and os.environ.get("OMP_NUM_THREADS"):
        return {}
    return thread_env(threads or max(1, physical_cores() // num_workers))


def _describe(role, index, count, code):
    name = "%s %d of %d" % (role, index + 1, count) if count > 1 else role
    if code < 0:
        try:
            return "%s was killed by %s" % (name, signal.Signals(-code).name)
        except ValueError:
            return "%s was killed by signal %d" % (name, -code)
    return "%s exited with status %d" % (name, code)


def launch(command, num_workers=2, num_servers=1, *, host="127.0.0.1", port=None, timeout=None,
           threads=None, env=None, stdout=None, stderr=None, poll=0.2):
    """Run ``command`` (an argv list) as ``num_workers`` workers of a local dist_sync job.

    Each worker finds the job in its environment, so ``fit(..., kvstore="dist_sync")`` in it
    joins the others; ``fmnist-gluon train`` does so by itself. The scheduler and the servers
    run with one thread; each worker gets ``threads`` OpenMP threads (default: the physical
    cores divided among the workers, or ``OMP_NUM_THREADS`` when set). ``env`` adds variables;
    ``stdout``/``stderr`` go to every process (default: this one's).

    Returns when every worker has exited with status 0. Raises :class:`LaunchError` when a
    process fails or dies, or after ``timeout`` seconds, once all the job's processes are
    stopped; Ctrl-C stops them too.
    """
    if not command:
        raise ValueError("launch: give the worker's command, e.g. ['fmnist-gluon', 'train', 'fast']")
    if int(num_workers) < 1 or int(num_servers) < 1:
        raise ValueError("launch: need at least one worker and one server, got %d and %d"
                         % (num_workers, num_servers))
    base = dict(os.environ, **(env or {}), **job_environment(num_workers, num_servers, host, port))
    roles = ([("scheduler", 0, 1)] + [("server", i, num_servers) for i in range(num_servers)]
             + [("worker", i, num_workers) for i in range(num_workers)])
    procs, group = [], None
    try:
        for role, index, count in roles:
            extra = (_worker_threads(num_workers, threads) if role == "worker"
                     else thread_env(1))
            argv = list(command) if role == "worker" else [sys.executable, "-c", _SERVER_CODE]
            proc = subprocess.Popen(argv, env=dict(base, DMLC_ROLE=role, **extra),
                                    stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                    process_group=0 if group is None else group)
            group = proc.pid if group is None else group
            procs.append(((role, index, count), proc))
        _watch(procs, timeout, poll)
    finally:
        _stop(group, procs)
    return 0


def _watch(procs, timeout, poll):
    """Wait for the workers; raise on the first failure or at the deadline."""
    start = time.monotonic()
    workers = [p for (role, _, _), p in procs if role == "worker"]
    while True:
        for (role, index, count), proc in procs:
            code = proc.poll()
            if code not in (None, 0):
                raise LaunchError("%s; stopped the job's other processes"
                                  % _describe(role, index, count, code))
        if all(w.poll() == 0 for w in workers):
            return
        if timeout is not None and time.monotonic() - start > timeout:
            raise LaunchError("the job did not finish within %g s; stopped its processes"
                              % timeout)
        time.sleep(poll)


def _stop(group, procs, grace=5.0):
    """End every process of the job's group: servers left waiting, or all after a failure."""
    if group is None:
        return
    if all(p.poll() == 0 for (role, _, _), p in procs if role == "worker"):
        _wait_all(procs, grace)  # the scheduler and servers end by themselves: a moment first
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if all(p.poll() is not None for _, p in procs):
            break
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        _wait_all(procs, grace)
    for _, p in procs:
        p.wait()


def _wait_all(procs, seconds):
    """Wait up to ``seconds`` for every process to end."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and any(p.poll() is None for _, p in procs):
        time.sleep(0.05)
