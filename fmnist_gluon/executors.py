"""Where many independent runs (ladder rungs, sweep trials) execute: here, in processes, or on Ray.

Every engine is reached through the standard ``concurrent.futures.Executor`` interface, so the
ladder's driver code is the same for all of them:

- ``None``: no executor; the caller runs the tasks one after the other in this process.
- ``"process"``: a local ``ProcessPoolExecutor`` (spawned workers, ``workers`` of them).
- ``"ray"``: Ray tasks on the cluster in ``RAY_ADDRESS``, or a local one started for the run.
- ``"host:port"`` (or ``"ray://host:port"``): Ray tasks on the cluster whose head is there.
- any ``concurrent.futures.Executor`` (Dask's ``client.get_executor()``, ...): used as it is.

Threads per task equal the CPUs given to the task (``OMP_NUM_THREADS``, with
``OMP_WAIT_POLICY=PASSIVE``): two tasks with two threads each on two cores ran 10x slower
(docs/distributed.md).  Ray is imported only when asked for (``pip install .[ray]``).
"""
import concurrent.futures
import contextlib
import os
import sys
import threading

RAY_HINT = "Ray is not installed: pip install 'fmnist_gluon[ray]' (or pip install 'ray[tune]==2.60.0' 'pyarrow<26')"


def thread_env(cpus_per_task):
    """The environment that gives a task as many OpenMP threads as it has CPUs, idling passively."""
    n = str(int(cpus_per_task))
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OMP_WAIT_POLICY": "PASSIVE"}


