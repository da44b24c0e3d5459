"""Parameters: initialisation, CPU snapshots, BatchNorm statistics across devices, the per-epoch
seed."""
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

from .inputs import batches

__all__ = ["make_init", "is_initialized", "initialize", "check_initialized", "finish_deferred_init",
           "average_statistics", "epoch_seed", "snapshot_params", "restore_params", "weights_norm"]


def make_init(init, magnitude):
    if isinstance(init, mx.init.Initializer):
        return init
    if isinstance(init, str):
        if init.lower() == "xavier":
            return mx.init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=magnitude)
        try:
            return mx.init.create(init.lower())
        except (ValueError, KeyError, TypeError, AssertionError):  # MXNet's registry asserts
            pass
    raise ValueError("init: expected 'xavier', another mx.init name ('uniform', 'normal', "
                     "'msraprelu', ...) or an mx.init.Initializer, got %r" % (init,))


def is_initialized(param):
    try:
        param.list_ctx()
        return True
    except RuntimeError:
        return False


def initialize(net, init, ctxs):
    """Initialise the parameters that are not yet; move all parameters onto ``ctxs``.

    An already initialised network keeps its weights (continue training, like Keras).
    """
    params = net.collect_params()
    if not list(params.values()):
        raise ValueError("the network has no parameters; add layers before training it")
    fresh = [p for p in params.values() if not is_initialized(p)]
    for p in fresh:
        p.initialize(None, ctx=ctxs, default_init=init)
    if any(set(p.list_ctx()) != set(ctxs) for p in params.values()):
        params.reset_ctx(ctxs)


def _has_data(param):
    """True once the parameter holds values (not merely waiting for its shape)."""
    try:
        param.data(param.list_ctx()[0])
        return True
    except (RuntimeError, gluon.parameter.DeferredInitializationError):
        return False


def check_initialized(net, what):
    missing = [p.name for p in net.collect_params().values() if not is_initialized(p)]
    if missing:
        raise RuntimeError("%s: the network is not initialised (e.g. %s); train it with fit() or "
                           "call net.initialize() / net.load_parameters() first"
                           % (what, missing[0]))


def finish_deferred_init(net, it):
    """Run one sample through the network so deferred shapes get their initial values now.

    That makes the initial weights a function of the seed alone (not of later random draws),
    and lets the loop snapshot them before the first epoch. ``it.epoch`` is set explicitly at
    the start of every epoch, so the partial pass here changes nothing.
    """
    if all(_has_data(p) for p in net.collect_params().values()):
        return
    epoch = it.epoch
    data, _ = next(batches(it))
    with autograd.predict_mode():
        net(data[0][:1])
    it.epoch = epoch


def average_statistics(net):
    """Average the non-trained parameters (BatchNorm running mean/var) over the devices.

    Each device updates its own BatchNorm statistics from its slice of the batch; averaging
    them once per epoch makes evaluation independent of which device a sample lands on, and
    equals what ``save_parameters`` writes, so a resumed run continues from the same state.
    """
    for p in net.collect_params().values():
        if p.grad_req == "null" and len(p.list_ctx()) > 1:
            copies = p.list_data()
            mean = nd.add_n(*[c.as_in_context(copies[0].context) for c in copies]) / len(copies)
            for c in copies:  # in place: set_data would reset the trainer's kvstore state
                c[:] = mean.as_in_context(c.context)


def epoch_seed(seed, epoch):
    """MXNet's seed for ``epoch``: a function of (seed, epoch) only, so a resume replays it."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0] % (2 ** 31))


def snapshot_params(net):
    """A CPU copy of every parameter, by structural name (the names save_parameters uses)."""
    params = net._collect_params_with_prefix()
    return {name: p.data().copyto(mx.cpu()) for name, p in params.items()}


def restore_params(net, snapshot):
    for name, p in net._collect_params_with_prefix().items():
        for c in p.list_data():  # in place, as average_statistics
            c[:] = snapshot[name].as_in_context(c.context)

def weights_norm(net, ctx):
    """Sum of the parameter norms on ``ctx`` (an NDArray): finite iff every weight is."""
    norms = [p.data(ctx).norm() for p in net.collect_params().values()]
    return nd.add_n(*norms) if len(norms) > 1 else norms[0]

