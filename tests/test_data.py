"""Datasets: the synthetic set's promises, and CIFAR / MNIST written in their real formats and read back."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from reportgen.compute.data import DataCorrupt, DataMissing, cifar, mnist, synthetic

RNG = np.random.default_rng(0)


# ---- synthetic -----------------------------------------------------------------------------------
def test_synthetic_is_deterministic_whatever_torch_rng_did():
    torch.manual_seed(1)
    a = synthetic(n_train=64, n_test=16, seed=3)
    torch.manual_seed(2)
    torch.rand(100)
    b = synthetic(n_train=64, n_test=16, seed=3)
    c = synthetic(n_train=64, n_test=16, seed=4)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.x_train, c.x_train)


def test_synthetic_shapes_dtypes_and_normalisation():
    ds = synthetic(n_train=300, n_test=40, classes=3, shape=(2, 16, 12))
    assert ds.x_train.shape == (300, 2, 16, 12) and ds.x_test.shape == (40, 2, 16, 12)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.y_train.shape == (300,) and set(ds.y_train.tolist()) == {0, 1, 2}
    assert len(ds.classes) == 3 and len(set(ds.classes)) == 3
    means, stds = ds.x_train.mean((0, 2, 3)), ds.x_train.std((0, 2, 3))
    assert torch.allclose(means, torch.zeros(2), atol=1e-5) and torch.allclose(stds, torch.ones(2), atol=1e-5)


def test_synthetic_is_learnt_over_epochs_far_above_chance():
    ds = synthetic()
    torch.manual_seed(0)
    width = 128
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, width), torch.nn.ReLU(),
                                torch.nn.Linear(width, width), torch.nn.ReLU(),
                                torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 10))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    accuracy = []
    for _ in range(5):
        for i in range(0, len(ds.y_train), 128):
            loss = torch.nn.functional.cross_entropy(model(ds.x_train[i:i + 128]), ds.y_train[i:i + 128])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            accuracy.append((model(ds.x_test).argmax(1) == ds.y_test).float().mean().item())
    # measured 0.6-0.7 after one epoch (16 steps), 0.9 after five: learnt, but not in a few steps
    assert accuracy[0] < 0.85 and accuracy[-1] > 0.8 and accuracy[-1] > accuracy[0] + 0.1


# ---- CIFAR ---------------------------------------------------------------------------------------
class Py2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 strings, as the official CIFAR files (cPickle, protocol 2) do."""
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_string(self, obj):
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        short = len(raw) < 256
        self.write((pickle.SHORT_BINSTRING + bytes([len(raw)])) if short
                   else (pickle.BINSTRING + struct.pack("<i", len(raw))))
        self.write(raw)
        self.memoize(obj)

    dispatch[str] = dispatch[bytes] = save_py2_string


def write_pickle(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        Py2Pickler(f, protocol=2).dump(obj)
    # the official files name the numpy of their day; numpy 2 moved _reconstruct to numpy._core
    path.write_bytes(path.read_bytes().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))


def batch(n, classes, label_key):
    data = RNG.integers(0, 256, (n, 3072), dtype=np.uint8)
    return {b"batch_label": b"a batch", label_key: RNG.integers(0, classes, n).tolist(), b"data": data,
            b"filenames": [b"img_%d.png" % i for i in range(n)]}


def write_cifar10(folder):
    batches = [batch(2, 10, b"labels") for _ in range(5)]
    for i, b in enumerate(batches):
        write_pickle(folder / f"data_batch_{i + 1}", b)
    test = batch(5, 10, b"labels")
    write_pickle(folder / "test_batch", test)
    names = b"airplane automobile bird cat deer dog frog horse ship truck".split()
    write_pickle(folder / "batches.meta", {b"label_names": names, b"num_cases_per_batch": 2})
    return batches, test, names


def test_official_pickle_opcodes_are_what_the_writer_makes(tmp_path):
    write_pickle(tmp_path / "b", {b"data": np.zeros((1, 3), np.uint8)})
    raw = (tmp_path / "b").read_bytes()
    assert b"U\x04data" in raw and b"cnumpy.core.multiarray\n_reconstruct\n" in raw


