"""The seed post's own pipeline, as the seed notebook wrote it: an ``ArrayDataset`` of NHWC uint8
images with a per-sample ``transform`` (transpose, /255) through a shuffled ``DataLoader``, a
non-hybridized ``nn.Sequential``, the autograd loop with ``trainer.step``, and the separate
accuracy passes over the training and test sets that the seed ran every epoch.

``bench_epoch.py`` times one epoch of it beside ``fit``; ``seed_loop.py`` trains whole rungs with it.
"""
import time

import numpy as np

import fmnist_gluon  # noqa: F401  (first: it may set thread defaults before MXNet loads)

import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon, nd  # noqa: E402

# The seed notebook's baseline training set-up.
LR, WD, MAGNITUDE, BATCH = 0.1, 1e-6, 2.24, 128


def seed_transform(data, label):
    """The seed's per-sample transform: HWC uint8 -> CHW float32 in [0, 1]; float label."""
    return nd.transpose(data.astype(np.float32), (2, 0, 1)) / 255, label.astype(np.float32)


def seed_dataset(images, labels):
    """What gluon.data.vision.FashionMNIST holds (NHWC uint8 NDArray, int32 labels), transformed."""
    images = np.asarray(images, dtype=np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    dataset = gluon.data.ArrayDataset(nd.array(images, dtype=np.uint8),
                                      np.asarray(labels, dtype=np.int32))
    return dataset.transform(seed_transform)


def seed_net():
    """The seed's baseline, built as the seed built it (nn.Sequential, never hybridized)."""
    net = gluon.nn.Sequential()
    with net.name_scope():
        net.add(gluon.nn.Conv2D(64, kernel_size=3, padding=1, activation="relu"))
        net.add(gluon.nn.MaxPool2D(pool_size=2, strides=2))
        net.add(gluon.nn.Conv2D(64, kernel_size=3, activation="relu"))
        net.add(gluon.nn.MaxPool2D(pool_size=2, strides=2))
        net.add(gluon.nn.Flatten())
        net.add(gluon.nn.Dense(256, activation="relu"))
        net.add(gluon.nn.Dense(64, activation="relu"))
        net.add(gluon.nn.Dense(10))
    return net


def seed_accuracy(data_iterator, net, ctx):
    """The seed's evaluate_accuracy: argmax of the outputs into mx.metric.Accuracy."""
    acc = mx.metric.Accuracy()
    for data, label in data_iterator:
        data = data.as_in_context(ctx)
        label = label.as_in_context(ctx)
        output = net(data)
        predictions = nd.argmax(output, axis=1)
        acc.update(preds=predictions, labels=label)
    return acc.get()[1]


def seed_train_pass(net, trainer, train_data, ctx):
    """One pass of the seed's training loop over ``train_data``; returns the summed loss.

    The only addition to the seed's loop is that sum, kept on the device (one small operator per
    batch, no host sync) so the caller can check that it trained.
    """
    softmax_cross_entropy = gluon.loss.SoftmaxCrossEntropyLoss()
    total = nd.zeros((1,), ctx=ctx)
    for data, label in train_data:
        data = data.as_in_context(ctx)
        label = label.as_in_context(ctx)
        with autograd.record():
            output = net(data)
            loss = softmax_cross_entropy(output, label)
        loss.backward()
        trainer.step(data.shape[0])
        total += loss.sum()
    return total


def seed_epoch(train_images, train_labels, test_images, test_labels, batch_size=BATCH, seed=0,
               ctx=None):
    """One epoch of the seed's pipeline, then its accuracy passes; returns the timings."""
    ctx = ctx or mx.cpu()
    np.random.seed(seed)  # the DataLoader's shuffle
    mx.random.seed(seed)  # the initial weights
    tic = time.perf_counter()
    train_data = gluon.data.DataLoader(seed_dataset(train_images, train_labels), batch_size,
                                       shuffle=True)
    test_data = gluon.data.DataLoader(seed_dataset(test_images, test_labels), batch_size,
                                      shuffle=False)
    net = seed_net()
    net.collect_params().initialize(mx.init.Xavier(magnitude=MAGNITUDE), ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR, "wd": WD})
    total = seed_train_pass(net, trainer, train_data, ctx)
    loss = float(total.asscalar()) / len(train_images)
    train_done = time.perf_counter()
    train_accuracy = seed_accuracy(train_data, net, ctx)
    train_eval_done = time.perf_counter()
    test_accuracy = seed_accuracy(test_data, net, ctx)
    done = time.perf_counter()
    return {
        "seconds": done - tic,
        "train_seconds": train_done - tic,
        "train_eval_seconds": train_eval_done - train_done,
        "test_eval_seconds": done - train_eval_done,
        "train_images": len(train_images),
        "test_images": len(test_images),
        "loss": loss,
        "train_accuracy": float(train_accuracy),
        "test_accuracy": float(test_accuracy),
    }
