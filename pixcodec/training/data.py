"""Image datasets by name or path, uint8 end to end.

Specs:
    mnist, fashion-mnist, cifar10   torchvision datasets under ``data_dir`` (never downloaded
                                     unless asked; a missing set says where its files go)
    cifar10-npz:PATH                 an npz with x_train / x_test (N, 32, 32, 3) uint8 (+ y_*)
    PATH (a folder)                  every PNG/JPEG/BMP/TIFF/WebP below it; with train/ and test/
                                     subfolders those are the splits, otherwise the last 10 %
                                     of the sorted files are held out

Every dataset item is ``(image, label)``: a uint8 (C, H, W) tensor and an int
(-1 where there are no labels).
"""
from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..defaults import IMAGE_SUFFIXES  # one list for training folders and the codec
from ..errors import PixcodecError

NAMED = {
    "mnist": ("MNIST", "MNIST/raw/ (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-*)"),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST/raw/ (train-images-idx3-ubyte, ... t10k-*)"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py/ (data_batch_1..5, test_batch)"),
}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
GRAY_MODES = {"1", "L", "LA", "La"}
COLOUR_MODES = {"RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "P", "PA"}


def image_to_tensor(img: Image.Image, channels: int | None = None) -> torch.Tensor:
    """A PIL image as uint8 (C, H, W); channels None keeps gray as 1 and colour as 3.

    Alpha is dropped and palettes expanded (training data needs only the colours);
    high-bit-depth images are refused rather than silently truncated.
    """
    if img.mode in GRAY_MODES:
        img = img.convert("L")
    elif img.mode in COLOUR_MODES:
        img = img.convert("RGB")
    else:
        raise PixcodecError(f"unsupported image mode {img.mode} (16-bit and float images are refused; "
                            "use 8-bit gray or RGB)")
    if channels == 1 and img.mode == "RGB":
        img = img.convert("L")
    arr = np.asarray(img)
    t = torch.from_numpy(arr.copy())
    t = t[None] if t.dim() == 2 else t.permute(2, 0, 1).contiguous()
    return t.expand(3, -1, -1).contiguous() if channels == 3 and t.shape[0] == 1 else t


def load_image(path: str | Path, channels: int | None = None) -> torch.Tensor:
    try:
        with Image.open(path) as img:
            img.load()
            return image_to_tensor(img, channels)
    except FileNotFoundError:
        raise PixcodecError(f"no such image: {path}") from None
    except PixcodecError as e:
        raise PixcodecError(f"{path}: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise PixcodecError(f"cannot read image {path}: {e}") from None


class TensorImages(torch.utils.data.Dataset):
    """Images held in memory as one uint8 (N, C, H, W) tensor."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, description: dict,
                 classes: list[str] | None = None):
        self.images, self.description, self.classes = images, description, classes
        self.labels = labels if labels is not None else torch.full((len(images),), -1)
        self.channels = images.shape[1]

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])

    def size(self, i) -> tuple[int, int]:
        return tuple(self.images.shape[2:])


class FolderImages(torch.utils.data.Dataset):
    """Image files decoded on demand (and kept, since training revisits them)."""

    def __init__(self, files: list[Path], channels: int, description: dict,
                 labels: list[int] | None = None, classes: list[str] | None = None):
        self.files, self.channels, self.description = files, channels, description
        self.labels = labels if labels is not None else [-1] * len(files)
        self.classes = classes
        self._cache: dict[int, torch.Tensor] = {}
        self._sizes: dict[int, tuple[int, int]] = {}

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        if i not in self._cache:
            self._cache[i] = load_image(self.files[i], self.channels)
        return self._cache[i], self.labels[i]

    def size(self, i) -> tuple[int, int]:
        if i not in self._sizes:
            with Image.open(self.files[i]) as img:
                self._sizes[i] = (img.height, img.width)
        return self._sizes[i]


def open_dataset(spec: str, data_dir: str | Path = "data", split: str = "train",
                 channels: int | None = None, download: bool = False,
                 exclude: Sequence[str] = ()) -> torch.utils.data.Dataset:
    """The ``split`` ('train' or 'test') of the dataset named by ``spec``; ``exclude``: glob
    patterns naming a folder's images to leave out of both splits (say, copies of test photos)."""
    if split not in ("train", "test"):
        raise PixcodecError(f"split must be 'train' or 'test', not {split!r}")
    if exclude and not Path(spec).is_dir():
        raise PixcodecError(f"--exclude picks files of an image folder, and {spec} is not one")
    if spec in NAMED:
        ds = _torchvision(spec, Path(data_dir), split, download)
    elif spec.startswith("cifar10-npz:"):
        ds = _npz(Path(spec.split(":", 1)[1]), split)
    elif Path(spec).is_dir():
        return _folder(Path(spec), split, channels, tuple(exclude))
    else:
        raise PixcodecError(f"unknown data {spec!r}: use mnist, fashion-mnist, cifar10, "
                            "cifar10-npz:PATH or a folder of images")
    if channels is not None and channels != ds.channels:
        raise PixcodecError(f"{spec} has {ds.channels}-channel images but {channels} were asked for")
    return ds


def _torchvision(spec: str, data_dir: Path, split: str, download: bool) -> TensorImages:
    import torchvision.datasets as tvd

    cls_name, layout = NAMED[spec]
    try:
        ds = getattr(tvd, cls_name)(root=str(data_dir), train=split == "train", download=download)
    except Exception:  # torchvision raises RuntimeError when absent, URLError etc. when a download fails
        raise PixcodecError(f"{spec} not found: put its files in {data_dir / layout} "
                            "(or point --data-dir at their parent)") from None
    images = torch.as_tensor(np.asarray(ds.data))
    images = images[:, None] if images.dim() == 3 else images.permute(0, 3, 1, 2).contiguous()
    return TensorImages(images, torch.as_tensor(np.asarray(ds.targets)),
                        {"spec": spec, "split": split}, list(getattr(ds, "classes", [])) or None)


def _npz(path: Path, split: str) -> TensorImages:
    try:
        with np.load(path) as npz:
            x = npz[f"x_{split}"]
            y = npz[f"y_{split}"] if f"y_{split}" in npz.files else None
    except FileNotFoundError:
        raise PixcodecError(f"no such file: {path}") from None
    except KeyError:
        raise PixcodecError(f"{path} has no x_{split} array") from None
    except (OSError, ValueError) as e:
        raise PixcodecError(f"cannot read {path} as npz: {e}") from None
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise PixcodecError(f"{path}: x_{split} must be uint8 (N, H, W, 1|3), got {x.dtype} {x.shape}")
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    labels = torch.from_numpy(np.asarray(y).reshape(-1).astype(np.int64)) if y is not None else None
    classes = CIFAR10_CLASSES if labels is not None and len(labels) and int(labels.max()) < 10 else None
    return TensorImages(images, labels, {"spec": f"cifar10-npz:{path}", "split": split}, classes)


def _folder(root: Path, split: str, channels: int | None, exclude: tuple[str, ...] = ()) -> FolderImages:
    """Labelled when every image sits in a subfolder (one per class, named in sorted order); a
    folder without train/ and test/ then holds out the last tenth of each class, else of all.
    Excluded images (a pattern matches the file's name or its path under ``root``) are
    dropped before that split, and a pattern that matches nothing is an error: a typo
    must not leave a test photo in the training data unnoticed."""
    def images_under(d: Path) -> list[Path]:
        return sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())

    def excluded(f: Path, pattern: str) -> bool:
        return fnmatch.fnmatchcase(f.name, pattern) or fnmatch.fnmatchcase(f.relative_to(root).as_posix(), pattern)

    base = root / split if (root / "train").is_dir() and (root / "test").is_dir() else root
    every = images_under(base)
    everywhere = images_under(root) if exclude else []
    for pattern in exclude:
        if not any(excluded(f, pattern) for f in everywhere):
            raise PixcodecError(f"--exclude {pattern!r} matches no image under {root}")
    every = [f for f in every if not any(excluded(f, pattern) for pattern in exclude)]
    classes = sorted({f.relative_to(base).parts[0] for f in every}) if every and all(
        len(f.relative_to(base).parts) > 1 for f in every) else None
    if base != root:
        files = every
    else:
        groups = [[f for f in every if f.relative_to(base).parts[0] == c] for c in classes] if classes else [every]
        files = []
        for group in groups:
            held = max(1, len(group) // 10) if len(group) > 1 else 0
            part = group[len(group) - held:] if split == "test" else group[:len(group) - held]
            files += part or group          # a single image serves both splits
    if not files:
        raise PixcodecError(f"no images (PNG, JPEG, BMP, TIFF, WebP) for the {split} split under {root}")
    if channels is None:
        channels = 3 if any(_mode_of(f) not in GRAY_MODES for f in files) else 1
    labels = [classes.index(f.relative_to(base).parts[0]) for f in files] if classes else None
    description = {"spec": str(root), "split": split, **({"excluded": list(exclude)} if exclude else {})}
    return FolderImages(files, channels, description, labels, classes)


def _mode_of(path: Path) -> str:
    try:
        with Image.open(path) as img:
            return img.mode
    except (OSError, SyntaxError, ValueError) as e:
        raise PixcodecError(f"cannot read image {path}: {e}") from None
