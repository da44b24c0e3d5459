"""GluonCV model-zoo networks as one layer of a spec: ``{"type": "zoo", "name": "mobilenet1.0",
"resize": 56}``.

``ZooNet`` wraps ``gluoncv.model_zoo.get_model(name, pretrained=False, classes=classes)`` in a
HybridBlock that first adapts Fashion-MNIST's images: a grey 1-channel image is tiled to the 3
channels the zoo networks expect, and ``resize`` (optional) rescales it bilinearly inside the
network (``F.contrib.BilinearResize2D``), so the data pipeline, ``fit``, ``evaluate(tta=...)``,
checkpoints (``save_parameters``/``load_parameters``) and ``HybridBlock.export`` see an ordinary
28x28 classifier. Weights are never downloaded (``pretrained=False``): this machine has no
network access, and published figures that used ImageNet weights are compared with training
from scratch (docs/seeds.md).

``spec.ZOO_MODELS`` lists the names accepted; the spec rejects any other before this module
(and gluoncv, slow to import) is loaded.
"""
from mxnet.gluon import HybridBlock

from .spec import ZOO_MODELS

__all__ = ["ZooNet", "ZOO_MODELS"]


class ZooNet(HybridBlock):
    """A GluonCV classifier for ``in_channels`` (1 or 3) x H x W images, ``classes`` outputs.

    ``resize``: None (the network sees the images at their size) or a side length in pixels
    (bilinear resizing inside the network, as the MobileNet seed upscaled 28 -> 56).
    """

    def __init__(self, name, classes=10, resize=None, in_channels=1, **kwargs):
        super().__init__(**kwargs)
        if name not in ZOO_MODELS:
            raise ValueError("unknown zoo model %r; known: %s" % (name, ", ".join(ZOO_MODELS)))
        if in_channels not in (1, 3):
            raise ValueError("in_channels: expected 1 (grey, tiled to 3) or 3, got %r" % (in_channels,))
        from gluoncv.model_zoo import get_model  # slow import, only when a zoo net is built

        self.zoo_name, self.resize, self.in_channels = name, resize, in_channels
        with self.name_scope():
            self.net = get_model(name, pretrained=False, classes=classes)

    def hybrid_forward(self, F, x):
        if self.in_channels == 1:
            x = F.tile(x, reps=(1, 3, 1, 1))  # grey -> the same plane in R, G and B
        if self.resize:
            x = F.contrib.BilinearResize2D(x, height=self.resize, width=self.resize)
        return self.net(x)

    def __repr__(self):
        return "ZooNet(%s, resize=%s, in_channels=%d)" % (self.zoo_name, self.resize, self.in_channels)