def test_cifar10_pixels_labels_and_names(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    batches, test, names = write_cifar10(folder)
    ds = cifar(tmp_path)
    assert ds.x_train.shape == (10, 3, 32, 32) and ds.x_test.shape == (5, 3, 32, 32)
    assert ds.y_train.tolist() == sum((b[b"labels"] for b in batches), [])
    assert ds.y_test.tolist() == test[b"labels"]
    assert ds.classes == tuple(n.decode() for n in names)
    # the green plane is the second block of 1024 values, row-major 32x32: pixel (7, 11) is 1024 + 7*32 + 11
    green = np.concatenate([b[b"data"] for b in batches])[:, 1024:2048].astype(np.float64)
    mean, std = green.mean(), green.std(ddof=1)
    at = 1024 + 7 * 32 + 11
    expected = (batches[2][b"data"][1, at] - mean) / std     # batch 3, row 1 is train sample 5
    assert ds.x_train[5, 1, 7, 11].item() == pytest.approx(expected, abs=1e-5)
    # the test split is scaled with the statistics of the train split
    assert ds.x_test[4, 1, 7, 11].item() == pytest.approx((test[b"data"][4, at] - mean) / std, abs=1e-5)
    assert torch.equal(cifar(folder).x_train, ds.x_train)


def test_cifar_limit_keeps_the_first_samples(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    full, small = cifar(tmp_path), cifar(tmp_path, limit=5)
    assert torch.equal(small.y_train, full.y_train[:5]) and torch.equal(small.y_test, full.y_test[:1])


def test_cifar100_fine_labels_and_names(tmp_path):
    folder = tmp_path / "cifar-100-python"
    train, test = batch(4, 100, b"fine_labels"), batch(2, 100, b"fine_labels")
    for b in (train, test):
        b[b"coarse_labels"] = [0] * len(b[b"fine_labels"])
    train[b"data"][3, 2048 + 31 * 32] = 255    # blue plane, bottom-left pixel
    write_pickle(folder / "train", train)
    write_pickle(folder / "test", test)
    names = [b"name %d" % i for i in range(100)]
    write_pickle(folder / "meta", {b"fine_label_names": names, b"coarse_label_names": [b"c"] * 20})
    ds = cifar(folder, classes=100)
    assert ds.y_train.tolist() == train[b"fine_labels"] and ds.y_test.tolist() == test[b"fine_labels"]
    assert ds.classes == tuple(f"name {i}" for i in range(100))
    assert ds.x_train[3, 2, 31, 0] == ds.x_train[:, 2].max()


# ---- MNIST ---------------------------------------------------------------------------------------
def idx(magic, array):
    return struct.pack(f">i{array.ndim}i", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_mnist(folder, gz=False, n=(3, 2)):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, count in zip(("train", "t10k"), n):
        x, y = arrays[split] = RNG.integers(0, 256, (count, 28, 28)), RNG.integers(0, 10, count)
        for kind, magic, array in (("images-idx3", 2051, x), ("labels-idx1", 2049, y)):
            raw = idx(magic, array)
            name = f"{split}-{kind}-ubyte"
            (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_raw_and_gzipped(tmp_path, gz):
    arrays = write_mnist(tmp_path / "MNIST" / "raw", gz)
    ds = mnist(tmp_path)
    x, y = arrays["train"]
    assert ds.x_train.shape == (3, 1, 28, 28) and ds.x_test.shape == (2, 1, 28, 28)
    assert ds.y_train.tolist() == y.tolist() and ds.y_test.tolist() == arrays["t10k"][1].tolist()
    assert ds.x_train[1, 0, 3, 20].item() == pytest.approx((x[1, 3, 20] - x.mean()) / x.std(ddof=1), abs=1e-5)
    assert ds.classes == tuple("0123456789")


def test_fashion_mnist_in_its_own_folder(tmp_path):
    folder = tmp_path / "FashionMNIST" / "raw"
    arrays = write_mnist(folder, gz=True)
    for root in (tmp_path, folder, tmp_path / "FashionMNIST"):
        ds = mnist(root, fashion=True)
        assert ds.y_train.tolist() == arrays["train"][1].tolist()
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


# ---- missing and corrupt files -------------------------------------------------------------------
def test_missing_cifar_names_files_folder_and_page(tmp_path):
    with pytest.raises(DataMissing) as e:
        cifar(tmp_path, classes=100)
    msg = str(e.value)
    assert "train, test, meta" in msg and str(tmp_path / "cifar-100-python") in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in msg and "\n" not in msg


def test_missing_one_file_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "test_batch").unlink()
    with pytest.raises(DataMissing, match=r"\(missing test_batch\)") as e:
        cifar(tmp_path)
    assert str(folder) in str(e.value)


@pytest.mark.parametrize("fashion, page", [(False, "yann.lecun.com/exdb/mnist"), (True, "zalandoresearch")])
def test_missing_mnist(tmp_path, fashion, page):
    folder = tmp_path / "MNIST" / "raw"
    write_mnist(folder)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataMissing) as e:
        mnist(tmp_path, fashion=fashion)
    assert page in str(e.value) and "t10k-labels-idx1-ubyte" in str(e.value)
    assert str(tmp_path / ("FashionMNIST" if fashion else "MNIST") / "raw") in str(e.value)


@pytest.mark.parametrize("file, damage, words", [
    ("train-images-idx3-ubyte", lambda raw: struct.pack(">i", 2049) + raw[4:], "bad magic number 2049"),
    ("t10k-images-idx3-ubyte", lambda raw: raw[:-10], "truncated"),
    ("train-labels-idx1-ubyte", lambda raw: idx(2049, np.zeros(2)), "2 labels for 3 images"),
], ids=["bad-magic", "truncated", "count-mismatch"])
def test_corrupt_mnist(tmp_path, file, damage, words):
    write_mnist(tmp_path)
    path = tmp_path / file
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataCorrupt, match=words) as e:
        mnist(tmp_path)
    assert str(path) in str(e.value)


def test_cut_off_gzip(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataCorrupt, match="gzip"):
        mnist(tmp_path)


class Deletes:
    """A pickle that, loaded by a trusting reader, would delete a file."""
    def __init__(self, victim):
        self.victim = str(victim)

    def __reduce__(self):
        return os.remove, (self.victim,)


@pytest.mark.parametrize("damage, words", [
    (lambda raw: b"this is not a pickle", "not a readable pickle"),
    (lambda raw: raw[:len(raw) // 2], "not a readable pickle"),
    (lambda raw: pickle.dumps([1, 2, 3]), "expected dict"),
    (lambda raw: pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "3072"),
    (lambda raw: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), "labels"),
], ids=["not-a-pickle", "truncated", "not-a-dict", "wrong-shape", "label-out-of-range"])
def test_corrupt_cifar(tmp_path, damage, words):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    path = folder / "test_batch"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataCorrupt, match=words) as e:
        cifar(tmp_path)
    assert str(folder / "test_batch") in str(e.value) and "\n" not in str(e.value)


def test_cifar_pickle_cannot_run_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (folder / "batches.meta").write_bytes(pickle.dumps(Deletes(victim)))
    with pytest.raises(DataCorrupt, match="refuses to load"):
        cifar(tmp_path)
    assert victim.exists()