def import_ray():
    """``ray``, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(RAY_HINT) from exc
    return ray


def connect_ray(address=None, num_cpus=None, runtime_env=None):
    """Join the Ray cluster at ``address`` (or RAY_ADDRESS), else start a local one.

    Returns True when this call connected (the caller then disconnects at the end), False when
    the process was already connected (a test or a notebook owns that connection).  Ray reads
    two settings when it is imported, so they are set here first unless the user set them:
    a driver joining an existing cluster needs ``RAY_AUTH_MODE=token`` (Ray 2.60 turns token
    auth on by default), and one joining a head on 127.0.0.1 needs
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, or Ray swaps the address for the machine's routable
    one, where the head does not listen. ``runtime_env`` applies to every worker of this job
    (Ray Tune's trial actors included).
    """
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        os.environ.setdefault("RAY_AUTH_MODE", "token")
        if address.rpartition("//")[2].split(":")[0] in ("127.0.0.1", "localhost"):
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = import_ray()
    if ray.is_initialized():
        return False
    kwargs = {"include_dashboard": False, "log_to_driver": True}
    if runtime_env:
        kwargs["runtime_env"] = runtime_env
    if address:
        kwargs["address"] = address
    else:  # a new local cluster, never a stale one left in /tmp/ray by a killed head
        kwargs["address"] = "local"
        if num_cpus is not None:
            kwargs["num_cpus"] = int(num_cpus)
    ray.init(**kwargs)
    return True


class RayExecutor(concurrent.futures.Executor):
    """A ``concurrent.futures.Executor`` whose tasks are Ray tasks.

    Each task asks for ``cpus_per_task`` CPUs and runs with that many OpenMP threads
    (``runtime_env`` env_vars, so they are set before MXNet starts in the worker).  A task whose
    worker process dies is retried ``max_retries`` times; the ladder's tasks resume from their
    checkpoint when that happens.  ``share(obj)`` puts a large argument (the data) into Ray's
    object store once, so it is not copied into every task.
    """

    def __init__(self, address=None, cpus_per_task=1, max_retries=3, num_cpus=None):
        self._owned = connect_ray(address, num_cpus)  # first: it sets what Ray reads on import
        self._ray = import_ray()
        self.cpus_per_task = int(cpus_per_task)
        self.max_retries = int(max_retries)
        self._options = {"num_cpus": self.cpus_per_task, "max_retries": self.max_retries,
                         "retry_exceptions": False,
                         "runtime_env": {"env_vars": thread_env(self.cpus_per_task)}}
        self._remote = {}

    def share(self, obj):
        """An object-store reference to ``obj``; Ray hands tasks the object itself."""
        return self._ray.put(obj)

    def submit(self, fn, /, *args, **kwargs):
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self._ray.remote(fn).options(**self._options)
        return remote.remote(*args, **kwargs).future()

    def shutdown(self, wait=True, *, cancel_futures=False):
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
            self._owned = False


class ProcessExecutor(concurrent.futures.ProcessPoolExecutor):
    """Local worker processes (spawned, so each starts MXNet afresh) with ``cpus_per_task``
    OpenMP threads each: the environment is set while a worker process is being started."""

    _env_lock = threading.Lock()

    def __init__(self, workers=None, cpus_per_task=None):
        workers = int(workers or max(1, (os.cpu_count() or 1) // int(cpus_per_task or 1)))
        self.cpus_per_task = int(cpus_per_task or max(1, (os.cpu_count() or 1) // workers))
        import multiprocessing
        super().__init__(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, /, *args, **kwargs):
        with self._env_lock, temporary_environ(thread_env(self.cpus_per_task)):  # workers start here
            return super().submit(fn, *args, **kwargs)


@contextlib.contextmanager
def temporary_environ(values):
    """Set environment variables for the duration of the block, then put the old ones back."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def make_executor(executor=None, address=None, workers=None, cpus_per_task=1, max_retries=3):
    """Resolve ``executor`` (see the module docstring) into ``(executor, owned)``.

    ``owned`` is True when the executor was made here, so the caller shuts it down afterwards.
    ``None`` with no ``address`` gives ``(None, False)``: run in this process, no engine.
    """
    if isinstance(executor, concurrent.futures.Executor):
        return executor, False
    if executor is None and address:
        executor = "ray"
    if executor is None:
        return None, False
    if not isinstance(executor, str):
        raise ValueError("executor: expected None, 'process', 'ray', a Ray address 'host:port' "
                         "or a concurrent.futures.Executor, got %r" % (executor,))
    if executor == "process":
        return ProcessExecutor(workers, cpus_per_task), True
    if executor == "ray":
        num_cpus = int(workers) * int(cpus_per_task) if workers else None  # a local cluster's size
        return RayExecutor(address, cpus_per_task, max_retries, num_cpus=num_cpus), True
    if ":" in executor:  # an address
        return RayExecutor(executor, cpus_per_task, max_retries), True
    raise ValueError("executor %r: expected 'process', 'ray', a Ray head address such as "
                     "'10.0.0.5:6379', or a concurrent.futures.Executor" % executor)


def share(executor, obj):
    """``obj`` as the executor wants large shared arguments (a Ray object reference on Ray)."""
    put = getattr(executor, "share", None)
    return put(obj) if put else obj


def run_rungs(executor, rungs, seeds, train, test, out, epochs=None, ctx=None, verbose=True):
    """Train every (rung, seed) not finished yet as one task on ``executor``; write each result.

    The driver checks each rung folder's config before submitting (a mismatch fails at once, not
    on a worker), and writes ``result.json`` from the dict a task returns, so the workers need
    no shared disk for results. Checkpoints go to the worker's ``out`` (the same path): on one
    machine, or with ``out`` on a shared disk, a retried or rerun task resumes from them.
    A rung another process is training (its lock is held) is skipped with a message, as locally.
    Raises the first task error after every other task has finished.
    """
    from . import ladder

    verbose = 2 if verbose else 0  # one line per epoch: progress bars of parallel tasks collide
    data = share(executor, train), share(executor, test)
    futures = {}
    for rung in rungs:
        for seed in seeds:
            if ladder.finished_result(out, rung.name, seed) is not None:
                continue
            ladder.check_config(ladder.rung_dir(out, rung.name, seed), rung.config(epochs))
            future = executor.submit(ladder.run_rung, rung, data[0], data[1], out, epochs,
                                     seed, ctx, verbose, False)
            futures[future] = (rung.name, seed)
    errors = []
    for future in concurrent.futures.as_completed(futures):
        try:
            ladder.save_result(out, future.result())
        except ladder.RungBusy as busy:
            print("skipping: %s" % busy, file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - the others keep running; raised below
            errors.append((futures[future], exc))
    if errors:
        (name, seed), exc = errors[0]
        raise RuntimeError("rung %s seed %d failed on %s: %s (%d task(s) failed in all; the "
                           "finished ones are saved)" % (name, seed, type(executor).__name__,
                                                          exc, len(errors))) from exc
