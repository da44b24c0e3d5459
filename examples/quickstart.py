# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # fmnist_gluon quickstart
#
# Build a network from a short spec, look at its layers, train it briefly on a subset of
# Fashion-MNIST, plot its curves, look at its mistakes, score it and export it to ONNX.
#
# This file is the notebook in jupytext's percent format (reviewable diffs);
# `examples/quickstart.ipynb` is generated from it with
# `jupytext --to ipynb examples/quickstart.py`. The tests execute it headless.
#
# `FMNIST_QUICKSTART_TRAIN` (default 2000) and `FMNIST_QUICKSTART_EPOCHS` (default 2) set the
# training subset and epochs: raise them (60000, 11) for the full `fast` recipe (about 94%).

# %%
# %matplotlib inline
import os
import tempfile

from fmnist_gluon import build_cnn, evaluate, fit, load_dataset, plot, predict, summary
from fmnist_gluon.data import train_val_split

TRAIN_SIZE = int(os.environ.get("FMNIST_QUICKSTART_TRAIN", "2000"))
EPOCHS = int(os.environ.get("FMNIST_QUICKSTART_EPOCHS", "2"))
OUT = os.environ.get("FMNIST_QUICKSTART_OUT") or tempfile.mkdtemp(prefix="quickstart-")

# %% [markdown]
# ## A network from a spec
# A spec is a preset name, a YAML/JSON file or a shorthand string; `summary` prints the true
# shapes, parameters and multiply-accumulates of every layer, without building anything.

# %%
SPEC = "conv32k3p1-bn-relu-pool2-conv64k3p1-bn-relu-pool2-dense128-bn-relu-drop0.3"
summary(SPEC)
net = build_cnn(SPEC)  # a Gluon HybridSequential; the dense(10) classifier is appended

# %% [markdown]
# ## Data: a stratified subset for a quick run
# `load_dataset` finds the files ($FMNIST_GLUON_DATA, MXNet's cache, or Debian's
# `/usr/share/datasets/fashion-mnist`). `train_val_split` keeps the class proportions.

# %%
train, test = load_dataset(split="train"), load_dataset(split="test")
x, y = train.images, train.labels
if TRAIN_SIZE < len(y):
    _, (x, y) = train_val_split(x, y, TRAIN_SIZE / len(y), seed=0)
x_test, y_test = test.images, test.labels
if TRAIN_SIZE < len(y_test):  # a quick run scores a subset of the test set too
    _, (x_test, y_test) = train_val_split(x_test, y_test, min(0.5, TRAIN_SIZE / len(y_test)),
                                          seed=0)
print("train", x.shape, "test", x_test.shape, "classes", train.classes)

# %% [markdown]
# ## Train
# Seeded, so the same cell gives the same numbers; with `checkpoint_dir` an interrupted
# `fit` resumes where it stopped.

# %%
history = fit(net, (x, y), val=(x_test, y_test), epochs=EPOCHS, optimizer="adam", lr=1e-3,
              batch_size=64, seed=0, augment="flip", checkpoint_dir=os.path.join(OUT, "ckpt"),
              verbose=2)
history

# %% [markdown]
# ## Curves

# %%
history.plot()

# %% [markdown]
# ## Confusion matrix and the misclassified images

# %%
probs, pred = predict(net, x_test)
plot.plot_confusion_matrix(y_test, pred, test.classes)

# %%
plot.plot_misclassified(x_test, y_test, pred, test.classes, n=10, probabilities=probs)

# %% [markdown]
# ## Evaluate, with and without flip test-time augmentation

# %%
scores = evaluate(net, (x_test, y_test))
scores_tta = evaluate(net, (x_test, y_test), tta="flip")
print("accuracy %.2f%%, with flip TTA %.2f%%" % (100 * scores["accuracy"],
                                                  100 * scores_tta["accuracy"]))

# %% [markdown]
# ## Export to ONNX and check it in onnxruntime
# Needs `pip install .[onnx]`. The ONNX input is float32 N x 1 x 28 x 28, pixels / 255.

# %%
from fmnist_gluon.export import export_onnx, onnx_predict  # noqa: E402

path = export_onnx(net, os.path.join(OUT, "model.onnx"))
onnx_probs = onnx_predict(path, x_test)
agree = (onnx_probs.argmax(axis=1) == pred).mean()
print("%s: onnxruntime agrees with MXNet on %.1f%% of %d images" % (path, 100 * agree, len(pred)))
assert agree == 1.0
