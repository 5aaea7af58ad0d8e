"""Datasets by name and path: uint8 end to end, clear messages when something is missing."""
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from pixcodec.training.data import load_image, open_dataset
from pixcodec.errors import PixcodecError

from conftest import SHARED_DATA


def write_idx(path, array: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    code = 0x0800 | array.ndim
    path.write_bytes(struct.pack(">I", code) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def test_mnist_layout_loads_without_network(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    imgs = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    for prefix in ("train", "t10k"):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", imgs)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.array([1, 2, 3], dtype=np.uint8))
    ds = open_dataset("mnist", tmp_path, "test")
    img, label = ds[1]
    assert img.dtype == torch.uint8 and img.shape == (1, 28, 28) and label == 2
    assert torch.equal(img[0], torch.from_numpy(imgs[1]))


def test_missing_named_dataset_says_where_files_go(tmp_path):
    with pytest.raises(PixcodecError, match=r"put its files in .*FashionMNIST/raw"):
        open_dataset("fashion-mnist", tmp_path)
    with pytest.raises(PixcodecError, match="cifar-10-batches-py"):
        open_dataset("cifar10", tmp_path)


def test_npz(tiny_npz):
    train, test = open_dataset(f"cifar10-npz:{tiny_npz}"), open_dataset(f"cifar10-npz:{tiny_npz}", split="test")
    assert len(train) == 16 and len(test) == 4 and train.channels == 3
    img, label = train[3]
    assert img.shape == (3, 8, 8) and img.dtype == torch.uint8 and label == 3
    with pytest.raises(PixcodecError, match="no such file"):
        open_dataset("cifar10-npz:/nonexistent.npz")


def test_folder_modes_and_splits(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "b.bmp")
    Image.fromarray(rgb).convert("P").save(tmp_path / "c.png")
    Image.fromarray(np.dstack([rgb, np.full((6, 5), 7, np.uint8)])).save(tmp_path / "d.webp", lossless=True)
    (tmp_path / "sub").mkdir()
    Image.fromarray(rgb[:, :, 1] > 128).save(tmp_path / "sub" / "e.tif")
    (tmp_path / "notes.txt").write_text("not an image")
    train, test = open_dataset(str(tmp_path)), open_dataset(str(tmp_path), split="test")
    assert len(train) + len(test) == 5 and len(test) == 1 and train.channels == 3
    assert torch.equal(train[0][0], torch.from_numpy(rgb).permute(2, 0, 1))      # a.png exact
    assert torch.equal(train[1][0], torch.from_numpy(rgb[:, :, 0]).expand(3, -1, -1))  # gray -> RGB
    assert torch.equal(train[3][0], torch.from_numpy(rgb).permute(2, 0, 1))      # RGBA: alpha dropped
    gray = open_dataset(str(tmp_path), channels=1)
    assert gray[1][0].shape == (1, 6, 5)


def test_folder_with_train_and_test_subfolders(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        (tmp_path / split).mkdir()
        for i in range(n):
            Image.new("L", (4, 4), i).save(tmp_path / split / f"{i}.png")
    assert len(open_dataset(str(tmp_path))) == 3
    test = open_dataset(str(tmp_path), split="test")
    assert len(test) == 2 and test.channels == 1


def test_exclude_drops_matching_images_before_the_split(tmp_path):
    (tmp_path / "set").mkdir()
    for i in range(12):
        Image.new("L", (4, 4), i).save(tmp_path / f"{i:02d}.png")
    Image.new("L", (4, 4), 99).save(tmp_path / "set" / "copy.png")
    train, test = open_dataset(str(tmp_path)), open_dataset(str(tmp_path), split="test")
    assert len(train) == 12 and len(test) == 1        # 13 images: the last tenth (1) held out
    kept = open_dataset(str(tmp_path), exclude=["0[01].png", "set/copy.png"])
    held = open_dataset(str(tmp_path), split="test", exclude=["0[01].png", "set/copy.png"])
    names = {f.name for f in kept.files + held.files}
    assert names == {f"{i:02d}.png" for i in range(2, 12)} and len(held) == 1
    assert kept.description["excluded"] == ["0[01].png", "set/copy.png"]
    with pytest.raises(PixcodecError, match="matches no image"):
        open_dataset(str(tmp_path), exclude=["sipi-4.2.07.png"])      # a typo must not pass silently
    with pytest.raises(PixcodecError, match="image folder"):
        open_dataset("mnist", tmp_path, exclude=["x"])


def test_16_bit_images_are_refused(tmp_path):
    Image.fromarray(np.full((4, 4), 40000, np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(PixcodecError, match="16-bit"):
        load_image(tmp_path / "deep.png")


def test_unreadable_and_missing_inputs(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(PixcodecError, match="cannot read image"):
        load_image(tmp_path / "bad.png")
    with pytest.raises(PixcodecError, match="no such image"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(PixcodecError, match="unknown data"):
        open_dataset("imagenet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PixcodecError, match="no images"):
        open_dataset(str(tmp_path / "empty"))


@pytest.mark.skipif(not (SHARED_DATA / "MNIST").exists(), reason="../shared/data is absent")
def test_shared_mnist_and_cifar_subset():
    mnist = open_dataset("mnist", SHARED_DATA, "test")
    assert len(mnist) == 10000 and mnist[0][0].shape == (1, 28, 28)
    cifar = open_dataset(f"cifar10-npz:{SHARED_DATA / 'cifar10-subset' / 'cifar10_subset.npz'}", split="test")
    assert len(cifar) == 1000 and cifar[0][0].shape == (3, 32, 32)
