"""Devices and gradient reduction: context lists, and data-parallel training across processes.

One context trains alone; several contexts (GPUs, or CPU contexts that run exactly the same
split-and-load and kvstore code) split every batch and the Trainer reduces their gradients.

Across processes, ``fit(..., kvstore="dist_sync")`` runs in every worker of a job on MXNet's
synchronous parameter-server kvstore (started with :func:`fmnist_gluon.launch.launch`, or
``fmnist-gluon launch -n 2 -- train ...``). What fit does with it is here: the kvstore from its
name, rank 0's seed on every worker, and sums over the workers of the small vectors (epoch
metrics, stop requests, BatchNorm statistics) that must agree on every rank.
"""
import os

import mxnet as mx
import numpy as np
from mxnet import nd

from .validation import resolve_contexts

__all__ = ["parse_ctx", "DIST_KVSTORES", "is_dist", "make_kvstore", "rank_of", "Workers"]

DIST_KVSTORES = ("dist_sync", "dist_device_sync")
# fit's own kvstore keys, far above the Trainer's (the parameters' indices 0, 1, ...)
_FIRST_KEY = 1 << 24
_SEED_CHUNKS = 8  # a seed below 2**128 travels as 8 float32 values of 16 bits (exact)


def parse_ctx(text):
    """Turn ``"cpu"``, ``"gpu"`` (all GPUs), ``"gpu:0,gpu:1"`` or ``"cpu:0,cpu:1"`` into contexts.

    Returns one ``mx.Context`` for a single device and a list for several; ``None`` or ``""``
    gives ``None`` (``resolve_contexts``'s default: every GPU MXNet sees, else the CPU).
    """
    if text is None or isinstance(text, mx.Context) or isinstance(text, (list, tuple)):
        return text
    if not text.strip():
        return None
    ctxs = resolve_contexts(text)  # the one parser (fmnist_gluon.validation)
    return ctxs[0] if len(ctxs) == 1 else ctxs


def is_dist(kvstore):
    """Whether ``kvstore`` (a name or an ``mx.kv.KVStore``) spans several processes."""
    kind = kvstore if isinstance(kvstore, str) else getattr(kvstore, "type", "")
    return kind.startswith("dist")


def rank_of(kvstore):
    """This process's rank in a dist kvstore's job; 0 for a local store or a name. Rank 0
    alone writes checkpoints and run folders."""
    return getattr(kvstore, "rank", 0)


def make_kvstore(kvstore):
    """fit's ``kvstore``: a local name or store unchanged; a dist name as a created store.

    Only the synchronous stores are accepted: with ``dist_async`` the result would depend on
    the workers' timing. Creating one outside a job (no ``DMLC_ROLE=worker``) would wait for a
    scheduler that never comes, so it is refused with the way to start a job.
    """
    if not isinstance(kvstore, str) or not kvstore.startswith("dist"):
        return kvstore
    if kvstore not in DIST_KVSTORES:
        raise ValueError("kvstore %r: fit trains data-parallel on the synchronous stores %s only "
                         "(with dist_async the result depends on the workers' timing)"
                         % (kvstore, ", ".join(DIST_KVSTORES)))
    if os.environ.get("DMLC_ROLE") != "worker":
        raise ValueError("kvstore=%r: this process is not a worker of a distributed job "
                         "(DMLC_ROLE=worker and the scheduler's DMLC_PS_ROOT_URI/PORT are not "
                         "set); start the job with `fmnist-gluon launch -n 2 -- train ...` or "
                         "fmnist_gluon.launch.launch([...], num_workers=2)" % kvstore)
    return mx.kv.create(kvstore)


