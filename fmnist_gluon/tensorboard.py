"""TensorBoard logging as a ``fit`` callback: per-epoch scalars, optionally the network graph.

    from fmnist_gluon.tensorboard import TensorBoardLogger
    fit(net, train, val=test, epochs=10, callbacks=[TensorBoardLogger("runs/tb/bn")])
    # then: tensorboard --logdir runs/tb

Every number of a history row becomes a scalar at step = epoch: ``train_loss`` and ``val_loss``
are written as ``loss/train`` and ``loss/val`` (one chart, two lines), likewise every metric
(``accuracy/train``, ``accuracy/val``); ``lr``, ``seconds`` and ``images_per_sec`` keep their
names. The events are written with tensorboardX (``pip install .[tensorboard]``), flushed after
every epoch. A run resumed from a checkpoint purges the events of the epochs after it (written
before an interruption), so the curves show each epoch once.
"""
import json
import numbers

from .train import Callback

__all__ = ["TensorBoardLogger", "scalar_tag"]


def scalar_tag(key):
    """The TensorBoard tag of a history key: "val_accuracy" -> "accuracy/val"."""
    for prefix in ("train_", "val_"):
        if key.startswith(prefix):
            return "%s/%s" % (key[len(prefix):], prefix[:-1])
    return key


def _symbol_graph(net, input_shape):
    """A TensorBoard GraphDef of the network's MXNet symbol (one node per operator)."""
    import mxnet as mx
    from tensorboardX.proto.graph_pb2 import GraphDef
    from tensorboardX.proto.node_def_pb2 import NodeDef
    from tensorboardX.proto.versions_pb2 import VersionDef

    symbol = net(mx.sym.var("data"))
    nodes = json.loads(symbol.tojson())["nodes"]
    shapes = dict(zip(symbol.get_internals().list_outputs(),
                      symbol.get_internals().infer_shape_partial(
                          data=(1,) + tuple(input_shape))[1]))
    defs = []
    for node in nodes:
        nd = NodeDef(name=node["name"], op=node["op"] if node["op"] != "null" else "Variable",
                     input=[nodes[i[0]]["name"] for i in node.get("inputs", [])])
        shape = shapes.get(node["name"] + "_output") or shapes.get(node["name"])
        if shape:
            nd.attr["shape"].s = ("x".join(map(str, shape))).encode()
        for key, value in sorted(node.get("attrs", {}).items()):
            nd.attr[key].s = str(value).encode()
        defs.append(nd)
    return GraphDef(node=defs, versions=VersionDef(producer=22))


class TensorBoardLogger(Callback):
    """Write each epoch's history row to ``logdir`` as TensorBoard scalars.

    ``graph=True`` also writes the network's operator graph (from its MXNet symbol, for the
    GRAPHS tab) once at the start. ``input_shape`` (per image) sizes the graph's shapes.
    """

    def __init__(self, logdir, graph=False, input_shape=(1, 28, 28)):
        try:
            import tensorboardX  # noqa: F401
        except ImportError:  # a ValueError: the CLI reports it as an input error
            raise ValueError("TensorBoardLogger needs tensorboardX: pip install "
                             "'fmnist_gluon[tensorboard]'") from None
        self.logdir, self.graph, self.input_shape = str(logdir), bool(graph), tuple(input_shape)
        self.writer = None

    def on_train_begin(self, logs):
        from tensorboardX import SummaryWriter

        start = int(logs.get("start_epoch") or 0)
        # purge_step: events at steps >= it (epochs a killed run logged after its last
        # checkpoint) are dropped, so a resumed run does not draw those epochs twice
        self.writer = SummaryWriter(self.logdir, purge_step=start + 1 if start else None)
        if self.graph and not start:  # FileWriter.add_onnx_graph writes any GraphDef as it is
            self.writer.file_writer.add_onnx_graph(_symbol_graph(self.net, self.input_shape))

    def on_epoch_end(self, epoch, row):
        for key, value in row.items():
            if key != "epoch" and isinstance(value, numbers.Real) and not isinstance(value, bool):
                self.writer.add_scalar(scalar_tag(key), float(value), int(epoch))
        self.writer.flush()

    def on_train_end(self, history):
        self.close()

    def close(self):
        """Flush and close the event file (fit calls it at the end of training)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
