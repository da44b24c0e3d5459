"""Hostile inputs (issue 14, point 4): spec files, IDX files and arrays that are wrong on purpose.

Each must end in an error of ours (SpecError, DataIntegrityError) or a ValueError/TypeError whose
message names the file or the argument and says what to do, never an MXNet or numpy traceback,
and never by expanding or reading more than the input's real size. docs/reliability.md lists
every case with what the user sees.
"""
import gzip
import json
import resource
import struct

import mxnet as mx
import numpy as np
import pytest

from fmnist_gluon import build_cnn, spec
from fmnist_gluon.data import DataIntegrityError, load_dataset, read_idx
from fmnist_gluon.spec import SpecError, parse_spec
from fmnist_gluon.train import evaluate, fit, predict

from conftest import write_idx


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spec_error(path):
    with pytest.raises(SpecError) as info:
        parse_spec(str(path))
    assert str(path) in str(info.value)  # the message names the file
    return str(info.value)


# --- spec files -----------------------------------------------------------------------------------

def test_yaml_python_tags_are_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text("!!python/object/apply:os.system ['touch %s']\n" % marker)
    message = spec_error(path)
    assert "not valid YAML" in message and "python tags are never run" in message
    assert not marker.exists()


BILLION_LAUGHS = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + ["a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 9)) for i in range(1, 10)]
    + ["layers: *a9"]) + "\n"


def test_yaml_alias_bomb_is_refused_without_expanding(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS)  # 9**10 = 3.5 billion strings once expanded
    before = _peak_rss_mb()
    message = spec_error(path)
    assert "MAX_YAML_NODES = 100,000" in message and "alias bomb" in message
    assert _peak_rss_mb() - before < 100


@pytest.mark.parametrize("text", ["&a [*a]\n", "&a {layers: *a}\n", "- &x {type: dense, units: [*x]}\n"])
def test_yaml_recursive_alias_is_refused(tmp_path, text):
    path = tmp_path / "loop.yaml"
    path.write_text(text)
    assert "recursive" in spec_error(path)