class Workers:
    """The workers of a dist kvstore: the gradient sums and what fit must agree on across them.

    Each method is a collective: every worker calls it, in the same order, with arrays of the
    same size (fit's loop guarantees both). The values travel through the kvstore on keys of
    their own, summed by the server in float32.

    The gradients are summed here too, and each worker's ``gluon.Trainer`` runs locally
    (``kvstore=None``): MXNet 1.9.1's Trainer on a dist kvstore with ``update_on_kvstore=False``
    diverged in 3 of 10 short two-worker runs here, and with ``update_on_kvstore=True`` the
    optimizer lives on the server, where its state cannot be saved for a resume and
    ``set_learning_rate`` does not reach it.
    """

    def __init__(self, kv):
        self.kv, self.rank, self.count = kv, kv.rank, kv.num_workers
        self._keys = {}

    def _key(self, name, value):
        """The key of ``name``; a new one starts as ``value`` (rank 0's; an int n: n zeros).

        MXNet 1.9.1's ``init`` on a dist store is rank 0 alone sending the value; if another
        worker's first push or pull of the key reached the server before it, the server would
        take that push for the initial value (every later sum off by one push) or abort on the
        pull. So rank 0 reads the key back (the server answers after storing the init, which
        came first on the same connection), and then all workers meet at a barrier.
        """
        if name not in self._keys:
            key = self._keys[name] = _FIRST_KEY + len(self._keys)
            # a plain copy: init refuses arrays in MKL-DNN's layout (a weight after a forward pass)
            value = nd.zeros((value,)) if isinstance(value, int) else nd.array(value.asnumpy())
            self.kv.init(key, value)
            if self.rank == 0:
                echo = nd.zeros(value.shape)
                self.kv.pull(key, out=echo)
                echo.wait_to_read()
            self.kv._barrier()  # MXNet's own barrier of all workers (KVStore has no public one)
        return self._keys[name]

    def _broadcast(self, name, value, out):
        """``out`` (NDArrays) set to rank 0's ``value``."""
        self.kv.pull(self._key(name, value), out=out)

    def sum(self, name, values):
        """The element-wise sum over the workers of ``values`` (a 1-D float array)."""
        values = nd.array(np.asarray(values, dtype=np.float32).ravel())
        out = nd.zeros(values.shape)
        self.kv.pushpull(self._key(name, int(values.size)), values, out=out)
        return out.asnumpy()

    def broadcast_params(self, net):
        """Rank 0's parameters (weights and BatchNorm statistics) on every worker, once.

        Parameters are matched by their place in the network, not by name: a name carries a
        per-process counter (``dense3_weight``) that differs between processes that built other
        blocks before."""
        for i, p in enumerate(net.collect_params().values()):
            copies = p.list_data()
            self._broadcast("start/%d" % i, copies[0], copies)

    def sum_gradients(self, params):
        """Sum every trained parameter's gradient over the workers (and this worker's devices),
        in place: afterwards each device of each worker holds the same total."""
        for i, p in enumerate(params):
            if p.grad_req == "null":
                continue
            grads = p.list_grad()
            key = self._key("grad/%d" % i, nd.zeros(grads[0].shape))  # by place, as above
            total = grads[0] if len(grads) == 1 else nd.add_n(
                *[g.as_in_context(grads[0].context) for g in grads])
            self.kv.pushpull(key, total, out=total, priority=-i)
            if len(grads) > 1:  # total is a new array: every device gets a copy
                for g in grads:
                    total.copyto(g)

    def broadcast_seed(self, seed):
        """Rank 0's ``seed`` (a non-negative int below 2**128) on every worker."""
        if seed >= 1 << (16 * _SEED_CHUNKS):
            raise ValueError("seed: with a dist kvstore the seed must be below 2**128, got %d"
                             % seed)
        chunks = nd.array([(seed >> (16 * i)) & 0xFFFF for i in range(_SEED_CHUNKS)])
        out = nd.zeros(chunks.shape)
        self._broadcast("seed", chunks, out)
        return sum(int(v) << (16 * i) for i, v in enumerate(out.asnumpy()))

    def agree_to_stop(self, reason):
        """The stop decision of all workers: ``reason`` if this worker stops; if another does,
        a reason saying so; None when none stops (so no worker waits alone for the rest)."""
        stops = self.sum("stop", [1.0 if reason else 0.0])[0]
        if reason or not stops:
            return reason
        return "stopped because %d other worker(s) stopped (their reason is in their output)" % stops

    def mean_row(self, row):
        """An epoch row's training values averaged over the workers, images_per_sec summed.

        Every worker's part of each global batch is the same size, so the mean of the workers'
        loss and accuracy is the global one exactly (up to float32); macro-F1 is the mean of
        the workers' F1s.
        """
        keys = sorted(row)
        total = self.sum("row", [row[k] for k in keys])
        return {k: float(v) if k == "images_per_sec" else float(v) / self.count
                for k, v in zip(keys, total)}

    def average_statistics(self, net):
        """Average the non-trained parameters (BatchNorm statistics) over the workers, so every
        rank evaluates and saves the same network."""
        params = [p for p in net.collect_params().values() if p.grad_req == "null"]
        if not params:
            return
        flat = np.concatenate([p.data().asnumpy().ravel() for p in params])
        mean = self.sum("statistics", flat) / self.count
        start = 0
        for p in params:
            size = int(np.prod(p.shape))
            value = nd.array(mean[start:start + size].reshape(p.shape))
            for c in p.list_data():  # in place, as params.average_statistics
                c[:] = value.as_in_context(c.context)
            start += size
