"""The preset networks: the seed post's ladder family, the recipes and the published systems.

Each entry of ``spec.PRESETS`` (filled here) is a canonical spec, so ``parse_spec("bn")`` or
``fmnist-gluon train fast`` take them by name. docs/specs.md lists them; docs/seeds.md gives
each published system's source.
"""
from .layers import POSITIVE_INT, RATE
from .shorthand import SEED_SHORTHAND  # noqa: F401 (re-exported)
from .spec import PRESETS, SpecError, check_value, from_seed_tuples, parse_spec

__all__ = ["seed_spec", "PRESETS", "SEED_SHORTHAND", "RECIPE_SHORTHAND", "SEED_SYSTEMS"]


def seed_spec(batchnorm=False, dropout=0.0, activation="relu", filters=64):
    """The seed post's network family: two 3x3 convs of ``filters`` channels (padding 1, then 0),
    each followed by a 2x2 max-pool, then dense 256 -> dense 64 -> dense 10.

    ``batchnorm`` puts BatchNorm between every conv/hidden dense and its activation; ``dropout``
    (> 0) adds Dropout after each conv block (after the pool) and each hidden dense (after the
    activation). ``seed_spec()`` is the baseline, ``seed_spec(True)`` the bn rung and
    ``seed_spec(True, 0.3)`` the dropout rung.
    """
    if not isinstance(batchnorm, bool):
        raise SpecError("batchnorm: expected True or False, got %r (%s)"
                        % (batchnorm, type(batchnorm).__name__))
    rate = check_value(dropout, RATE, "seed_spec dropout")
    filters = check_value(filters, POSITIVE_INT, "seed_spec filters")
    bn = ["BN"] if batchnorm else []
    drop = [[rate]] if rate > 0 else []
    cnn = [[filters, 3, 1, 2, 2] + bn] + drop + [[filters, 3, 0, 2, 2] + bn] + drop
    fc = [[256] + bn] + drop + [[64] + bn] + drop
    return from_seed_tuples(cnn, fc, activation=activation, classes=10)


# The seed post's ladder (ENGINEERING.md section 2) and its "next steps".
PRESETS.update({
    "baseline": seed_spec(),
    "bn": seed_spec(batchnorm=True),
    "dropout": seed_spec(batchnorm=True, dropout=0.3),
    "leaky": seed_spec(batchnorm=True, dropout=0.3, activation="leakyrelu"),
    "wide": seed_spec(batchnorm=True, dropout=0.3, filters=128),
})

# Recipes (docs/performance.md), written with each max-pool before its ReLU
# (pool_before_activation's order: the same function, computed faster). "fast" reaches 94% test
# accuracy in under 5 minutes on 2 cores: one conv at 28x28, pooled at once, two at 14x14 and
# two unpadded ones at 7x7 -> 5x5 -> 3x3 (14.5 M MACs per image). "best" is the most accurate
# network trained here: three VGG-style stages of two 3x3 convs (64, 128, 256 channels) with
# BatchNorm, no dropout (its rung regularises with flips, crops, random erasing and label
# smoothing instead; 116.6 M MACs per image). "best-small" is the same net at half the width
# (32, 64, 128; 29.4 M MACs), the "best" recipe before it was widened.
RECIPE_SHORTHAND = {
    "fast": "conv32k3p1-pool2-bn-relu-conv64k3p1-bn-relu-conv64k3p1-bn-pool2-relu-"
            "conv128k3-bn-relu-conv128k3-bn-relu-dense256-bn-relu",
    "best": "conv64k3p1-bn-relu-conv64k3p1-bn-pool2-relu-"
            "conv128k3p1-bn-relu-conv128k3p1-bn-pool2-relu-"
            "conv256k3p1-bn-relu-conv256k3p1-bn-pool2-relu-dense256-bn-relu",
    "best-small": "conv32k3p1-bn-relu-conv32k3p1-bn-pool2-relu-"
                  "conv64k3p1-bn-relu-conv64k3p1-bn-pool2-relu-"
                  "conv128k3p1-bn-relu-conv128k3p1-bn-pool2-relu-dense256-bn-relu",
}
PRESETS.update((name, parse_spec(text, classes=10)) for name, text in RECIPE_SHORTHAND.items())

# The other systems people compare on Fashion-MNIST (issue 18; docs/seeds.md has each one's
# source and what we chose where it was silent). Keras defaults where a system named none:
# ReLU, 'valid' (unpadded) convolutions, a flatten before the first dense layer.
SEED_SYSTEMS = {
    "mlp": "dense256-relu-dense512-relu-dense100-relu-dense10",
    "vgg": "conv32k3p1-relu-conv64k3p1-relu-pool2-conv128k3p1-relu-conv256k3-relu-pool3-dense10",
    "dense": "dense300-relu-dense100-relu-dense10",
    "cnn1": "conv32k3-relu-pool2-conv64k3-relu-conv64k3-relu-pool2-flatten-drop0.5-dense10",
    "cnn2": "conv32k3p1@he_normal-relu-pool2-drop0.2-conv64k3p1-relu-pool2-drop0.2-"
            "conv128k3p1-relu-drop0.5-dense128-relu-dense10",
    "lenet5": "pad2-conv6k5-tanh-avgpool2-conv16k5-tanh-avgpool2-conv120k5-tanh-dense84-tanh-dense10",
    "cnn-dropout": "conv32k3-relu-pool2-drop0.25-conv64k3-relu-pool2-drop0.25-conv128k3-relu-"
                   "dense128-relu-dense10",
    "mobilenet": [{"type": "zoo", "name": "mobilenet1.0", "resize": 56}],
}
PRESETS.update((name, parse_spec(spec, classes=10)) for name, spec in SEED_SYSTEMS.items())