def test_yaml_with_a_few_aliases_still_loads(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("- &c {type: conv, channels: 4, kernel: 3}\n- relu\n- *c\n- relu\n")
    layers = parse_spec(str(path), classes=10)
    assert [l["type"] for l in layers[:4]] == ["conv", "relu", "conv", "relu"]


@pytest.mark.parametrize("name, content, words", [
    ("trunc.json", '[{"type": "conv", "channels": 8, "ker', "not valid JSON"),
    ("empty.json", "", "is empty"),
    ("blank.yaml", "  \n\n", "is empty"),
    ("number.json", "42", "expected a list of layer dicts"),
    ("nan.json", '[{"type": "dropout", "rate": NaN}]', "layer 0 (dropout), field 'rate'"),
    ("tab.yaml", "- {type: conv,\tchannels: [8\n", "not valid YAML"),
])
def test_broken_spec_files_name_the_file(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_text(content)
    assert words in spec_error(path)


def test_binary_spec_file(tmp_path):
    path = tmp_path / "weights.json"
    path.write_bytes(bytes(range(256)) * 4)
    assert "is not UTF-8 text (a binary file?)" in spec_error(path)


@pytest.mark.parametrize("name", ["specs", "net.yaml"])
def test_folder_given_as_a_spec(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    assert "is a folder; give the path of a .json/.yaml file inside it" in spec_error(folder)


def test_huge_spec_file_is_refused_unread(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(4 << 30)  # a sparse 4 GiB file: reading it whole would take 4 GiB
    before = _peak_rss_mb()
    assert "larger than MAX_SPEC_FILE_BYTES = 1048576 bytes" in spec_error(path)
    assert _peak_rss_mb() - before < 100


@pytest.mark.parametrize("name, text", [("deep.json", "[" * 100000 + "]" * 100000),
                                        ("deep.yaml", "[" * 100000 + "]" * 100000)])
def test_deeply_nested_spec_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert "nested too deeply" in spec_error(path) or "not valid" in spec_error(path)


def test_missing_spec_file(tmp_path):
    assert "not found" in spec_error(tmp_path / "nope.yaml")


def test_shared_structure_in_memory_gives_a_short_message():
    laughs = ["lol"] * 9
    for _ in range(9):
        laughs = [laughs] * 9  # 9**10 strings when printed in full
    with pytest.raises(SpecError) as info:
        build_cnn([{"type": "dense", "units": laughs}])
    assert info.value.field == "units" and len(str(info.value)) < 300


# --- IDX files ------------------------------------------------------------------------------------

def idx_bytes(array, magic=None):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    head = magic or struct.pack(">HBB", 0, 0x08, array.ndim)
    return head + struct.pack(">%dI" % array.ndim, *array.shape) + array.tobytes()


GOOD_IMAGES = np.zeros((20, 28, 28), np.uint8)
GOOD_LABELS = np.arange(20, dtype=np.uint8) % 10

# (case, which file, its content, words the message must hold)
IDX_CASES = [
    ("truncated payload", "images", idx_bytes(GOOD_IMAGES)[:-5], "it is truncated"),
    ("trailing bytes", "images", idx_bytes(GOOD_IMAGES) + b"\0" * 7, "corrupt (trailing bytes)"),
    ("header only", "images", idx_bytes(GOOD_IMAGES)[:10], "truncated IDX header"),
    ("empty file", "labels", b"", "<empty file>"),
    ("html instead", "images", b"<html>404 not found</html>", "not an IDX file of unsigned bytes"),
    ("float IDX", "images", b"\0\0\x0d\x03" + idx_bytes(GOOD_IMAGES)[4:], "not an IDX file of unsigned bytes"),
    ("labels as images", "images", idx_bytes(GOOD_LABELS), "expected an IDX file with 3 dimensions"),
    ("wrong image size", "images", idx_bytes(np.zeros((20, 28, 27))), "expected 28×28 images, got 28×27"),
    ("no images", "images", idx_bytes(np.zeros((0, 28, 28))), "the file holds no images"),
    ("huge promise", "images", b"\0\0\x08\x03" + struct.pack(">3I", 2 ** 31, 28, 28) + b"\0" * 64,
     "more than MAX_IDX_BYTES"),
    ("random binary", "labels", bytes(range(256)), "not an IDX file"),
    ("count mismatch", "labels", idx_bytes(GOOD_LABELS[:19]), "holds 20 images but"),
    ("label out of range", "labels", idx_bytes(np.full(20, 10)), "label 10 out of range: Fashion-MNIST has 10"),
]


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case, which, content, words", IDX_CASES, ids=[c[0] for c in IDX_CASES])
def test_bad_idx_file_names_itself(tmp_path, case, which, content, words, gz):
    suffix = ".gz" if gz else ""
    write_idx(tmp_path / ("t10k-images-idx3-ubyte" + suffix), GOOD_IMAGES)
    write_idx(tmp_path / ("t10k-labels-idx1-ubyte" + suffix), GOOD_LABELS)
    bad = tmp_path / ("t10k-%s-idx%d-ubyte%s" % (which, 3 if which == "images" else 1, suffix))
    bad.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(DataIntegrityError) as info:
        load_dataset(split="test", root=tmp_path)
    assert words in str(info.value) and bad.name in str(info.value)
    if case not in ("count mismatch", "label out of range", "wrong image size", "no images"):
        with pytest.raises(DataIntegrityError) as info:  # read_idx checks the file on its own
            read_idx(bad, ndim=3 if which == "images" else 1)
        assert words in str(info.value) and str(bad) in str(info.value)


def test_gzip_bomb_is_read_no_further_than_its_header(tmp_path):
    # header: 10 images of 28x28, then 200 MB of zeros (compresses to ~200 KB)
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb") as f:
        f.write(idx_bytes(np.zeros((10, 28, 28))))
        for _ in range(200):
            f.write(bytes(1 << 20))
    before = _peak_rss_mb()
    with pytest.raises(DataIntegrityError, match="corrupt \\(trailing bytes\\)"):
        read_idx(path, ndim=3)
    assert _peak_rss_mb() - before < 100


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(5000) % 256))[:-100])
    with pytest.raises(DataIntegrityError, match="cut.gz: the gzip stream is corrupt or truncated"):
        read_idx(path)


# --- arrays given to fit / evaluate / predict -----------------------------------------------------

@pytest.fixture(scope="module")
def net():
    net = build_cnn("conv4k3-relu-pool2", classes=10)
    net.initialize(mx.init.Xavier(), ctx=mx.cpu())
    return net


RNG = np.random.default_rng(0)
LABELS = np.arange(4) % 10
IMAGES = RNG.random((4, 28, 28)).astype(np.float32)
BAD_IMAGES = [
    ("5-D", RNG.random((4, 1, 1, 28, 28)), ValueError, "got 5-D shape"),
    ("2-D", RNG.random((4, 784)), ValueError, "got 2-D shape"),
    ("4 channels", RNG.random((4, 4, 28, 28)), ValueError, "C 1 or 3"),
    ("complex", np.zeros((4, 28, 28), complex), TypeError, "dtype complex128"),
    ("object", np.empty((4, 28, 28), object), TypeError, "dtype object"),
    ("bool", np.zeros((4, 28, 28), bool), TypeError, "dtype bool"),
    ("strings", np.full((4, 28, 28), "a"), TypeError, "dtype <U1"),
    ("NaN", np.where(np.arange(4)[:, None, None] == 2, np.nan, IMAGES), ValueError,
     "1 image(s) hold NaN or infinite pixels (the first is image 2)"),
    ("inf", np.full((4, 28, 28), np.inf, np.float32), ValueError, "4 image(s) hold NaN or infinite"),
    ("ints above 255", np.full((4, 28, 28), 256), ValueError, "0..255"),
    ("empty", np.zeros((0, 28, 28), np.float32), ValueError, "empty array"),
    ("None", None, TypeError, "got NoneType"),
    ("a string", "images.npy", TypeError, "got str"),
]
BAD_LABELS = [
    ("too short", LABELS[:3], ValueError, "expected 4 labels"),
    ("negative", -LABELS - 1, ValueError, "must be >= 0, got -4"),
    ("beyond int32", np.full(4, 2 ** 40), ValueError, "below 2**31"),
    ("fractional", LABELS + 0.5, ValueError, "non-integer floats (e.g. 0.5)"),
    ("NaN", np.full(4, np.nan), ValueError, "non-integer floats (e.g. nan)"),
    ("strings", np.array(list("abcd")), TypeError, "dtype <U1"),
    ("bool", LABELS > 1, TypeError, "dtype bool"),
    ("one-hot", np.eye(4, 10), ValueError, "argmax"),
]


def _refused(call, kind, words):
    try:
        call()
    except mx.base.MXNetError as exc:  # the failure this file exists to prevent
        pytest.fail("an MXNetError escaped: %s" % str(exc)[:200])
    except (ValueError, TypeError) as exc:
        assert isinstance(exc, kind), repr(exc)
        return str(exc)
    pytest.fail("accepted")


@pytest.mark.parametrize("case, images, kind, words", BAD_IMAGES, ids=[c[0] for c in BAD_IMAGES])
def test_bad_images_to_fit_evaluate_predict(net, case, images, kind, words):
    for call in (lambda: fit(net, (images, LABELS), epochs=1, batch_size=2, verbose=False),
                 lambda: evaluate(net, (images, LABELS)), lambda: predict(net, images)):
        message = _refused(call, kind, words)
        assert message.startswith("images:") and words in message, message


@pytest.mark.parametrize("case, labels, kind, words", BAD_LABELS, ids=[c[0] for c in BAD_LABELS])
def test_bad_labels_to_fit_and_evaluate(net, case, labels, kind, words):
    for call in (lambda: fit(net, (IMAGES, labels), epochs=1, batch_size=2, verbose=False),
                 lambda: evaluate(net, (IMAGES, labels))):
        message = _refused(call, kind, words)
        assert message.startswith("labels:") and words in message, message


# What needs the network to check: the array checks (data.py) cannot know the net's input size or
# its number of classes; fit/evaluate/predict run one image through the network first.


@pytest.mark.parametrize("images", [RNG.random((4, 28, 27)), RNG.random((4, 3, 28, 28))],
                         ids=["28x27", "3 channels into 1"])
def test_images_that_do_not_fit_the_network(net, images):
    message = _refused(lambda: predict(net, images.astype(np.float32)), ValueError, "images")
    assert message.startswith("images:")


@pytest.mark.parametrize("data, words", [
    ((RNG.random((4, 28, 27)).astype(np.float32), LABELS), "images: an image of shape 1x28x27"),
    ((IMAGES, np.full(4, 12)), "labels: label 12 (in train)")], ids=["28x27", "label 12"])
def test_fit_refuses_data_that_do_not_fit_the_network_before_training(data, words):
    fresh = build_cnn("conv4k3-relu-pool2", classes=10)
    message = _refused(lambda: fit(fresh, data, epochs=1, verbose=0), ValueError, words)
    assert words in message


def test_labels_beyond_the_networks_classes(net):
    # MXNet's pick() clips label 12 to class 9 without a word: the loss is silently wrong.
    message = _refused(lambda: evaluate(net, (IMAGES, np.full(4, 12))), ValueError, "labels")
    assert message.startswith("labels:") and "12" in message and "10" in message


def test_json_fixture_roundtrip_of_a_valid_spec(tmp_path):
    # the same checks accept a good file: hostility is refused, not everything
    path = tmp_path / "net.json"
    path.write_text(json.dumps(spec.PRESETS["baseline"]))
    assert parse_spec(str(path)) == spec.PRESETS["baseline"]
